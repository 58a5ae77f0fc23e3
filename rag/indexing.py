"""Build or update an index: load files, reuse what did not change, embed the rest, publish atomically."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from . import builds, store
from .acronyms import mine
from .builds import BuildError, build_lock
from .chunking import chunk_document
from .config import Settings
from .embedding import Embedder
from .search import build_bm25
from .sources import read_all, short_error
from .types import BuildReport, Chunk, Document, Sentence, Skipped

Progress = Callable[[float, str], None]


class BuildTooLarge(BuildError):
    """The build would embed more texts than ``Settings.max_embed_texts``; ``files`` maps each new or
    changed document's source to its count."""

    def __init__(self, message: str, files: dict[str, int]) -> None:
        super().__init__(message)
        self.files = files


def build(roots: Iterable[str | Path], settings: Settings, embedder: Embedder,
          progress: Progress | None = None, show_bar: bool = False) -> BuildReport:
    """Index the files under ``roots`` into ``settings.index_dir`` and publish the new build."""
    t0 = time.perf_counter()
    say = progress or (lambda fraction, message: None)
    paths = [Path(r) for r in roots]
    for r in paths:
        if not r.exists():
            raise BuildError(f"no such file or folder: {r}")
    index_dir = Path(settings.index_dir)
    with build_lock(index_dir):
        builds.clean_leftovers(index_dir)
        say(0.0, "reading files")
        prepared, skipped = read_all(paths, int(settings.max_file_mb * 2**20), settings.parse_seconds,
                                     settings.max_text_chars, settings.encoding)
        counted = {d.sha256: sentences for d, sentences in prepared}
        docs, duplicates = _dedupe([d for d, _ in prepared])
        skipped += [Skipped(path, f"duplicate of {first}") for path, first in duplicates]
        _need_documents(docs, paths, skipped)
        shape = {**settings.index_shape(), "model": embedder.name, "dim": embedder.dim}
        previous = _previous(index_dir, shape)
        reuse = _reusable(previous, {d.sha256 for d in docs})
        new_docs = [d for d in docs if d.sha256 not in reuse]
        _within_limit({d.source: len(counted[d.sha256]) for d in new_docs}, settings.max_embed_texts, exact=False)
        say(0.05, f"chunking {len(new_docs)} new or changed documents")
        fresh, failed = _chunk_all(new_docs, counted, settings, embedder.fits)
        if failed:
            skipped += failed
            docs = [d for d in docs if d.sha256 in reuse or d.sha256 in fresh]
            _need_documents(docs, paths, skipped)
        _within_limit({d.source: len(fresh[d.sha256][0]) + len(fresh[d.sha256][1]) for d in new_docs
                       if d.sha256 in fresh}, settings.max_embed_texts, exact=True)
        texts = [c.text for cs, _ in fresh.values() for c in cs] + [s.text for _, ss in fresh.values() for s in ss]
        n_chunk_new = sum(len(cs) for cs, _ in fresh.values())
        at, c_at, s_at = {}, 0, n_chunk_new  # where each fresh document's vectors start in ``vectors``
        for sha, (cs, ss) in fresh.items():
            at[sha], c_at, s_at = (c_at, s_at), c_at + len(cs), s_at + len(ss)
        say(0.1, f"embedding {len(texts)} passages and sentences")
        vectors = embed(embedder, texts, lambda done: say(0.1 + 0.8 * done / len(texts),
                                                          f"embedding: {done:,} of {len(texts):,}"), show_bar)
        broken = _non_finite(vectors, fresh, at)
        if broken:  # never write NaN: it would reach every score computed from these vectors
            skipped += [Skipped(d.path, "the embedding model gave non-finite numbers for its text")
                        for d in docs if d.sha256 in broken]
            docs = [d for d in docs if d.sha256 not in broken]
            _need_documents(docs, paths, skipped)
        say(0.9, "writing the index")

        documents: list[Document] = []
        all_chunks: list[Chunk] = []
        chunk_lo: list[int] = []
        rows: list[tuple[int, int, int]] = []
        cvecs: list[np.ndarray] = []
        svecs: list[np.ndarray] = []
        doc_entries: list[dict[str, Any]] = []
        for d in docs:
            if d.sha256 in reuse:
                reused, sentences, cv, sv = reuse[d.sha256]
                doc_chunks: Sequence[Chunk] = [_rebind(c, d) for c in reused]
            else:
                doc_chunks, sentences = fresh[d.sha256]
                c_at, s_at = at[d.sha256]
                cv, sv = vectors[c_at:c_at + len(doc_chunks)], vectors[s_at:s_at + len(sentences)]  # views
            row = len(documents)
            base = len(rows)
            where = {(s.start, s.end): base + i for i, s in enumerate(sentences)}
            documents.append(d)
            doc_entries.append({"doc_id": d.doc_id, "source": d.source, "path": d.path, "title": d.title,
                                "sha256": d.sha256, "n_chunks": len(doc_chunks), "n_sentences": len(sentences),
                                "n_chars": len(d.text), "pages": len(d.pages) or None})
            rows.extend((row, s.start, s.end) for s in sentences)
            all_chunks.extend(doc_chunks)
            chunk_lo.extend(where[(c.sentences[0].start, c.sentences[0].end)] for c in doc_chunks)
            cvecs.append(cv)
            svecs.append(sv)
        dim = embedder.dim
        if reuse or broken:  # old and new vectors interleave, or some are left out: one copy of each matrix
            chunk_matrix = np.concatenate([*cvecs, np.zeros((0, dim), np.float32)]).astype(np.float32, copy=False)
            sent_matrix = np.concatenate([*svecs, np.zeros((0, dim), np.float32)]).astype(np.float32, copy=False)
        else:  # a full build embeds in document order: the matrices are views, no copy of all vectors
            chunk_matrix, sent_matrix = vectors[:n_chunk_new], vectors[n_chunk_new:]
        del cvecs, svecs
        index_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        report = _report(index_dir, index_id, docs, previous, reuse, skipped, duplicates, all_chunks,
                         len(rows), len(texts), t0)
        manifest = {"format_version": store.FORMAT_VERSION, "index_id": index_id,
                    "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    **shape, "dim": dim, "faiss": "hnsw" if len(all_chunks) > settings.hnsw_above else "flat",
                    "roots": [str(r.resolve()) for r in paths],
                    "acronyms": mine(c.text for c in all_chunks),  # "Long Form (LF)" pairs: query expansion
                    "n_documents": len(documents), "n_chunks": len(all_chunks), "n_sentences": len(rows),
                    "documents": doc_entries, "skipped": [{"path": s.path, "reason": s.reason} for s in skipped],
                    "report": {k: len(v) for k, v in report.to_dict().items() if isinstance(v, list)}}
        tmp = index_dir / "builds" / f".tmp-{index_id}"
        try:
            builds.write_build(tmp, manifest, documents, all_chunks, chunk_lo,
                               np.array(rows, dtype=np.int64).reshape(-1, 3), chunk_matrix, sent_matrix,
                               build_bm25([c.text for c in all_chunks]))
            final = index_dir / "builds" / index_id
            tmp.rename(final)
            builds.publish(index_dir, final)
        except (OSError, RuntimeError) as e:  # a full disk; faiss reports write errors as RuntimeError
            shutil.rmtree(tmp, ignore_errors=True)
            raise BuildError(f"cannot write the index in '{index_dir}' ({e}); the previous index is "
                             "unchanged") from None
        say(1.0, "done")
        return report


