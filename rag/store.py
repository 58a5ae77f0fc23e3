"""The index on disk: plain files in a build folder (written and published by ``rag.builds``).

    index/
      current -> builds/<index_id>       (replaced atomically when a build completes)
      builds/<index_id>/
        manifest.json                    format, model, dimension, chunking, documents, counts, and the
                                         sha256 of every other file and of itself (``rag.checksums``)
        documents.jsonl (+ .offsets.npy) one document a line, with its text
        chunks.jsonl (+ .offsets.npy)    one chunk a line: offsets, page, sentence range, text
        chunk_sentences.npy              int64: the first sentence row of each chunk
        sentences.npy                    int64 rows (doc_row, start, end), in document order
        sentence_chunk.npy               int64: the first chunk holding each sentence
        sentence_vectors.npy, chunks.faiss, bm25/

Opening an index parses only the manifest: records are read a line at a time when needed, and the
arrays and the FAISS index are memory-mapped (read-only; pages are read as searches touch them), so
opening an index costs little beyond reading its manifest, even at a million passages
(``benchmarks/bench_scale.py --real-index`` measures it).
Nothing is hashed at load: ``verify`` (``rag info --verify``) reads every file against its checksum.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import checksums, integrity
from .records import Records
from .types import Chunk, Document, Sentence

FORMAT_VERSION = 2
FILES = ("manifest.json", "documents.jsonl", "documents.offsets.npy", "chunks.jsonl", "chunks.offsets.npy",
         "chunk_sentences.npy", "sentences.npy", "sentence_chunk.npy", "sentence_vectors.npy", "chunks.faiss")
BM25_FILES = tuple(f"bm25/{name}" for name in ("params.index.json", "vocab.index.json", "data.csc.index.npy",
                                               "indices.csc.index.npy", "indptr.csc.index.npy"))


class IndexLoadError(Exception):
    """The index cannot be used; the message says what is wrong and the command that fixes it."""


def fix_hint(index_dir: str | Path) -> str:
    return f"rebuild it with: {rebuild_command(index_dir)}"


def rebuild_command(index_dir: str | Path) -> str:
    """The command that rebuilds the index from the folders it was built from (read from any build's
    manifest that still parses), so following the hint drops no document; ``rag build``'s default
    folder when no manifest says."""
    import shlex

    roots: list[str] = []
    folder = Path(index_dir)
    for build in [folder / "current", *sorted((folder / "builds").glob("[!.]*"), reverse=True)]:
        try:
            found = json.loads((build / "manifest.json").read_text(encoding="utf-8")).get("roots")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(found, list) and found and all(isinstance(r, str) for r in found):
            roots = found
            break
    where = "".join(f"{shlex.quote(r)} " for r in roots)
    return f"rag build {where}--index {shlex.quote(str(index_dir))}"


@dataclass
class Index:
    manifest: dict[str, Any]
    documents: Sequence[Document]
    chunks: Sequence[Chunk]
    sentence_rows: np.ndarray  # (n, 3) int64: doc_row, start, end
    sentence_vectors: np.ndarray  # (n, dim) float32
    faiss_index: Any
    bm25: Any = None
    path: str = ""
    chunk_sent_lo: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    sentence_chunk: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    doc_row: dict[str, int] = field(default_factory=dict)
    derived: dict[str, Any] = field(default_factory=dict)  # tables computed from the files once, on first use

    def cached(self, name: str, make: Callable[[], Any]) -> Any:
        """``derived[name]``, made by ``make()`` the first time (idf, acronyms, sentence grids...)."""
        if name not in self.derived:
            self.derived[name] = make()
        return self.derived[name]

    def __post_init__(self) -> None:
        self.doc_row = {d["doc_id"]: i for i, d in enumerate(self.manifest.get("documents", []))}

    @property
    def index_id(self) -> str:
        return str(self.manifest.get("index_id", ""))

    def document(self, doc_id: str) -> Document:
        return self.documents[self.doc_row[doc_id]]

    def sentence_text(self, row: int) -> str:
        """A sentence's text, cut from the chunk that holds it (no document text is loaded)."""
        _, start, end = self.sentence_rows[row].tolist()
        chunk = self.chunks[int(self.sentence_chunk[row])]
        return chunk.text[start - chunk.start:end - chunk.start]

    def sentence(self, row: int) -> tuple[Document, Sentence]:
        d, start, end = self.sentence_rows[row].tolist()
        return self.documents[d], Sentence(start, end, self.sentence_text(row))


def current_build(index_dir: str | Path) -> Path | None:
    link = Path(index_dir) / "current"
    try:
        if link.is_symlink() or link.is_dir():
            target = link.resolve()
            return target if target.is_dir() else None
    except OSError:  # no permission to look: read_manifest says so
        return None
    return None


