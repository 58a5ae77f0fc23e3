"""Soft word matching, a signal of the passage ranker: how well a passage's word pieces match the question's.

Each word piece of the question, in its context (its state from one more run of the embedding model over
the question), is matched to the most similar word piece of the passage; the matches are averaged,
weighted by the idf of the word each piece belongs to (a stopword weighs nothing). Unlike the BM25 and
dense scores this rewards a passage that says "director" where the question says "czar", piece by piece.

A passage's pieces are not run through the model: each is looked up in a table holding, for every piece
of the vocabulary, the model's output for that piece alone ("[CLS] piece [SEP]"). The table is computed
once per model in a few seconds and cached beside the ONNX export (``tokens.npy``, float16 on disk, 23 MB,
float32 in memory); a passage's
pieces are tokenised the first time it is a candidate and kept. Both backends have it: on ONNX the
question's states are the ones its embedding was computed from; on torch (``TorchModel``) the question
runs once more.

Chosen on document-held-out cross-validation of the train split (docs/answers.md).
"""

from __future__ import annotations

import os
import tempfile
import weakref
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .search import tokenize

if TYPE_CHECKING:
    from .store import Index

TABLE = "tokens.npy"
_BATCH = 2048
_KEEP = 100_000  # passages whose pieces are kept (about 0.6 KB each); past that the memo starts again


class TokenMatch:
    """The soft-match signal for one ONNX model (``rag.onnx_backend.OnnxModel``)."""

    def __init__(self, model: Any, folder: Path) -> None:
        self.model = model
        self.table = vocabulary_states(model, folder).astype(np.float32)  # a gather of float16 rows is slow
        self._pieces: dict[tuple[str, int], np.ndarray] = {}
        self.question = lru_cache(maxsize=256)(self._question)

    def _question(self, text: str) -> tuple[np.ndarray, tuple[str, ...]]:
        """The question's piece states (unit rows, special tokens dropped) and the word of each piece."""
        enc = self.model.tokenizer.encode(text)
        states = self.model.last_states(text)[: len(enc.ids)]
        keep = [i for i, (s, e) in enumerate(enc.offsets) if e > s and not enc.special_tokens_mask[i]]
        v = states[keep].astype(np.float32)
        v /= np.clip(np.linalg.norm(v, axis=1, keepdims=True), 1e-12, None)
        words = []
        for i in keep:
            w = enc.word_ids[i]
            span = enc.word_to_chars(w) if w is not None else enc.offsets[i]
            words.append(text[span[0]:span[1]])
        return v, tuple(words)

    def pieces(self, index: Index, rows: list[int]) -> list[np.ndarray]:
        """Each passage's distinct vocabulary ids."""
        key = index.index_id
        missing = [r for r in rows if (key, r) not in self._pieces]
        if missing:
            if len(self._pieces) + len(missing) > _KEEP:
                self._pieces.clear()
            for r, enc in zip(missing, self.model.counter.encode_batch(
                    [index.chunks[r].text for r in missing], add_special_tokens=False)):
                self._pieces[(key, r)] = np.unique(np.asarray(enc.ids, dtype=np.int32))
        return [self._pieces[(key, r)] for r in rows]

    def scores(self, index: Index, question: str, rows: list[int], idf: dict[str, float]) -> np.ndarray:
        """Each passage's idf-weighted mean, over the question's pieces, of its best piece's cosine."""
        v, words = self.question(question)
        w = piece_weights(words, idf)
        if not len(rows) or not w.sum():
            return np.zeros(len(rows), dtype=np.float32)
        ids = self.pieces(index, rows)
        sizes = np.array([len(p) for p in ids])
        if not sizes.sum():
            return np.zeros(len(rows), dtype=np.float32)
        vocab, where = np.unique(np.concatenate(ids), return_inverse=True)
        sim = v @ self.table[vocab].T  # (question pieces, distinct passage pieces)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        best = np.maximum.reduceat(sim[:, where], np.minimum(starts, len(where) - 1), axis=1)
        return np.where(sizes > 0, w @ best / w.sum(), 0.0).astype(np.float32)


