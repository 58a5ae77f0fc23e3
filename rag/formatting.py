"""An answer as plain text, for the faces that print one: ``format_answer`` for a terminal (``rag ask``,
``rag chat``), ``cited_text`` for an MCP client (``rag.mcp_server``).

Both put the answer with its ``[n]`` markers first, then one entry per source. An abstention shows the
closest passages, labelled as not an answer. The ``--json`` output and the HTTP API send the
``Answer`` object itself (``Answer.to_dict()``) instead.
"""

from __future__ import annotations

import textwrap

from .types import Answer

WIDTH = 100


def format_answer(answer: Answer) -> str:
    """The answer for a terminal: each source's passage follows it, with the quoted words in »...«."""
    if answer.message and not answer.retrieved:
        return answer.message
    if answer.abstained:
        lines = [answer.message, "", "Closest passages (not an answer):"]
        for h in answer.retrieved[:3]:
            page = f", p. {h.chunk.page}" if h.chunk.page else ""
            lines.append(f"  - {h.title} ({h.source}{page}): " + textwrap.shorten(h.chunk.text, 160))
        return "\n".join(lines)
    out = [answer.answer, "", "Sources:"]
    if answer.short_answer is not None:
        out[:0] = [f"Short answer: {' '.join(answer.short_answer.text.split())} [{answer.short_answer.citation}]", ""]
    for n in sorted({c.n for c in answer.citations}):
        cites = [c for c in answer.citations if c.n == n]
        c = cites[0]
        page = f", page {c.page}" if c.page else ""
        out.append(f"[{n}] {c.title} — {c.source}{page}")
        passage = c.passage
        for q in sorted(cites, key=lambda x: -x.start):  # mark from the end so offsets hold
            a, b = q.start - c.passage_start, q.end - c.passage_start
            passage = passage[:a] + "»" + passage[a:b] + "«" + passage[b:]
        out.append(textwrap.indent(textwrap.fill(" ".join(passage.split()), WIDTH), "    "))
    return "\n".join(out)


def cited_text(answer: Answer) -> str:
    """The answer for an MCP client: text with markers, then the sources with their exact quotes."""
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
