"""Checks that a build's files are what its manifest says, cheap enough to run at every load.

``rag.store.load_index`` calls these; each problem is a ``Damaged(file, why)`` that the store turns into
one line naming the file and the fix. What is checked:

- the manifest: every key the readers use, with its type;
- every ``.npy`` file: a header that parses, the exact dtype and shape expected, and a file size that
  matches the header (a flipped header byte otherwise shifts or reinterprets every value);
- the values: offsets in range, row numbers pointing at existing rows, the maps between passages and
  sentences agreeing, no NaN, infinity or over-long vector. An array of up to ``FULL_CHECK_BYTES`` is
  checked value by value, and every passage record while there are at most ``RECORD_CHECK_BYTES`` of
  them (all of an index of a few thousand documents); beyond that, ``SAMPLE_ROWS`` rows spread evenly
  over each array and 64 records, so that opening a memory-mapped index of a million passages never
  reads whole arrays. Builds never write non-finite vectors (``rag.indexing`` checks every vector
  before writing), so the sample guards against damage afterwards, not against the build.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

FULL_CHECK_BYTES = 4 * 2**20
SAMPLE_ROWS = 1024
RECORD_CHECK_BYTES = 2 * 2**20  # chunks.jsonl up to this size: every record parsed at load, else a sample

MANIFEST_KEYS: dict[str, type] = {
    "format_version": int, "index_id": str, "built_at": str, "model": str, "dim": int, "encoding": str,
    "chunk_tokens": int, "chunk_overlap": int, "n_documents": int, "n_chunks": int, "n_sentences": int,
    "documents": list, "skipped": list}
DOCUMENT_KEYS: dict[str, type] = {
    "doc_id": str, "source": str, "path": str, "title": str, "sha256": str, "n_chunks": int,
    "n_sentences": int}


_KINDS = {int: "a whole number", str: "text", list: "a list"}
_TYPES: dict[type, set[type]] = {int: {int}, str: {str}, list: {list}}  # exact: a bool is not a count


class Damaged(ValueError):
    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"{name} {why}")
        self.name, self.why = name, why


class Inconsistent(Damaged):
    """Files that each look sound but disagree (counts, dimensions)."""


def _is(value: object, kind: type) -> bool:
    return isinstance(value, kind) and not (isinstance(value, bool) and kind is int)


def _entry(entry: Any, keys: dict[str, type], where: str) -> None:
    if not isinstance(entry, dict):
        raise Damaged("manifest.json", f"has an entry that is not an object{where}")
    for key, kind in keys.items():
        if key not in entry:
            raise Damaged("manifest.json", f"lacks the key '{key}'{where}")
        if not _is(entry[key], kind):
            raise Damaged("manifest.json", f"has '{key}' = {json.dumps(entry[key])[:40]}{where}, "
                                           f"not {_KINDS[kind]}")


def check_manifest(manifest: Any) -> None:
    """Raise ``Damaged`` unless the manifest has every key the readers use, with the right type.

    >>> check_manifest({"format_version": 2})
    Traceback (most recent call last):
    rag.integrity.Damaged: manifest.json lacks the key 'index_id'
    """
    if not isinstance(manifest, dict):
        raise Damaged("manifest.json", f"holds a JSON {type(manifest).__name__}, not an object")
    _entry(manifest, MANIFEST_KEYS, "")
    documents = manifest["documents"]
    # column by column (a set of types per key), so that checking stays cheap at 100k document entries
    if {type(d) for d in documents} - {dict} or any(
            {type(d.get(key)) for d in documents} - _TYPES[kind] for key, kind in DOCUMENT_KEYS.items()):
        for i, d in enumerate(documents):  # the slow path, only to name the entry
            _entry(d, DOCUMENT_KEYS, f" in document entry {i + 1}")
    for key in ("dim", "n_documents", "n_chunks", "n_sentences"):
        if manifest[key] < (1 if key == "dim" else 0):
            raise Damaged("manifest.json", f"has '{key}' = {manifest[key]}")
    if len(documents) != manifest["n_documents"]:
        raise Inconsistent("manifest.json", f"lists {len(documents)} documents but its n_documents is "
                                            f"{manifest['n_documents']}")
    for key in ("n_chunks", "n_sentences"):
        total = sum(d[key] for d in documents)
        if total != manifest[key]:
            raise Inconsistent("manifest.json", f"documents add up to {total} {key}, but its {key} is "
                                                f"{manifest[key]}")


def contents(manifest: dict[str, Any], build: Path, documents: Sequence[Any], chunks: Sequence[Any],
             table: np.ndarray, chunk_lo: np.ndarray, sentence_chunk: np.ndarray, vectors: np.ndarray) -> None:
    """Every check of a build's records and arrays against its manifest and each other."""
    n_docs, n_chunks, n_sentences, dim = (manifest[k] for k in ("n_documents", "n_chunks", "n_sentences", "dim"))
    sizes(manifest, len(documents), len(chunks), len(chunk_lo), table, sentence_chunk, vectors)
    in_range(chunk_lo, 0, max(n_sentences, 1), "chunk_sentences.npy", "sentence row", increasing=True)
    in_range(sentence_chunk, 0, max(n_chunks, 1), "sentence_chunk.npy", "passage row")
    n_chars = [d.get("n_chars") for d in manifest["documents"]]
    sentences(table, n_chars if {type(n) for n in n_chars} == {int} else None, n_docs)
    finite(vectors, n_sentences, dim, "sentence_vectors.npy")
    bm25(build / "bm25", n_chunks)
    chunk_records(chunks, chunk_lo, sentence_chunk, table, (build / "chunks.jsonl").stat().st_size)