def piece_weights(words: tuple[str, ...], idf: dict[str, float]) -> np.ndarray:
    """The idf of each piece's word (stemmed as BM25 does); 0 for a stopword or punctuation, the largest
    idf for a word the index never uses.

    >>> piece_weights(("the", "czar", "?"), {"czar": 2.0, "other": 3.0}).tolist()
    [0.0, 2.0, 0.0]
    """
    top = max(idf.values(), default=1.0)
    terms = tokenize(list(words))
    return np.array([idf.get(t[0], top) if t else 0.0 for t in terms], dtype=np.float32)


def vocabulary_states(model: Any, folder: Path) -> np.ndarray:
    """Every vocabulary piece's output state alone, as unit float16 rows: read from ``folder``, else
    computed (seconds on two cores) and written there."""
    path = folder / TABLE
    try:
        table = np.load(path)
        if table.shape[0] == model.counter.get_vocab_size():
            return table
    except (OSError, ValueError):
        pass
    bounds = model.counter.encode("").ids  # the special pieces the model wraps a text in: [CLS], [SEP]
    n = model.counter.get_vocab_size()
    rows = []
    for lo in range(0, n, _BATCH):
        ids = np.arange(lo, min(lo + _BATCH, n), dtype=np.int64)[:, None]
        batch = np.hstack([np.full_like(ids, bounds[0]), ids, np.full_like(ids, bounds[-1])])
        rows.append(model.run(batch, np.ones_like(batch))[:, 1])
    table = np.vstack(rows)
    table = (table / np.clip(np.linalg.norm(table, axis=1, keepdims=True), 1e-12, None)).astype(np.float16)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tokens.", suffix=".npy", dir=folder)
        with os.fdopen(fd, "wb") as f:
            np.save(f, table)
        os.replace(tmp, path)
    except OSError:  # a read-only cache: the table is used, not kept
        if tmp:
            Path(tmp).unlink(missing_ok=True)
    return table


class TorchModel:
    """The torch backend's model (a ``SentenceTransformer``) behind the calls ``TokenMatch`` makes of an
    ``OnnxModel``: ``tokenizer``, ``counter``, ``run`` and ``last_states``."""

    def __init__(self, st: Any) -> None:
        from tokenizers import Tokenizer

        self.st = st
        text = st.tokenizer.backend_tokenizer.to_str()
        self.counter = Tokenizer.from_str(text)
        self.counter.no_truncation()
        self.counter.no_padding()
        self.tokenizer = Tokenizer.from_str(text)
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(st.max_seq_length)

    def run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.st[0].auto_model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
        return out.last_hidden_state.float().numpy()

    def last_states(self, text: str) -> np.ndarray:
        ids = np.array([self.tokenizer.encode(text).ids], dtype=np.int64)
        return self.run(ids, np.ones_like(ids))[0]


_MADE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # embedder → its TokenMatch


def for_embedder(embedder: Any, cache_dir: str | Path) -> TokenMatch | None:
    """The signal for the real model behind ``embedder`` (made once per embedder); None for any other
    embedder (the tests' fake one). The table is cached beside the ONNX export, or on torch in
    ``cache_dir/tokens/<key>``."""
    from .embedding import OnnxEmbedder, SentenceTransformerEmbedder, resolve_model
    from .onnx_backend import OnnxModel, cache_key, exported

    if embedder in _MADE:
        return _MADE[embedder]
    inner = embedder.warm_up() if isinstance(embedder, OnnxEmbedder) else None
    if isinstance(inner, OnnxModel):
        made = TokenMatch(inner, exported(resolve_model(embedder.model_name), embedder.cache_dir, embedder.int8))
    elif isinstance(inner or embedder, SentenceTransformerEmbedder):  # torch, chosen or fallen back to
        torch_embedder = inner or embedder
        folder = Path(cache_dir) / "tokens" / cache_key(resolve_model(torch_embedder.name), False)
        folder.mkdir(parents=True, exist_ok=True)
        made = TokenMatch(TorchModel(torch_embedder.warm_up()), folder)
    else:
        return None
    _MADE[embedder] = made
    return made
