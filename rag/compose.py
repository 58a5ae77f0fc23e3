"""Ranked passages → an extractive ``Answer`` chosen by the learned selector (``rag.selector``).

Every answer unit of the top passages (a sentence, two adjacent sentences, a whole list) is scored; the
best unit is quoted, then further units that score close to it, under a word budget and from at most
two passages. A two-part question ("what did X launch, and with whom?") first takes the best unit for
each part. The abstention model then decides, from the best unit and the question, whether the
sources answer at all; a question asking for a name, place, date, duration, count or amount gets a
``short_answer`` cut from the quoted sentence when one is there.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from . import entities
from .abstain import known_terms, off_topic_floor, unknown_names
from .answer import ABSTAIN_MESSAGE, assemble, covering_chunk
from .features import FEATURES, Table, Unit, list_rows, part_matrices, question_units
from .lexicon import ORDINALS, VERBS
from .ordinals import inline_items, nth_item, one_item_asked
from .question import DEADLINE, WHO_IS, QuestionInfo
from .search import index_idf, tokenize
from .selector import ABSTAIN_FEATURES, Model
from .shortanswer import short_answer
from .types import Answer, Hit, ShortAnswer

if TYPE_CHECKING:
    from .store import Index

_F = {n: i for i, n in enumerate(FEATURES)}
_WHAT = {"money": "an amount of money", "amount": "an amount of money", "date": "a date", "count": "a number",
         "duration": "a duration", "person": "a name", "organisation": "an organisation", "place": "a place",
         "title": "a name"}


def candidates(index: Index, question: str, q: np.ndarray, hits: list[Hit], model: Model
               ) -> tuple[Table, list[Unit], np.ndarray, np.ndarray]:
    """(the question's sentence table, its units, their features, their probabilities)."""
    table, cands, x = question_units(index, question, q, hits, model.policy.seeds, model.policy.select_passages)
    return table, cands, x, model.selector.proba(x) if len(cands) else np.zeros(0)


def abstain_row(index: Index, info: QuestionInfo, x: np.ndarray, p: np.ndarray, hits: list[Hit],
                cands: list[Unit] | None = None) -> np.ndarray:
    """The ``ABSTAIN_FEATURES`` of a question, from its best unit and its passages."""
    vocab = known_terms(index)
    order = np.argsort(-p)
    best = x[order[0]] if len(order) else np.zeros(len(FEATURES))
    top = float(x[:, _F["cos_max"]].max()) if len(x) else 0.0
    missing = best[_F["type_missing"]]
    if missing and cands and info.asks == "date" and DEADLINE.search(info.text) and any(
            entities.has(index.sentence_text(r), "duration", info.text.lower()) for r in cands[order[0]].rows):
        missing = 0.0  # "when must agencies encrypt data?": "Within 180 days of the date of this order, ..."
    if missing and cands and best[_F["backref_first"]]:  # "It criticizes these countries": what "these" names
        first = cands[order[0]].rows[0]
        if first > 0 and index.sentence_rows[first - 1][0] == index.sentence_rows[first][0] \
                and entities.has(index.sentence_text(first - 1), info.asks or "", info.text.lower()):
            missing = 0.0
    who = WHO_IS.match(info.text)
    if missing and cands and who:  # "who is Anne Neuberger?": a sentence naming her answers
        name = who.group("name").lower()
        missing = float(not any(name in index.sentence_text(r).lower() for r in cands[order[0]].rows))
    return np.array([
        p[order[0]] if len(order) else 0.0,
        best[_F["cos_max"]], best[_F["overlap"]], missing,
        float(bool(unknown_names(info.text, vocab))), top,
        float(any(h.bm25 for h in hits)),
        # far from every passage, unless the best unit holds the question's words
        max(0.0, off_topic_floor(index) - top) * (1.0 - _covered(index, info, cands, order)),
    ], dtype=np.float64)


def _covered(index: Index, info: QuestionInfo, cands: list[Unit] | None, order: np.ndarray) -> float:
    """The idf share of the question's words (not its question words) that its best unit holds, a word the
    index lacks weighing as its rarest: "what is hunt forward?" over `sources/` scores 1 ("hunt forward
    missions") although its cosine is 0.33, "Explain the rules of cricket." 0.26."""
    if not cands or not len(order):
        return 0.0
    idf = index_idf(index)
    rarest = index.cached("idf_max", lambda: max(idf.values(), default=1.0))  # not a scan per question
    held = set().union(*(tokenize([index.sentence_text(r)])[0] for r in cands[int(order[0])].rows))
    shares = []
    for text in info.parts:  # a two-part question is close when one part is ("how many pages, and who paid?")
        weights = {t: idf.get(t, rarest) for t in tokenize([text])[0]
                   if t not in _ASKING and (t in idf or t not in _VERBS)}  # a verb the index lacks: how it is asked
        total = sum(weights.values())
        shares.append(sum(w for t, w in weights.items() if t in held) / total if total > 0 else 0.0)
    return max(shares)


def pick(info: QuestionInfo, cands: list[Unit], x: np.ndarray, p: np.ndarray, words: list[int],
         model: Model, part_p: list[np.ndarray] | None = None) -> list[int]:
    """Positions of the units to quote: each part's best first, then the rest by probability."""
    pol = model.policy
    budget, most = (pol.list_words, pol.list_units) if info.wants_list else (pol.max_words, pol.max_units)
    chosen: list[int] = []
    used: set[int] = set()
    passages: list[int] = []
    total = 0

    def take(i: int, force: bool = False) -> bool:
        nonlocal total
        u = cands[i]
        if used.intersection(u.rows):
            return False
        if u.passage not in passages and len(passages) >= pol.max_passages and not force:
            return False
        if chosen and total + words[i] > budget and not (force and u.kind != "list"):
            return False
        chosen.append(i)
        used.update(u.rows)
        total += words[i]
        if u.passage not in passages:
            passages.append(u.passage)
        return True

    order = np.argsort(-p, kind="stable")
    if not len(order):
        return []
    top = int(order[0])
    if cands[top].kind == "sentence" and x[top, _F["backref_first"]]:
        # "It criticizes these countries ...": quoted with the sentence "these" refers to
        r = cands[top].rows[0]
        top = next((i for i, u in enumerate(cands) if u.kind == "pair" and u.rows == (r - 1, r)), top)
    elif cands[top].kind == "sentence" and x[top, _F["heading"]]:
        # a heading alone ("Systemically Important Entities") answers nothing: with what follows it, or the
        # best unit that is not a heading alone
        r = cands[top].rows[0]
        top = next((i for i, u in enumerate(cands) if u.kind == "pair" and u.rows == (r, r + 1)),
                   next((int(i) for i in order if not (cands[i].kind == "sentence" and x[i, _F["heading"]])), top))
    take(top)
    for pp in part_p or []:
        best = int(np.argmax(pp))
        if pp[best] >= pol.min_p and not used.intersection(cands[best].rows):
            take(best, force=True)
    floor = max(pol.min_p, pol.relative * float(p[order[0]]))
    for i in order[1:]:
        if len(chosen) >= most or p[i] < floor:
            break
        take(int(i))
    return chosen


def compose(index: Index, question: str, q: np.ndarray, hits: list[Hit], model: Model, shown: int,
            past: frozenset[str] = frozenset()) -> Answer:
    """The answer to ``question`` from the ranked ``hits`` (``shown`` of them listed as retrieved), quoting
    no sentence of ``past`` (the sentences a "tell me more" has already been shown, whitespace collapsed)."""
    listed = tuple(hits[:shown])
    if not hits:
        return Answer(question, "", True, (), (), listed, 0.0, ABSTAIN_MESSAGE, index_id=index.index_id)
    table, cands, x, p = candidates(index, question, q, hits, model)
    if past:
        keep = [i for i, u in enumerate(cands) if not any(" ".join(table.text[r].split()) in past for r in u.rows)]
        cands, x, p = [cands[i] for i in keep], x[keep], p[keep]
    info = table.info
    if not cands:
        return Answer(question, "", True, (), (), listed, 0.0, ABSTAIN_MESSAGE, index_id=index.index_id)
    arow = abstain_row(index, info, x, p, hits, cands)
    answerable = float(model.abstain.proba(arow[None, :])[0])
    if answerable < model.policy.abstain_below:
        return Answer(question, "", True, (), (), listed, answerable, _why_not(index, info, arow),
                      index_id=index.index_id)
    part_p = [model.selector.proba(px) for px in part_matrices(table, cands, hits, model.policy.select_passages)]
    words = [sum(table.static[r].words for r in u.rows) for u in cands]
    chosen = pick(info, cands, x, p, words, model, part_p or None)
    one = one_item_asked(info.text) is not None  # most questions name no item: no list read further
    nth = _nth_item(table, cands) if one else None
    inline = _inline_item(table, cands, p) if one and nth is None else None
    if nth is not None:  # "what is the third guiding principle?": the lead-in and that item alone
        i, unit = nth
        cands, p, chosen = [*cands, unit], np.append(p, p[i]), [len(cands)]
    elif inline is not None:  # "what's the third goal?" of "... four goals: a, b, c, and d.": that sentence
        chosen = [inline[0]]
    rows, home, scores = _layout(index, hits, cands, chosen, p)
    answer = assemble(index, question, list(listed), rows, scores, home, answerable)
    short = None
    if inline is not None:  # the item is the short answer
        sent = index.sentence(cands[inline[0]].rows[0])[1]
        cite = next((c.n for c in answer.citations if c.start == sent.start), None)
        a, b = inline[1]
        short = ShortAnswer(sent.text[a:b], sent.start + a, sent.start + b, cite, "item") if cite else None
    elif info.asks and float(p[chosen[0]]) >= model.policy.short_min_p:
        short = short_answer(index, info, [cands[i] for i in chosen], answer)
    return Answer(answer.question, answer.answer, False, answer.sentences, answer.citations, listed, answerable,
                  index_id=index.index_id, short_answer=short)


_NUMBERED = re.compile(r"\s*\d{1,2}[.)]\s")
_WHOLE_LIST = 60  # rows of a list read for its items by position (five pillars with bullets under each: 20)


def _inline_item(table: Table, cands: list[Unit], p: np.ndarray) -> tuple[int, tuple[int, int]] | None:
    """(the sentence unit, the item's span in it) for a question naming one item by position of a list
    written inside a sentence ("what's the third goal?": "... four primary goals: advancing ..., enhancing
    ..., promoting ..., and addressing ..."), among the three best sentences; else None."""
    for i in [int(j) for j in np.argsort(-p) if cands[int(j)].kind == "sentence"][:3]:
        found = inline_items(table.text[cands[i].rows[0]])
        if found is None:
            continue
        lead, spans = found
        pos = nth_item(table.info.text, [(lead, len(spans))])
        if pos is not None and pos[1]:
            return i, spans[pos[1] - 1]
    return None


def _nth_item(table: Table, cands: list[Unit]) -> tuple[int, Unit] | None:
    """(the list unit, its lead-in with the one item) a question asks for by position or as the one that
    does something, when a retrieved list's lead-in names what the question names ("the third guiding
    principle", "pillar two", "which of the areas of action is about cybercrime?")."""
    lists = [i for i, u in enumerate(cands) if u.kind == "list" and not table.static[u.rows[0]].item]
    if not lists:
        return None
    whole = [list_rows(table.index, cands[i].rows[0], most=_WHOLE_LIST)[1:] for i in lists]  # past a unit's 12 rows
    table.add([r for rows in whole for r in rows])
    items = [[r for r in rows if _NUMBERED.match(table.text[r])] or rows
             for rows in whole]  # the numbered items, past the bullets under them ("1. Defend ...", "* Expanding ...")
    found = nth_item(table.info.text, [(table.text[cands[i].rows[0]], len(rows)) for i, rows in zip(lists, items)])
    if found is None:
        return None
    i, rows = lists[found[0]], items[found[0]]
    item = rows[found[1] - 1] if found[1] else max(rows, key=lambda r: table.cos[r])  # 0: the closest item
    return i, Unit((cands[i].rows[0], item), "list", cands[i].passage)


def _layout(index: Index, hits: list[Hit], cands: list[Unit], chosen: list[int], p: np.ndarray
            ) -> tuple[list[int], dict[int, int], dict[int, float]]:
    """Sentence rows in the order shown (the best unit's document first, reading order inside one
    document), the passage each is cited to, and each row's score."""
    home: dict[int, int] = {}
    scores: dict[int, float] = {}
    doc_order: list[int] = []
    for i in chosen:
        u = cands[i]
        ci = hits[u.passage].row
        start = int(index.chunk_sent_lo[ci])
        inside = all(start <= r < start + len(index.chunks[ci].sentences) for r in u.rows)
        if not inside:
            ci = covering_chunk(index, list(u.rows), [ci]) or ci
        for r in u.rows:
            start = int(index.chunk_sent_lo[ci])
            home[r] = ci if start <= r < start + len(index.chunks[ci].sentences) else int(index.sentence_chunk[r])
            scores[r] = max(scores.get(r, 0.0), float(p[i]))
        doc = int(index.sentence_rows[u.rows[0]][0])
        if doc not in doc_order:
            doc_order.append(doc)
    rows = sorted(home, key=lambda r: (doc_order.index(int(index.sentence_rows[r][0])), r))
    return rows, home, scores


# what a question says besides what it is about, for the off-topic coverage: its question words and the verbs
# of asking ("what happens when incidents occur?" is about incidents, not about "happens"), words that point
# and ordinals ("what is the first goal?" is about goals)
_ASKING = frozenset(tokenize([" ".join(sorted(entities.QUESTION_WORDS)) + " happen mean meant say said tell talk"
                              " explain describe give know want think get thing stuff like"
                              " here those their he him she we you me my " + " ".join(ORDINALS)])[0])  # stemmed
_VERBS = frozenset(tokenize([" ".join(sorted(VERBS))])[0])


def _why_not(index: Index, info: QuestionInfo, arow: np.ndarray) -> str:
    vocab = known_terms(index)
    missing = unknown_names(info.text, vocab)
    if missing:
        return f"{ABSTAIN_MESSAGE} The sources never mention {', '.join(missing)}."
    if info.asks and arow[ABSTAIN_FEATURES.index("type_missing")]:
        return f"{ABSTAIN_MESSAGE} No passage close to the question gives {_WHAT[info.asks]}."
    if arow[ABSTAIN_FEATURES.index("off_topic")]:
        return f"{ABSTAIN_MESSAGE} Nothing in them is close to the question."
    return ABSTAIN_MESSAGE
