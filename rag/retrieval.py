"""Question → ranked ``Hit``s: dense (FAISS), lexical (BM25 via bm25s), both fused by reciprocal rank, or
the learned ranker over three searches (``rag.rerank``). The searches themselves are ``rag.search``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .rerank import fused, gather
from .search import bm25_search, dense_search, index_idf, rrf_scores
from .types import Hit

if TYPE_CHECKING:
    from .store import Index
    from .tokenmatch import TokenMatch

MODES = ("learned", "hybrid", "dense", "bm25")


def retrieve(index: Index, question: str, q: np.ndarray, mode: str = "hybrid", k: int = 5,
             candidates: int = 50, rrf_k: int = 60, allowed: np.ndarray | None = None,
             ranker: Any = None, soft_match: TokenMatch | None = None) -> list[Hit]:
    """The top ``k`` passages for the question (``q`` is its unit vector); ``allowed`` masks the chunks
    that may be returned (a scope of documents).

    Modes: ``dense`` (FAISS), ``bm25``, ``hybrid`` (the two fused by reciprocal rank), ``learned``
    (dense, BM25 and best-sentence search weighed by ``ranker``, a ``rag.selector.Linear`` over
    ``rag.rerank.SIGNALS``, with ``soft_match``'s signal (``rag.tokenmatch``); reciprocal rank
    fusion of the three without a ranker).
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "learned":
        return _learned(index, question, q, k, candidates, allowed, ranker, soft_match)
    dense = dense_search(index, q, candidates, allowed) if mode != "bm25" else []
    lexical = bm25_search(index, question, candidates, allowed) if mode != "dense" else []
    if mode == "dense":
        ranked = dense
    elif mode == "bm25":
        ranked = lexical
    else:
        ranked = rrf_scores([[i for i, _ in dense], [i for i, _ in lexical]], rrf_k)
    dense_of, bm25_of = dict(dense), dict(lexical)
    return [_hit(index, i, score, dense_of.get(i), bm25_of.get(i), q) for i, score in ranked[:k]]


def _hit(index: Index, i: int, score: float, cosine: float | None, bm25: float | None, q: np.ndarray) -> Hit:
    chunk = index.chunks[i]
    doc = index.document(chunk.doc_id)
    if cosine is None:  # score it anyway: composing and abstaining compare cosines
        cosine = float(index.faiss_index.reconstruct(i) @ q)
    return Hit(chunk, float(score), cosine, bm25, doc.source, doc.title, i)


def _learned(index: Index, question: str, q: np.ndarray, k: int, candidates: int, allowed: np.ndarray | None,
             ranker: Any, soft_match: TokenMatch | None = None) -> list[Hit]:
    c = gather(index, question, q, candidates, index_idf(index), allowed, soft_match)
    if not len(c.rows):
        return []
    scores = ranker.proba(c.signals) if ranker is not None else fused(c)
    order = np.argsort(-scores, kind="stable")[:k]
    return [_hit(index, int(c.rows[i]), float(scores[i]), float(c.signals[i, 0]), c.bm25.get(int(c.rows[i])), q)
            for i in order]
