"""Hits → an extractive ``Answer``: sentences copied from the passages, each with its citation.

Sentences of the top passages are scored against the question (cosine of the precomputed sentence
vectors, idf-weighted word overlap, what-is/why cues), picked by maximal marginal relevance from at
most ``max_passages`` passages under a sentence and word budget, and numbered by the passage they
came from. A list is kept whole: picking its lead-in or one item brings the lead-in and every item.
When no sentence scores high enough, or a check of ``abstain.py`` fails, the answer abstains and the
hits are offered as the closest passages.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from .abstain import known_terms, reason_to_abstain
from .chunking import LIST_ITEM
from .config import Settings
from .features import list_rows
from .search import index_idf, tokenize
from .types import Answer, AnswerSentence, Citation, Hit

if TYPE_CHECKING:
    from .store import Index

ABSTAIN_MESSAGE = "The sources don't answer this."
# a question's kind, and the words that mark a sentence answering that kind
_CUES = [
    (re.compile(r"^\s*(what|who) (is|are|was|were) (an? |the )?\S+\??$|\bdefin|\bwhat does .* mean\b|\bmeaning\b",
                re.I),
     re.compile(r"\b(means|is defined as|refers to|is an?|are|consists? of|stands for)\b", re.I)),
    (re.compile(r"^\s*why\b|\bwhat is the reason\b|\bfor what reason\b", re.I),
     re.compile(r"\b(because|since|so that|in order to|for this reason|therefore|due to|to ensure|reason|"
                r"the most effective way)\b", re.I)),
]


def compose(index: Index, question: str, q: np.ndarray, hits: list[Hit], settings: Settings) -> Answer:
    rows, home = _candidates(index, hits)
    texts = {r: index.sentence_text(r) for r in rows}  # read each candidate once
    scores = _score(index, question, q, rows, [texts[r] for r in rows], settings)
    confidence = float(scores.max()) if len(rows) else 0.0
    if confidence < settings.abstain_below:
        return Answer(question, "", True, (), (), tuple(hits), confidence, ABSTAIN_MESSAGE,
                      index_id=index.index_id)
    if settings.answer_checks:
        best = [texts[rows[i]] for i in np.argsort(-scores)[:settings.max_sentences + 2]]
        why = reason_to_abstain(question, best, known_terms(index))
        if why:
            return Answer(question, "", True, (), (), tuple(hits), confidence, f"{ABSTAIN_MESSAGE} {why}",
                          index_id=index.index_id)
    picked = _mmr(index, rows, [texts[r] for r in rows], scores, home, settings)
    ordered: list[int] = []
    for r in picked:
        group = [x for x in list_rows(index, r) if x not in ordered]
        if len(group) > 1:  # cite one passage holding the whole list, when there is one
            ci = covering_chunk(index, group, [home[x] for x in group if x in home])
            if ci is not None:
                home.update({x: ci for x in group})
        ordered.extend(group)
    return assemble(index, question, hits, ordered, dict(zip(rows, scores)), home, confidence)


def covering_chunk(index: Index, group: list[int], preferred: list[int]) -> int | None:
    lo, hi = min(group), max(group)

    def covers(ci: int) -> bool:
        start = int(index.chunk_sent_lo[ci])
        return start <= lo and hi < start + len(index.chunks[ci].sentences)

    for ci in preferred:
        if covers(ci):
            return ci
    first = int(index.sentence_chunk[lo])  # chunks of a document are stored in order
    for ci in range(first, min(first + 8, len(index.chunks))):
        if covers(ci):
            return ci
    return None


def _candidates(index: Index, hits: list[Hit]) -> tuple[list[int], dict[int, int]]:
    """Sentence rows of the hit passages, and the hit chunk each one is first found in."""
    rows: list[int] = []
    home: dict[int, int] = {}
    for h in hits:
        ci = h.row
        lo = int(index.chunk_sent_lo[ci])
        for r in range(lo, lo + len(h.chunk.sentences)):
            if r not in home:
                home[r] = ci
                rows.append(r)
    return rows, home


def _score(index: Index, question: str, q: np.ndarray, rows: list[int], texts: list[str],
           s: Settings) -> np.ndarray:
    """Sentence relevance: cosine to the question, plus its idf-weighted share of the question's words,
    plus a cue bonus for what-is and why questions; fragments of under four words are held back."""
    cosine = np.asarray(index.sentence_vectors[rows]) @ q
    idf = index_idf(index)
    q_terms = {t: idf.get(t, 0.0) for t in tokenize([question])[0]}
    total = sum(q_terms.values())
    overlap = np.zeros(len(rows), dtype=np.float32)
    if total > 0:
        for i, terms in enumerate(tokenize(texts)):
            present = set(terms)
            overlap[i] = sum(w for t, w in q_terms.items() if t in present) / total
    cue = np.zeros(len(rows), dtype=np.float32)
    for asks, marks in _CUES:
        if asks.search(question):
            cue = np.array([bool(marks.search(t)) for t in texts], dtype=np.float32)
    short = np.array([len(t.split()) < 4 for t in texts])
    return cosine + s.overlap_weight * overlap + s.cue_weight * cue - 0.2 * short


def _mmr(index: Index, rows: list[int], texts: list[str], scores: np.ndarray, home: dict[int, int],
         s: Settings) -> list[int]:
    """Pick sentences by maximal marginal relevance, from at most ``max_passages`` passages, under the
    sentence and word budget; returned grouped by passage, in reading order."""
    vectors = np.asarray(index.sentence_vectors[rows])
    similar = vectors @ vectors.T  # one matrix instead of a memory-mapped row per pair
    best = float(scores.max())
    chosen: list[int] = []  # positions in ``rows``
    passages: list[int] = []
    words = 0
    left = np.ones(len(rows), dtype=bool)
    while left.any() and len(chosen) < s.max_sentences:
        redundancy = similar[:, chosen].max(axis=1) if chosen else np.zeros(len(rows))
        gain = s.mmr_lambda * scores - (1 - s.mmr_lambda) * redundancy
        i = int(np.argmax(np.where(left, gain, -np.inf)))  # the first of equals, as in reading order
        left[i] = False
        r = rows[i]
        if scores[i] < best - s.relative_cutoff:
            break
        if home[r] not in passages and len(passages) >= s.max_passages:
            continue
        if chosen and redundancy[i] > 0.95:
            continue  # a near copy of a sentence already taken
        n = len(texts[i].split())
        if chosen and words + n > s.max_words:
            continue
        chosen.append(i)
        words += n
        if home[r] not in passages:
            passages.append(home[r])
    picked = [rows[i] for i in chosen]
    return [r for p in passages for r in sorted(x for x in picked if home[x] == p)]


def _is_item(text: str) -> bool:
    return bool(LIST_ITEM.match(text))


def assemble(index: Index, question: str, hits: list[Hit], rows: list[int], scores: dict[int, float],
              home: dict[int, int], confidence: float) -> Answer:
    numbers: dict[int, int] = {}  # chunk position → citation number
    sentences: list[AnswerSentence] = []
    citations: list[Citation] = []
    parts: list[str] = []
    previous = ""
    for r in rows:
        doc, sent = index.sentence(r)
        ci = home.get(r, int(index.sentence_chunk[r]))
        chunk = index.chunks[ci]
        n = numbers.setdefault(ci, len(numbers) + 1)
        shown = " ".join(sent.text.split())
        sentences.append(AnswerSentence(shown, n))
        citations.append(Citation(n, doc.doc_id, chunk.chunk_id, doc.source, doc.title, doc.page_at(sent.start),
                                  sent.start, sent.end, sent.text, chunk.text, chunk.start, chunk.end,
                                  round(float(scores.get(r, 0.0)), 4)))
        newline = _is_item(sent.text) or previous.endswith(":")
        parts.append(("\n" if newline and parts else " " if parts else "") + f"{shown} [{n}]")
        previous = shown
    text = re.sub(r"\s+\n", "\n", "".join(parts)).strip()
    return Answer(question, text, False, tuple(sentences), tuple(citations), tuple(hits), confidence,
                  index_id=index.index_id)
