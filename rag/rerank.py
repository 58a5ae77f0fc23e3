"""Passage candidates from three searches, ranked by weights learned from the train questions.

The searches: dense over the passage vectors (FAISS), BM25 over the passage words (the question's
acronyms and long forms expanded from the documents' own "Long Form (LF)" pairs), and dense over the
sentence vectors the index already holds (a passage scored by its best sentence), which finds passages
whose one answering sentence is drowned in a passage about something else. Each candidate gets the
``SIGNALS`` below; ``rag.selector.Model`` turns them into one score. Without a model the three rankings
are fused by reciprocal rank.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .acronyms import expand, mine
from .search import bm25_search, dense_search, tokenize

if TYPE_CHECKING:
    from .store import Index
    from .tokenmatch import TokenMatch

SIGNALS = ("dense", "dense_recip", "bm25_rel", "bm25_recip", "sent_max", "sent_top2", "sent_recip",
           "title_overlap", "in_dense", "in_bm25", "in_sent", "soft_match")
FULL_SENTENCE_SEARCH = 300_000  # above this many sentences only the candidates' sentences are scored


@dataclass
class Candidates:
    rows: np.ndarray  # chunk rows
    signals: np.ndarray  # (n, len(SIGNALS))
    dense: dict[int, float]
    bm25: dict[int, float]


def acronyms(index: Index) -> dict[str, str]:
    """The index's acronym table: recorded at build time, else mined from its passages once (small
    indexes only: a large one without a table searches without expansion)."""
    def make() -> dict[str, str]:
        if "acronyms" in index.manifest:
            return index.manifest["acronyms"]
        return mine(index.chunks[i].text for i in range(len(index.chunks))) if len(index.chunks) <= 20_000 else {}

    return index.cached("acronyms", make)


def _chunk_sentence_matrix(index: Index) -> tuple[np.ndarray, np.ndarray]:
    """(chunks × longest chunk) sentence rows, padded with -1; made once per index."""
    def make() -> tuple[np.ndarray, np.ndarray]:
        lo = np.asarray(index.chunk_sent_lo, dtype=np.int64)
        hi = np.append(lo[1:], len(index.sentence_rows)) if len(lo) else lo
        counts = np.array([len(index.chunks[i].sentences) for i in range(len(lo))], dtype=np.int64) \
            if len(lo) <= 50_000 else np.maximum(hi - lo, 1)
        width = int(counts.max()) if len(counts) else 1
        grid = lo[:, None] + np.arange(width)[None, :]
        return np.where(np.arange(width)[None, :] < counts[:, None], grid, -1), counts

    return index.cached("chunk_sentences", make)


def _title_share(index: Index, question: str, rows: np.ndarray, idf: dict[str, float]) -> np.ndarray:
    cache = index.cached("title_terms", lambda: [
        set(t) for t in tokenize([d.get("title", "") for d in index.manifest.get("documents", [])])])
    weights = {t: idf.get(t, 0.0) for t in tokenize([question])[0]}
    total = sum(weights.values())
    if total <= 0:
        return np.zeros(len(rows), dtype=np.float32)
    per_doc = np.array([sum(w for t, w in weights.items() if t in terms) / total for terms in cache],
                       dtype=np.float32)
    docs = index.sentence_rows[index.chunk_sent_lo[rows], 0]
    return per_doc[docs]


def gather(index: Index, question: str, q: np.ndarray, n: int, idf: dict[str, float],
           allowed: np.ndarray | None = None, soft_match: TokenMatch | None = None) -> Candidates:
    """Up to ``3 n`` candidate passages with their signals (``soft_match`` 0 without one)."""
    dense = dense_search(index, q, n, allowed)
    lexical = bm25_search(index, expand(question, acronyms(index)), n, allowed)
    grid, _ = _chunk_sentence_matrix(index)
    vectors = np.asarray(index.sentence_vectors)
    if len(index.sentence_rows) <= FULL_SENTENCE_SEARCH:
        sent = vectors @ q
        best = np.where(grid >= 0, sent[np.maximum(grid, 0)], -1.0).max(axis=1)
        if allowed is not None:
            best = np.where(allowed, best, -2.0)
        order = np.argsort(-best, kind="stable")[:n]
        sent_rank = [int(i) for i in order if best[i] > -2.0]
    else:
        sent, sent_rank = None, []
    rows = list(dict.fromkeys([i for i, _ in dense] + [i for i, _ in lexical] + sent_rank))
    arr = np.array(rows, dtype=np.int64)
    dense_of, bm25_of = dict(dense), dict(lexical)
    if not rows:
        return Candidates(arr, np.zeros((0, len(SIGNALS)), np.float32), dense_of, bm25_of)
    sub = grid[arr]
    if sent is None:  # a large index: score only the candidates' sentences
        wanted = np.unique(sub[sub >= 0])
        sent = np.full(len(index.sentence_rows), -1.0, dtype=np.float32)
        sent[wanted] = vectors[wanted] @ q
    scores = np.where(sub >= 0, sent[np.maximum(sub, 0)], -1.0)
    srt = -np.sort(-scores, axis=1)
    sent_max = srt[:, 0]
    sent_top2 = np.where(srt[:, min(1, srt.shape[1] - 1)] > -1, (srt[:, 0] + srt[:, min(1, srt.shape[1] - 1)]) / 2,
                         sent_max)
    cos = np.array([dense_of.get(r, 0.0) for r in rows], dtype=np.float32)
    missing = [i for i, r in enumerate(rows) if r not in dense_of]
    if missing:  # BM25 or sentence candidates: one batch read of their passage vectors
        cos[missing] = index.faiss_index.reconstruct_batch(arr[missing]) @ q
    top_bm25 = max(bm25_of.values()) if bm25_of else 1.0
    d_rank = {r: i for i, (r, _) in enumerate(dense)}
    b_rank = {r: i for i, (r, _) in enumerate(lexical)}
    s_rank = {r: i for i, r in enumerate(sent_rank)}
    signals = np.zeros((len(rows), len(SIGNALS)), dtype=np.float32)
    signals[:, 0] = cos
    signals[:, 1] = [1.0 / (5 + d_rank[r]) if r in d_rank else 0.0 for r in rows]
    signals[:, 2] = [bm25_of.get(r, 0.0) / top_bm25 for r in rows]
    signals[:, 3] = [1.0 / (5 + b_rank[r]) if r in b_rank else 0.0 for r in rows]
    signals[:, 4] = sent_max
    signals[:, 5] = sent_top2
    signals[:, 6] = [1.0 / (5 + s_rank[r]) if r in s_rank else 0.0 for r in rows]
    signals[:, 7] = _title_share(index, question, arr, idf)
    signals[:, 8] = [r in d_rank for r in rows]
    signals[:, 9] = [r in b_rank for r in rows]
    signals[:, 10] = [r in s_rank for r in rows]
    if soft_match is not None:  # relative to the best candidate, as bm25_rel is
        soft = soft_match.scores(index, question, rows, idf)
        signals[:, 11] = soft - soft.max()
    return Candidates(arr, signals, dense_of, bm25_of)


def fused(c: Candidates) -> np.ndarray:
    """Reciprocal-rank fusion of the three searches: the ranking used when no model is trained."""
    return c.signals[:, 1] + c.signals[:, 3] + c.signals[:, 6]
