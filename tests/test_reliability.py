"""Crash safety of ``rag build`` and the broken index files test_indexing.py does not already cover.

- The real CLI (real model) is killed with SIGKILL at seven seeded moments spread over start-up, reading,
  chunking, embedding and writing; after each kill the index loads and answers exactly as before (or,
  if the kill came after the swap, is the complete new build), no process of the build outlives it, and
  the next build removes what the killed ones left behind.
- A build that cannot write (a full disk, simulated with RLIMIT_FSIZE) fails with one line and keeps
  the old index.
- An engine started on an index of another dimension, a damaged record in the middle of a file, a pickle
  hidden in an array file and other inconsistencies each give ``store.IndexLoadError`` naming ``rag build``.
"""

from __future__ import annotations

import os
import random
import re
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

from .badfiles import TRUNCATED_UTF16, surrogate_pdf
from .conftest import FAKE_FRIENDLY, ROOT, SOURCES, FakeEmbedder, copy_sources, index_sources
from .damage import DAMAGES, flip_header

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
    rag.embedding.make_embedder = lambda settings: FakeEmbedder()  # what `rag build` calls, whatever the backend
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG, like ENOSPC
    resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
    from rag.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_a_build_that_cannot_write_fails_with_one_line_and_keeps_the_old_index(tmp_path):
    settings = index_sources(tmp_path, FakeEmbedder(), model="fake")
    folder, index_dir = Path(settings.sources_dir), Path(settings.index_dir)
    before = store.load_index(index_dir).index_id
    (folder / "more.txt").write_text("Otters hold hands while they sleep. " * 50)
    script = DISK_FULL.format(root=str(ROOT), tests=str(ROOT / "tests"), limit=16 * 1024)
    cli = subprocess.run([sys.executable, "-c", script, "build", str(folder), "--index", str(index_dir),
                          "--model", "fake", "--quiet"], capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=120)
    assert cli.returncode == 2, f"exit {cli.returncode}: {cli.stderr[-600:]}"
    assert cli.stderr.startswith("rag: error: ") and cli.stderr.count("\n") == 1 and "Traceback" not in cli.stderr
    # the write itself failed (not the model, not the reading): the message says so and what is left
    assert f"cannot write the index in '{index_dir}'" in cli.stderr, cli.stderr
    assert cli.stderr.rstrip().endswith("the previous index is unchanged"), cli.stderr
    assert store.load_index(index_dir).index_id == before
    assert not list((index_dir / "builds").glob(".tmp-*")), "the half-written build was left behind"
    build([folder], settings, FakeEmbedder())
    assert not list((index_dir / "builds").glob(".tmp-*"))


# --- broken index files not covered by test_indexing.py ------------------------------------------------


@pytest.fixture
def built(tmp_path) -> Settings:
    return index_sources(tmp_path, FakeEmbedder(), **FAKE_FRIENDLY)


class OtherDimension(FakeEmbedder):
    dim = 32  # the same model name with vectors of another size: a model folder swapped in place


def test_an_engine_started_on_an_index_of_another_dimension_names_the_fix(tmp_path):
    settings = Settings().replace(index_dir=str(tmp_path / "ix"))
    build([SOURCES], settings, OtherDimension())
    engine = Engine(settings, embedder=FakeEmbedder())
    with pytest.raises(store.IndexLoadError, match="dimension") as err:
        engine.ask(QUESTIONS[0])
    assert "rag build" in str(err.value)


def test_a_rebuild_after_the_model_changed_dimension_embeds_everything_again(built):
    other = OtherDimension()
    report = build([Path(built.sources_dir)], built, other)
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
    with pytest.raises(store.IndexLoadError, match="rag build"):
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
        with pytest.raises(store.IndexLoadError, match="rag build"):
            store.load_index(built.index_dir)
        assert not marker.exists(), f"loading {name} ran the pickled code"
        (current / name).write_bytes(original)
    store.load_index(built.index_dir)


@pytest.mark.parametrize("how", ["fewer sentence vectors than sentences", "manifest counts edited",
                                 "manifest is not an object", "manifest of an older format",
                                 "a record appended after the offsets", "BM25 vocabulary damaged",
                                 "current points at a deleted build", "current is not a link"])
def test_inconsistent_index_files_name_the_problem_and_the_fix(built, how):
    engine = Engine(built, embedder=FakeEmbedder())
    good_id = engine.index.index_id
    DAMAGES[how](store.current_build(built.index_dir))
    with pytest.raises(store.IndexLoadError) as err:
        store.load_index(built.index_dir)
    assert "rag build" in str(err.value) and "Traceback" not in str(err.value)
    with pytest.raises(store.IndexLoadError, match="rag build"):
        engine.reload()
    assert engine.index.index_id == good_id and engine.ask(QUESTIONS[0]).citations


# --- one bad file never stops `rag build` (issue 12, findings 2 and 5) ------------------------------------