def _need_documents(docs: list[Document], paths: list[Path], skipped: list[Skipped]) -> None:
    if not docs:
        raise BuildError("no readable documents in " + ", ".join(map(str, paths)) +
                         (f" ({len(skipped)} skipped)" if skipped else "") + "; the previous index is unchanged")


def _within_limit(counts: dict[str, int], limit: int, exact: bool) -> None:
    """Refuse, before anything is embedded, a build that would embed more than ``limit`` texts; name the
    files they come from. ``exact=False`` when ``counts`` are the sentences alone (a lower bound)."""
    total = sum(counts.values())
    if total <= limit:
        return
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:3]
    raise BuildTooLarge(f"this build would embed {'' if exact else 'at least '}{total:,} passages and sentences "
                        f"and the limit is {limit:,} (setting max_embed_texts, RAG_MAX_EMBED_TEXTS); most come "
                        f"from {', '.join(f'{name} ({n:,})' for name, n in top)}: remove those files or raise the "
                        "limit; the previous index is unchanged", counts)


def _chunk_all(docs: list[Document], counted: dict[str, Any], settings: Settings, fits: Callable[[str], bool]
               ) -> tuple[dict[str, tuple[list[Chunk], list[Sentence]]], list[Skipped]]:
    """sha256 → (chunks, sentences) of each document; a document that cannot be chunked is skipped."""
    fresh, failed = {}, []
    for d in docs:
        try:
            chunks = chunk_document(d, settings.chunk_tokens, settings.chunk_overlap, settings.encoding, fits,
                                    counted[d.sha256].tolist())
        except Exception as e:  # noqa: BLE001 - e.g. the model's tokenizer rejecting this file's text
            failed.append(Skipped(d.path, f"cannot be chunked ({short_error(e)})"))
            continue
        fresh[d.sha256] = (chunks, _document_sentences(chunks))
    return fresh, failed