def _no_access(path: Path, index_dir: str | Path) -> IndexLoadError:
    import pwd

    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        user = str(os.geteuid())
    return IndexLoadError(f"cannot read '{path}': permission denied for user {user}; give it read access "
                          f"(chmod -R a+rX {index_dir}) or run as the index's owner")


def _check_access(index_dir: str | Path, paths: list[Path]) -> None:
    for p in [Path(index_dir), *paths]:
        if p.exists() and not os.access(p, os.R_OK | (os.X_OK if p.is_dir() else 0)):
            raise _no_access(p, index_dir)


def read_manifest(index_dir: str | Path) -> dict[str, Any]:
    index_dir_path = Path(index_dir)
    if index_dir_path.is_dir() and not os.access(index_dir_path, os.R_OK | os.X_OK):
        raise _no_access(index_dir_path, index_dir)
    build = current_build(index_dir)
    if build is None:
        raise IndexLoadError(f"no index at '{index_dir}': build one with: rag build --index {index_dir}")
    path = build / "manifest.json"
    _check_access(index_dir, [build, path])
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexLoadError(f"the index at '{index_dir}' has no manifest.json; {fix_hint(index_dir)}") from None
    except PermissionError:
        raise _no_access(path, index_dir) from None
    except OSError as e:  # an I/O error: the disk, not this program
        raise IndexLoadError(f"cannot read '{path}' ({e.strerror or e}); check the disk, then "
                             f"{fix_hint(index_dir)}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise IndexLoadError(f"the index manifest at '{path}' is not valid JSON "
                             f"({' '.join(str(e).split())[:120]}); {fix_hint(index_dir)}") from None
    if isinstance(manifest, dict) and manifest.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
        raise IndexLoadError(f"the index at '{index_dir}' has format version {manifest.get('format_version')}, "
                             f"this program reads version {FORMAT_VERSION}; {fix_hint(index_dir)}")
    try:
        integrity.check_manifest(manifest)
    except integrity.Damaged as e:
        raise IndexLoadError(f"the index at '{index_dir}' {_state(e)}: {e}; {fix_hint(index_dir)}") from None
    return manifest


def load_index(index_dir: str | Path, model: str | None = None, dim: int | None = None,
               ef_search: int = 64) -> Index:
    """Load and check an index (see ``rag.integrity``); raise ``IndexLoadError`` naming the file and the fix."""
    import faiss

    manifest = read_manifest(index_dir)
    build = current_build(index_dir)
    assert build is not None
    if model is not None and manifest["model"] != model:
        raise IndexLoadError(f"the index was built with model '{manifest['model']}' but '{model}' is "
                             f"configured; rebuild with: rag build --index {index_dir} {_flags(model)}, "
                             f"or ask with {_flags(str(manifest['model']))}")
    if dim is not None and manifest["dim"] != dim:
        raise IndexLoadError(f"the index has {manifest['dim']}-dimensional vectors but the model makes "
                             f"{dim}-dimensional ones; {fix_hint(index_dir)}")
    missing = [f for f in (*FILES, *BM25_FILES) if not (build / f).exists()]
    if not (build / "bm25").is_dir():  # retrieval would silently lose its keyword half
        missing = [f for f in missing if not f.startswith("bm25/")] + ["the bm25/ folder"]
    if missing:
        raise IndexLoadError(f"the index at '{index_dir}' is missing {', '.join(missing)}; {fix_hint(index_dir)}")
    _check_access(index_dir, [build / f for f in (*FILES, "bm25", *BM25_FILES)])
    try:
        damaged = lambda why: IndexLoadError(f"the index at '{index_dir}' is damaged: {why}; {fix_hint(index_dir)}")  # noqa: E731
        documents: Records[Document] = Records(build / "documents.jsonl", _document, damaged=damaged)
        # still memory-mapped, but plain ndarrays: np.memmap's per-item indexing is slow in the composer's loops
        rows = integrity.array(build / "sentences.npy", "<i8", 2, 3)
        chunk_lo = integrity.array(build / "chunk_sentences.npy", "<i8", 1)
        sentence_chunk = integrity.array(build / "sentence_chunk.npy", "<i8", 1)
        chunks: Records[Chunk] = Records(build / "chunks.jsonl", lambda c: _chunk(c, rows), damaged=damaged)
        vectors = integrity.array(build / "sentence_vectors.npy", "<f4", 2)
        integrity.contents(manifest, build, documents, chunks, rows, chunk_lo, sentence_chunk, vectors)
        documents[0]  # noqa: B018 - parse now: fail early
    except integrity.Damaged as e:
        raise IndexLoadError(f"the index at '{index_dir}' {_state(e)}: {e}; {fix_hint(index_dir)}") from None
    except PermissionError as e:
        raise _no_access(Path(e.filename or build), index_dir) from None
    except (ValueError, KeyError, IndexError, TypeError, OSError) as e:
        raise IndexLoadError(f"the index at '{index_dir}' has damaged files ({type(e).__name__}: "
                             f"{' '.join(str(e).split())[:200]}); {fix_hint(index_dir)}") from None
    try:
        # mapped, not copied: copying a large HNSW file costs seconds and as much private memory (bench_scale.py)
        faiss_index = faiss.read_index(str(build / "chunks.faiss"), faiss.IO_FLAG_MMAP_IFC)
        if hasattr(faiss_index, "hnsw"):
            faiss_index.hnsw.efSearch = ef_search
    except RuntimeError as e:
        raise IndexLoadError(f"the FAISS file '{build / 'chunks.faiss'}' is damaged "
                             f"({str(e).splitlines()[0][:120]}); {fix_hint(index_dir)}") from None
    try:
        integrity.passages(faiss_index, manifest["n_chunks"], manifest["dim"])
    except integrity.Damaged as e:
        raise IndexLoadError(f"the index at '{index_dir}' {_state(e)}: {e}; {fix_hint(index_dir)}") from None
    import bm25s

    try:
        bm25 = bm25s.BM25.load(str(build / "bm25"), mmap=True)
    except Exception as e:  # noqa: BLE001 - bm25s raises plain exceptions on damaged files
        raise IndexLoadError(f"the BM25 files of '{index_dir}' (bm25/) are damaged "
                             f"({' '.join(str(e).split())[:120]}); {fix_hint(index_dir)}") from None
    return Index(manifest, documents, chunks, rows, vectors, faiss_index, bm25, str(build), chunk_lo,
                 sentence_chunk)


