"""The sentence splitter as it was before it was made linear (quadratic in the length of a paragraph),
kept verbatim as the reference the linear one must agree with: an answer selector is trained on its
sentence boundaries. Only for tests; ``rag.chunking.split_sentences`` is the one in use."""

from __future__ import annotations

import re

from rag.types import Sentence

# A list item line: "1. ", "2) ", "a. ", "- ", "* ", "• "
LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|[a-z][.)]|\([a-z0-9]{1,3}\)|[-*•])\s+")
_ABBREV = {"mr", "mrs", "ms", "dr", "st", "sec", "no", "vs", "etc", "e.g", "i.e", "inc", "jr", "sr",
           "gov", "u.s", "u.k", "u.n", "fig", "art", "para", "pp", "approx", "jan", "feb", "mar", "apr",
           "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "dept", "corp", "co", "ltd"}
# sentence end: . ! ? (and closing quotes/brackets) followed by space and an opening of a sentence
_END = re.compile(r"[.!?][\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9])")


def split_sentences(text: str, offset: int = 0) -> list[Sentence]:
    sentences: list[Sentence] = []
    for b_start, b_end in _blocks(text):
        block = text[b_start:b_end]
        cut = 0
        for m in _END.finditer(block):
            word = re.search(r"(\S+?)[.!?][\"'”’)\]]*$", block[: m.end()])
            token = word.group(1).lower().lstrip("(\"'“") if word else ""
            if token in _ABBREV or re.fullmatch(r"(?:[a-z]\.)*[a-z]|\d{1,2}", token):
                continue
            _add(sentences, text, b_start + cut, b_start + m.end(), offset)
            cut = m.end()
        _add(sentences, text, b_start + cut, b_end, offset)
    return sentences


def _blocks(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    lines = text.split("\n")
    pos = 0
    for i, line in enumerate(lines):
        end = pos + len(line)
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        stripped = line.strip()
        breaks = (
            not stripped
            or not nxt.strip()
            or LIST_ITEM.match(nxt)
            or stripped.endswith((":", ";"))
            or (stripped.isupper() and len(stripped) > 2)
            or (nxt.strip().isupper() and len(nxt.strip()) > 2)
        )
        if breaks or i + 1 == len(lines):
            spans.append((start, end))
            start = end + 1
        pos = end + 1
    return spans


def _add(out: list[Sentence], text: str, start: int, end: int, offset: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start and any(ch.isalnum() for ch in text[start:end]):
        out.append(Sentence(start + offset, end + offset, text[start:end]))