def passages(faiss_index: Any, n_chunks: int, dim: int) -> None:
    """The FAISS index holds one finite vector of the manifest's dimension per passage."""
    if faiss_index.ntotal != n_chunks:
        raise Inconsistent("chunks.faiss", f"holds {faiss_index.ntotal} passage vectors, manifest.json says "
                                           f"{n_chunks}")
    if faiss_index.d != dim:
        raise Inconsistent("chunks.faiss", f"holds {faiss_index.d}-dimensional vectors, manifest.json says {dim}")
    finite(faiss_index, n_chunks, dim, "chunks.faiss")


def sizes(manifest: dict[str, Any], n_doc_records: int, n_chunk_records: int, n_chunk_lo: int,
            rows: np.ndarray, sentence_chunk: np.ndarray, vectors: np.ndarray) -> None:
    """Raise ``Damaged`` naming the first file whose size disagrees with the manifest."""
    n_docs, n_chunks, n_sentences, dim = (manifest[k] for k in ("n_documents", "n_chunks", "n_sentences", "dim"))
    for name, have, want, what in (("documents.jsonl", n_doc_records, n_docs, "documents"),
                                   ("chunks.jsonl", n_chunk_records, n_chunks, "passages"),
                                   ("chunk_sentences.npy", n_chunk_lo, n_chunks, "passages"),
                                   ("sentences.npy", len(rows), n_sentences, "sentences"),
                                   ("sentence_chunk.npy", len(sentence_chunk), n_sentences, "sentences"),
                                   ("sentence_vectors.npy", len(vectors), n_sentences, "sentence vectors")):
        if have != want:
            raise Inconsistent(name, f"holds {have} {what}, manifest.json says {want}")
    if vectors.shape[1] != dim:
        raise Inconsistent("sentence_vectors.npy", f"holds {vectors.shape[1]}-dimensional vectors, "
                                                   f"manifest.json says {dim}")


def array(path: Path, dtype: str, ndim: int, width: int | None = None) -> np.ndarray:
    """A ``.npy`` file memory-mapped, after checking its header against what the build writes."""
    name = path.name if path.parent.name != "bm25" else f"bm25/{path.name}"
    a = npy(path, name)
    want = np.dtype(dtype)
    if a.dtype != want or a.ndim != ndim or (width is not None and a.shape[1] != width):
        shape = f"(n, {width})" if width is not None else "(n,)" if ndim == 1 else f"{ndim} dimensions"
        raise Damaged(name, f"holds {a.dtype.str} values of shape {a.shape}, not {want.str} of shape {shape}")
    return a


def npy(path: Path, name: str) -> np.ndarray:
    """A ``.npy`` file memory-mapped (no pickles), after checking that its header parses, describes a
    C-ordered array and accounts for the file's size exactly."""
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except PermissionError:
        raise
    except Exception as e:  # noqa: BLE001 - numpy's header parser raises syntax and tokenizer errors too
        raise Damaged(name, f"is not a valid array file ({type(e).__name__})") from None
    offset = getattr(a, "offset", None)
    size = path.stat().st_size
    if offset is None or offset + a.nbytes != size:
        raise Damaged(name, f"is {size} bytes but its header describes {a.nbytes} bytes of data "
                            f"after {offset} bytes of header")
    if not a.flags.c_contiguous:
        raise Damaged(name, "has a header saying Fortran order, which no build writes")
    if a.dtype.byteorder == ">" or a.dtype.kind not in "iuf":
        raise Damaged(name, f"holds {a.dtype.str} values, which no build writes")
    return np.asarray(a)


def rows(n: int, row_bytes: int) -> slice | np.ndarray:
    """Which rows to check: all of them when they fit ``FULL_CHECK_BYTES``, else an even sample.

    >>> rows(10, 8)
    slice(None, None, None)
    >>> rows(10**9, 1536)[:3].tolist(), len(rows(10**9, 1536))
    ([0, 977517, 1955034], 1024)
    """
    if n * row_bytes <= FULL_CHECK_BYTES:
        return slice(None)
    return np.unique(np.linspace(0, n - 1, SAMPLE_ROWS).astype(np.int64))


def in_range(a: np.ndarray, lo: int, hi: int, name: str, what: str, increasing: bool = False) -> None:
    """Every value (or a sample: see ``rows``) of the 1-d ``a`` within ``[lo, hi)``."""
    if not len(a):
        return
    v = np.asarray(a[rows(len(a), a.itemsize)])
    bad = (v < lo) | (v >= hi)
    if bad.any():
        raise Damaged(name, f"has {what} {int(v[bad][0])}, outside 0..{hi - 1}")
    if increasing and (np.diff(v) < 0).any():
        raise Damaged(name, f"has {what}s out of order")


