"""The MCP server: tools ``ask`` (question, sources?) and ``list_documents`` over the engine.

Served over streamable HTTP at ``/mcp`` by ``rag serve --mcp`` (``create_api(..., mcp=True)`` adds it
to the API app), or over stdio for clients that start their servers themselves:

    .venv/bin/python -m rag.mcp_server --index index

``ask`` returns the answer text with its ``[n]`` markers, then one line per source with the file,
page and exact quotes (``rag.formatting.cited_text``), so a client can show where every sentence comes
from. The server has no tool that changes the documents or the index.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .engine import Engine, UnknownSource
from .formatting import cited_text

INSTRUCTIONS = ("Answers questions about the indexed policy documents with sentences copied verbatim from "
                "them, each cited by source file, page and quote. Call list_documents to see what is indexed "
                "and to scope a question with `sources`. Ask standalone questions (name the topic, not 'it').")


def create_mcp(engine: Engine) -> Any:
    """An ``MCPServer`` with the two tools; serve it with ``.streamable_http_app()`` or ``.run()``."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer(name="rag", title="Cited answers from policy documents", instructions=INSTRUCTIONS,
                       log_level="WARNING")

    @server.tool(structured_output=False)
    def ask(question: str, sources: list[str] | None = None) -> str:
        """Answer a question from the indexed documents with verbatim, cited sentences.

        Args:
            question: a standalone question, e.g. "Who announced the international cyber strategy?"
            sources: optional document file names or titles (see list_documents) to search within
        """
        try:
            return cited_text(engine.ask(question, sources=sources or None))
        except UnknownSource as e:
            raise ToolError(str(e)) from None

    @server.tool(structured_output=True)
    def list_documents() -> list[dict[str, Any]]:
        """The indexed documents: file name (use it in `sources`), title, pages (PDFs) and chunks."""
        return [{"source": d.get("source"), "title": d.get("title"), "pages": d.get("pages"),
                 "chunks": d.get("n_chunks")} for d in engine.index.manifest.get("documents", [])]

    return server


def main(argv: list[str] | None = None) -> int:
    """``python -m rag.mcp_server``: the MCP server over stdio (for clients that launch it)."""
    from . import store
    from .config import from_env

    p = argparse.ArgumentParser(prog="python -m rag.mcp_server", description="The MCP server over stdio.")
    settings = from_env()
    p.add_argument("--index", default=settings.index_dir, help="index folder (default: %(default)s)")
    args = p.parse_args(argv)
    engine = Engine(settings.replace(index_dir=args.index))
    try:
        engine.index  # noqa: B018 - fail now, with one line, if there is no usable index
    except store.IndexLoadError as e:
        print(f"rag.mcp_server: error: {e}", file=sys.stderr)
        return 2
    create_mcp(engine).run("stdio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
