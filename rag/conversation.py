"""Follow-up questions → standalone questions, by rules over the earlier turns (no text generation).

``resolve(question, history)`` replaces what a follow-up leans on with what it points to, and keeps
the follow-up's own words (so its type, who/where/how many, stays):

- a list item named by number: "and the second area?", "what does the third one mean?" → the item's
  text from a numbered list in an earlier answer;
- "what about X?" / "and X?" → the previous question with its last noun phrase replaced by X, or a
  one-word X with the first word of its only compound ("and water?" after "... the energy sector ...");
- pronouns: "it"/"that strategy" → the previous question's topic if singular, else the name of the
  document the previous answer cites; "they" → a plural topic; "he"/"she" → a person in the answer; a
  last "one" standing for a noun ("who has to provide one?") → a singular topic;
- "tell me more", "say more about that", "elaborate" → the previous question, answered past the sentences its
  answer quoted (``Resolved.more``; the engine leaves those out);
- a bare "why?" / "when?" → that word with the previous question; so is a question word with a noun and
  no verb of its own ("how many members?", "which agency?"), and a short who/when/how question that names
  nothing of its own ("how long do agencies have?", "who checks?").

A question that names its own topic ("What is an SBOM?") is left alone: ``understood_as`` is None.

>>> turn = {"question": "What are the four areas of action?",
...         "answer": "Four areas of action: [1]\\n1. Promote an open ecosystem; [1]\\n2. Align rights; [1]",
...         "citations": [{"n": 1, "title": "Release of the International Cyberspace and Digital Policy Strategy"}]}
>>> resolve("Who announced it?", [turn]).understood_as
'Who announced the International Cyberspace Strategy?'
>>> resolve("and the second area?", [turn]).understood_as
'What is the second area of action: Align rights?'
>>> resolve("What is an SBOM?", [turn])
Resolved(question='What is an SBOM?', understood_as=None, more=False)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .antecedents import Turn, antecedent, definite, earlier_turns, named_person
from .ellipsis import ellipsis, pairs
from .lexicon import AUX, DETERMINERS, PRONOUNS, STOP, WH
from .ordinals import CARRIED, ORDINAL, OWNED, list_reference, with_context
from .phrases import Phrase, is_content, list_items, noun_phrases, words

_FRAGMENT = re.compile(r"^(?:(?:and|but|also|so|ok|okay|then)[,\s]+)?(?:(?:what|how)\s+about\s+|and\s+)(?P<x>.+?)"
                       r"[\s?.!]*$", re.I)
_QUESTION_START = frozenset("is are was were does do did can could will would should has have had tell explain "
                            "describe list name give".split())
_PRONOUNS = {"it": "sg", "its": "sg", "they": "pl", "them": "pl", "their": "pl", "he": "person", "him": "person",
             "his": "person", "she": "person", "her": "person"}
_DEMONSTRATIVE = ("this", "that", "these", "those")
_BARE = re.compile(r"^(?P<w>why|how|when|where|who|what else)(?:\s+(?:so|not|exactly))?[\s?.!]*$", re.I)
_NOUN_ONLY = re.compile(r"^(?:and\s+)?(?:how\s+(?:many|much|long|often)|which|what|any)\s+(?P<rest>[a-z][\w’'-]*"
                        r"(?:\s+[a-z][\w’'-]*){0,2})[\s?.!]*$")  # lower case: no name of its own
_PRO_VERB = re.compile(r"\b(?:do|doing|done)\s+(?:that|this|it|so)[\s?.!]*$", re.I)  # not "does it rely"
_KIND_OF_THING = re.compile(r"\b(?:that|this|those|these|such)\s+(?:(?:kind|sort|type)s?\s+of\s+)?"
                            r"(?:thing|things|stuff)\b", re.I)
_WHY_THAT = re.compile(r"^(?:why|how) (?:is|was) (?:this|that)[\s?.!]*$", re.I)  # about the previous answer
_ELSE = re.compile(r"^(?:is that (?:all|it|everything)|anything else|is there (?:anything )?more|anything more|"
                   r"what more)[\s?.!]*$", re.I)
_EXAMPLE = re.compile(r"^(?:(?:can|could) you )?(?:(?:give|show) (?:me |us )?(?:an |some |any )?examples?|examples?|"
                      r"an example|for (?:example|instance)|such as|like what)(?: please)?[\s?.!]*$", re.I)
_MORE = re.compile(r"^(?:(?:(?:can|could) you |please )?(?:tell (?:me|us) (?:some )?more|say (?:some )?more|"
                   r"explain more|elaborate|expand|go deeper|keep going|go on|continue)"
                   r"(?: (?:about|on) (?:that|this|it|them))?(?: please)?|more(?: (?:on|about) (?:that|this|it))?"
                   r"(?: please)?|explain|(?:more )?details|anything more on (?:that|this|it))[\s?.!]*$", re.I)


@dataclass(frozen=True)
class Resolved:
    """``question``: what to search (the standalone question, or the question as asked);
    ``understood_as``: the same text when it differs from the question asked, else None."""

    question: str
    understood_as: str | None
    more: bool = False  # "tell me more": the previous question again, past what its answer already quoted


def resolve(question: str, history: Sequence[Any] | None) -> Resolved:
    """The standalone form of ``question`` given earlier ``history`` turns (oldest first)."""
    turns = earlier_turns(history)
    q = " ".join(str(question).split()) if isinstance(question, str) else ""
    if not turns or not q:
        return Resolved(q, None)
    if _MORE.match(q):
        return Resolved(turns[0].asked, turns[0].asked, more=True)
    standalone = _rewrite(q, turns)
    if standalone is None or standalone.rstrip("?. ").lower() == q.rstrip("?. ").lower():
        return Resolved(q, None)
    return Resolved(standalone, standalone)


def _rewrite(q: str, turns: list[Turn]) -> str | None:
    if _EXAMPLE.match(q):  # "give me an example", "like what?"
        return f"Examples? ({_topic(turns)})"
    m = _FRAGMENT.match(q)
    if m:
        rest = m.group("x")
        first = words(rest)[0].lower() if words(rest) else ""
        if first in WH or first in _QUESTION_START:
            q = rest[0].upper() + rest[1:] + ("?" if q.rstrip().endswith("?") else "")  # "and who leads it?"
        else:
            return ellipsis(rest, turns)
    elif 0 < len(words(q)) <= 5 and words(q)[0].lower() not in WH | _QUESTION_START \
            and any(w.lower() in WH for w in words(q)):
        return ellipsis(q, turns)  # "led by which agency?"
    n = _NOUN_ONLY.match(q[:1].lower() + q[1:])
    if n and not set(w.lower() for w in words(n.group("rest"))) & (AUX | PRONOUNS | WH | _QUESTION_START):
        return f"{q[0].upper()}{q[1:].rstrip(' ?.!')}? ({_topic(turns)})"  # "how many members?"
    if _ELSE.match(q):  # "is that all?": what else the sources say about the topic
        return f"What else? ({_topic(turns)})"
    b = _BARE.match(q)
    if b:
        return f"{b.group('w').capitalize()}? ({_topic(turns)})"  # "when?" after "Where? (...)": that topic
    with_topic = f"{q[0].upper()}{q[1:].rstrip(' ?.!')}? ({_topic(turns)})"
    if _PRO_VERB.search(q) and not noun_phrases(q) or _KIND_OF_THING.search(q):  # "how will they do that?",
        return with_topic  # "has the US done that kind of thing before?": the previous question's action
    replaced = _replace_references(q, turns)
    if replaced is None and _leans_on_context(q):
        return with_topic  # "who checks?"
    return _bare(replaced, q, turns) if replaced else replaced


def _bare(replaced: str, q: str, turns: list[Turn]) -> str:
    """A rewrite whose pronoun became one bare word ("list them" → "List goals", "was russia one of them?" →
    "... one of countries") is asked with the topic it came from, unless it already holds that topic's words."""
    added = [w for w in words(replaced) if w.lower() not in {v.lower() for v in words(q)}]
    topic = _topic(turns)
    content = {w.lower() for w in words(topic) if w.lower() not in STOP}
    if len(added) == 1 and added[0].islower() and not content <= {w.lower() for w in words(replaced)}:
        return f"{replaced.rstrip(' ?.!')}? ({topic})"
    return replaced


