"""The embedding model run by ONNX Runtime: exported once from the local model, offline, then cached.

Exporting needs torch and transformers (they are installed anyway); answering needs only
``onnxruntime`` and ``tokenizers``, which import far faster than torch, transformers and
sentence-transformers (bench_query.py's start-up figures, docs/benchmarks.md). The export

- loads the model with eager attention and uses the TorchScript exporter (the dynamo exporter's graph
  is not fused by ONNX Runtime, so batches run slower; SDPA attention exports wrong states),
- fuses attention, GELU and layer norms with ONNX Runtime's BERT optimizer,
- checks the result against sentence-transformers on probe texts: fp32 must give the same vectors
  (cosine ≥ 0.9999) or the export is refused,
- for ``int8`` instead quantises the weights dynamically (smaller, faster, but the vectors move: opt-in),

and writes ``model.onnx``, ``tokenizer.json`` and ``meta.json`` into ``<cache>/onnx/<key>/``, where the
key covers the model folder's files and the library versions, so a changed model is exported again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

PROBES = ["An SBOM lists the components of a piece of software.",
          "The strategy was released in May 2024 by the Department of State.",
          "Digital solidarity means working with allies and partners.", "Why?",
          "A longer probe sentence, with commas, numbers such as 2,024 and 17, and some rarer words like "
          "interoperability, cryptographically and multistakeholder, to exercise the tokenizer and padding."]
SAME = 0.9999  # fp32 export must reproduce the torch vectors to this cosine


class ExportError(Exception):
    """The model cannot run on ONNX Runtime; the message says why and how to use torch instead."""


def cache_key(model_path: str, int8: bool) -> str:
    """A short hash of the model folder's files (name, size, mtime), the library versions and the variant."""
    import onnxruntime
    import tokenizers

    h = hashlib.sha256(f"v1|int8={int8}|ort={onnxruntime.__version__}|tok={tokenizers.__version__}".encode())
    for f in sorted(Path(model_path).rglob("*")):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.relative_to(model_path)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def exported(model_path: str, cache_dir: str | Path, int8: bool = False) -> Path:
    """The cached export of ``model_path`` (made now if missing): a folder with model.onnx,
    tokenizer.json and meta.json. Safe when several processes ask at once."""
    root = Path(cache_dir) / "onnx"
    folder = root / cache_key(model_path, int8)
    if (folder / "meta.json").exists():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one export at a time; the others wait, then find it done
        if not (folder / "meta.json").exists():
            work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=root))
            try:
                _export(model_path, work, int8)
                os.replace(work, folder)
            finally:
                shutil.rmtree(work, ignore_errors=True)
    return folder


