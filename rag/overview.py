"""A question about the sources as a whole ("what is this about?", "summarize", "key takeaways") names
nothing to search for, so no passage is close to it and it used to be refused. It is answered with how
the documents begin: the first sentence of each document that is a statement (not its title, a heading,
a list item or a question), the longest documents in scope first, at most ``MAX_DOCUMENTS`` of them,
each cited like any other answer sentence.

>>> [bool(is_overview(q)) for q in ("what is this about?", "Summarize", "key takeaways?",
...                                 "summarize the strategy", "what is digital solidarity about?")]
[True, True, True, False, False]

A first question whose only subject is "it", "this" or "they" ("what's it called?", "who's behind this?") is
asked about the longest document in scope (``about_main_document``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from .answer import assemble
from .features import static_of
from .phrases import document_name, noun_phrases, words

if TYPE_CHECKING:
    from .store import Index
    from .types import Answer, Hit

MAX_DOCUMENTS = 3
MIN_WORDS = 8  # a lead sentence, not a dateline or a caption
_WHOLE = r"(?:this|these|it|all this|everything|the (?:sources?|documents?|texts?|files?|corpus|material|index))"
_OVERVIEW = re.compile(
    rf"^\W*(?:so\s+|ok\s+|okay\s+)?(?:"
    rf"what(?:'s|’s| is| are)\s+{_WHOLE}(?:\s+all)?\s+about"
    rf"|(?:can you\s+|please\s+)?(?:give me\s+)?(?:an?\s+)?(?:summary|overview|summari[sz]e|recap)"
    rf"(?:\s+(?:of\s+)?{_WHOLE})?(?:\s+please)?"
    rf"|what are the (?:key|main) (?:takeaways|points|ideas)(?:\s+of\s+{_WHOLE})?"
    rf"|(?:key|main) (?:takeaways|points)|tl;?dr|the gist"
    rf")\W*$", re.I)


def is_overview(question: str) -> bool:
    """Whether ``question`` asks about the sources as a whole and names nothing of its own."""
    return bool(_OVERVIEW.match(question))


def overview(index: Index, question: str, hits: list[Hit], shown: int, allowed: np.ndarray | None = None) -> Answer:
    """How the longest documents in scope (``allowed``: a mask of chunks, None for all) begin: each one's
    first statement, cited; the longest first, as the main documents of a folder usually are."""
    rows = [r for r in (_lead(index, d) for d in _longest(index, allowed)) if r is not None][:MAX_DOCUMENTS]
    return assemble(index, question, list(hits[:shown]), rows, {r: 1.0 for r in rows},
                    {r: int(index.sentence_chunk[r]) for r in rows}, 1.0)


def _lead(index: Index, doc: int) -> int | None:
    """The row of the first sentence of ``doc`` that is a statement of ``MIN_WORDS`` words or more."""
    title = str(index.manifest.get("documents", [{}] * (doc + 1))[doc].get("title", "")).lower().split()
    for r in np.flatnonzero(index.sentence_rows[:, 0] == doc).tolist():
        text = index.sentence_text(r)
        st = static_of(text)
        if st.words >= MIN_WORDS and not (st.heading or st.item or st.asks_back or text.rstrip().endswith("?")
                                          or text.lower().split() == title):
            return r
    return None


def _longest(index: Index, allowed: np.ndarray | None) -> list[int]:
    """The documents in scope, the longest (in sentences) first."""
    chunk_doc = index.sentence_rows[index.chunk_sent_lo, 0]
    docs = np.unique(chunk_doc if allowed is None else chunk_doc[allowed])
    size = np.bincount(index.sentence_rows[:, 0], minlength=int(docs.max(initial=0)) + 1)
    return sorted(docs.tolist(), key=lambda d: (-int(size[d]), d))


# a first question whose only subject is "it", "this" or "they" ("what's it called?", "who's behind this?",
# "when was it released?"): nothing asked before says what they are, so they are the sources' main document
_POINTING = re.compile(r"\b(?:[iI]ts?|[tT]his|[tT]hey|[tT]hem|[tT]heir)\b")  # not "IT", information technology
_GENERIC = frozenset("point purpose name title gist idea aim goal".split())


def about_main_document(index: Index, question: str, allowed: np.ndarray | None = None) -> str | None:
    """``question`` asked with the name of the longest document in scope as its topic, when a pronoun is all
    it names ("what's it called?" over sources/: "what's it called? (the International Cyberspace
    Strategy)"); else None."""
    if not _POINTING.search(question) or is_overview(question) or re.match(r"\W*is it (?:true|possible)\b",
                                                                          question, re.I):
        return None
    if any(p.proper or words(p.text)[-1].lower() not in _GENERIC and not words(p.text)[-1].lower().endswith("ing")
           for p in noun_phrases(question)):
        return None
    docs = _longest(index, allowed)
    name = document_name(str(index.manifest["documents"][docs[0]].get("title", ""))) if docs else ""
    return f"{question.rstrip(' ?.!')}? ({name})" if name else None