def _topic(turns: list[Turn]) -> str:
    """What a follow-up is asked with: the previous question, or the topic it was itself asked with
    ("Who checks?" after "How long do agencies have? (What does the order say about logging)")."""
    asked = turns[0].asked
    carried = CARRIED.search(asked)
    return carried.group(1) if carried else asked.rstrip("?")


def _leans_on_context(q: str) -> bool:
    """A short who/when/how question that names nothing of its own: no name, acronym or number, and at
    most one noun, of one word and without an article ("how long do agencies have?", "who checks?", "who
    has to provide one?"); "what is X?" and "where was the strategy launched?" name their topic."""
    ws = words(q)
    if not ws or len(ws) > 8 or any(w[:1].isupper() or w[:1].isdigit() for w in ws[1:]):
        return False
    first, second = ws[0].lower(), ws[1].lower() if len(ws) > 1 else ""
    if first not in WH or first == "what" and second not in AUX - {"is", "are", "was", "were", "am"}:
        return False
    phrases = noun_phrases(q)
    return len(phrases) <= 1 and all(
        len([w for w in words(p.text) if w.lower() not in DETERMINERS]) == 1 and not p.proper
        and (words(p.text)[0].lower() not in ("the", "a", "an")  # "the strategy" names one, "the document"
             or words(p.text)[-1].lower() in _DOCUMENT) for p in phrases)  # is the one just talked about