@pytest.fixture
def fake_cli(monkeypatch):
    """``rag.cli.main`` in this process with the fake embedder (an index built with it is model 'fake')."""
    import rag.embedding
    import rag.engine
    from rag.cli import main

    for key, value in FAKE_FRIENDLY.items():
        monkeypatch.setenv(f"RAG_{key.upper()}", value)
    monkeypatch.setattr(rag.embedding, "make_embedder", lambda settings: FakeEmbedder())
    monkeypatch.setattr(rag.engine, "make_embedder", lambda settings: FakeEmbedder())

    def run(*args: str) -> tuple[int, str, str]:
        import contextlib
        import io

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([*args])
        return code, out.getvalue(), err.getvalue()

    return run


def test_rag_build_skips_a_bad_file_and_every_later_build_still_works(tmp_path, fake_cli):
    folder = copy_sources(tmp_path / "src")
    (folder / "bom.txt").write_bytes(TRUNCATED_UTF16)
    (folder / "odd.pdf").write_bytes(surrogate_pdf())
    for _ in range(2):
        code, out, err = fake_cli("build", str(folder), "--index", str(tmp_path / "ix"), "--model", "fake", "-q")
        assert code == 0 and "Traceback" not in err, err
        assert "skipped " in err and "bom.txt: " in err and "odd.pdf" not in err
        assert "3 documents" in out


@pytest.mark.e2e
def test_rag_build_with_the_real_model_skips_what_it_cannot_read(tmp_path):
    folder = copy_sources(tmp_path / "src")
    (folder / "bom.txt").write_bytes(TRUNCATED_UTF16)
    (folder / "odd.pdf").write_bytes(surrogate_pdf())  # the real tokenizer rejected its text
    cli = subprocess.run([sys.executable, "-m", "rag.cli", "build", str(folder), "--index", str(tmp_path / "ix"),
                          "--quiet"], capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=300)
    assert cli.returncode == 0 and "Traceback" not in cli.stderr, cli.stderr[-800:]
    assert "bom.txt: " in cli.stderr and "3 documents" in cli.stdout


def test_rag_build_over_the_embedding_limit_is_one_line_and_keeps_the_index(tmp_path, fake_cli, monkeypatch):
    folder, index = copy_sources(tmp_path / "src"), str(tmp_path / "ix")
    assert fake_cli("build", str(folder), "--index", index, "--model", "fake", "-q")[0] == 0
    before = store.read_manifest(index)["index_id"]
    (folder / "tiny.txt").write_text("Ab cd. " * 2000)
    monkeypatch.setenv("RAG_MAX_EMBED_TEXTS", "1000")
    code, _, err = fake_cli("build", str(folder), "--index", index, "--model", "fake", "-q")
    assert code == 2 and err.startswith("rag: error: ") and err.count("\n") == 1, err
    assert "tiny.txt" in err and "RAG_MAX_EMBED_TEXTS" in err
    assert store.read_manifest(index)["index_id"] == before


def test_rag_build_into_a_folder_that_cannot_be_made_is_one_line(tmp_path, fake_cli):
    (tmp_path / "a-file").write_text("not a folder")
    code, _, err = fake_cli("build", str(SOURCES), "--index", str(tmp_path / "a-file" / "ix"), "--model", "fake")
    assert code == 2 and err.startswith("rag: error: ") and err.count("\n") == 1, err
    assert "a-file/ix" in err and "--index" in err


# --- damaged indexes: one line naming the file and the fix (issue 12, finding 7) --------------------------


NAMED = {  # damage (tests/damage.py): the file the message must name
    "npy header length": "sentences.npy",
    "npy header tokens": "sentence_chunk.npy",
    "npy header dtype": "chunk_sentences.npy",
    "npy header byte order": "sentences.npy",
    "npy header shape": "sentence_vectors.npy",
    "npy header of offsets": "chunks.offsets.npy",
    "npy header in bm25": "bm25",
    "sentence-to-chunk out of range": "sentence_chunk.npy",
    "sentence-to-chunk negative": "sentence_chunk.npy",
    "sentence offsets beyond the text": "sentences.npy",
    "sentence of no document": "sentences.npy",
    "chunk-to-sentence out of range": "chunk_sentences.npy",
    "NaN in sentence vectors": "sentence_vectors.npy",
    "NaN in passage vectors": "chunks.faiss",
    "manifest lacks dim": "manifest.json",
    "manifest lacks documents": "manifest.json",
    "manifest lacks n_chunks": "manifest.json",
    "manifest lacks index_id": "manifest.json",
    "manifest document lacks sha256": "manifest.json",
    "manifest count of the wrong type": "manifest.json",
    "bm25 folder deleted": "bm25",
    "one document entry fewer": "manifest.json",
}


def publish_another_build(settings: Settings) -> None:
    """A rebuild with one more document: a new build folder, the one a running engine has stays intact."""
    folder = Path(settings.sources_dir)
    (folder / "otters.txt").write_text("Otters hold hands while they sleep. They float on their backs.")
    build([folder], settings, FakeEmbedder())


