"""Candidate answer units and their features, for the learned answer selector.

A unit is what an answer can quote: one sentence, two adjacent sentences of one document ("X. This
Y ..."), or a whole list (its lead-in and every item). Each unit gets one row of ``FEATURES``; the
selector (``rag.selector``) weighs them with coefficients learned from the train questions.

>>> static_of("It was unveiled at RSA.").backref, static_of("Four areas of action:").colon
(True, True)
>>> static_of("NATIONAL CYBERSECURITY STRATEGY").heading
True
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from . import entities
from .chunking import LIST_ITEM
from .ordinals import CARRIED, without_topic
from .question import QuestionInfo, analyse
from .search import index_idf, tokenize

if TYPE_CHECKING:
    from .store import Index
    from .types import Hit

FEATURES = (
    "cos_max", "cos_mean", "cos_first", "overlap", "overlap_first", "part_overlap",
    "type_has", "type_missing", "type_first", "def_pattern", "def_missing", "why_causal",
    "backref_first", "pair", "pair_link", "is_list", "list_wanted", "list_items",
    "heading", "title", "short", "log_words", "passage_recip", "passage_score", "same_doc_top", "colon_single",
    "first_of_doc", "asks_back", "cos_gap", "overlap_gap", "cos_rank", "overlap_rank",
)
_RELATIVE = 4  # the last four: each unit against the question's best (filled after the others)
MAX_LIST_ITEMS = 12
_BACKREF = re.compile(r"^\W*(it|its|this|these|they|their|such|those|that|he|she|his|her|both|each|the latter|"
                      r"the former|here|there|thus|also|additionally|further|furthermore|moreover|however)\b", re.I)
_DEFINES = re.compile(r"\b(means|is defined as|are defined as|refers? to|stands? for|is the|is an?|are the|"
                      r"known as|consists? of|which is|which are|describes?|i\.e\.|that is,)\b|\(([A-Z]{2,}s?)\)")
_ASKS_BACK = re.compile(r"\?[\"'”’)]*$|^(Q[:.]|[A-Z][A-Z .'’-]{2,40}:)|\b(I wanted to ask|can you (talk|tell|say)|"
                        r"my question is|thanks? (you|so much))\b", re.I)
_WORD = re.compile(r"[A-Za-z]{2}")  # a sentence without one ("14", "0") is a page number or debris
_CONTENTS = re.compile(r"\.{5,}|…{3,}|(\. ){4,}")  # the dot leaders of a table of contents
_CAUSAL = re.compile(r"\b(because|since|so that|in order to|for this reason|therefore|due to|to ensure|reason|"
                     r"aims? to|aimed at|goal|purpose|to (help|protect|prevent|enable|ensure|make|counter|"
                     r"strengthen|reduce|improve|fuel|generate)|as a result|thus|so as to|in response to)\b", re.I)


@dataclass(frozen=True)
class Static:
    """What a sentence is, independent of the question (cached per sentence text)."""

    words: int
    backref: bool
    colon: bool
    item: bool
    heading: bool
    defines: bool
    causal: bool
    kinds: frozenset[str]
    asks_back: bool  # a question or a speaker's turn in a transcript ("Q ...?", "MR. X: ..."), not a statement


@lru_cache(maxsize=65536)
def static_of(text: str) -> Static:
    stripped = text.strip()
    words = stripped.split()
    letters = [c for c in stripped if c.isalpha()]
    heading = bool(letters) and (
        (sum(c.isupper() for c in letters) / len(letters) > 0.8 and len(letters) > 3)
        or (len(words) <= 12 and not re.search(r"[.!?:;]\W*$", stripped) and not LIST_ITEM.match(stripped)))
    return Static(len(words), bool(_BACKREF.match(stripped)), stripped.endswith(":"), bool(LIST_ITEM.match(stripped)),
                  heading, bool(_DEFINES.search(stripped)), bool(_CAUSAL.search(stripped)),
                  entities.kinds_in(stripped), bool(_ASKS_BACK.search(stripped)))


@dataclass(frozen=True)
class Unit:
    rows: tuple[int, ...]  # sentence rows, in document order
    kind: str  # sentence | pair | list
    passage: int  # the candidate passage (position in the ranked list) it was found in first


@lru_cache(maxsize=65536)
def terms_of(text: str) -> frozenset[str]:
    return frozenset(tokenize([text])[0])


class Table:
    """The sentences of the candidate passages, with what the features need of each (read once)."""

    def __init__(self, index: Index, info: QuestionInfo, q: np.ndarray, passages: list[int],
                 idf: dict[str, float]) -> None:
        self.home: dict[int, int] = {}  # sentence row → position of the first passage holding it
        for p, ci in enumerate(passages):
            lo = int(index.chunk_sent_lo[ci])
            for r in range(lo, lo + len(index.chunks[ci].sentences)):
                self.home.setdefault(r, p)
        self.index, self.info, self.q, self.idf = index, info, q, idf
        self.text: dict[int, str] = {}
        self.static: dict[int, Static] = {}
        self.terms: dict[int, frozenset[str]] = {}
        self.cos: dict[int, float] = {}
        self.whole = QuestionTerms(info.text, idf)
        self.parts = [QuestionTerms(p, idf) for p in info.parts] if len(info.parts) > 1 else []
        self.add(list(self.home))

    def add(self, rows: list[int]) -> None:
        rows = [r for r in rows if r not in self.text]
        if not rows:
            return
        cos = (np.asarray(self.index.sentence_vectors[rows]) @ self.q).tolist()
        for r, c in zip(rows, cos):
            t = self.text[r] = self.index.sentence_text(r)
            self.static[r] = static_of(t)
            self.terms[r] = terms_of(t)
            self.cos[r] = c

    def is_title(self, row: int) -> bool:
        return _is_title(self.index, int(self.index.sentence_rows[row][0]), self.text[row])

    def seeds(self, n: int) -> list[int]:
        """The ``n`` sentences closest to the question by cosine plus half the share of its words."""
        score = {r: self.cos[r] + 0.5 * self.whole.share(self.terms[r]) for r in self.home}
        return sorted(score, key=lambda r: (-score[r], r))[:n]


def units(index: Index, table: Table, seeds: int = 16) -> list[Unit]:
    """Units around the best ``seeds`` sentences: each alone, with its neighbour on either side in the
    same passage, and the whole list it opens or belongs to."""
    out: list[Unit] = []
    seen: set[tuple[int, ...]] = set()

    def add(rows: tuple[int, ...], kind: str, p: int) -> None:
        if rows not in seen:
            seen.add(rows)
            out.append(Unit(rows, kind, p))

    for r in table.seeds(seeds):
        if table.is_title(r) or _CONTENTS.search(table.text[r]) or not _WORD.search(table.text[r]):
            continue  # a title line or a table-of-contents line names a topic, a page number ("14") nothing
        p = table.home[r]
        add((r,), "sentence", p)
        for pair in ((r - 1, r), (r, r + 1)):
            if all(x in table.home and not table.is_title(x) and not _CONTENTS.search(table.text[x])
                   and _WORD.search(table.text[x]) for x in pair) \
                    and not table.static[pair[0]].heading \
                    and table.home[pair[0]] <= p >= table.home[pair[1]] \
                    and index.sentence_rows[pair[0]][0] == index.sentence_rows[pair[1]][0]:
                add(pair, "pair", p)
        st = table.static[r]
        if st.item or st.colon:
            group = tuple(list_rows(index, r))
            if len(group) > 1:
                add(group, "list", p)
    table.add([r for u in out for r in u.rows])
    return out


def list_rows(index: Index, row: int, most: int = MAX_LIST_ITEMS) -> list[int]:
    """``row`` alone, or the whole list it opens or belongs to (lead-in first, then at most about ``most``
    items)."""
    doc_row = int(index.sentence_rows[row][0])

    def text(r: int) -> str | None:
        if 0 <= r < len(index.sentence_rows) and int(index.sentence_rows[r][0]) == doc_row:
            return index.sentence_text(r)
        return None

    def item(r: int) -> bool:
        t = text(r)
        return t is not None and static_of(t).item

    own = text(row) or ""
    if own.rstrip().endswith(":") and item(row + 1):
        first = row + 1
    elif item(row):
        first = row
        while item(first - 1) and row - first < most:
            first -= 1
    else:
        return [row]
    last = first
    while item(last + 1) and last - first < most:
        last += 1
    lead = first - 1 if (text(first - 1) or "").rstrip().endswith(":") else first
    return list(range(lead, last + 1))


_HOW = re.compile(r"\bhow (?:long|many|much|far|soon|often)\b", re.I)  # asks how, names no subject
TOPIC_WEIGHT = 0.5  # a carried topic's words in the word overlap, against the follow-up's own (conversations)


class QuestionTerms:
    """The question's indexed terms with their idf weights."""

    def __init__(self, text: str, idf: dict[str, float]) -> None:
        carried = CARRIED.search(text)  # a follow-up's topic ("How long is the document? (Where did Blinken
        own = without_topic(text)  # announce the strategy)") weighs half its own words
        self.weights = {t: TOPIC_WEIGHT * idf.get(t, 0.0) for t in tokenize([_HOW.sub(" ", carried.group(1))])[0]
                        } if carried else {}
        self.weights.update({t: idf.get(t, 0.0) for t in tokenize([_HOW.sub(" ", own)])[0]})
        self.total = sum(self.weights.values())

    def share(self, terms: frozenset[str] | set[str]) -> float:
        if self.total <= 0:
            return 0.0
        return sum(w for t, w in self.weights.items() if t in terms) / self.total


