"""Soft word matching, a signal of the passage ranker: how well a passage's word pieces match the question's.

Each word piece of the question, in its context (its output state from the embedding model), is matched
to the most similar word piece of the passage; the matches are averaged, weighted by the idf of the word
each piece belongs to (a stopword weighs nothing). Unlike the BM25 and dense scores this rewards a
passage that says "director" where the question says "czar", piece by piece.

A passage's pieces are not run through the model: each is looked up in a table holding, for every piece
of the vocabulary, the model's output for that piece alone ("[CLS] piece [SEP]"). The table is computed
once per model and cached (``TABLE``: beside the ONNX export, or in ``<cache>/tokens/<key>/`` on torch;
in memory only when the cache is read-only); a passage's pieces are tokenised the first time it is a
candidate and kept with the index. On ONNX the question's states are the ones its embedding was computed
from (``OnnxModel.last_states``); on torch (``rag.embedding.TorchStates``) the question runs once more.
What it costs and what it gains: docs/answers.md and docs/benchmarks.md.
"""

from __future__ import annotations

import os
import tempfile
import threading
import weakref
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .search import tokenize

if TYPE_CHECKING:
    from .store import Index

TABLE = "tokens-v1.npy"  # the version goes up when the way the table is made changes
_BATCH = 2048
_KEEP = 100_000  # passages of one index whose pieces are kept; past that the memo starts again


class TokenMatch:
    """The soft-match signal for one model: an ``OnnxModel`` or a ``TorchStates`` (both give ``tokenizer``,
    ``counter``, ``run`` and ``last_states``)."""

    def __init__(self, model: Any, folder: Path | None) -> None:
        self.model = model
        self.table = vocabulary_states(model, folder).astype(np.float32)  # a gather of float16 rows is slow
        self.question = lru_cache(maxsize=256)(self._question)

    def _question(self, text: str) -> tuple[np.ndarray, tuple[str, ...]]:
        """The question's piece states (unit rows, special pieces dropped) and the word of each piece."""
        enc = self.model.tokenizer.encode(text)
        states = self.model.last_states(text)[: len(enc.ids)]
        keep = [i for i, (s, e) in enumerate(enc.offsets) if e > s and not enc.special_tokens_mask[i]]
        words = []
        for i in keep:
            w = enc.word_ids[i]
            span = enc.word_to_chars(w) if w is not None else enc.offsets[i]
            words.append(text[span[0]:span[1]])
        return unit_rows(states[keep]), tuple(words)

    def pieces(self, index: Index, rows: list[int]) -> list[np.ndarray]:
        """Each passage's distinct vocabulary ids (kept with the index)."""
        memo: dict[int, np.ndarray] = index.cached("chunk_pieces", dict)
        found = {r: memo[r] for r in rows if r in memo}
        missing = [r for r in rows if r not in found]
        if missing:
            encoded = self.model.counter.encode_batch([index.chunks[r].text for r in missing], add_special_tokens=False)
            found |= {r: np.unique(np.asarray(e.ids, dtype=np.int32)) for r, e in zip(missing, encoded)}
            if len(memo) + len(missing) > _KEEP:
                memo.clear()
            memo.update((r, found[r]) for r in missing)
        return [found[r] for r in rows]

    def scores(self, index: Index, question: str, rows: list[int], idf: dict[str, float]) -> np.ndarray:
        """Each passage's idf-weighted mean, over the question's pieces, of its best piece's cosine."""
        v, words = self.question(question)
        w = piece_weights(words, idf)
        out = np.zeros(len(rows), dtype=np.float32)
        if not len(rows) or not w.sum():
            return out
        v, w = v[w > 0], w[w > 0]  # a stopword's piece weighs nothing: not matched at all
        ids = self.pieces(index, rows)
        sizes = np.array([len(p) for p in ids])
        full = np.flatnonzero(sizes)  # a passage of no pieces (whitespace only) scores 0
        if not len(full):
            return out
        every = np.concatenate([ids[i] for i in full])
        seen = np.zeros(len(self.table), dtype=bool)  # the distinct pieces, without sorting
        seen[every] = True
        vocab = np.flatnonzero(seen)
        place = np.empty(len(self.table), dtype=np.int32)
        place[vocab] = np.arange(len(vocab), dtype=np.int32)
        sim = v @ self.table[vocab].T  # (question pieces, distinct passage pieces)
        starts = np.concatenate([[0], np.cumsum(sizes[full])[:-1]])
        out[full] = w @ np.maximum.reduceat(sim[:, place[every]], starts, axis=1) / w.sum()
        return out


