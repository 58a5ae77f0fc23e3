"""Command-line options: the groups the ``rag`` subcommands share, and the whole of ``rag serve``'s, which
``python ui.py`` takes too. There is one parser for both, so any option either command accepts reaches
the server.

>>> import argparse
>>> p = argparse.ArgumentParser()
>>> serving(p, Settings())
>>> args = p.parse_args(["--port", "8000", "--backend", "torch", "--mode", "bm25", "--read-only"])
>>> s = settings_of(args, Settings())
>>> (args.port, s.embedding_backend, s.mode, s.read_only)
(8000, 'torch', 'bm25', True)
>>> login("alice:s3cret:x"), login(None, {})
(('alice', 's3cret:x'), None)
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from .config import Settings
from .embedding import BACKENDS
from .retrieval import MODES

# option dest -> Settings field: what settings_of copies from parsed arguments
FIELDS = {"index": "index_dir", "model": "model", "backend": "embedding_backend", "mode": "mode", "k": "k",
          "chunk_tokens": "chunk_tokens", "chunk_overlap": "chunk_overlap", "sources_dir": "sources_dir",
          "read_only": "read_only"}


def common(sp: argparse.ArgumentParser, defaults: Settings) -> None:
    """--index, --model, --backend, --quiet: every command that opens an index takes them."""
    sp.add_argument("--index", default=defaults.index_dir, help="index folder")
    sp.add_argument("--model", default=defaults.model, help="embedding model: the packaged default or a "
                    "local sentence-transformers folder")
    sp.add_argument("--backend", choices=BACKENDS, default=defaults.embedding_backend,
                    help="what runs the model: onnx and torch give the same vectors (onnx is faster); "
                    "onnx-int8 is faster still but changes them (an index built with it needs it)")
    sp.add_argument("--quiet", "-q", action="store_true", help="no progress output")


def querying(sp: argparse.ArgumentParser, defaults: Settings) -> None:
    """--mode, --k: every command that answers questions takes them."""
    sp.add_argument("--mode", choices=MODES, default=defaults.mode,
                    help="retrieval: learned (dense, BM25 and best-sentence search weighed by the trained ranker), "
                    "hybrid (dense + BM25 by reciprocal rank), dense or bm25")
    sp.add_argument("--k", type=int, default=defaults.k, help="passages to answer from")


def serving(sp: argparse.ArgumentParser, defaults: Settings) -> None:
    """Every option of ``rag serve`` and ``python ui.py``."""
    sp.add_argument("--host", default="127.0.0.1", help="address to bind")
    sp.add_argument("--port", type=int, default=int(os.environ.get("RAG_PORT", 7860)), help="port (also RAG_PORT)")
    sp.add_argument("--auth", metavar="USER:PASSWORD",  # no default shown: RAG_AUTH holds a password
                    help="require this login (also RAG_AUTH); anyone who reaches the app can otherwise ask "
                    "questions and add documents (see --read-only). Replacing and removing documents needs it")
    sp.add_argument("--sources", dest="sources_dir", default=defaults.sources_dir, metavar="DIR",
                    help="the folder uploads are saved into (also RAG_SOURCES_DIR) and a missing index is built "
                    "from; a rebuild reads it and every folder the index was built from")
    sp.add_argument("--read-only", action="store_true", default=defaults.read_only,
                    help="answer questions only: no upload tab, and every route that would add, replace or remove "
                    "a document or rebuild the index refuses (also RAG_READ_ONLY=1); needs a built index")
    sp.add_argument("--monitoring", action="store_true",
                    help="turn on Gradio's /monitoring dashboard (its URL is printed to this console)")
    sp.add_argument("--mcp", action="store_true", help="also serve the MCP server (tools ask, list_documents) at "
                    "/mcp; the HTTP API is always at /api (docs: /api/docs). With --auth or RAG_API_TOKEN both "
                    "need a login or the token")
    common(sp, defaults)
    querying(sp, defaults)


def settings_of(args: argparse.Namespace, defaults: Settings) -> Settings:
    """``defaults`` with every option ``args`` holds (``FIELDS``); ``ValueError`` names a bad one."""
    if getattr(args, "k", 1) < 1:
        raise ValueError("--k must be at least 1")
    return defaults.replace(**{field: getattr(args, dest, None) for dest, field in FIELDS.items()})


def login(text: str | None, environ: Mapping[str, str] = os.environ) -> tuple[str, str] | None:
    """``USER:PASSWORD`` (``--auth``, else ``RAG_AUTH``) as a pair, the password may hold colons; ``ValueError``
    if either part is empty."""
    text = text or environ.get("RAG_AUTH")
    if not text:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise ValueError("--auth takes USER:PASSWORD")
    return (user, password)