def _non_finite(vectors: np.ndarray, fresh: dict[str, tuple[list[Chunk], list[Sentence]]],
                at: dict[str, tuple[int, int]]) -> set[str]:
    """The documents any of whose vectors holds a NaN or an infinity."""
    bad = ~np.isfinite(vectors).all(axis=1)
    if not bad.any():
        return set()
    return {sha for sha, (cs, ss) in fresh.items()
            if bad[at[sha][0]:at[sha][0] + len(cs)].any() or bad[at[sha][1]:at[sha][1] + len(ss)].any()}


def embed(embedder: Embedder, texts: list[str], done: Callable[[int], None] | None = None,
          show_bar: bool = False, step: int = 256) -> np.ndarray:
    """Embed in slices of similar length (fast batches), reporting progress after each slice."""
    if not texts:
        return np.zeros((0, embedder.dim), np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), embedder.dim), np.float32)
    bar = None
    if show_bar:
        from tqdm import tqdm

        bar = tqdm(total=len(texts), unit="text", desc="embedding")
    for a in range(0, len(order), step):
        part = order[a:a + step]
        out[part] = embedder.encode([texts[i] for i in part])
        if bar is not None:
            bar.update(len(part))
        if done is not None:
            done(a + len(part))
    if bar is not None:
        bar.close()
    return out


def _dedupe(docs: list[Document]) -> tuple[list[Document], list[tuple[str, str]]]:
    seen: dict[str, Document] = {}
    out, dupes = [], []
    for d in docs:
        if d.sha256 in seen:
            dupes.append((d.path, seen[d.sha256].source))
        else:
            seen[d.sha256] = d
            out.append(d)
    return out, dupes


def _previous(index_dir: Path, shape: dict[str, object]) -> store.Index | None:
    """The published index if it can be reused: same model and chunking; else None (full rebuild)."""
    try:
        manifest = store.read_manifest(index_dir)
        if any(manifest.get(k) != v for k, v in shape.items()):
            return None
        return store.load_index(index_dir)
    except store.IndexLoadError:
        return None


def _reusable(previous: store.Index | None, wanted: set[str]
              ) -> dict[str, tuple[Sequence[Chunk], list[Sentence], Any, Any]]:
    """sha256 → (chunks, sentences, chunk vectors, sentence vectors) of the previous documents whose
    content is ``wanted`` again: what a rebuild need not embed."""
    if previous is None:
        return {}
    rows = np.asarray(previous.sentence_rows)
    chunk_doc = rows[np.asarray(previous.chunk_sent_lo), 0] if len(previous.chunks) else np.zeros(0, np.int64)
    out = {}
    for row, entry in enumerate(previous.manifest["documents"]):
        if entry["sha256"] not in wanted:
            continue
        s_lo, s_hi = np.searchsorted(rows[:, 0], [row, row + 1])
        c_lo, c_hi = np.searchsorted(chunk_doc, [row, row + 1])
        chunks = previous.chunks[int(c_lo):int(c_hi)]
        sentences = [previous.sentence(r)[1] for r in range(int(s_lo), int(s_hi))]
        vectors = (previous.faiss_index.reconstruct_n(int(c_lo), int(c_hi - c_lo)) if c_hi > c_lo
                   else np.zeros((0, previous.faiss_index.d), np.float32))
        out[entry["sha256"]] = (chunks, sentences, vectors, np.asarray(previous.sentence_vectors[s_lo:s_hi]))
    return out


def _rebind(c: Chunk, d: Document) -> Chunk:
    return c if c.doc_id == d.doc_id else Chunk(c.chunk_id, d.doc_id, c.text, c.start, c.end, c.n_tokens,
                                                c.page, c.sentences)


def _document_sentences(chunks: list[Chunk]) -> list[Sentence]:
    """The distinct sentences of a document's chunks, in order (overlap repeats them)."""
    seen, out = set(), []
    for c in chunks:
        for s in c.sentences:
            if (s.start, s.end) not in seen:
                seen.add((s.start, s.end))
                out.append(s)
    return out


def _report(index_dir: Path, index_id: str, docs: list[Document], previous: store.Index | None,
            reuse: dict, skipped: list[Skipped], duplicates: list, chunks: list[Chunk], n_sentences: int,
            n_embedded: int, t0: float) -> BuildReport:
    before = {d["path"]: d["sha256"] for d in previous.manifest["documents"]} if previous else {}
    now = {d.path: d.sha256 for d in docs}
    return BuildReport(
        index_dir=str(index_dir), index_id=index_id,
        added=tuple(p for p in now if p not in before),
        changed=tuple(p for p in now if p in before and before[p] != now[p]),
        removed=tuple(p for p in before if p not in now),
        unchanged=tuple(p for p in now if before.get(p) == now[p]),
        skipped=tuple(skipped), duplicates=tuple(p for p, _ in duplicates),
        n_documents=len(docs), n_chunks=len(chunks), n_sentences=n_sentences, n_embedded=n_embedded,
        seconds=time.perf_counter() - t0)
