"""Crash safety of ``rag build`` and the broken index files test_indexing.py does not already cover.

- The real CLI (real model) is killed with SIGKILL at seven seeded moments spread over start-up, reading,
  chunking, embedding and writing; after each kill the index loads and answers exactly as before (or,
  if the kill came after the swap, is the complete new build), no process of the build outlives it, and
  the next build removes what the killed ones left behind.
- A build that cannot write (a full disk, simulated with RLIMIT_FSIZE) fails with one line and keeps
  the old index.
- An engine started on an index of another dimension, a damaged record in the middle of a file, a pickle
  hidden in an array file and other inconsistencies each give ``store.IndexError_`` naming ``rag build``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from rag import store
from rag.config import Settings
from rag.engine import Engine
from rag.indexing import build

from .conftest import ROOT, SOURCES, FakeEmbedder

QUESTIONS = ("What are the four areas of action?", "Who announced the strategy?", "How do I bake sourdough bread?")
WORDS = ("harbour ferry tide lantern orchard meadow pebble quarry willow rainfall lighthouse cargo barley "
         "cottage rivet granite marsh beacon compost trellis seedling glacier canal ledger").split()
PHASES = {"reading": "reading files", "chunking": "] chunking", "embedding": "] embedding ",
          "writing": "writing the index"}
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}


def write_filler(folder: Path, nonce: int, every: int = 1, offset: int = 0) -> None:
    """40 short documents on other topics (one .md, one .html, so the parser worker starts too); rewrite
    those with ``i % every == offset`` so that they must be embedded again."""
    folder.mkdir(exist_ok=True)
    for i in range(offset, 40, every):
        rng = random.Random(i * 1000 + nonce)
        sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 12))).capitalize() + "."
                     for _ in range(4)]
        text = f"Filler note {i}\n\n" + " ".join(sentences) + f" Revision {nonce}.\n"
        if i == 0:
            (folder / "filler-00.md").write_text(f"---\ntitle: Filler {i}\n---\n\n{text}")
        elif i == 1:
            (folder / "filler-01.html").write_text(f"<html><body><p>{text}</p></body></html>")
        else:
            (folder / f"filler-{i:02d}.txt").write_text(text)


def answers(settings: Settings, embedder) -> dict[str, dict]:  # noqa: ANN001
    engine = Engine(settings, embedder=embedder)
    out = {}
    for q in QUESTIONS:
        a = engine.ask(q).to_dict()
        a.pop("timings_ms")
        out[q] = a
    return out


def session_processes(sid: int) -> list[int]:
    """Live processes of the session ``sid`` (the killed build and anything it started)."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        state, _, _, session = stat[stat.rindex(")") + 2:].split()[:4]
        if int(session) == sid and state != "Z":
            out.append(int(pid))
    return out


@dataclass
class Kill:
    trigger: str
    delay: float
    alive: bool = False  # the build was still running when it was killed
    returncode: int | None = None
    lines: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    orphans: list[int] = field(default_factory=list)