def _replace_references(q: str, turns: list[Turn]) -> str | None:
    """Replace list references, demonstratives and pronouns in a full question; None if it has none."""
    item = list_reference(q, pairs(turns))
    if item:
        m = ORDINAL.search(q)
        assert m is not None
        ordinal, noun, text = item
        the = "" if OWNED.search(q[:m.start()]) else "the "  # "the strategy's second pillar"
        if text:
            return f"{q[:m.start()]}{the}{ordinal} {noun or 'item'} ({text}){q[m.end():]}".replace("  ", " ")
        text = f"{q[:m.start()]}{the}{ordinal} {noun}{q[m.end():]}".replace("  ", " ")
        return with_context(text[0].upper() + text[1:], noun, turns[0].asked)
    which = re.search(r"\bwhich\s+ones?\b", q, re.I)
    lists = [lead for t in turns for lead, _ in list_items(t.answer) if lead]
    if which and lists:
        lead = re.sub(r"\s*:$", "", lists[0])
        return f"{q[:which.start()]}{q[which.start():which.start() + 5]} of the {lead[0].lower()}{lead[1:]}" \
               f"{q[which.end():]}"
    many = antecedent(turns, number="pl") if which else None
    if which and many and len(words(many)) == 1:  # "which ones?" after "how many countries signed it?"
        text = f"{q[:which.start()]}{q[which.start():which.start() + 5]} {many}{q[which.end():]}"
        return f"{text[0].upper()}{text[1:].rstrip(' ?.!')}? ({_topic(turns)})"
    if which and many:  # "which one is about human rights?" after "what are the goals of the strategy?"
        text = f"{q[:which.start()]}{q[which.start():which.start() + 5]} of {many}{q[which.end():]}"
        return text[0].upper() + text[1:]
    tokens = list(re.finditer(r"[A-Za-z][\w’'-]*", q))
    own = noun_phrases(q)
    out, last, changed, quoted = [], 0, False, False
    made: list[tuple[int, str, str, bool]] = []  # (where in out, the word replaced, its replacement, a pronoun)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        low = tok.group(0).lower()
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        replacement, end = None, tok.end()
        if low in _DEMONSTRATIVE and nxt is not None and is_content(nxt.group(0)) and i > 0:
            phrase = next((p for p in own if p.start == tok.start()), None)  # "that task force"
            head = words(phrase.text)[-1] if phrase else nxt.group(0)
            found = antecedent(turns, head=head)
            if not found and head.lower() in ("list", "lists", "ones", "things"):
                found = antecedent(turns, number="pl")  # "who can change that list?"
            if found:
                replacement, end = found, phrase.end if phrase else nxt.end()
                while i + 1 < len(tokens) and tokens[i + 1].end() <= end:
                    i += 1
        elif low in ("this", "that") and i > 0 and (tokens[i - 1].group(0).lower() in _SAID or _WHY_THAT.match(q)):
            quoted = True  # "who said that?", "why is that?": what the previous answer says, not a thing in it
        elif low in ("this", "that") and (nxt is None or nxt.group(0).lower() in _AUX) and i > 0:
            replacement = antecedent(turns, number=None)
        elif low == "one" and nxt is None and i > 1 and tokens[i - 1].group(0).lower() not in _NOT_ONE:
            replacement = antecedent(turns, number="sg")  # "who has to provide one?": an SBOM
        elif low in _PRONOUNS and not _dummy(tokens, i) and not _bound(low, tok.start(), own, q):
            kind = _PRONOUNS[low]
            name = named_person(turns) if kind == "person" else antecedent(turns, number=kind)
            name = definite(name) if name else name
            if name and low in ("its", "their", "his") or (low == "her" and nxt and is_content(nxt.group(0))):
                replacement = f"{name}’s" if name else None
            else:
                replacement = name
        if replacement:
            out.append(q[last:tok.start()] + replacement)
            last, changed = end, True
            made.append((len(out) - 1, tok.group(0), replacement, low in _PRONOUNS))
        i += 1
    for k, (at, word, replacement, pronoun) in enumerate(made):  # one thing named twice: "why does the US think
        if pronoun and any(r == replacement for _, _, r, _ in made[k + 1:]):  # it needs this strategy?"
            out[at] = out[at][:len(out[at]) - len(replacement)] + word  # "it" is another thing than "this strategy"
    if not changed:
        return with_context(q[0].upper() + q[1:].rstrip(" ?") + "?", "", turns[0].asked) if quoted else None
    text = "".join(out) + q[last:]
    return text[0].upper() + text[1:]


