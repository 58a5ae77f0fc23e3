"""Ways to damage an index build, written once for every test of a broken index (loading, ``rag ask``,
``rag info --verify``, an engine or a live server that must refuse it).

``DAMAGES[name](build)`` damages the build folder ``build`` (``store.current_build(index_dir)``) in place;
the tests keep, beside each name, what the message must say. The helpers below damage one file.

    from .damage import DAMAGES, flip_bit
    DAMAGES["truncated FAISS file"](store.current_build(index_dir))
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def flip_bit(path: Path, where: str = "middle") -> None:
    """Flip the lowest bit of the ``"middle"`` or ``"last"`` byte: the smallest damage a disk or a copy can do."""
    data = bytearray(path.read_bytes())
    at = {"middle": len(data) // 2, "last": len(data) - 1}[where]
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def flip_header(path: Path, old: bytes, new: bytes) -> None:
    """Replace ``old`` by ``new`` in the first line (a ``.npy`` header); ``old`` must be there."""
    data = path.read_bytes()
    end = data.index(b"\n") + 1
    assert old in data[:end], (path.name, data[:end])
    pos = data.index(old, 0, end)
    path.write_bytes(data[:pos] + new + data[pos + len(old):])


def truncate(path: Path, keep: int | None = None) -> None:
    """Keep the first ``keep`` bytes (half the file by default)."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 if keep is None else keep])


def set_value(path: Path, index: tuple, value: float) -> None:
    """Set one element of a ``.npy`` array."""
    array = np.load(path)
    array[index] = value
    np.save(path, array)


def drop_last_row(path: Path) -> None:
    """A ``.npy`` array one row shorter."""
    np.save(path, np.load(path)[:-1])


def drop_last_line(path: Path) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")


def edit_manifest(build: Path, change: Callable[[dict[str, Any]], object]) -> None:
    """Rewrite ``manifest.json`` (still valid JSON) after ``change`` edited it in place."""
    manifest = json.loads((build / "manifest.json").read_text())
    change(manifest)
    (build / "manifest.json").write_text(json.dumps(manifest))


def one_vector_more(build: Path) -> None:
    """The FAISS file holds one vector more than there are passage records."""
    import faiss

    index = faiss.read_index(str(build / "chunks.faiss"))
    index.add(index.reconstruct_n(0, 1))
    faiss.write_index(index, str(build / "chunks.faiss"))


def nan_in_chunk_vectors(build: Path) -> None:
    import faiss

    index = faiss.read_index(str(build / "chunks.faiss"))
    vectors = index.reconstruct_n(0, index.ntotal)
    vectors[1, 3] = np.nan
    fresh = faiss.IndexFlatIP(index.d)
    fresh.add(vectors)
    faiss.write_index(fresh, str(build / "chunks.faiss"))


def _current_not_a_link(build: Path) -> None:
    index_dir = build.parent.parent  # <index>/builds/<build>
    (index_dir / "current").unlink()
    (index_dir / "current").write_text("builds/x")


def _append_record(path: Path) -> None:
    with open(path, "a") as f:
        f.write('{"chunk_id": "extra"}\n')


DAMAGES: dict[str, Callable[[Path], object]] = {
    # the files themselves
    "truncated FAISS file": lambda b: truncate(b / "chunks.faiss"),
    "missing manifest": lambda b: (b / "manifest.json").unlink(),
    "invalid manifest": lambda b: (b / "manifest.json").write_text('{"format_version": 2, "index_id": '),
    "manifest is not an object": lambda b: (b / "manifest.json").write_text("[1, 2, 3]"),
    "sentence vectors missing": lambda b: (b / "sentence_vectors.npy").unlink(),
    "a passage record missing": lambda b: drop_last_line(b / "chunks.jsonl"),
    "a record appended after the offsets": lambda b: _append_record(b / "chunks.jsonl"),
    "BM25 vocabulary damaged": lambda b: (b / "bm25" / "vocab.index.json").write_text('{"a": '),
    "bm25 folder deleted": lambda b: shutil.rmtree(b / "bm25"),
    "current points at a deleted build": shutil.rmtree,
    "current is not a link": _current_not_a_link,
    # files that disagree with each other
    "fewer sentence vectors than sentences": lambda b: drop_last_row(b / "sentence_vectors.npy"),
    "more vectors than records": one_vector_more,
    "manifest says another dimension": lambda b: edit_manifest(b, lambda m: m.update(dim=384)),
    "manifest counts edited": lambda b: edit_manifest(b, lambda m: m.update(n_chunks=m["n_chunks"] + 1)),
    "manifest of an older format": lambda b: edit_manifest(b, lambda m: m.update(format_version=1)),
    # .npy headers
    "npy header length": lambda b: flip_header(b / "sentences.npy", b"v\x00", b"<\x00"),
    "npy header tokens": lambda b: flip_header(b / "sentence_chunk.npy", b"{", b"0"),
    "npy header dtype": lambda b: flip_header(b / "chunk_sentences.npy", b"<i8", b"<i4"),
    "npy header byte order": lambda b: flip_header(b / "sentences.npy", b"<i8", b">i8"),
    "npy header shape": lambda b: flip_header(b / "sentence_vectors.npy", b", 64)", b", 32)"),
    "npy header of offsets": lambda b: flip_header(b / "chunks.offsets.npy", b"v\x00", b"p\x00"),
    "npy header in bm25": lambda b: flip_header(b / "bm25" / "data.csc.index.npy", b"{", b"0"),
    # values out of range
    "sentence-to-chunk out of range": lambda b: set_value(b / "sentence_chunk.npy", (5,), 10**6),
    "sentence-to-chunk negative": lambda b: set_value(b / "sentence_chunk.npy", (-1,), -3),
    "sentence offsets beyond the text": lambda b: set_value(b / "sentences.npy", (7, 2), 10**9),
    "sentence of no document": lambda b: set_value(b / "sentences.npy", (7, 0), 99),
    "chunk-to-sentence out of range": lambda b: set_value(b / "chunk_sentences.npy", (2,), 10**6),
    "NaN in sentence vectors": lambda b: set_value(b / "sentence_vectors.npy", (4, 0), np.nan),
    "NaN in passage vectors": nan_in_chunk_vectors,
    # a manifest that is valid JSON but lacks or mistypes what loading needs
    "manifest lacks dim": lambda b: edit_manifest(b, lambda m: m.pop("dim")),
    "manifest lacks documents": lambda b: edit_manifest(b, lambda m: m.pop("documents")),
    "manifest lacks n_chunks": lambda b: edit_manifest(b, lambda m: m.pop("n_chunks")),
    "manifest lacks index_id": lambda b: edit_manifest(b, lambda m: m.pop("index_id")),
    "manifest document lacks sha256": lambda b: edit_manifest(b, lambda m: m["documents"][0].pop("sha256")),
    "manifest count of the wrong type": lambda b: edit_manifest(b, lambda m: m.update(n_chunks="7")),
    "one document entry fewer": lambda b: edit_manifest(b, lambda m: m["documents"].pop()),
}
