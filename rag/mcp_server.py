"""The MCP server: tools ``ask`` (question, sources?) and ``list_documents`` over the engine.

Served over streamable HTTP at ``/mcp`` by ``rag serve --mcp`` (``create_api(..., mcp=True)`` adds it
to the API app), or over stdio for clients that start their servers themselves:

    .venv/bin/python -m rag.mcp_server --index index

``ask`` returns the answer text with its ``[n]`` markers, then one line per source with the file,
page and exact quotes, so a client can show where every sentence comes from.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import Any

from .engine import Engine, UnknownSource
from .types import Answer

INSTRUCTIONS = ("Answers questions about the indexed policy documents with sentences copied verbatim from "
                "them, each cited by source file, page and quote. Call list_documents to see what is indexed "
                "and to scope a question with `sources`. Ask standalone questions (name the topic, not 'it').")


def cited_text(answer: Answer) -> str:
    """The answer for an MCP client: text with markers, then the sources with their quotes."""
    if answer.abstained or not answer.citations:
        lines = [answer.message or "The sources don't answer this."]
        if answer.retrieved:
            lines += ["", "Closest passages (not an answer):"]
            for h in answer.retrieved[:3]:
                page = f", page {h.chunk.page}" if h.chunk.page else ""
                lines.append(f"- {h.source}{page}: {textwrap.shorten(h.chunk.text, 200)}")
        return "\n".join(lines)
    lines = [answer.answer, "", "Sources:"]
    for n in sorted({c.n for c in answer.citations}):
        cites = sorted((c for c in answer.citations if c.n == n), key=lambda c: c.start)
        page = f", page {cites[0].page}" if cites[0].page else ""
        lines.append(f"[{n}] {cites[0].source}{page} — {cites[0].title}")
        lines += [f'    "{" ".join(c.quote.split())}" (characters {c.start}-{c.end})' for c in cites]
    if answer.scope:
        lines += ["", "Searched in: " + ", ".join(answer.scope)]
    return "\n".join(lines)


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
    except store.IndexError_ as e:
        print(f"rag.mcp_server: error: {e}", file=sys.stderr)
        return 2
    create_mcp(engine).run("stdio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