def _dummy(tokens: list[re.Match[str]], i: int) -> bool:
    """ "is it true that ...": an "it" that points at nothing."""
    after = [t.group(0).lower() for t in tokens[i + 1:i + 3]]
    return tokens[i].group(0).lower() == "it" and bool(after) and (
        after[0] in _DUMMY_ADJ or (after[0] in ("is", "was") and len(after) > 1 and after[1] in _DUMMY_ADJ))


def _bound(pronoun: str, at: int, own: list[Phrase], q: str) -> bool:
    """Whether a possessive, he/she or they finds its antecedent earlier in the question itself: "What did
    Sullivan say in his speech?", "What does the strategy say about its goals?", "How do agencies adopt
    zero trust and why must they do so?"."""
    before = [p for p in own if p.end <= at]
    if pronoun in ("he", "him", "his", "she", "her"):
        return any(p.proper and not p.text.lower().startswith("the ") for p in before)
    if pronoun in ("they", "them"):
        return any(p.plural and not p.asked for p in before)
    return pronoun in ("its", "their") and bool(before)


_DOCUMENT = frozenset("document article text paper piece report release".split())  # what a source is called
_NOT_ONE = DETERMINERS | WH | frozenset("no any every each another other only single first second third fourth fifth "
                                        "last next same".split())  # "which one", "the last one": not a noun
_SAID = frozenset("said say says saying stated state states wrote write writes mentioned mention mentions claimed "
                  "claim claims announced announce announces meant mean means".split())
_AUX = frozenset("is was are were does do did mean means say says include includes cover covers ? and or".split())
_DUMMY_ADJ = frozenset("true possible important necessary likely clear known".split())