def _state(e: integrity.Damaged) -> str:
    return "is inconsistent" if isinstance(e, integrity.Inconsistent) else "is damaged"


def _flags(model: str) -> str:
    """The command-line flags that select ``model`` as an embedder names it (int8 is a backend).

    >>> _flags("all-MiniLM-L6-v2+int8")
    '--model all-MiniLM-L6-v2 --backend onnx-int8'
    """
    if model.endswith("+int8"):
        return f"--model {model.removesuffix('+int8')} --backend onnx-int8"
    return f"--model {model}"


def _document(d: dict[str, Any]) -> Document:
    return Document(d["doc_id"], d["source"], d["path"], d["title"], d["text"], d["sha256"],
                    tuple(d.get("pages", ())), d.get("meta", {}))


def _chunk(c: dict[str, Any], rows: np.ndarray) -> Chunk:
    lo, hi, start, end, text = c["sent_lo"], c["sent_hi"], c["start"], c["end"], c["text"]
    if not 0 <= lo < hi <= len(rows) or end - start != len(text):
        raise ValueError(f"sentence rows {lo}..{hi} or characters {start}..{end} do not fit")
    span = rows[lo:hi]
    if int(span[0, 1]) != start or int(span[-1, 2]) != end:
        raise ValueError(f"sentences.npy rows {lo}..{hi} do not span its characters {start}..{end}")
    sentences = tuple(Sentence(int(s), int(e), text[int(s) - start:int(e) - start]) for _, s, e in span)
    return Chunk(c["chunk_id"], c["doc_id"], c["text"], c["start"], c["end"], c["n_tokens"], c["page"],
                 sentences)


def verify(index_dir: str | Path) -> int:
    """Read every file of the current build and compare it with the sha256 its manifest recorded; the
    number of files checked. Raise ``IndexLoadError`` naming the files that differ, or saying that the index
    predates checksums."""
    build = current_build(index_dir)
    if build is None or not (build / "manifest.json").is_file():
        read_manifest(index_dir)  # raises what is wrong: no index, no manifest, no access
    assert build is not None
    try:
        return checksums.verify(build)
    except checksums.NotRecorded:
        raise IndexLoadError(f"the index at '{index_dir}' was built before checksums were recorded, so it cannot be "
                             f"verified; rebuild it to record them: {rebuild_command(index_dir)}") from None
    except integrity.Damaged as e:
        raise IndexLoadError(f"the index at '{index_dir}' is damaged: {e}; {fix_hint(index_dir)}") from None
    except PermissionError as e:
        raise _no_access(Path(e.filename or build), index_dir) from None
    except OSError as e:
        raise IndexLoadError(f"cannot read the index at '{index_dir}' ({e.strerror or e}); check the disk, then "
                             f"{fix_hint(index_dir)}") from None
