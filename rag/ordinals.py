"""Which item of an earlier numbered list a follow-up names: "the second area", "the 3rd one",
"number 2", "objective 6", "the last one".

>>> turns = [("What are the four areas of action?", "Four areas of action: [1]\\n1. Promote a; [1]\\n2. Align b; [1]")]
>>> list_reference("and the second area?", turns)
('second', 'area of action', 'Align b')
>>> list_reference("What is the first step?", turns) is None  # names no earlier list
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .lexicon import COUNT_WORDS, DETERMINERS, ORDINALS, STOP, WH
from .phrases import list_items, noun_phrases, singular, words

_NUMBERS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_GENERIC = ("one", "item", "point", "number", "no", "line", "bullet", "entry")
ORDINAL = re.compile(r"\b(?:the\s+)?(?P<o>" + "|".join(ORDINALS) + r"|\d{1,2}(?:st|nd|rd|th))"
                     r"(?:\s+(?P<noun>[a-z]+))?\b|(?:\b(?:number|item|point|no\.)|#)\s*(?P<d>\d{1,2})\b"
                     r"|\b(?!(?:no|any|every|some|each)\s+one\b)(?P<noun2>[a-z]+)\s+(?P<d2>\d{1,2}|"  # not "no one"
                     + "|".join(_NUMBERS) + r")\b(?!\s*[-,.]?\d)", re.I)
_WHICH_ONE = re.compile(r"\bwhich (?:one of|of) (?:the |its |their |these |those )?(?:[\w'’-]+ ){1,6}?"
                        r"(?:is|was|does|has|covers|deals|focuses|talks|concerns)\b", re.I)  # one item, not several
# "How many goals? (how many pages is the strategy)": the topic a follow-up is asked with
CARRIED = re.compile(r"\?\s*\((.+)\)\s*$", re.S)
OWNED = re.compile(r"\b(?:its|their|his|her|our|my|your|(?!(?:what|that|it|there|here|who|where|how|when|let|"
                    r"which)[’']s)[A-Za-z]+[’']s)\s*$", re.I)  # not "what's"
_COUNTS = frozenset("two three four five six seven eight nine ten several many the key main".split())


def without_topic(text: str) -> str:
    """A follow-up without the topic it is asked with: "Who checks? (what ... logging)" → "Who checks?"."""
    carried = CARRIED.search(text)
    return text[:carried.start() + 1] if carried else text


def list_reference(text: str, turns: Sequence[tuple[str, str]]) -> tuple[str, str, str] | None:
    """(ordinal word, the list's noun, the item text) for "the second area", "the 3rd one", "number 2",
    "objective 6", from ``turns`` ((question, answer) pairs, most recent first): the item of a numbered
    list in an earlier answer; with no list that long, the item text is "" and the noun comes from the
    plural the previous question asked about ("the five pillars")."""
    m = ORDINAL.search(text)
    if not m:
        return None
    noun = (m.group("noun") or m.group("noun2") or "").lower()
    generic = not noun or noun in _GENERIC or bool(re.search(r"\b(?:that|this|the) list\b", text, re.I))
    for asked, answer in turns:
        for lead, items in list_items(answer):
            if len(items) < 2:  # one item quoted alone ("2. Integration of ..."): a part of a list, not one
                continue
            nouns = {singular(w.lower()) for w in words(lead + " " + asked)}
            if not generic and singular(noun) not in nouns:
                continue
            n = _position(m, len(items))
            if n is not None and n <= len(items):
                return _ordinal(n), lead_noun(lead) or ("" if generic else singular(noun)), items[n - 1]
    if OWNED.search(text[:m.start()]):  # no such list: "its first review", "Biden's first order"
        return None
    previous = {singular(w.lower()) for w in words(turns[0][0])}
    n = _position(m, 0)
    if n is None or not (generic or singular(noun) in previous):
        return None
    many = next((p for p in noun_phrases(turns[0][0]) if p.plural and not p.part), None)
    if many is not None:
        return _ordinal(n), _one_of(many.text), ""
    return (_ordinal(n), noun, "") if noun and noun != "one" else None


def nth_item(question: str, leads: Sequence[tuple[str, int]]) -> tuple[int, int] | None:
    """For a question naming one item of a list ("what is the third guiding principle?"), (which of
    ``leads`` (lead-in line, number of items) names its noun, the item's position from 1); for one asking
    which single item does something ("which of the areas is about cybercrime?"), position 0; else None.

    >>> nth_item("what is the third guiding principle?", [("Four areas of action:", 4),
    ...                                                   ("Three guiding principles:", 3)])
    (1, 3)
    >>> nth_item("what were the first two goals?", [("Four goals:", 4)]) is None  # two items, not the first
    True
    >>> nth_item("What are the four areas of action?", [("Four areas of action:", 4)]) is None
    True
    >>> nth_item("which one of the areas of action is about cybercrime?", [("Four areas of action:", 4)])
    (0, 0)
    """
    m = one_item_asked(question)
    if m is None:
        return None
    asked = {singular(w.lower()) for w in words(question)}
    for i, (lead, count) in enumerate(leads):
        counted = re.search(r"\b([a-z]+s)\s*:\s*$", lead, re.I)  # "The plan sets three main goals:"
        nouns = [lead_noun(lead).lower().split(), [singular(counted.group(1).lower())] if counted else []]
        n = _position(m, count) if m.re is ORDINAL else 0
        if n is not None and n <= count and any(noun and set(noun) - {"of", "for", "to", "in"} <= asked
                                                for noun in nouns):
            return i, n
    return None


def one_item_asked(question: str) -> re.Match[str] | None:
    """Where ``question`` names one item of a list, by position ("the third", "pillar two") or as the one
    that does something ("which of the areas ... is ..."); None for "the four areas", "the first two"."""
    m = next((m for m in ORDINAL.finditer(question) if (m.group("noun2") or "").lower() not in STOP), None)
    if m is None:
        return _WHICH_ONE.search(question)
    after = question[m.end("o") if m.group("o") else m.end():]
    return None if re.match(rf"\s*(?:{'|'.join(_NUMBERS)}|\d)\b", after, re.I) else m


def _ordinal(n: int) -> str:
    return "last" if n == 0 else ORDINALS[n - 1] if n <= len(ORDINALS) - 1 else f"{n}th"


def _one_of(phrase: str) -> str:
    """ "the five pillars of the strategy" → "pillar of the strategy": one of the things named.

    >>> _one_of("the guiding principles of the strategy"), _one_of("Which principles")
    ('guiding principle of the strategy', 'principle')
    """
    ws = phrase.split()
    while ws and ws[0].lower() in DETERMINERS | COUNT_WORDS | WH:
        ws = ws[1:]
    cut = next((i for i, w in enumerate(ws) if w.lower() in ("of", "in", "for", "on")), len(ws))
    if cut:
        ws[cut - 1] = singular(ws[cut - 1])
    return " ".join(ws)


def _position(m: re.Match[str], count: int) -> int | None:
    raw = (m.group("o") or m.group("d") or m.group("d2") or "").lower()
    if raw == "last":
        return count  # 0 when the count is unknown: "the last one"
    if raw in ORDINALS:
        return ORDINALS.index(raw) + 1
    if raw in _NUMBERS:
        return _NUMBERS.index(raw) + 1
    digits = re.sub(r"\D", "", raw)
    return int(digits) if digits else None


def lead_noun(lead: str) -> str:
    """ "Four areas of action:" → "area of action"; the noun of one item of the list.

    >>> lead_noun("Three guiding principles:"), lead_noun("It is the objective of the nation to:")
    ('guiding principle', '')
    >>> lead_noun("This Strategy seeks to build and enhance collaboration around five pillars:")
    'pillar'
    """
    counted = re.search(rf"\b(?:{'|'.join(sorted(_COUNTS - {'the'}))}|\d+)\s+([a-z]+s)\s*:?\s*$", lead, re.I)
    if counted and len(words(lead)) > 6:  # "... collaboration around five pillars:" → "pillar"
        return singular(counted.group(1).lower())
    ws = [w for w in words(lead.rstrip(": ")) if w.lower() not in _COUNTS]
    if not ws or len(words(lead)) > 6:  # a whole sentence ("The strategy calls for ... in how ...:"): no noun
        return ""
    head = next((i for i, w in enumerate(ws) if w.lower() in ("of", "for", "to", "in")), len(ws)) - 1
    ws[head] = singular(ws[head])
    return " ".join(ws).lower() if not any(w.isupper() and len(w) > 1 for w in ws) else " ".join(ws)


def with_context(question: str, noun: str, previous: str) -> str:
    """``question`` followed by the previous question when ``noun`` alone does not say what it is of; a
    previous question asked with a context of its own passes that context on, not itself.

    >>> with_context("What is the third goal?", "goal", "Tell me more about the second goal? (what are the goals)")
    'What is the third goal? (what are the goals)'
    """
    if re.search(r"\b(?:of|in|for|on)\b", noun):
        return question
    carried = CARRIED.search(previous)
    topic = carried.group(1) if carried else previous.rstrip(" ?")
    return f"{question.rstrip(' ?.!')}? ({topic})"


_INLINE = re.compile(r"^(?P<lead>.*?\b[a-z]+s\s*:)\s*(?P<items>.+?)[.;]?\s*$", re.I | re.S)


def inline_items(sentence: str) -> tuple[str, list[tuple[int, int]]] | None:
    """(the lead-in, the items' spans) of a list written inside one sentence, "... four primary goals:
    advancing economic prosperity, enhancing security against cybercrime, ..., and addressing transnational
    challenges."; None unless there are three items or more, the last after "and"/"or", and as many as a
    number in the lead-in says.

    >>> s = "The strategy sets three goals: growth, security against crime, and rights."
    >>> lead, spans = inline_items(s)
    >>> lead, [s[a:b] for a, b in spans]
    ('The strategy sets three goals:', ['growth', 'security against crime', 'rights'])
    >>> inline_items("It has two parts: one, two, and three.") is None  # two said, three written
    True
    """
    m = _INLINE.match(sentence)
    if not m or ";" in m.group("items"):
        return None
    spans, at = [], m.start("items")
    for piece in m.group("items").split(","):
        a = at + len(piece) - len(piece.lstrip())
        b = at + len(piece.rstrip())
        spans.append((a, b))
        at += len(piece) + 1
    last = sentence[spans[-1][0]:spans[-1][1]] if spans else ""
    joined = re.match(r"(?:and|or)\s+", last, re.I)
    if len(spans) < 3 or not joined or any(b - a < 2 for a, b in spans):
        return None
    spans[-1] = (spans[-1][0] + joined.end(), spans[-1][1])
    said = re.search(rf"\b({'|'.join(_NUMBERS)}|\d+)\s+(?:[a-z-]+\s+){{0,2}}[a-z]+s\s*:$", m.group("lead"), re.I)
    if said:
        n = said.group(1).lower()
        if (int(n) if n.isdigit() else _NUMBERS.index(n) + 1) != len(spans):
            return None
    return m.group("lead"), spans
