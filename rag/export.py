"""A conversation as Markdown: each question, how it was understood, the answer with its [n] markers,
and its sources (file, page, character offsets and the exact quotes).

Text from questions and documents is backslash-escaped (CommonMark lets any ASCII punctuation be
escaped), so nothing in a source turns into a link, an image or HTML, and each quote renders as the
document's own characters: ``unescape`` of a quote's lines, joined by newlines, equals
``document.text[start:end]``.

>>> print(conversation_markdown([{"question": "Who?", "answer": "Ann did it. [1]", "citations": [
...     {"n": 1, "source": "a.txt", "title": "A", "page": None, "start": 0, "end": 11, "quote": "Ann did it."}]}]))
# Conversation
<BLANKLINE>
## 1. Who?
<BLANKLINE>
Ann did it. [1]
<BLANKLINE>
**Sources**
<BLANKLINE>
- [1] A — `a.txt`, characters 0–11
<BLANKLINE>
  > Ann did it.
<BLANKLINE>
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_PUNCT = re.compile(r"([\\`*_{}\[\]<>|&~])")  # markup anywhere in a line
_LINE_START = re.compile(r"^(\s*)(?:([#+=>-])|(\d+)([.)]))")  # headings, lists, quotes at a line's start
_UNESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def escape(text: str) -> str:
    """Markdown-inert text: every markup character escaped.

    >>> escape("[x](javascript:alert(1)) <b>")
    '\\\\[x\\\\](javascript:alert(1)) \\\\<b\\\\>'
    >>> escape("1. a.b"), escape("- c")
    ('1\\\\. a.b', '\\\\- c')
    """
    text = _PUNCT.sub(r"\\\1", text)
    return _LINE_START.sub(lambda m: m.group(1) + ("\\" + m.group(2) if m.group(2) else m.group(3) + "\\" + m.group(4)),
                           text)


def unescape(text: str) -> str:
    """The text ``escape`` was given.

    >>> unescape(escape("1. a_b [c] & d.")) == "1. a_b [c] & d."
    True
    """
    return _UNESCAPE.sub(r"\1", text)


def _markers(answer: str) -> str:
    """The answer text escaped, keeping its ``[n]`` markers and its lines."""
    out = []
    for line in answer.splitlines():
        parts = re.split(r"(\[\d+\])", line)
        out.append("".join(p if re.fullmatch(r"\[\d+\]", p) else escape(p) for p in parts))
    return "  \n".join(out)  # two spaces: a line break, so list items stay on their own lines


def turn_markdown(turn: Mapping[str, Any], number: int) -> str:
    """One turn (an ``Answer.to_dict()``) as Markdown."""
    lines = [f"## {number}. {escape(' '.join(str(turn.get('question', '')).split()))}", ""]
    if turn.get("understood_as"):
        lines += [f"*Searched as: {escape(str(turn['understood_as']))}*", ""]
    if turn.get("scope"):
        lines += ["*Searched in: " + ", ".join(f"`{escape(str(s))}`" for s in turn["scope"]) + "*", ""]
    citations = [c for c in turn.get("citations") or [] if isinstance(c, Mapping)]
    if turn.get("abstained") or not citations:
        lines += [escape(str(turn.get("message") or turn.get("answer") or "No answer.")), ""]
        return "\n".join(lines)
    lines += [_markers(str(turn.get("answer", ""))), "", "**Sources**", ""]
    for n in sorted({int(c["n"]) for c in citations}):
        cites = sorted((c for c in citations if c["n"] == n), key=lambda c: c["start"])
        first = cites[0]
        page = f", page {first['page']}" if first.get("page") else ""
        spans = ", ".join(f"{c['start']}–{c['end']}" for c in cites)
        lines += [f"- [{n}] {escape(str(first.get('title') or first['source']))} — `{first['source']}`{page}, "
                  f"characters {spans}", ""]
        for c in cites:
            lines += ["  > " + escape(line) if line else "  >" for line in str(c["quote"]).split("\n")]
            lines.append("")
    return "\n".join(lines)


def conversation_markdown(turns: Sequence[Mapping[str, Any]], title: str = "Conversation") -> str:
    """The whole conversation: a title, then each turn."""
    parts = [f"# {escape(title)}", ""]
    for i, turn in enumerate(turns, start=1):
        parts.append(turn_markdown(turn, i))
    return "\n".join(parts)


def quotes(markdown: str) -> list[str]:
    """The quotes of an exported conversation, unescaped: each equals its ``document.text[start:end]``.

    >>> quotes("- [1] A\\n\\n  > 1\\\\. one\\n  >\\n  > two\\n\\nafter")
    ['1. one\\n\\ntwo']
    """
    found, current = [], None
    for line in markdown.split("\n"):
        if line.startswith("  >"):
            text = unescape(line[4:]) if line.startswith("  > ") else ""
            current = text if current is None else current + "\n" + text
        elif current is not None:
            found.append(current)
            current = None
    if current is not None:
        found.append(current)
    return found
