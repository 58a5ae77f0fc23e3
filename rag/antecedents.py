"""The earlier turns of a conversation, and what a follow-up's reference points to in them: the topic
of an earlier question, the subject of the previous answer, the document it cites, or a person named.
``rag.conversation`` rewrites the follow-up with what these find.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .lexicon import COUNT_WORDS, PREPOSITIONS, STOP
from .ordinals import CARRIED, ORDINAL
from .phrases import Phrase, document_name, noun_phrases, people, singular, words

MAX_TURNS = 4  # how far back a reference may point


@dataclass(frozen=True)
class Turn:
    asked: str  # the standalone form of the earlier question
    answer: str
    titles: tuple[str, ...]


def earlier_turns(history: Sequence[Any] | None) -> list[Turn]:
    """The last turns, most recent first; anything malformed is skipped, never an error."""
    out: list[Turn] = []
    for t in list(history or [])[::-1]:
        if not isinstance(t, dict) or not isinstance(t.get("question"), str):
            continue
        understood, answer, sentences, cites = (t.get(k) for k in ("understood_as", "answer", "sentences",
                                                                     "citations"))
        asked: str = understood if isinstance(understood, str) and understood else t["question"]
        answer = answer if isinstance(answer, str) else ""
        if not answer and isinstance(sentences, list):
            answer = "\n".join(str(s.get("text", "")) for s in sentences if isinstance(s, dict))
        cites = cites if isinstance(cites, list) else []
        titles = tuple(dict.fromkeys(str(c["title"]) for c in cites if isinstance(c, dict) and c.get("title")))
        out.append(Turn(" ".join(asked.split()), answer, titles))
        if len(out) == MAX_TURNS:
            break
    return out


def antecedent(turns: list[Turn], number: str | None = "sg", head: str | None = None) -> str | None:
    """The phrase a pronoun or "that <head>" points to: the earlier questions' topics (most recent
    first), then the subject of the previous answer, then the name of the document it cites."""
    older = " ".join(t.asked for t in turns[1:]).lower()
    if number == "pl" and head is None and (pair := _compared(turns)):
        return pair
    for turn in turns:
        carried = CARRIED.search(turn.asked)
        cut = carried.start() if carried else len(turn.asked)
        # the question's own phrases before the topic it was asked with ("How many goals? (how many pages is
        # the strategy)": "them" is the goals); among them, a phrase the conversation keeps coming back to
        # ("CIRCIA" asked about, then "under it") first, a bare name ("Blinken") last: "it" is rarely a person
        about = _ABOUT.search(turn.asked[:cut]) if number is None else None  # "that": what it said about
        candidates: list[Phrase] = sorted((p for p in noun_phrases(turn.asked) if not p.asked), key=lambda p: (
            p.end > cut, about is None or p.start < about.end(), not _INTRODUCED.match(p.text),
            p.text.lower() not in older, _bare_name(p.text)))
        if turn.answer:
            candidates += [_subject(p) for p in _opening(turn.answer.split("\n")[0])[:1]]
        for title in turn.titles[:1]:
            name = document_name(title)
            if name:
                candidates.append(Phrase(name, 0, 0, False, True))
        for p in candidates:
            if people(p.text, who=turn.asked.lower().startswith("who")) and p.text in people(turn.answer, True):
                continue  # "it" and "that strategy" are not a person
            if head is not None:
                if singular(head.lower()) in p.text.lower() or head.lower() in p.text.lower():
                    return _with_item(p, turn.asked)
            elif number is None or (number == "pl") == p.plural:
                return _with_item(p, turn.asked)
    return None


# "what does the strategy say about ransomware?": "who is in charge of that?" asks about ransomware
_ABOUT = re.compile(r"\b(?:say|says|said|saying|do|does|did)\b[^?]{0,40}?\babout\b", re.I)


def _with_item(p: Phrase, asked: str) -> str:
    """A list item named in the earlier question keeps its text: "the third pillar (Shape Market Forces ...)"."""
    item = re.match(r" \([^()]+\)", asked[p.end:]) if asked[p.start:p.end] == p.text else None
    return p.text + item.group(0) if item and ORDINAL.match(p.text) else p.text


def definite(phrase: str) -> str:
    """A thing an earlier question brought in ("a grant program") as a pronoun names it: "the grant program"."""
    return _INTRODUCED.sub("the ", phrase)


# "Did the administration set up a grant program?": "how much is it worth?" asks about the program, a thing
# the question brought in, more often than about the one doing it
_INTRODUCED = re.compile(r"^(?:a|an)\s+", re.I)


def _compared(turns: list[Turn]) -> str | None:
    """"China and Russia" when the last questions asked the same about each ("what does the strategy say
    about China", then "... about Russia", then "... about North Korea": all three): what a following
    "they" means.

    >>> _compared([Turn("what does it say about russia?", "", ()), Turn("what does it say about China", "", ())])
    'China and russia'
    >>> _compared([Turn(f"what does it say about {x}", "", ()) for x in ("north korea", "iran", "Russia")])
    'Russia, iran and north korea'
    """
    asked = [re.findall(r"[\w'’.-]+", t.asked.rstrip("?")) for t in turns][::-1]  # oldest first
    best: list[str] = []
    for start in range(len(asked) - 1):
        items = _slot(asked[start:])
        if items and len(items) > len(best):
            best = items
    if not best:
        return None
    return f"{', '.join(best[:-1])} and {best[-1]}"


def _slot(questions: list[list[str]]) -> list[str]:
    """The words each question puts in the one place where they differ (same words before and after it),
    when every one of them fills it with a short phrase of its own; [] otherwise."""
    low = [[w.lower() for w in q] for q in questions]
    head = 0
    while all(len(q) > head for q in low) and len({q[head] for q in low}) == 1:
        head += 1
    tail = 0
    while all(len(q) > head + tail for q in low) and len({q[len(q) - 1 - tail] for q in low}) == 1:
        tail += 1
    items = [" ".join(q[head:len(q) - tail]) for q in questions]
    if any(not 0 < len(q) - head - tail <= 3 or q[head].lower() in STOP for q in questions) \
            or len({i.lower() for i in items}) < len(items):
        return []
    return items


def _opening(sentence: str) -> list[Phrase]:
    """The noun phrases of a sentence from its subject on: past an opening prepositional phrase ("Amid
    ongoing cyber threats from state actors like Russia and China, the strategy ...")."""
    phrases = noun_phrases(sentence)
    first = re.match(r"\W*(\w+)", sentence)
    comma = sentence.find(",")
    if first and first.group(1).lower() in PREPOSITIONS and comma > 0:
        return [p for p in phrases if p.start > comma]
    return phrases


def _bare_name(text: str) -> bool:
    """A name without a determiner, not an acronym: likely a person or a place.

    >>> _bare_name("Blinken"), _bare_name("CISA"), _bare_name("the Board")
    (True, False, False)
    """
    ws = words(text)
    return 0 < len(ws) <= 3 and all(w[0].isupper() and not w.isupper() for w in ws)


def _subject(p: Phrase) -> Phrase:
    """An answer's opening phrase as it would read inside a question: "Three guiding principles" →
    "the three guiding principles"."""
    first, _, rest = p.text.partition(" ")
    if first.lower() in COUNT_WORDS and rest:
        return Phrase(f"the {first.lower()} {rest}", p.start, p.end, p.plural, p.proper)
    return p


def named_person(turns: list[Turn]) -> str | None:
    for turn in turns:
        found = people(turn.asked, who=True) or people(turn.answer, who=turn.asked.lower().startswith("who"))
        if found:
            return found[0]
    return None