def matrix(table: Table, cands: list[Unit], passages: list[int], passage_scores: list[float],
           info: QuestionInfo | None = None) -> np.ndarray:
    """One row of ``FEATURES`` per unit (``info``: a part of a two-part question, else the question)."""
    index = table.index
    info = info or table.info
    whole = table.whole if info is table.info else QuestionTerms(info.text, table.idf)
    parts = table.parts if info is table.info else []
    qlow = info.text.lower()
    rows = {r for u in cands for r in u.rows}
    ov = {r: whole.share(table.terms[r]) for r in rows}
    typed = {r: bool(info.asks) and (info.asks in table.static[r].kinds or info.asks == "person")
             and entities.has(table.text[r], info.asks or "", qlow) for r in rows}
    top_doc = int(index.sentence_rows[index.chunk_sent_lo[passages[0]]][0]) if passages else -1
    out = np.zeros((len(cands), len(FEATURES)), dtype=np.float32)
    for i, u in enumerate(cands):
        st = [table.static[r] for r in u.rows]
        cs = [table.cos[r] for r in u.rows]
        first = u.rows[0]
        unit_terms = frozenset().union(*(table.terms[r] for r in u.rows)) if len(u.rows) > 1 else table.terms[first]
        share = whole.share(unit_terms) if len(u.rows) > 1 else ov[first]
        doc = int(index.sentence_rows[first][0])
        words = sum(s.words for s in st)
        any_typed = any(typed[r] for r in u.rows)
        defines = any(s.defines for s in st)
        out[i] = (
            max(cs), sum(cs) / len(cs), cs[0],
            share, ov[first], max(p.share(unit_terms) for p in parts) if parts else share,
            float(any_typed), float(bool(info.asks) and not any_typed), float(typed[first]),
            float(info.definition and defines), float(info.definition and not defines),
            float(info.why and any(s.causal for s in st)),
            float(st[0].backref), float(u.kind == "pair"),
            float(u.kind == "pair" and (st[1].backref or st[0].colon or table.text[u.rows[1]][:1].islower())),
            float(u.kind == "list"), float(u.kind == "list" and info.wants_list),
            math.log1p(sum(s.item for s in st)),
            float(any(s.heading for s in st)), float(_is_title(index, doc, table.text[first])), float(st[0].words < 4),
            math.log1p(words), 1.0 / (1 + u.passage), passage_scores[u.passage] if passage_scores else 0.0,
            float(doc == top_doc), float(u.kind == "sentence" and st[0].colon),
            float(first == 0 or int(index.sentence_rows[first - 1][0]) != doc),
            float(any(s.asks_back for s in st)),
            0.0, 0.0, 0.0, 0.0,
        )
    if len(cands):
        for col, (src, rank) in enumerate(((0, -2), (3, -1))):
            out[:, len(FEATURES) - _RELATIVE + col] = out[:, src].max() - out[:, src]
            order = np.argsort(-out[:, src], kind="stable")
            ranks = np.empty(len(cands))
            ranks[order] = np.arange(len(cands))
            out[:, rank] = 1.0 / (1.0 + ranks)
    return out


