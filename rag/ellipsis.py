"""Elliptical follow-ups, a fragment standing for the previous question asked about something else: "and
the second area?" (a list item named by number), "what about Russia?", "and water?" (one word of a compound),
"for 2022?", "on what date?". ``rag.conversation`` calls ``ellipsis`` with the fragment.

>>> ellipsis("Russia", [Turn("How does the strategy describe the cyber threat from China?", "", ())])
'How does the strategy describe the cyber threat from Russia?'
"""

from __future__ import annotations

import re

from .antecedents import Turn
from .lexicon import DETERMINERS, ORDINALS, ORGANISATIONS, PREPOSITIONS, WH
from .ordinals import CARRIED, ORDINAL, list_reference, with_context
from .phrases import Phrase, noun_phrases, people, plural, singular, words
from .places import countries_and_states


def ellipsis(fragment: str, turns: list[Turn]) -> str | None:
    """The previous question made to ask about ``fragment``: "the second area" → that list item;
    "China" → the previous question about China instead; "for 2022" → the previous question for 2022;
    "on what date" → that, about the previous question."""
    item = list_reference(fragment, pairs(turns))
    if item:
        ordinal, noun, text = item
        if text:
            return f"What is the {ordinal} {noun or 'item'}: {text}?"
        return with_context(f"What is the {ordinal} {noun}?", noun, turns[0].asked)
    previous, x = turns[0].asked, fragment.strip(" ?.!")
    carried = CARRIED.search(previous)  # "How many agencies? (who coordinates the plan)": rewrite before the topic
    if carried:
        return _rewrite(x, previous[:carried.start() + 1]) + previous[carried.start() + 1:]
    return _rewrite(x, previous)


def _rewrite(x: str, previous: str) -> str:
    """``previous`` made to ask about fragment ``x``."""
    nth, earlier = _ORDINAL_ALONE.fullmatch(x), ORDINAL.search(previous)
    if nth and earlier and earlier.group("o"):  # "the fifth?" after "tell me about the third pillar of ..."
        return previous[:earlier.start("o")] + nth.group(1) + previous[earlier.end("o"):]
    ws = [w.lower() for w in words(x)]
    if any(w in WH for w in ws):
        return f"{x[0].upper()}{x[1:]} — {previous}"
    if ws and ws[0] in PREPOSITIONS:
        same = re.search(rf"\b{re.escape(ws[0])}\b", previous, re.I)
        phrase = next((p for p in noun_phrases(previous) if same and p.start > same.end()), None)
        if same and phrase:
            return previous[:same.start()] + x + previous[phrase.end:]
        if same and len(words(previous[same.end():])) <= 3:  # "do about ransomware?": "and about IoT?"
            return previous[:same.start()] + x + "?"
        return f"{previous.rstrip(' ?.!')} {x}?"
    phrases = noun_phrases(previous)
    if not phrases:
        return f"{previous.rstrip(' ?.!')}: {x}?"
    head = singular(ws[-1]) if ws else ""
    proper = any(w[0].isupper() for w in words(x)) or x.lower() in countries_and_states() or _names_one(x, head)
    whole = [p for p in phrases if not p.part and not people(p.text)] or phrases
    compound = _modifier(x, phrases, head)
    if compound is not None:  # "and water?" after "Who leads the energy sector ...?": the water sector
        return previous[:compound[0]] + x + previous[compound[1]:]
    named = next((p for p in reversed(phrases) if head and head in [singular(w.lower()) for w in words(p.text)]), None)
    target = named or (next((p for p in reversed(phrases) if p.proper), whole[-1]) if proper else whole[-1])
    if not named and not proper:  # a thing for a thing of the same number: "and initiatives?" after "How many
        agree = [p for p in whole if p.plural == plural(x)]  # agencies are involved in the plan?"
        target = next((p for p in reversed(agree) if not p.proper), agree[-1] if agree else target)
    asks = re.search(r"\b(?:which|what)\s+([a-z]+)\b", previous, re.I)  # "which agencies ...", "By when — Which ..."
    if _names_one(x, head) and asks and _organisation(asks.group(1)) \
            and not (target.proper or _organisation(target.text)):
        return f"{previous.rstrip(' ?.!')}: {x}?"  # "which agencies ...?": the defense department, not "zero trust"
    start, end = target.start, target.end
    of = re.search(r"\s+of\s", target.text)
    if not named and not proper and of and any(p.part and target.start < p.start < target.end for p in phrases):
        end = start + of.start()  # "and the goals?" after "what are the principles of the strategy?": of it still
    owner = re.search(r"[’']s\b", target.text)
    if proper and owner:  # "the State Department's job" → "the NRC's job"
        end = start + owner.start()
    before, after = previous[:start], previous[end:]
    for copula, other in _AGREEMENT:
        if before.rstrip().lower().endswith(" " + copula) and plural(x) != (copula in ("are", "were", "do", "have")):
            before = before.rstrip()[: -len(copula)] + other + " "
            break
    return before + x + after


def _organisation(text: str) -> bool:
    return singular(words(text)[-1].lower()) in ORGANISATIONS if words(text) else False


def _names_one(x: str, head: str) -> bool:
    """Whether a fragment names an organisation: "the defense department", "the FBI"."""
    return singular(head) in ORGANISATIONS or any(w.isupper() and len(w) > 1 for w in words(x))


def _modifier(x: str, phrases: list[Phrase], head: str) -> tuple[int, int] | None:
    """Where a one-word fragment replaces the first word of the previous question's only compound noun
    phrase with a determiner ("the energy sector" → "the water sector"); None when a phrase ends in the
    fragment's noun or the fragment is a name ("human rights" is replaced whole: "about cybercrime")."""
    if len(words(x)) != 1 or not x.islower() or x in countries_and_states() or any(
            head in [singular(w.lower()) for w in words(p.text)] for p in phrases):
        return None
    compounds = []
    for p in phrases:
        content = [m for m in re.finditer(r"[A-Za-z][\w-]*(?:[’'][a-z]+)?", p.text)
                   if m.group(0).lower() not in DETERMINERS]
        determined = words(p.text)[0].lower() in DETERMINERS  # "the energy sector", not "human rights"
        if determined and not p.proper and not p.part and len(content) >= 2:
            compounds.append((p.start + content[0].start(), p.start + content[0].end()))
    return compounds[0] if len(compounds) == 1 else None


def pairs(turns: list[Turn]) -> list[tuple[str, str]]:
    """The turns as ``rag.ordinals.list_reference`` reads them: (question, answer), most recent first."""
    return [(t.asked, t.answer) for t in turns]


_ORDINAL_ALONE = re.compile(rf"(?:and |what about |how about )?(?:the )?({'|'.join(ORDINALS)})(?: one)?", re.I)
_AGREEMENT = (("are", "is"), ("is", "are"), ("were", "was"), ("was", "were"), ("does", "do"), ("do", "does"),
              ("has", "have"), ("have", "has"))