def unit_rows(a: np.ndarray) -> np.ndarray:
    """``a`` as float32 rows of unit length (a zero row stays zero)."""
    a = np.asarray(a, dtype=np.float32)
    return a / np.clip(np.linalg.norm(a, axis=1, keepdims=True), 1e-12, None)


def piece_weights(words: tuple[str, ...], idf: dict[str, float]) -> np.ndarray:
    """The idf of each piece's word (stemmed as BM25 does); 0 for a stopword or punctuation, the largest
    idf for a word the index never uses.

    >>> piece_weights(("the", "czar", "?"), {"czar": 2.0, "other": 3.0}).tolist()
    [0.0, 2.0, 0.0]
    """
    top = max(idf.values(), default=1.0)
    terms = tokenize(list(words))
    return np.array([idf.get(t[0], top) if t else 0.0 for t in terms], dtype=np.float32)


def vocabulary_states(model: Any, folder: Path | None) -> np.ndarray:
    """Every vocabulary piece's output state alone, as unit float16 rows: read from ``folder``, else
    computed and written there (used, not kept, when ``folder`` is None or read-only)."""
    n, dim = model.counter.get_vocab_size(), None
    path = folder / TABLE if folder is not None else None
    if path is not None:
        try:
            table = np.load(path)
            if table.ndim == 2 and table.shape[0] == n:
                return table
        except (OSError, ValueError):
            pass
    # the special pieces the model wraps a text in ([CLS] x [SEP] for BERT; none for some models)
    enc = model.counter.encode("x")
    real = [i for i, m in enumerate(enc.special_tokens_mask) if not m][:1] or [0]
    before, after = enc.ids[:real[0]], enc.ids[real[0] + 1:]
    rows = []
    for lo in range(0, n, _BATCH):
        ids = np.arange(lo, min(lo + _BATCH, n), dtype=np.int64)[:, None]
        batch = np.hstack([np.tile(np.asarray(before, dtype=np.int64), (len(ids), 1)), ids,
                           np.tile(np.asarray(after, dtype=np.int64), (len(ids), 1))])
        rows.append(model.run(batch, np.ones_like(batch))[:, len(before)])
        dim = rows[-1].shape[1]
    table = unit_rows(np.vstack(rows) if rows else np.zeros((0, dim or 1))).astype(np.float16)
    if path is not None:
        _write(path, table)
    return table


def _write(path: Path, table: np.ndarray) -> None:
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tokens.", suffix=".npy", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            np.save(f, table)
        os.replace(tmp, path)
    except OSError:  # a read-only cache: the table is used, not kept
        if tmp:
            Path(tmp).unlink(missing_ok=True)


_MADE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # embedder → its TokenMatch
_MAKING = threading.Lock()  # two first questions at once make one table


def for_embedder(embedder: Any, cache_dir: str | Path) -> TokenMatch | None:
    """The signal for the real model behind ``embedder`` (made once per embedder); None for any other
    embedder (the tests' fake one)."""
    from .embedding import OnnxEmbedder, SentenceTransformerEmbedder, TorchStates, resolve_model
    from .onnx_backend import OnnxModel, cache_key, exported

    if not isinstance(embedder, (OnnxEmbedder, SentenceTransformerEmbedder)):
        return None
    if embedder in _MADE:  # every question after the first: no lock
        return _MADE[embedder]
    with _MAKING:
        if embedder in _MADE:
            return _MADE[embedder]
        inner = embedder.warm_up() if isinstance(embedder, OnnxEmbedder) else embedder
        if isinstance(inner, OnnxModel) and isinstance(embedder, OnnxEmbedder):
            made = TokenMatch(inner, exported(resolve_model(embedder.model_name), embedder.cache_dir, embedder.int8))
        else:  # torch, chosen or fallen back to
            path = Path(cache_dir) / "tokens" / cache_key(resolve_model(inner.name), False)
            folder: Path | None = path
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError:
                folder = None
            made = TokenMatch(TorchStates(inner.warm_up()), folder)
        _MADE[embedder] = made
        return made
