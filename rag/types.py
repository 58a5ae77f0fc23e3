"""The data that flows between stages: frozen dataclasses, nothing else.

    files ──load──▶ Document ──chunk──▶ Chunk ──embed──▶ index/
    question ──retrieve──▶ Hit ──compose──▶ Answer(sentences, citations)

Every offset is a character offset into ``Document.text``, so that
``document.text[c.start:c.end] == c.quote`` can be checked for any citation.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    doc_id: str
    source: str  # path relative to the folder it was indexed from
    path: str  # absolute path when it was indexed
    title: str
    text: str
    sha256: str  # of the file's bytes
    pages: tuple[int, ...] = ()  # start offset of each page in ``text`` (PDF only)
    meta: dict[str, Any] = field(default_factory=dict)

    def page_at(self, offset: int) -> int | None:
        """1-based page holding ``offset``, or None for documents without pages.

        >>> Document("d", "a.pdf", "/a.pdf", "A", "one\\n\\ntwo", "x", (0, 5)).page_at(6)
        2
        """
        if not self.pages:
            return None
        page = 0
        for i, start in enumerate(self.pages):
            if start <= offset:
                page = i
        return page + 1


@dataclass(frozen=True)
class Sentence:
    """A sentence span of a document: ``text == document.text[start:end]``."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    n_tokens: int
    page: int | None = None
    sentences: tuple[Sentence, ...] = ()


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # the fused score that ranked it
    dense: float | None = None  # cosine similarity to the question
    bm25: float | None = None
    # filled from the index so faces need not look documents up
    source: str = ""
    title: str = ""
    row: int = -1  # the chunk's position in the index


@dataclass(frozen=True)
class Citation:
    n: int
    doc_id: str
    chunk_id: str
    source: str
    title: str
    page: int | None
    start: int
    end: int
    quote: str
    passage: str
    passage_start: int
    passage_end: int
    score: float


@dataclass(frozen=True)
class AnswerSentence:
    text: str  # the quote with its whitespace runs collapsed, as shown
    citation: int  # the ``n`` of its citation


@dataclass(frozen=True)
class ShortAnswer:
    """The name, place, date, duration, count, amount or list item a question asks for, inside a cited sentence:
    ``document.text[start:end] == text``."""

    text: str
    start: int
    end: int
    citation: int  # the ``n`` of the citation whose sentence holds it
    kind: str = ""  # person | organisation | place | date | duration | count | amount | item (of a list)


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str  # sentences joined, each followed by its ``[n]`` marker
    abstained: bool
    sentences: tuple[AnswerSentence, ...]
    citations: tuple[Citation, ...]
    retrieved: tuple[Hit, ...]
    confidence: float  # the score the abstention threshold is compared with
    message: str = ""  # why there is no answer (abstention, bad question)
    timings_ms: dict[str, float] = field(default_factory=dict)
    index_id: str = ""  # the build the answer came from
    short_answer: ShortAnswer | None = None
    understood_as: str | None = None  # the standalone question searched, when a follow-up was resolved
    scope: tuple[str, ...] = ()  # the documents searched (their ``source``); empty: all

    def to_dict(self) -> dict[str, Any]:
        """The one JSON shape shared by ``rag ask --json``, the chat API and ``rag eval``."""
        return {
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "message": self.message,
            "confidence": _finite(self.confidence, 4),
            "sentences": [asdict(s) for s in self.sentences],
            "citations": [asdict(c) for c in self.citations],
            "retrieved": [
                {
                    "doc_id": h.chunk.doc_id,
                    "chunk_id": h.chunk.chunk_id,
                    "source": h.source,
                    "title": h.title,
                    "page": h.chunk.page,
                    "start": h.chunk.start,
                    "end": h.chunk.end,
                    "score": _finite(h.score, 6),
                    "dense": None if h.dense is None else _finite(h.dense, 4),
                    "bm25": None if h.bm25 is None else _finite(h.bm25, 4),
                    "text": h.chunk.text,
                }
                for h in self.retrieved
            ],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "index_id": self.index_id,
            "short_answer": None if self.short_answer is None else asdict(self.short_answer),
            "understood_as": self.understood_as,
            "scope": list(self.scope),
        }


def _finite(value: float, digits: int) -> float | None:
    """A number JSON can hold: NaN and infinities (a damaged vector on a huge, sample-checked index) are null."""
    return round(value, digits) if math.isfinite(value) else None


@dataclass(frozen=True)
class BuildReport:
    index_dir: str
    index_id: str
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    duplicates: tuple[str, ...] = ()
    n_documents: int = 0
    n_chunks: int = 0
    n_sentences: int = 0
    n_embedded: int = 0  # texts (chunks + sentences) sent to the model
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"{self.n_documents} documents, {self.n_chunks} chunks: "
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped "
            f"({self.n_embedded} texts embedded in {self.seconds:.1f}s)"
        )