def _export(model_path: str, out: Path, int8: bool) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    st: Any = SentenceTransformer(model_path, device="cpu")
    kinds = [type(m).__name__ for m in st]
    pooling = st[1].get_config_dict() if kinds[1:2] == ["Pooling"] else {}
    if (kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:])
            or pooling.get("pooling_mode", "mean" if pooling.get("pooling_mode_mean_tokens") else "") != "mean"):
        raise ExportError(f"the ONNX backend runs mean-pooled models; '{model_path}' is "
                          f"{' → '.join(kinds)} ({pooling}): set RAG_EMBEDDING_BACKEND=torch")
    tokenizer = st.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise ExportError(f"'{model_path}' has no fast tokenizer: set RAG_EMBEDDING_BACKEND=torch")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in tokenizer.model_input_names]
    model: Any = AutoModel.from_pretrained(model_path, attn_implementation="eager").eval()

    class Hidden(torch.nn.Module):  # keyword arguments: the positional order of forward() changed in v5
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, args))).last_hidden_state

    sample = tokenizer(PROBES[:2], padding=True, return_tensors="pt")
    raw = out / "raw.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Hidden(), tuple(sample[n] for n in names), str(raw), input_names=names,
                          output_names=["hidden"], dynamo=False, opset_version=17,
                          dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "hidden"]})
    if int8:  # quantise the plain export: the quantiser cannot type the fused graph's tensors
        from onnxruntime.quantization import QuantType, quantize_dynamic

        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # it warns "consider pre-processing" on the root logger
        try:
            quantize_dynamic(str(raw), str(out / "model.onnx"), weight_type=QuantType.QInt8, per_channel=True,
                             reduce_range=False, extra_options={"WeightSymmetric": True, "ActivationSymmetric": False})
        finally:
            root.setLevel(level)
    else:
        _fuse(raw, out / "model.onnx", model.config.num_attention_heads, model.config.hidden_size)
    raw.unlink()
    tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))
    meta: dict[str, Any] = {"source": model_path, "int8": int8, "inputs": names, "pooling": "mean",
                            "max_seq_length": int(st.max_seq_length), "dim": int(st.get_embedding_dimension() or 0),
                            "pad_id": tokenizer.pad_token_id, "pad_token": tokenizer.pad_token}
    want = st.encode(PROBES, normalize_embeddings=True, convert_to_numpy=True)
    got = OnnxModel(out, meta).encode(PROBES)
    meta["probe_cosine_min"] = float((want * got).sum(axis=1).min())
    if not int8 and meta["probe_cosine_min"] < SAME:
        raise ExportError(f"the ONNX export of '{model_path}' does not reproduce the model (cosine "
                          f"{meta['probe_cosine_min']:.4f}): set RAG_EMBEDDING_BACKEND=torch")
    (out / "meta.json").write_text(json.dumps(meta, indent=1))


def _fuse(src: Path, dst: Path, heads: int, hidden: int) -> None:
    """ONNX Runtime's transformer optimizer: fused attention/GELU/layer-norm kernels (without them batches
    run well below torch's speed: benchmarks/bench_build.py). A model it does not recognise is kept as
    exported (correct, only slower)."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        optimize_model(str(src), model_type="bert", num_heads=heads, hidden_size=hidden,
                       opt_level=1).save_model_to_file(str(dst))
    except Exception as e:  # noqa: BLE001 - an optimizer failure must not stop the export
        logging.getLogger(__name__).warning("ONNX graph not fused (%s); using the plain export", e)
        shutil.copyfile(src, dst)


class OnnxModel:
    """An exported model folder: tokenise, run, mean-pool, normalise."""

    def __init__(self, folder: Path, meta: dict[str, Any] | None = None, threads: int = 0) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.meta = meta or json.loads((folder / "meta.json").read_text())
        options = ort.SessionOptions()
        options.inter_op_num_threads = 1
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
        self.counter = Tokenizer.from_file(str(folder / "tokenizer.json"))  # no truncation: for fits()
        self.counter.no_truncation()
        self.counter.no_padding()
        self._last: tuple[str, np.ndarray] | None = None  # the last one-text batch and its states
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.meta["max_seq_length"])
        self.tokenizer.enable_padding(pad_id=self.meta["pad_id"] or 0, pad_token=self.meta["pad_token"] or "[PAD]")

    def n_tokens(self, text: str) -> int:
        return len(self.counter.encode(text).ids)

    def run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The model's output states, (batch, tokens, dim), for padded token ids and their mask."""
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return self.session.run(None, {n: feeds[n] for n in self.meta["inputs"]})[0]

    def states(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """One batch's output states and attention mask, tokenised as ``encode`` does."""
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return self.run(ids, mask), mask

    def last_states(self, text: str) -> np.ndarray:
        """The output states of ``text``: kept from ``encode`` when it was the last one-text batch (a
        question, embedded just before its passages are ranked), else computed."""
        kept = self._last
        return kept[1] if kept is not None and kept[0] == text else self.states([text])[0][0]

    def encode(self, texts: list[str]) -> np.ndarray:
        """One batch: float32 (len(texts), dim), rows of unit length."""
        hidden, mask = self.states(texts)
        if len(texts) == 1:
            self._last = (texts[0], hidden[0])
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return (pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)).astype(np.float32)