@pytest.mark.parametrize("case", sorted(NAMED))
def test_rag_ask_on_a_damaged_index_is_one_line_naming_the_file_and_the_fix(built, fake_cli, case):
    how, name = DAMAGES[case], NAMED[case]
    engine = Engine(built, embedder=FakeEmbedder())
    good = engine.index.index_id
    publish_another_build(built)
    how(store.current_build(built.index_dir))
    for command in (["ask", "--json", QUESTIONS[0]], ["ask", QUESTIONS[1]]):
        code, out, err = fake_cli(*command, "--index", built.index_dir, "--model", "fake")
        assert code == 2 and not out, f"{case}: exit {code}, {out[:300]!r} {err[-300:]!r}"
        assert err.startswith("rag: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
        assert name in err and store.fix_hint(built.index_dir) in err, err
        assert not re.search(r"\b(\d+) \w+ but the manifest says \1\b|dimension (\d+), manifest says \2\b", err), err
    with pytest.raises(store.IndexLoadError):
        engine.reload()
    assert engine.index.index_id == good and engine.ask(QUESTIONS[0]).citations, "kept the old index"


def test_a_running_engine_never_swaps_to_a_damaged_build(built):
    engine = Engine(built, embedder=FakeEmbedder())
    good = engine.index.index_id
    publish_another_build(built)
    DAMAGES["npy header length"](store.current_build(built.index_dir))  # sentences.npy
    time.sleep(1.1)  # the engine looks for a newly published build at most once a second
    answers = [engine.ask(q) for q in QUESTIONS * 2]
    assert engine.index.index_id == good and "sentences.npy" in engine.refused
    assert all(a.index_id == good for a in answers) and answers[0].citations


@pytest.mark.parametrize("case", [c for c in sorted(NAMED) if c.startswith("manifest")])
def test_rag_info_on_a_damaged_manifest_is_one_line(built, fake_cli, case):
    how, name = DAMAGES[case], NAMED[case]
    how(store.current_build(built.index_dir))
    code, out, err = fake_cli("info", "--index", built.index_dir)
    assert code == 2 and err.startswith("rag: error: ") and err.count("\n") == 1 and name in err, (out, err)


@pytest.mark.e2e
def test_a_flipped_npy_header_through_the_real_rag_ask_is_one_line(tmp_path, real_embedder):
    settings = Settings().replace(index_dir=str(tmp_path / "ix"))
    build([SOURCES], settings, real_embedder)
    flip_header(store.current_build(settings.index_dir) / "sentences.npy", b"v\x00", b"0\x00")
    cli = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "--index", settings.index_dir, QUESTIONS[0]],
                         capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=120)
    assert cli.returncode == 2 and cli.stderr.count("\n") == 1 and "sentences.npy" in cli.stderr, cli.stderr[-600:]


NOBODY = 65534


def _as_another_user(fn) -> tuple[int, str]:  # noqa: ANN001
    """Run ``fn() -> exit code`` in a forked child that is not root (root reads anything), capturing
    stderr: how permissions look to the user the server runs as."""
    import io

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 70
        try:
            os.close(read_fd)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            err = io.StringIO()
            sys.stderr = err
            code = fn()
            os.write(write_fd, err.getvalue().encode())
        except BaseException:
            import traceback

            os.write(write_fd, traceback.format_exc().encode())
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        err = f.read().decode()
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), err


@pytest.mark.parametrize("what", ["manifest", "build folder", "index folder", "an array file"])
def test_an_unreadable_index_is_reported_as_permissions_not_damage(fake_cli, what):
    import tempfile

    from rag.cli import main

    top = Path(tempfile.mkdtemp(prefix="rag-perm-", dir="/tmp"))  # outside pytest's root-only folder
    try:
        top.chmod(0o755)
        settings = Settings().replace(index_dir=str(top / "ix"))
        build([SOURCES], settings, FakeEmbedder())
        for p in [top / "ix", *(top / "ix").rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        current = store.current_build(settings.index_dir)
        target = {"manifest": current / "manifest.json", "build folder": current, "index folder": top / "ix",
                  "an array file": current / "sentences.npy"}[what]
        target.chmod(0)
        Engine(settings, embedder=FakeEmbedder())  # imports done before the child drops privileges
        commands = [["info"]] if what != "an array file" else []  # info reads the manifest only
        for args in [*commands, ["ask", QUESTIONS[0], "--model", "fake"]]:
            code, err = _as_another_user(lambda args=args: main([*args, "--index", settings.index_dir]))
            assert code == 2 and err.startswith("rag: error: ") and err.count("\n") == 1, (what, args, err)
            assert "permission" in err.lower() and "damaged" not in err and "rag build" not in err, err
    finally:
        for p in [top, *top.rglob("*")]:
            p.chmod(0o755)
        shutil.rmtree(top)
