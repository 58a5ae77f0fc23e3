"""Writing a build, under the index folder's lock: every file of a build folder, fsynced, then published
by an atomic symlink swap (``index/current``), older builds dropped; and the temporary folders of builds
that died removed. The layout and the reading side are ``rag.store``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from . import checksums
from .records import write_records
from .store import current_build
from .types import Chunk, Document

HNSW_M, HNSW_EF_CONSTRUCTION = 32, 80


class BuildError(Exception):
    """The build cannot go on; the previous index is untouched."""


class BuildBusy(BuildError):
    pass


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index folder's build lock; ``BuildBusy`` at once if another build holds it."""
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        fh = open(index_dir / ".lock", "w")
    except OSError as e:  # a file in the way, no permission, a read-only disk
        raise BuildError(f"cannot create or write the index folder '{index_dir}' ({e.strerror or e}); choose "
                         "another --index or fix the permissions") from None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildBusy(f"another build of '{index_dir}' is running; try again when it ends") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_build(build_dir: Path, manifest: dict[str, Any], documents: list[Document], chunks: list[Chunk],
                chunk_sent_lo: list[int], sentence_rows: np.ndarray, chunk_vectors: np.ndarray,
                sentence_vectors: np.ndarray, bm25: Any) -> None:
    """Write every file of a build into ``build_dir`` (a fresh folder) and fsync them."""
    import faiss

    build_dir.mkdir(parents=True)
    write_records(build_dir / "documents.jsonl", (
        {"doc_id": d.doc_id, "source": d.source, "path": d.path, "title": d.title, "sha256": d.sha256,
         "pages": list(d.pages), "meta": d.meta, "text": d.text} for d in documents))
    write_records(build_dir / "chunks.jsonl", (
        {"chunk_id": c.chunk_id, "doc_id": c.doc_id, "start": c.start, "end": c.end, "page": c.page,
         "n_tokens": c.n_tokens, "sent_lo": lo, "sent_hi": lo + len(c.sentences), "text": c.text}
        for c, lo in zip(chunks, chunk_sent_lo)))
    sentence_chunk = np.full(len(sentence_rows), -1, dtype=np.int64)
    for i in range(len(chunks) - 1, -1, -1):  # the first chunk holding each sentence
        sentence_chunk[chunk_sent_lo[i]:chunk_sent_lo[i] + len(chunks[i].sentences)] = i
    np.save(build_dir / "chunk_sentences.npy", np.array(chunk_sent_lo, dtype=np.int64), allow_pickle=False)
    np.save(build_dir / "sentence_chunk.npy", sentence_chunk, allow_pickle=False)
    np.save(build_dir / "sentences.npy", sentence_rows.astype(np.int64), allow_pickle=False)
    np.save(build_dir / "sentence_vectors.npy", np.asarray(sentence_vectors, dtype=np.float32),
            allow_pickle=False)  # no copy of what is float32 already (the largest file at scale: docs/benchmarks.md)
    dim = int(manifest["dim"])
    if manifest.get("faiss") == "hnsw":  # approximate, for large indexes (see Settings.hnsw_above)
        vectors_index: Any = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        vectors_index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    else:
        vectors_index = faiss.IndexFlatIP(dim)
    if len(chunk_vectors):
        vectors_index.add(np.ascontiguousarray(chunk_vectors, dtype=np.float32))
    faiss.write_index(vectors_index, str(build_dir / "chunks.faiss"))
    if bm25 is not None:
        bm25.save(str(build_dir / "bm25"))
    manifest = checksums.record(build_dir, manifest)  # hashes and fsyncs every file written above
    (build_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), "utf-8")
    with open(build_dir / "manifest.json", "rb") as fh:
        os.fsync(fh.fileno())


def publish(index_dir: Path, build_dir: Path) -> None:
    """Point ``index_dir/current`` at ``build_dir`` atomically, then drop builds older than the last."""
    link_tmp = index_dir / f".current-{os.getpid()}"
    if link_tmp.is_symlink() or link_tmp.exists():
        link_tmp.unlink()
    previous = current_build(index_dir)
    os.symlink(os.path.relpath(build_dir, index_dir), link_tmp)
    os.replace(link_tmp, index_dir / "current")
    dir_fd = os.open(index_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    keep = {build_dir.resolve(), previous.resolve() if previous else None}
    for old in (index_dir / "builds").iterdir():
        if old.resolve() not in keep and not old.name.startswith(".tmp-"):
            shutil.rmtree(old, ignore_errors=True)


def clean_leftovers(index_dir: Path) -> list[str]:
    """Remove temporary folders left by builds that died (call only while holding the build lock)."""
    removed = []
    builds = index_dir / "builds"
    if builds.is_dir():
        for tmp in builds.glob(".tmp-*"):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp.name)
    for link in index_dir.glob(".current-*"):
        link.unlink(missing_ok=True)
        removed.append(link.name)
    return removed
