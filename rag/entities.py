"""Spans of the kinds of short answer a question can ask for, found in a sentence by rules.

>>> [m.text for m in find("Secretary of State Antony Blinken spoke in San Francisco on May 6, 2024.", "person")]
['Antony Blinken']
>>> [m.text for m in find("Report within 72 hours of a covered incident.", "duration")]
['72 hours']
>>> [m.text for m in find("The Administration is investing $65 billion in broadband.", "amount")]
['$65 billion']
>>> [m.text for m in find("It was unveiled at the RSA Conference in San Francisco.", "place")]
['San Francisco', 'RSA Conference']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .places import GENERIC as _GENERIC
from .places import place_names, places_in

_WEEKDAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_NUM_WORDS = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
              "seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|"
              "a dozen|dozens|several|a few")
_UNITS = "hours?|days?|weeks?|months?|years?|minutes?|decades?"
_TITLES = ("Secretary|President|Vice President|Director|Deputy|Advisor|Adviser|Administrator|Ambassador|Senator|"
           "Representative|Chairman|Chair|Commissioner|Minister|Prime Minister|Chancellor|General|Admiral|"
           "Mr\\.|Ms\\.|Mrs\\.|Dr\\.")
ORG_WORDS = ("Department|Agency|Office|Council|Administration|Bureau|Commission|Task Force|Command|Institute|"
              "Center|Centre|Board|Service|Services|Forum|Group|Committee|Union|Organization|Organisation|"
              "Corps|Partnership|Coalition|Alliance|Foundation|Association|Congress|Senate|House|Cabinet|"
              "Secretariat|Directorate|Division|Unit|Authority|Agencies|NATO|Quad")
_CAP = r"[A-Z][a-zA-Z'’\-]+"
_NAME_WORD = r"(?:[A-Z][a-z][a-zA-Z'’\-]*|U\.S\.|US)"  # a capitalised word of a name, not a heading in capitals
_PATTERNS = {
    "amount": re.compile(r"(?:US)?\$\s?\d[\d,.]*(?:\s*(?:million|billion|trillion|thousand))?|"
                         r"\b(?:(?:tens|hundreds) of )?(?:thousands|millions|billions|trillions) of "
                         r"(?:U\.S\. )?dollars\b|"
                         r"\b\d[\d,.]*\s*(?:degrees(?: Celsius| Fahrenheit)?|percent\b|per cent\b|%)|"
                         r"\b\d[\d,.]*\s*(?:million|billion|trillion)\s+(?:dollars|USD)|\b\d[\d,.]*\s*dollars\b"),
    "duration": re.compile(rf"\b(?:\d+|{_NUM_WORDS})(?:[\s-]+(?:to|or)[\s-]+\d+)?[\s-]+(?:{_UNITS})\b|"
                           rf"\bwithin\s+(?:{_UNITS})\b", re.I),
    "date": re.compile(rf"\b\d{{1,2}}:\d\d(?:\s*[AaPp]\.?[Mm]\.?)?(?:\s*(?:EST|EDT|ET|UTC|GMT)\b)?|"
                       rf"\b(?:(?:{_WEEKDAYS}),?\s+)?(?:{_MONTHS})(?:\s+\d{{1,2}}(?:st|nd|rd|th)?)?(?:,?\s+(?:19|20)\d\d)?\b|"
                       rf"\b(?:19|20)\d\d\b|"
                       rf"\b(?:fiscal|FY)\s*(?:year\s*)?(?:19|20)?\d\d\b"),
    "count": re.compile(rf"\b(?:(?:tens|hundreds) of )?(?:thousands|millions)\b(?! of dollars)|"
                        rf"\b\d[\d,]*\b(?!\s*(?:%|percent|{_UNITS}))|\b(?:{_NUM_WORDS})\b(?![\s-]+(?:{_UNITS}))", re.I),
    "organisation": re.compile(rf"\b(?:the\s+)?(?:(?:{_CAP}|of|for|and|on|the)\s+){{0,6}}(?:{ORG_WORDS})"
                               rf"(?:\s+(?:of|for|on)(?:\s+the)?(?:\s+{_CAP}){{1,4}})?\b|\b[A-Z]{{2,6}}s?\b(?=[^a-z]|$)"),
    "person": re.compile(rf"(?:(?:{_TITLES})\s+(?:of\s+(?:State|Defense|Commerce|Homeland Security)\s+)?)?"
                         rf"\b[A-Z][a-z]+(?:\s+[A-Z]\.)?\s+[A-Z][a-z]+(?:-[A-Z][a-z]+)?\b"),
    "place": re.compile(rf"\b(?:in|at|from|to|like|such as|In|At)\s+((?:the\s+)?{_CAP}(?:\s+{_CAP}){{0,3}})"),
    # the name of a document, law, body or programme: three capitalised words or more (four words with the
    # small ones between, ``find``), a subtitle after a colon ("... Digital Policy Strategy: Toward ...")
    "title": re.compile(rf"(?<![\w’'-]){_NAME_WORD}(?:(?:\s+(?:of|and|for|the|on|in|to|a|an|,))*\s+{_NAME_WORD}){{2,}}"
                        rf"(?::\s+{_NAME_WORD}(?:(?:\s+(?:of|and|for|the|on|in|to|a|an)|,)*\s+{_NAME_WORD})*)?|"
                        r"(?<=“)[A-Z][^”]{2,80}(?=,?”)|(?<=\")[A-Z][^\"]{2,80}(?=,?\")"),  # or quoted: the “Scared Cow”
}
# an office named instead of its holder ("the Secretary of Commerce", "the Director of CISA")
_OFFICE = re.compile(rf"\b(?:(?:Deputy |Under )?Secretary|Director|Administrator|Attorney General|Chair) of (?:the )?"
                     rf"(?:[A-Z]{{2,6}}\b|{_CAP}(?:\s+(?:and\s+)?{_CAP}){{0,3}})")
_TITLED_PERSON = re.compile(r"\b(?:Secretary|President|Vice President|Director|Deputy|Mr|Ms|Mrs|Dr|Senator|Minister|"
                            r"Ambassador|Administrator|Acting|Assistant|National Security Advisor)\b")
_SHORT_FORM = re.compile(r"\s*\([A-Z][A-Za-z]{1,7}\)")
_NAME = re.compile(r"(?<=[a-z,;] )[A-Z][a-z]{2,}\b")  # a capitalised word inside a sentence
_YEAR = re.compile(r"^(?:19|20)\d\d$")
_ITEM_NUMBER = re.compile(r"\d{1,2}[.)]\s")  # "2. Train every dock worker": a list number, not a count
# a reference, not a count: "Sec. 5", "section 2(b)", "subsection (4)", "Executive Order 14028", "page 12",
# "6 U.S.C. 451", "Public Law 117-263"; nor is a day of a month ("July 26")
_REFERENCE = re.compile(r"(?:\b(?:Sec|Secs|Section|Sections|subsection|subsections|paragraph|Order|Title|Part|page|"
                        r"pages|Objective|Pillar|No|PPD|NSM|Directive|U\.S\.C|C\.F\.R|Law|" + _MONTHS +
                        r")\.?\s*[-–]?\s*|[(]|\d[-–])$", re.I)


@dataclass(frozen=True)
class Match:
    text: str
    start: int  # offsets into the sentence
    end: int
    kind: str


def find(sentence: str, kind: str) -> list[Match]:
    """Spans of ``kind`` in ``sentence``, in order; a place named in the gazetteer comes before one guessed
    from its preposition."""
    if kind == "deadline":  # a date, or a time limit ("within 1 year", "60 days of the date of this order")
        return sorted(find(sentence, "date") + find(sentence, "duration"), key=lambda m: m.start)
    out = [Match(sentence[a:b], a, b, "place") for a, b in places_in(sentence)] if kind == "place" else []
    for m in _PATTERNS[kind].finditer(sentence):
        group = 1 if m.re.groups else 0
        start, text = m.start(group), m.group(group)
        if kind == "person":
            found = start
            text, start = _person(text, start)
            if not text or _no_name(sentence, text, start, titled=start != found):
                continue
        elif kind == "organisation":
            if out and m.start() < out[-1].end:
                continue
            # "Through the Joint Ransomware Task Force": a sentence's capitalised preposition is no part of a name
            stripped = re.sub(r"^(?:(?:[Tt]he|of|for|and|on|Through|With|From|By|In|At|To|For|On|During|After|"
                              r"Before|Within|Across|Among|Via|Like|As|And|Of|Under(?! Secretary))\s+)+", "", text)
            start += len(text) - len(stripped)
            text = stripped
            if text.lower() in _GENERIC or len(text) < 2 or _not_an_org(sentence, text, start):
                continue
            short = _SHORT_FORM.match(sentence, start + len(text))  # "Agency (CISA)": the name with its acronym
            if short and " " in text:
                text = sentence[start:short.end()]
        elif kind == "place":
            stripped = re.sub(r"^[Tt]he\s+", "", text)
            start += len(text) - len(stripped)
            text = stripped
            words = text.split()
            if all(w.lower() in _GENERIC for w in words) or re.fullmatch(_MONTHS, words[0]) \
                    or any(o.start < start + len(text) and start < o.end for o in out):
                continue
        elif kind == "title":
            stripped = re.sub(r"^(?:The|During|Through|With|From|By|In|At|To|For|On|After|Under|As|And)\s+", "", text)
            start += len(text) - len(stripped)
            text = stripped
            text = re.sub(r",\s+\S+$", "", text) if re.match(r"\s+[a-z]", sentence[start + len(text):]) else text
            quoted = start > 0 and sentence[start - 1] in "“\""
            if (len(text.split()) < 4 and not quoted) or _TITLED_PERSON.search(text):
                continue
        elif kind == "count":
            if _YEAR.match(text) or sentence[max(0, start - 1):start] == "$" or _ITEM_NUMBER.match(sentence[start:]) \
                    and not sentence[:start].strip() or _REFERENCE.search(sentence[max(0, start - 16):start]):
                continue
        out.append(Match(text, start, start + len(text), kind))
    if kind == "person":
        out += [Match(m.group(), m.start(), m.end(), kind) for m in _OFFICE.finditer(sentence)
                if not any(o.start < m.end() and m.start() < o.end for o in out)]
        out.sort(key=lambda m: m.start)
    return out


_STOP = set("""what which who whom whose when where why how does did do is are was were the a an of for to in on and
or with by from that this it its as at be been has have had will would can could should must about into their
they there than then them his her our your any many much long""".split())
QUESTION_WORDS = frozenset(_STOP)  # what a question says besides what it is about


def overlap(sentence: str, question: str) -> int:
    """How many of the question's content words (by their first five letters) the sentence repeats.

    >>> overlap("Within 270 days, NIST shall identify criteria for a consumer labeling program.",
    ...         "How long did NIST have to set up the consumer label?")
    3
    """
    words = {w[:5] for w in re.findall(r"[a-z0-9]+", question.lower()) if w not in _STOP and len(w) > 2}
    return len(words & {w[:5] for w in re.findall(r"[a-z0-9]+", sentence.lower())})


def run_of(sentence: str, found: list[Match], first: Match) -> Match:
    """``first`` joined with the spans of ``found`` that follow it as one enumeration ("Ukraine, Costa Rica,
    and Albania"), for a question asking for several.

    >>> s = "support provided to Ukraine, Costa Rica, and Albania."
    >>> run_of(s, find(s, "place"), find(s, "place")[0]).text
    'Ukraine, Costa Rica, and Albania'
    """
    end = first.end
    for m in sorted(found, key=lambda m: m.start):
        if m.start >= end and re.fullmatch(r",? (?:and |or )?|, ", sentence[end:m.start]):
            end = m.end
    return Match(sentence[first.start:end], first.start, end, first.kind)


def _no_name(sentence: str, text: str, start: int, titled: bool) -> bool:
    """Whether a person span at ``start`` is no one's name: a place; after "in", "at", "of" or a possessive
    ("the President’s Budget Request"); a title-cased phrase ("Rights Respecting Digital Future"; "Critical
    Infrastructure Control Systems" unless a title came before it); a date ("Last March")."""
    before = sentence[max(0, start - 40):start]
    return (text in place_names() or bool(re.search(r"\b(in|at|of)\s+$|[’']s\s+$", before[-6:]))
            or bool(re.match(r"\s+[A-Z][a-z]", sentence[start + len(text):]))
            or not titled and bool(re.search(rf"\S\s+(?!(?:{_TITLES})\s)[A-Z][a-z]+\s+$", before))
            or bool(re.search(rf"\b(?:{_MONTHS}|{_WEEKDAYS})$|^(?:{_WEEKDAYS})\b", text)))


def _person(text: str, start: int) -> tuple[str, int]:
    """Strip the title; keep only names with no generic word (not "National Cyber", "United States")."""
    title = re.match(rf"(?:(?:{_TITLES})\s+(?:of\s+(?:State|Defense|Commerce|Homeland Security)\s+)?)", text)
    if title:
        start += title.end()
        text = text[title.end():]
    words = [w.strip(".") for w in text.split()]
    if len(words) < 2 or any(w.lower() in _GENERIC for w in words):
        return "", start
    return text, start


def locative(sentence: str, m: Match) -> bool:
    """Whether the span follows "in" or "at" ("the summit in Madrid").

    >>> s = "Leaders of Japan met at the summit in Madrid."
    >>> [locative(s, m) for m in find(s, "place")]
    [False, True]
    """
    return bool(re.search(r"\b(?:in|at)\s+(?:the\s+)?$", sentence[max(0, m.start - 10):m.start], re.I))


def has(sentence: str, kind: str, question: str = "") -> bool:
    """Whether ``sentence`` holds a span of ``kind`` that the question does not already contain; a
    "who" question is also answered by an organisation or any other proper name, a "which organisation"
    question by any proper name ("Politico", "Carnegie Mellon")."""
    q = question.lower()
    if any(m.text.lower() not in q for m in find(sentence, kind)):
        return True
    if kind == "person":
        return has(sentence, "organisation", question) or any(
            w.lower() not in q and w.lower() not in _GENERIC for w in _NAME.findall(sentence)) or _actors(sentence, q)
    if kind == "organisation":
        return any(w.lower() not in q and w.lower() not in _GENERIC for w in _NAME.findall(sentence))
    return False


def _actors(sentence: str, q: str) -> bool:
    """Whether a class of actors the question does not name answers "who will/should/are ...?" as a name does
    ("who will the US work with?": "allies, partners and stakeholders"); "who is ...?" asks for a name."""
    return not re.match(r"\W*who(?:'s|’s| is| was)\b", q) and any(m.group().lower() not in q
                                                                for m in _ACTORS.finditer(sentence))


_ACTORS = re.compile(r"\b(?:allies|partners|stakeholders|governments|businesses|companies|civil society|private sector|"
                     r"industry|operators|owners|vendors|manufacturers|providers|agencies|countries|nations|"
                     r"regulators|developers|consumers)\b", re.I)


def _not_an_org(sentence: str, text: str, start: int) -> bool:
    """An acronym that abbreviates words in lower case ("accessibility (DEIA)", "controls (AML/CFT)") or
    numbers a document ("PPD 41", "NSD-42") names no organisation."""
    if not re.fullmatch(r"[A-Z]{2,6}", text):
        return False
    before, after = sentence[max(0, start - 40):start], sentence[start + len(text):]
    return bool(re.search(r"\b[a-z][a-z-]+\s*\($", before) or re.match(r"[-\s]?\d|/", after) or before.endswith("/"))


def kinds_in(sentence: str) -> frozenset[str]:
    """Every kind with at least one span in ``sentence``; places named one after another count without a
    preposition before them ("include Albania, Andorra, Argentina")."""
    return frozenset(k for k in _PATTERNS if (_PATTERNS[k].search(sentence) or k == "place"
                                              and len(places_in(sentence)) >= 3) and find(sentence, k))