def finite(a: Any, n: int, dim: int, name: str) -> None:
    """No NaN, infinity or length over 1 in the vectors (all of them, or a sample: see ``rows``); ``a`` is an array
    or a FAISS index."""
    if not n:
        return
    which = rows(n, dim * 4)
    if isinstance(a, np.ndarray):
        v = np.asarray(a[which])
    else:
        v = a.reconstruct_n(0, n) if isinstance(which, slice) else a.reconstruct_batch(which)
    if not np.isfinite(v).all():
        raise Damaged(name, "holds vectors with NaN or infinite numbers")
    if dim > 1 and (np.einsum("ij,ij->i", v, v) > 1.01).any():  # the model's vectors have length 1 (or 0)
        raise Damaged(name, "holds vectors longer than 1, which no model writes")


def sentences(table: np.ndarray, n_chars: list[int] | None, n_documents: int) -> None:
    """Sentence rows ``(document row, start, end)``: documents in order, spans inside their text."""
    in_range(table[:, 0], 0, n_documents, "sentences.npy", "document row", increasing=True)
    v = np.asarray(table[rows(len(table), 24)])
    if not len(v):
        return
    bad = (v[:, 1] < 0) | (v[:, 2] <= v[:, 1])
    if n_chars is not None:
        bad |= v[:, 2] > np.asarray(n_chars, dtype=np.int64)[v[:, 0]]
    if bad.any():
        start, end = v[bad][0, 1:].tolist()
        raise Damaged("sentences.npy", f"has a sentence at characters {start}..{end}, outside its document")


def chunk_records(chunks: Sequence[Any], chunk_lo: np.ndarray, sentence_chunk: np.ndarray, table: np.ndarray,
                  size: int) -> None:
    """Passage records and the two maps between passages and sentences agree: each record starts at the
    sentence row ``chunk_sentences.npy`` gives it, and ``sentence_chunk.npy`` names the first passage
    holding each sentence. Every record is parsed when the records are at most ``RECORD_CHECK_BYTES``
    (parsing also checks that its sentence rows exist and span its text, ``rag.store``); beyond that, a
    sample of records, and of sentences against the passage starts."""
    n = len(chunks)
    full = size <= RECORD_CHECK_BYTES
    first_holder = np.full(len(table), -1, dtype=np.int64)
    for i in range(n - 1, -1, -1) if full else np.unique(np.linspace(0, n - 1, 64).astype(np.int64)):
        sentences = chunks[int(i)].sentences
        lo = int(chunk_lo[i])
        row = table[lo]
        if (int(row[1]), int(row[2])) != (sentences[0].start, sentences[0].end):
            raise Damaged("chunk_sentences.npy", f"points passage {int(i) + 1} at sentence row {lo}, which is "
                                                 "not its first sentence")
        first_holder[lo:lo + len(sentences)] = i
    if full:
        wrong = np.flatnonzero(first_holder != np.asarray(sentence_chunk))
    else:
        row_numbers = np.arange(len(sentence_chunk))[rows(len(sentence_chunk), 8)]
        holder = np.asarray(sentence_chunk[row_numbers])
        bad = (np.diff(holder, prepend=0) < 0) | (np.asarray(chunk_lo)[holder] > row_numbers)
        wrong = row_numbers[bad]
    if len(wrong):
        raise Damaged("sentence_chunk.npy", f"gives sentence row {int(wrong[0])} a passage that does not hold it")


def bm25(folder: Path, n_chunks: int) -> None:
    """The BM25 arrays (a sparse matrix: scores, passage numbers, a pointer per word) agree in size."""
    try:
        params = json.loads((folder / "params.index.json").read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise Damaged("bm25/params.index.json", "is not valid JSON") from None
    if not isinstance(params, dict) or params.get("num_docs") != n_chunks:
        raise Damaged("bm25/params.index.json", f"counts {params.get('num_docs') if isinstance(params, dict) else '?'} "
                                                f"passages, the manifest {n_chunks}")
    data = npy(folder / "data.csc.index.npy", "bm25/data.csc.index.npy")
    indices = npy(folder / "indices.csc.index.npy", "bm25/indices.csc.index.npy")
    indptr = npy(folder / "indptr.csc.index.npy", "bm25/indptr.csc.index.npy")
    if data.ndim != 1 or indices.ndim != 1 or indptr.ndim != 1 or len(data) != len(indices) or not len(indptr):
        raise Damaged("bm25/", f"arrays disagree in size ({data.shape}, {indices.shape}, {indptr.shape})")
    if indptr[0] != 0 or indptr[-1] != len(data):
        raise Damaged("bm25/indptr.csc.index.npy", f"runs {int(indptr[0])}..{int(indptr[-1])}, not 0..{len(data)}")
    in_range(indptr, 0, len(data) + 1, "bm25/indptr.csc.index.npy", "pointer", increasing=True)
    in_range(indices, 0, max(n_chunks, 1), "bm25/indices.csc.index.npy", "passage number")
    finite(data, len(data), 1, "bm25/data.csc.index.npy")
