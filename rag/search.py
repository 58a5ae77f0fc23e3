"""The searches retrieval is made of: BM25 terms and index, dense (FAISS) and BM25 top-n, reciprocal
rank fusion, and BM25's idf of every indexed term.

>>> [i for i, _ in rrf_scores([[3, 1, 2], [1, 4]], k=60)][:2]
[1, 3]
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Container
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .store import Index

_local = threading.local()  # a PyStemmer stemmer is not thread-safe: one per thread
_WORDS = re.compile(r"(?u)\b\w\w+\b").findall  # bm25s's token pattern


def _stemmer() -> Any:
    if not hasattr(_local, "stemmer"):
        import Stemmer

        _local.stemmer = Stemmer.Stemmer("english")
    return _local.stemmer


@functools.cache
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def tokenize(texts: list[str]) -> list[list[str]]:
    """The terms BM25 indexes, exactly as ``bm25s.tokenize(texts, stopwords="en", stemmer=...)`` gives
    them (tested), without its per-call vocabulary building, which dominates on the few sentences of one answer
    (benchmarks/bench_query.py times both).

    >>> tokenize(["The strategies of the United States", "a"])
    [['strategi', 'unit', 'state'], []]
    """
    stop, stem = _stopwords(), _stemmer()
    words = [[w for w in _WORDS(t.lower()) if w not in stop] for t in texts]
    stems = dict(zip(unique := list({w for ws in words for w in ws}), stem.stemWords(unique)))
    return [[stems[w] for w in ws] for ws in words]


def split_compounds(text: str, index: Index, vocabulary: Container[str]) -> str:
    """``text`` with each lower-case word the index lacks written as the index writes it in two, "multi-
    stakeholder" or "multi stakeholder" for "multistakeholder" (BM25 and the off-topic check then find
    "multi" and "stakehold"); a word with a capital is a name, left alone. Looked up once per word and
    index, in indexes of up to 20,000 passages."""
    found = index.cached("compounds", dict)

    def split(m: re.Match[str]) -> str:
        word = m.group(0)
        if word not in found:
            found[word] = word
            if tokenize([word])[0][0] not in vocabulary and len(index.chunks) <= 20_000:
                corpus = index.cached("lower_text", lambda: "\n".join(
                    index.chunks[j].text.lower() for j in range(len(index.chunks))))
                for i in range(4, len(word) - 3):
                    if re.search(rf"\b{word[:i]}[\s-]{word[i:]}\b", corpus):
                        found[word] = f"{word[:i]}-{word[i:]}"
                        break
        return found[word]

    return re.sub(r"\b[a-z]{8,}\b", split, text)


def build_bm25(texts: list[str]) -> Any:
    import bm25s

    retriever = bm25s.BM25()
    if texts:
        retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), show_progress=False),
                        show_progress=False)
    return retriever


def rrf_scores(rankings: list[list[int]], k: int = 60) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: (id, the sum of 1/(k + rank) over the rankings), best first."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, i in enumerate(ranking, start=1):
            scores[i] = scores.get(i, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def dense_search(index: Index, q: np.ndarray, n: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
    n = min(n, index.faiss_index.ntotal)
    if n <= 0:
        return []
    params = None
    if allowed is not None:
        import faiss

        params = faiss.SearchParameters(  # type: ignore[call-arg]  # SWIG keyword, unknown to the stubs
            sel=faiss.IDSelectorBatch(np.flatnonzero(allowed).astype(np.int64)))
    scores, ids = index.faiss_index.search(q.reshape(1, -1).astype(np.float32), n, params=params)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def bm25_search(index: Index, question: str, n: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
    if index.bm25 is None or not len(index.chunks):
        return []
    vocab = index.bm25.vocab_dict
    tokens = [t for t in tokenize([question])[0] if t in vocab]
    if not tokens:
        return []
    scores = index.bm25.get_scores(tokens)
    if allowed is not None:
        scores = np.where(allowed, scores, 0.0)
    n = min(n, len(scores))
    top = np.argpartition(-scores, n - 1)[:n]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


def index_idf(index: Index) -> dict[str, float]:
    """BM25's idf of every indexed term (rare words say more about a sentence than common ones)."""
    return index.cached("idf", lambda: _idf(index))


def _idf(index: Index) -> dict[str, float]:
    if index.bm25 is None:
        return {}
    n = float(index.bm25.scores["num_docs"])
    df = np.diff(index.bm25.scores["indptr"]).astype(np.float64)
    values = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
    return {t: float(values[i]) for t, i in index.bm25.vocab_dict.items() if i < len(values)}
