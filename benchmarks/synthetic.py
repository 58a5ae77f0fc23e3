"""Synthetic corpora for the scale benchmarks, shared by ``bench_scale.py`` (FAISS and BM25 files alone)
and ``scale_index.py`` (the real index format): vectors shaped like the model's, and text made of the
words of ../shared/corpus with the sentence and passage lengths ``rag`` finds in it.

    import synthetic as S
    S.vectors("uniform", 10_000, seed=1)          # (10000, 384) float32 unit vectors
    S.vectors("real-like", 10_000, seed=1)        # drawn with the real index's mean and covariance
    words, p, lengths = S.corpus_model()          # a word model for BM25 text

``real-like`` and ``sentence_lengths`` read the real index of sources/ + ../shared/corpus that
bench_query.py and compare_selectors.py use (``reference_index``), built with the shipped embedder the
first time.

>>> v = unit_vectors(3, seed=0)
>>> v.shape, bool(abs((v * v).sum(axis=1) - 1).max() < 1e-5)
((3, 384), True)
"""

from __future__ import annotations

import functools
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as C  # noqa: E402

DIM = 384  # all-MiniLM-L6-v2's


@functools.cache
def reference_index() -> Any:
    """The real index of sources/ + ../shared/corpus (``rag.store.Index``), shared with bench_query.py and
    compare_selectors.py; built with the shipped embedder if it is missing."""
    from rag import store

    folder = C.CACHE / f"q-{C.shipped_backend()}-sources-corpus"
    if store.current_build(folder) is None:
        C.ensure_index(folder.name, [C.SOURCES, C.CORPUS], C.embedder_for())
    return store.load_index(folder)


# -- vectors ------------------------------------------------------------------------------------------------

def unit_vectors(n: int, seed: int, block: int = 100_000) -> Any:
    """``n`` random unit vectors (uniform on the sphere), float32."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), dtype=np.float32)
    for lo in range(0, n, block):
        v = rng.standard_normal((min(block, n - lo), DIM), dtype=np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        out[lo:lo + len(v)] = v
    return out


@functools.cache
def real_moments() -> tuple[Any, Any]:
    """(mean, a square root of the covariance) of the real index's chunk and sentence vectors."""
    import numpy as np

    index = reference_index()
    real = np.vstack([index.faiss_index.reconstruct_n(0, index.faiss_index.ntotal),
                      np.asarray(index.sentence_vectors)]).astype(np.float64)
    mean = real.mean(axis=0)
    vals, vecs = np.linalg.eigh(np.cov(real - mean, rowvar=False))
    return mean.astype(np.float32), (vecs * np.sqrt(np.clip(vals, 0, None))).astype(np.float32)


def real_like_vectors(n: int, seed: int, block: int = 100_000) -> Any:
    """Unit vectors drawn from a Gaussian with the mean and covariance of the real index's vectors:
    anisotropic like real embeddings, though without their clusters, so still harder for HNSW than
    real data."""
    import numpy as np

    mean, root = real_moments()
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), dtype=np.float32)
    for lo in range(0, n, block):
        z = rng.standard_normal((min(block, n - lo), DIM), dtype=np.float32)
        v = mean + z @ root.T
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        out[lo:lo + len(v)] = v
    return out


def vectors(kind: str, n: int, seed: int) -> Any:
    """``uniform`` or ``real-like`` unit vectors."""
    return unit_vectors(n, seed) if kind == "uniform" else real_like_vectors(n, seed)


# -- text ---------------------------------------------------------------------------------------------------

def corpus_words() -> tuple[list, list[str], Any]:
    """(the documents, their distinct words, each word's count) of ../shared/corpus, read by ``rag``."""
    import numpy as np

    from rag.sources import load_all

    docs, _ = load_all([C.CORPUS])
    counts: Counter[str] = Counter()
    for d in docs:
        counts.update(re.findall(r"[A-Za-z][A-Za-z'-]*|\d+", d.text))
    words = list(counts)
    return docs, words, np.array([counts[w] for w in words], dtype=np.float64)


def corpus_model(chunk_words: int = 150) -> tuple[list[str], Any, Any]:
    """(words, their probabilities, passage lengths in words) from ../shared/corpus: each document cut into
    passages of ``chunk_words`` words (about the shipped chunk size) and a last, shorter one."""
    import numpy as np

    docs, words, counts = corpus_words()
    lengths = []
    for d in docs:
        n = len(d.text.split())
        lengths += [chunk_words] * (n // chunk_words) + ([n % chunk_words] if n % chunk_words > 20 else [])
    return words, counts / counts.sum(), np.array(lengths)


def sentence_lengths() -> Any:
    """The word count of every sentence ``rag``'s splitter found in the reference index (at least 1)."""
    import numpy as np

    index = reference_index()
    lengths = np.array([len(index.sentence_text(r).split()) for r in range(len(index.sentence_rows))])
    return np.clip(lengths, 1, None)


def synthetic_texts(n: int, words: list[str], p: Any, lengths: Any, seed: int) -> list[str]:
    """``n`` passages of words drawn with probabilities ``p``, their lengths drawn from ``lengths``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sizes = rng.choice(lengths, size=n)
    ids = rng.choice(len(words), size=int(sizes.sum()), p=p)
    out, at = [], 0
    for s in sizes.tolist():
        out.append(" ".join([words[i] for i in ids[at:at + s].tolist()]))
        at += s
    return out
