"""Checksums of every index file (rag.checksums): written by every build, checked by ``rag info --verify``,
never computed at load."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag import checksums, store
from rag.cli import main
from rag.config import Settings
from rag.engine import Engine
from rag.indexing import build

from .conftest import ROOT, SOURCES, FakeEmbedder
from .damage import flip_bit

EVERY_FILE = (*store.FILES, *store.BM25_FILES)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    index_dir = tmp_path_factory.mktemp("verify") / "ix"
    build([SOURCES], Settings().replace(index_dir=str(index_dir)), FakeEmbedder())
    return index_dir


@pytest.fixture
def index_dir(built, tmp_path) -> Path:
    """A fresh copy of the built index (``current`` stays a relative link), free to damage."""
    copy = tmp_path / "ix"
    shutil.copytree(built, copy, symlinks=True)
    return copy


def info_verify(index_dir: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["info", "--verify", "--index", str(index_dir)])
    return code, out.getvalue(), err.getvalue()


def test_every_file_of_a_build_has_its_checksum_and_verify_passes(index_dir):
    current = store.current_build(index_dir)
    manifest = json.loads((current / "manifest.json").read_text())
    on_disk = {p.relative_to(current).as_posix() for p in current.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["checksums"]) == on_disk == set(EVERY_FILE) - {"manifest.json"}
    assert manifest["checksums"]["chunks.faiss"] == hashlib.sha256((current / "chunks.faiss").read_bytes()).hexdigest()
    assert manifest["manifest_sha256"] == checksums.of_manifest(manifest)
    code, out, err = info_verify(index_dir)
    assert code == 0 and not err, err
    assert f"verified   {len(EVERY_FILE)} files match the sha256 recorded when the index was built" in out


@pytest.mark.parametrize("where", ["middle", "last"])
@pytest.mark.parametrize("name", EVERY_FILE)
def test_a_flipped_byte_in_any_index_file_is_named(index_dir, name, where):
    flip_bit(store.current_build(index_dir) / name, where)
    code, out, err = info_verify(index_dir)
    assert code == 2 and not out, out
    assert err.startswith(f"rag: error: the index at '{index_dir}' is damaged: {name} ") and err.count("\n") == 1, err
    assert store.fix_hint(index_dir) in err and "Traceback" not in err


def test_damage_that_loading_cannot_see_is_found_by_verify(index_dir):
    """A changed letter in a document keeps every file valid: loading accepts it, --verify does not."""
    path = store.current_build(index_dir) / "documents.jsonl"
    data = path.read_bytes()
    at = data.index(b"Blinken", data.index(b'"text"'))
    path.write_bytes(data[:at] + b"Blinkin" + data[at + 7:])
    store.load_index(index_dir)
    code, _, err = info_verify(index_dir)
    assert code == 2 and "is damaged: documents.jsonl differs from the sha256" in err, err


@pytest.mark.parametrize("what", ["a title", "a recorded checksum"])
def test_a_manifest_changed_but_still_valid_is_named(index_dir, what):
    """Valid JSON that loading accepts; a changed checksum names the manifest, not the file it is for."""
    path = store.current_build(index_dir) / "manifest.json"
    text = path.read_text(encoding="utf-8")
    old = "Blinken announces" if what == "a title" else json.loads(text)["checksums"]["chunks.faiss"]
    path.write_text(text.replace(old, old.replace("e", "i") if what == "a title" else old[::-1], 1), encoding="utf-8")
    store.load_index(index_dir)
    code, _, err = info_verify(index_dir)
    assert code == 2 and "is damaged: manifest.json does not match its own checksum" in err, err


def test_every_damaged_or_missing_file_is_named_on_one_line(index_dir):
    current = store.current_build(index_dir)
    flip_bit(current / "chunks.faiss", "last")
    (current / "bm25" / "vocab.index.json").unlink()
    code, _, err = info_verify(index_dir)
    assert code == 2 and err.count("\n") == 1
    assert "is damaged: bm25/vocab.index.json (missing), chunks.faiss differ from the sha256" in err, err


def test_an_index_built_before_checksums_cannot_be_verified_and_says_how_to_fix_it(index_dir):
    path = store.current_build(index_dir) / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["checksums"], manifest["manifest_sha256"]
    path.write_text(json.dumps(manifest))
    assert main(["info", "--index", str(index_dir)]) == 0  # still an index that loads and answers
    store.load_index(index_dir)
    code, out, err = info_verify(index_dir)
    assert code == 2 and not out
    assert "was built before checksums were recorded, so it cannot be verified" in err
    assert err.rstrip().endswith(f"rebuild it to record them: {store.rebuild_command(index_dir)}"), err
    assert str(SOURCES.resolve()) in err  # the folder it was built from: rebuilding drops no document
    report = build([SOURCES], Settings().replace(index_dir=str(index_dir)), FakeEmbedder())
    assert report.n_embedded == 0 and info_verify(index_dir)[0] == 0  # the fix costs no embedding


def test_no_index_is_the_usual_message(tmp_path):
    code, _, err = info_verify(tmp_path / "nothing")
    assert code == 2 and "no index at" in err and "rag build" in err


def test_loading_and_answering_never_hash_a_file(index_dir, monkeypatch):
    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("a file was hashed at load")

    monkeypatch.setattr(hashlib, "file_digest", refuse)
    monkeypatch.setattr(checksums, "file_sha256", refuse)
    settings = Settings().replace(index_dir=str(index_dir), mode="hybrid", composer="legacy")
    assert Engine(settings, embedder=FakeEmbedder()).ask("What are the four areas of action?").citations
    assert main(["info", "--index", str(index_dir)]) == 0


def test_rag_info_verify_from_the_command_line(index_dir):
    """The real entry point, in its own process: exit 2 and the one line."""
    flip_bit(store.current_build(index_dir) / "sentence_vectors.npy", "middle")
    cli = subprocess.run([sys.executable, "-m", "rag.cli", "info", "--verify", "--index", str(index_dir)],
                         capture_output=True, text=True, cwd=ROOT, timeout=60,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert cli.returncode == 2 and not cli.stdout
    assert cli.stderr == (f"rag: error: the index at '{index_dir}' is damaged: sentence_vectors.npy differs from the "
                          f"sha256 recorded when the index was built; {store.fix_hint(index_dir)}\n")


def test_the_fix_hint_rebuilds_from_every_folder_the_index_was_built_from(tmp_path):
    """Following the hint of a damaged index must not drop the documents of a second folder (the bare
    ``rag build --index X`` would index sources/ alone)."""
    import shlex

    other = tmp_path / "more docs"
    other.mkdir()
    (other / "otters.txt").write_text("Otters hold hands while they sleep so that they do not drift apart.\n")
    index_dir = tmp_path / "ix"
    s = Settings().replace(index_dir=str(index_dir))
    build([SOURCES, other], s, FakeEmbedder())
    before = {d.source for d in store.load_index(index_dir).documents}
    flip_bit(store.current_build(index_dir) / "chunks.jsonl", "middle")
    hint = store.fix_hint(index_dir)
    assert hint == f"rebuild it with: rag build {SOURCES.resolve()} {shlex.quote(str(other.resolve()))} " \
                   f"--index {index_dir}"
    command = shlex.split(hint.split(": ", 1)[1])
    assert command[:2] == ["rag", "build"]
    build(command[2:-2], s, FakeEmbedder())  # the hinted folders, as `rag build` would take them
    assert {d.source for d in store.load_index(index_dir).documents} == before >= {"otters.txt"}
    assert info_verify(index_dir)[0] == 0


def test_the_fix_hint_of_an_index_with_no_readable_manifest_is_the_plain_command(tmp_path):
    assert store.fix_hint(tmp_path / "nowhere") == f"rebuild it with: rag build --index {tmp_path / 'nowhere'}"