def _is_title(index: Index, doc: int, text: str) -> bool:
    """The document's title line: its title, as a heading (no sentence end: a one-line text file whose
    only sentence became its title is still an answer)."""
    title = index.manifest.get("documents", [{}] * (doc + 1))[doc].get("title", "")
    stripped = text.strip()
    return not stripped.endswith((".", "!", "?")) and " ".join(stripped.lower().split()) == " ".join(
        str(title).lower().split())


def question_units(index: Index, question: str, q: np.ndarray, hits: list[Hit], seeds: int, select: int
                   ) -> tuple[Table, list[Unit], np.ndarray]:
    """The question's sentence table, its answer units from the first ``select`` passages, and their
    ``FEATURES``: what the selector scores, the same when answering (``rag.compose``) and training."""
    passages, scores = _passages(hits, select)
    table = Table(index, analyse(question), q, passages, index_idf(index))
    cands = units(index, table, seeds)
    return table, cands, matrix(table, cands, passages, scores)


def part_matrices(table: Table, cands: list[Unit], hits: list[Hit], select: int) -> list[np.ndarray]:
    """For a two-part question, the units' features against each part; [] for a question of one part."""
    info = table.info
    if len(info.parts) < 2:
        return []
    passages, scores = _passages(hits, select)
    return [matrix(table, cands, passages, scores,
                   QuestionInfo(p, analyse(p).asks, info.definition, info.why, info.wants_list, (p,)))
            for p in info.parts]


def _passages(hits: list[Hit], select: int) -> tuple[list[int], list[float]]:
    return [h.row for h in hits[:select]], [h.dense or 0.0 for h in hits[:select]]