def run_and_kill(cmd: list[str], index_dir: Path, kill: Kill) -> Kill:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT,
                            start_new_session=True)
    seen = {name: threading.Event() for name in PHASES}

    def read() -> None:
        for line in proc.stderr:
            kill.lines.append(line.rstrip())
            for name, marker in PHASES.items():
                if marker in line:
                    seen[name].set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    t0, builds = time.monotonic(), index_dir / "builds"
    old = set(temporary(builds))  # left by an earlier kill: this build removes them first
    while proc.poll() is None and time.monotonic() - t0 < 180:
        if kill.trigger == "start":
            hit = True
        elif kill.trigger == "tmp":
            hit = bool(set(temporary(builds)) - old)
        else:
            hit = seen[kill.trigger].is_set()
        if hit:
            time.sleep(kill.delay)
            break
        time.sleep(0.0005)
    kill.alive = proc.poll() is None
    if kill.alive:
        os.kill(proc.pid, signal.SIGKILL)
    kill.returncode = proc.wait(60)
    reader.join(10)
    deadline = time.monotonic() + 15
    while session_processes(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    kill.orphans = session_processes(proc.pid)
    for pid in kill.orphans:  # started by this test: do not leave them running
        os.kill(pid, signal.SIGKILL)
    kill.leftovers = temporary(builds)
    return kill


def temporary(builds: Path) -> list[str]:
    return sorted(p.name for p in builds.iterdir() if p.name.startswith(".tmp-")) if builds.is_dir() else []


@pytest.mark.e2e
def test_a_build_killed_at_any_moment_leaves_an_index_that_answers_as_before(tmp_path, real_embedder):
    filler, index_dir = tmp_path / "filler", tmp_path / "index"
    write_filler(filler, nonce=0)
    settings = Settings().replace(index_dir=str(index_dir))
    build([filler, SOURCES], settings, real_embedder)
    reference_id = store.load_index(index_dir, model=real_embedder.name).index_id
    reference = answers(settings, real_embedder)
    assert not reference[QUESTIONS[0]]["abstained"] and reference[QUESTIONS[2]]["abstained"]

    rng = random.Random(20261122)
    plan = [Kill("start", 0.05), Kill("reading", rng.uniform(0.0, 0.3)), Kill("chunking", rng.uniform(0.0, 2.0)),
            Kill("embedding", rng.uniform(0.0, 0.4)), Kill("writing", rng.uniform(0.0, 0.01)), Kill("tmp", 0.0),
            Kill("tmp", rng.uniform(0.001, 0.008))]
    cmd = [sys.executable, "-m", "rag.cli", "build", str(filler), str(SOURCES), "--index", str(index_dir)]
    unchanged, left = 0, []
    for n, kill in enumerate(plan, start=1):
        write_filler(filler, nonce=n, every=5, offset=n % 5)  # 8 changed documents: real embedding work
        run_and_kill(cmd, index_dir, kill)
        where = f"kill {n} at {kill.trigger}+{kill.delay * 1000:.0f} ms (stderr: {kill.lines[-2:]})"
        assert not kill.orphans, f"{where}: processes outlived the build: {kill.orphans}"
        if any(PHASES["reading"] in line for line in kill.lines):
            assert not set(left) & set(kill.leftovers), f"{where}: the earlier build's leftovers are still there"
        left = kill.leftovers
        index = store.load_index(index_dir, model=real_embedder.name)  # always loads
        now = answers(settings, real_embedder)
        if index.index_id == reference_id:
            unchanged += kill.alive
            assert now == reference, f"{where}: the answers changed"
        else:  # killed after the swap: then it is the whole new build
            assert any(PHASES["writing"] in line for line in kill.lines), where
            assert index.manifest["n_documents"] == 42 and f"Revision {n}." in "".join(
                d.text for d in index.documents if d.source.startswith("filler-"))
            reference_id, reference = index.index_id, now
    assert sum(k.alive for k in plan) >= 5 and unchanged >= 5, [(k.trigger, k.alive, k.returncode) for k in plan]
    assert any(k.leftovers for k in plan), "no kill landed while the index was being written"

    report = build([filler, SOURCES], settings, real_embedder)  # a normal build cleans up
    names = [p.name for p in (index_dir / "builds").iterdir()]
    assert not [x for x in names if x.startswith(".tmp-")] and not list(index_dir.glob(".current-*"))
    assert len(names) <= 2 and report.index_id in names
    assert not answers(settings, real_embedder)[QUESTIONS[0]]["abstained"]


DISK_FULL = textwrap.dedent("""
    import resource, signal, sys
    sys.path[:0] = [{root!r}, {tests!r}]
    import rag.embedding
    from conftest import FakeEmbedder
    rag.embedding.SentenceTransformerEmbedder = lambda *a, **k: FakeEmbedder()
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG, like ENOSPC
    resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
    from rag.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_a_build_that_cannot_write_fails_with_one_line_and_keeps_the_old_index(tmp_path):
    folder, index_dir = tmp_path / "src", tmp_path / "index"
    shutil.copytree(SOURCES, folder)
    settings = Settings().replace(index_dir=str(index_dir), model="fake")
    build([folder], settings, FakeEmbedder())
    before = store.load_index(index_dir).index_id
    (folder / "more.txt").write_text("Otters hold hands while they sleep. " * 50)
    script = DISK_FULL.format(root=str(ROOT), tests=str(ROOT / "tests"), limit=16 * 1024)
    cli = subprocess.run([sys.executable, "-c", script, "build", str(folder), "--index", str(index_dir),
                          "--model", "fake", "--quiet"], capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=120)
    assert cli.returncode == 2, f"exit {cli.returncode}: {cli.stderr[-600:]}"
    assert cli.stderr.startswith("rag: error: ") and cli.stderr.count("\n") == 1 and "Traceback" not in cli.stderr
    assert store.load_index(index_dir).index_id == before
    build([folder], settings, FakeEmbedder())
    assert not list((index_dir / "builds").glob(".tmp-*"))


# --- broken index files not covered by test_indexing.py ------------------------------------------------


@pytest.fixture
def built(tmp_path) -> Settings:
    folder = tmp_path / "src"
    shutil.copytree(SOURCES, folder)
    s = Settings().replace(index_dir=str(tmp_path / "ix"))
    build([folder], s, FakeEmbedder())
    return s


class OtherDimension(FakeEmbedder):
    dim = 32  # the same model name with vectors of another size: a model folder swapped in place


def test_an_engine_started_on_an_index_of_another_dimension_names_the_fix(tmp_path):
    settings = Settings().replace(index_dir=str(tmp_path / "ix"))
    build([SOURCES], settings, OtherDimension())
    engine = Engine(settings, embedder=FakeEmbedder())
    with pytest.raises(store.IndexError_, match="dimension") as err:
        engine.ask(QUESTIONS[0])
    assert "rag build" in str(err.value)


def test_a_rebuild_after_the_model_changed_dimension_embeds_everything_again(built):
    other = OtherDimension()
    report = build([Path(built.index_dir).parent / "src"], built, other)
    assert report.n_embedded == other.embedded > 0 and not report.unchanged
    index = store.load_index(built.index_dir, dim=other.dim)
    assert index.faiss_index.d == other.dim and index.sentence_vectors.shape[1] == other.dim


def test_a_damaged_record_in_the_middle_of_a_file_is_a_damaged_index_not_a_crash(built):
    engine = Engine(built, embedder=FakeEmbedder())
    chunk_id = engine.ask(QUESTIONS[0]).citations[0].chunk_id
    path = store.current_build(built.index_dir) / "chunks.jsonl"
    data = path.read_bytes()
    line = data.rfind(b"\n", 0, data.index(chunk_id.encode())) + 1
    path.write_bytes(data[:line] + b"#" * 16 + data[line + 16:])  # a bad sector: same size, so offsets agree
    fresh = Engine(built, embedder=FakeEmbedder())
    with pytest.raises(store.IndexError_, match="rag build"):
        fresh.ask(QUESTIONS[0])


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204 - what a tampered file would smuggle in
        return (Path.touch, (self.marker,))


def test_a_pickle_hidden_in_an_array_file_is_refused_not_run(built, tmp_path):
    marker = tmp_path / "payload-ran"
    current = store.current_build(built.index_dir)
    for name in ("sentences.npy", "sentence_vectors.npy", "bm25/data.csc.index.npy"):
        original = (current / name).read_bytes()
        np.save(current / name, np.array([Payload(marker)], dtype=object), allow_pickle=True)
        with pytest.raises(store.IndexError_, match="rag build"):
            store.load_index(built.index_dir)
        assert not marker.exists(), f"loading {name} ran the pickled code"
        (current / name).write_bytes(original)
    store.load_index(built.index_dir)


def damage(current: Path, index_dir: Path, how: str) -> None:
    def edit_manifest(change) -> None:  # noqa: ANN001
        manifest = json.loads((current / "manifest.json").read_text())
        (current / "manifest.json").write_text(json.dumps(change(manifest)))

    if how == "fewer sentence vectors than sentences":
        vectors = np.load(current / "sentence_vectors.npy")
        np.save(current / "sentence_vectors.npy", vectors[:-1])
    elif how == "manifest counts edited":
        edit_manifest(lambda m: {**m, "n_chunks": m["n_chunks"] + 1})
    elif how == "manifest is not an object":
        (current / "manifest.json").write_text("[1, 2, 3]")
    elif how == "manifest of an older format":
        edit_manifest(lambda m: {**m, "format_version": 1})
    elif how == "a record appended after the offsets":
        with open(current / "chunks.jsonl", "a") as f:
            f.write('{"chunk_id": "extra"}\n')
    elif how == "BM25 vocabulary damaged":
        (current / "bm25" / "vocab.index.json").write_text('{"a": ')
    elif how == "current points at a deleted build":
        shutil.rmtree(current)
    elif how == "current is not a link":
        (index_dir / "current").unlink()
        (index_dir / "current").write_text("builds/x")
    else:
        raise ValueError(how)


@pytest.mark.parametrize("how", ["fewer sentence vectors than sentences", "manifest counts edited",
                                 "manifest is not an object", "manifest of an older format",
                                 "a record appended after the offsets", "BM25 vocabulary damaged",
                                 "current points at a deleted build", "current is not a link"])
def test_inconsistent_index_files_name_the_problem_and_the_fix(built, how):
    engine = Engine(built, embedder=FakeEmbedder())
    good_id = engine.index.index_id
    damage(store.current_build(built.index_dir), Path(built.index_dir), how)
    with pytest.raises(store.IndexError_) as err:
        store.load_index(built.index_dir)
    assert "rag build" in str(err.value) and "Traceback" not in str(err.value)
    with pytest.raises(store.IndexError_, match="rag build"):
        engine.reload()
    assert engine.index.index_id == good_id and engine.ask(QUESTIONS[0]).citations
