"""The short answer of a question asking for a name, place, date, duration, count or amount: the span of
that kind in the quoted sentences, with its character offsets in the document (``rag.compose`` calls it)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from . import entities
from .acronyms import SMALL_WORDS
from .features import Unit
from .lexicon import STOP
from .question import DEADLINE, WHO_IS, QuestionInfo, asks_several, doer_verb
from .rerank import acronyms
from .types import Answer, ShortAnswer

if TYPE_CHECKING:
    from .store import Index


def short_answer(index: Index, info: QuestionInfo, chosen: list[Unit], answer: Answer) -> ShortAnswer | None:
    """The first span of the asked kind in the quoted sentence that repeats most of the question's words
    (the better unit on a tie; for "who <verb>", the verb's doer first, a person before an organisation);
    None when no quoted sentence holds one."""
    if WHO_IS.match(info.text):  # "who is Kemba Walden?" asks what she is, not for another name
        return None
    verb = doer_verb(info.text) if info.asks in ("person", "organisation") else ""
    # a "who <verb>" question: a person, then an organisation, then a country that did it
    kinds = [info.asks] + (["organisation"] if info.asks == "person" else []) + (["place"] if verb else [])
    if info.asks == "date" and DEADLINE.search(info.text):  # mostly answered "within 1 year", not a date
        kinds = ["deadline"]
    qlow = info.text.lower()
    where = info.asks == "place" and bool(re.match(r"\W*where\b", qlow))
    event = info.asks == "place" and bool(_ASKS_EVENT.search(qlow))
    by_start = {c.start: c for c in answer.citations}
    long_forms = acronyms(index)
    best: tuple[tuple[bool, int, bool, int, int], ShortAnswer] | None = None
    for rank, kind in enumerate(kinds):
        counted = _COUNTED.search(qlow) if kind == "count" else None
        noun = counted.group(1) if counted else ""  # the noun a count question counts
        for ui, u in enumerate(chosen):
            for r in u.rows:
                doc, sent = index.sentence(r)
                c = by_start.get(sent.start)
                spans = entities.find(sent.text, kind or "") + ([entities.Match(m.group(), m.start(), m.end(), kind)
                                                                 for m in _NATION.finditer(sent.text)]
                                                                if kind == "place" and verb else [])
                found = [m for m in spans
                         if m.text.lower() not in qlow and not _restates(m, sent.text, qlow, long_forms)]
                if kind == "person" and len(found) > 1 and re.match(r"\W*who(?:'s|’s| is| was) the\b", qlow):
                    # "who is the deputy national security advisor?": the name beside the question's words
                    found.sort(key=lambda m: -entities.overlap(sent.text[max(0, m.start - 80):m.start], info.text))
                if where:  # "where was it held?": a place after "in" or "at" first
                    found.sort(key=lambda m: not entities.locative(sent.text, m))
                if event:  # "what conference?": "the RSA cybersecurity conference", not "San Francisco"
                    found = sorted((_event(sent.text, m) for m in found), key=lambda m: not _EVENT.search(m.text))
                if noun:  # "how many initiatives?": "more than 65 high-impact Federal initiatives" first
                    found.sort(key=lambda m: not _counts(sent.text, m, noun))
                if verb:  # "who launched it?": "the State Department launched ...", "... launched by X" first
                    found.sort(key=lambda m: not _does(sent.text, m, verb))
                    if kind == "place":
                        found = [m for m in found if _does(sent.text, m, verb)]
                if c is None or not found:
                    continue
                # the doer of the question's verb first, then a person before an organisation, then the best unit
                # first, then overlap
                score = (bool(verb) and _does(sent.text, found[0], verb), -rank,
                         bool(noun) and _counts(sent.text, found[0], noun), -ui,
                         entities.overlap(sent.text, info.text))
                if best is None or score > best[0]:
                    m = entities.run_of(sent.text, found, found[0]) if asks_several(info.text) else found[0]
                    best = (score, ShortAnswer(m.text, sent.start + m.start, sent.start + m.end, c.n, kind or ""))
    return None if best is None else best[1]


_ORG_WORD = re.compile(rf"\b(?:{entities.ORG_WORDS})\b")
_EVENT = re.compile(r"\s+(?:[a-z]+\s+)?(?:conference|summit|convention|expo|meeting|event)s?\b")
_NATION = re.compile(r"\b(?:the United States(?: of America)?|the U\.S\.|America)\b")  # no place of GeoNames
_ASKS_EVENT = re.compile(r"\b(?:what|which) (?:conference|summit|convention|expo|meeting|event|venue)\b")


def _event(sentence: str, m: entities.Match) -> entities.Match:
    """``m`` with the event word after it, "RSA" → "RSA cybersecurity conference"; else ``m``."""
    after = _EVENT.match(sentence, m.end)
    return entities.Match(sentence[m.start:after.end()], m.start, after.end(), m.kind) if after else m


def _restates(m: entities.Match, sentence: str, question: str, long_forms: dict[str, str]) -> bool:
    """Whether span ``m`` cannot answer: it names what the question already names ("Office of the National
    Cyber Director (ONCD)" for "who runs the ONCD?"), or, as an organisation, it is an acronym the documents
    spell out as no organisation ("EO": Executive Order) or the name of an event ("the RSA conference")."""
    words = set(re.findall(r"[a-z0-9]+", question))
    if any(w.lower() in words for w in re.findall(r"\b[A-Z]{2,}\b", m.text)):
        return True
    named = {w for w in re.findall(r"[a-z0-9]+", re.sub(r"\([^)]*\)", "", m.text).lower()) if w not in SMALL_WORDS}
    if named and named <= words:  # "Joint Ransomware Task Force (JRTF)" for "who runs the joint ransomware task force?"
        return True
    if m.kind != "organisation":
        return False
    long_form = long_forms.get(m.text.lower().removesuffix("s"), "")
    if long_form and (long_form.lower() in question or not _ORG_WORD.search(long_form)):
        return True
    return bool(_EVENT.match(sentence, m.end))


_COUNTED = re.compile(r"\bhow many ([a-z]{3,})")  # the noun a count question counts


def _counts(sentence: str, m: entities.Match, noun: str) -> bool:
    """Whether count ``m`` counts ``noun`` (its first five letters): "65 high-impact Federal initiatives",
    not "Eighteen agencies are leading initiatives"."""
    between = re.match(rf"((?:[-\s]+[\w-]+){{0,2}}?)[-\s]+{re.escape(noun[:5])}", sentence[m.end:], re.I)
    return between is not None and not any(w.lower() in STOP for w in re.findall(r"[\w-]+", between.group(1)))


def _does(sentence: str, m: entities.Match, verb: str) -> bool:
    """Whether span ``m`` is the subject or the agent of ``verb`` (its first five letters) in ``sentence``."""
    after = rf"\s*(?:\([^)]*\)\s*)?(?:,?\s*(?:together |along )?with [^,.;:]{{1,60}}?,?\s+)?" \
            rf"(?:has |have |had |will |also |then |jointly )?{verb}"  # "the US with 60 partners ... launched"
    return bool(re.match(after, sentence[m.end:], re.I)
                or re.search(rf"\b{verb}\w*\s+by\s+(?:the\s+)?$", sentence[:m.start], re.I))
