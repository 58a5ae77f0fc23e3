"""Small word-level rules for conversations: noun phrases of a question, numbered lists of an answer,
people's names, a short name for a document. Lexicons and patterns only; no tagger, no model.

>>> [p.text for p in noun_phrases("What does the strategy say about Russia?")]
['the strategy', 'Russia']
>>> [p.text for p in noun_phrases("Who announced the four areas of action?")]
['the four areas of action']
>>> [p.text for p in noun_phrases("How does the strategy work?") + noun_phrases("What is the role of CISA?")]
['the strategy', 'the role of CISA', 'CISA']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .lexicon import (
    AUX,
    COUNT_WORDS,
    DETERMINERS,
    DO_MODALS,
    DOCUMENT_NOUNS,
    NOT_ADVERBS,
    ORGANISATIONS,
    PREPOSITIONS,
    PRONOUNS,
    STOP,
    TITLES,
    VERBS,
)
from .places import countries_and_states

_TOKEN = re.compile(r"(?:[A-Za-z]\.){2,}|[A-Za-z0-9][\w’'\-\u2060]*")


@dataclass(frozen=True)
class Phrase:
    text: str
    start: int  # character offsets in the text it came from
    end: int
    plural: bool
    proper: bool  # holds a capitalised word other than the text's first
    pronoun: bool = False
    part: bool = False  # the "of X" complement of a longer phrase, e.g. "CISA" in "the role of CISA"
    asked: bool = False  # what a which-question asks for ("Which country ..."): not a topic


def words(text: str) -> list[str]:
    """Word tokens, keeping abbreviations such as "U.S." whole.

    >>> words("Who is the U.S. envoy's boss?")
    ['Who', 'is', 'the', 'U.S.', "envoy's", 'boss']
    """
    return _TOKEN.findall(text)


def is_content(word: str, context: str = "start") -> bool:
    """Whether ``word`` can be part of a noun phrase: ``context`` is "start" (it would open one),
    "det" (it follows a determiner: "the report" is a noun) or "more" (it would extend one)."""
    low = word.lower().replace("’", "'")
    if low in STOP or (low.endswith("ly") and word.islower() and len(low) > 4 and low not in NOT_ADVERBS):
        return False
    if context == "det":
        return True
    return not (low in VERBS or (word.islower() and low.endswith("ed") and len(low) > 4))


def singular(word: str) -> str:
    """A plural noun's singular, by its ending.

    >>> [singular(w) for w in ("areas", "policies", "principles", "process", "taxes", "status")]
    ['area', 'policy', 'principle', 'process', 'tax', 'status']
    """
    low = word.lower()
    if low.endswith("ies") and len(low) > 4:
        return word[:-3] + "y"
    if low.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if low.endswith("s") and not low.endswith(("ss", "us", "is")) and len(low) > 3:
        return word[:-1]
    return word


def plural(phrase: str) -> bool:
    """Whether a noun phrase is plural, by its head (the word before "of", or the last) and its count.

    >>> plural("the four areas of action"), plural("digital solidarity"), plural("the United States")
    (True, False, False)
    """
    ws = words(phrase)
    if not ws:
        return False
    cut = next((i for i, w in enumerate(ws) if w.lower() == "of" and i > 0), len(ws))
    head = ws[cut - 1]
    if any(w.lower() in COUNT_WORDS or (w.isdigit() and int(w) > 1 and len(w) < 4) for w in ws[:cut - 1]):
        return True
    return head.islower() and singular(head) != head


def noun_phrases(text: str) -> list[Phrase]:
    """Noun phrases in order: a determiner or a content word, more content words, "of" + a phrase.
    The phrase a question asks for ("Which country ...") is marked ``asked``."""
    toks = list(_TOKEN.finditer(text))
    low = [t.group(0).lower().replace("’", "'") for t in toks]
    out: list[Phrase] = []

    def boundary(j: int) -> bool:  # punctuation between token j-1 and token j
        return bool(re.search(r"[?!.,;:()\"“”]", text[toks[j - 1].end():toks[j].start()]))

    def capital(j: int) -> bool:
        return toks[j].group(0)[0].isupper() and j > 0

    skip = _verbs(low, [t.group(0) for t in toks])
    i = 0
    if len(toks) > 1 and low[0] in ("who", "what", "how") and low[1] not in AUX | DETERMINERS | PRONOUNS:
        skip.add(1)  # "Who wrote ...", "What counts as ...", "How long ...": not a phrase
    skip.update(k for k in range(2, len(toks)) if low[k - 2] in _BE and low[k - 1] in ("it", "they", "this", "that")
                and not capital(k) and (k + 1 == len(toks) or boundary(k + 1)))  # "why is it important?"
    asked = 1 if len(toks) > 1 and low[0] in ("which", "whose") and is_content(toks[1].group(0)) else -1
    while i < len(toks):
        det = low[i] in DETERMINERS
        j = i + 1 if det else i
        if i in skip or j >= len(toks) or j in skip or (det and boundary(j)) \
                or not is_content(toks[j].group(0), "det" if det else "start"):
            i += 1
            continue
        j += 1
        part_at = None
        while j < len(toks) and not boundary(j) and j not in skip:
            if low[j] == "of" and j + 1 < len(toks) and not boundary(j + 1):
                k = j + 1 + (low[j + 1] in ("the", "a", "an"))
                if k < len(toks) and not boundary(k) and is_content(toks[k].group(0), "det"):
                    part_at, j = j + 1, k + 1
                    continue
            if low[j] in ("and", "for", "on", "of") and capital(j - 1) and j + 1 < len(toks) and not boundary(j + 1):
                k = j + 1 + (low[j + 1] == "the" and low[j] != "and")
                if k < len(toks) and capital(k) and not boundary(k):  # "Declaration for the Future of the Internet"
                    j = k + 1
                    continue
            if not is_content(toks[j].group(0), "more"):
                break
            j += 1
        if low[0] in _BE and (j == len(toks) or boundary(j)) and j - 1 > (i + 1 if det else i) \
                and not capital(j - 1) and _ADJECTIVE.search(low[j - 1]):
            j -= 1  # "is zero trust mandatory?": the phrase is "zero trust", "mandatory" none
            skip.add(j)
        phrase = text[toks[i].start():toks[j - 1].end()]
        proper = any(capital(x) for x in range(i, j))
        out.append(Phrase(phrase, toks[i].start(), toks[j - 1].end(), plural(phrase), proper, asked=i == asked))
        if part_at is not None and low[part_at - 2] == toks[part_at - 2].group(0) and (
                low[part_at] in DETERMINERS or any(capital(x) for x in range(part_at, j))):
            sub = text[toks[part_at].start():toks[j - 1].end()]
            out.append(Phrase(sub, toks[part_at].start(), toks[j - 1].end(), plural(sub),
                              any(capital(x) for x in range(part_at, j)), part=True))
        i = j
    return out


_ADJECTIVE = re.compile(r"(?:ory|ful|ous|ive|able|ible|ant|ent|ic|al|ed|less|ary)$|^(?:true|safe|secure|free|open|"
                        r"enough|new|real|done|over|binding)$")  # the last word of "is X mandatory?"
_BE = frozenset("is are was were be isn't aren't wasn't".split())  # before "it": a predicate, not a noun, follows


def _verbs(low: list[str], written: list[str]) -> set[int]:
    """Positions of verbs a lexicon misses: in "does/can X ... V?", V is the main verb when it ends the
    question or only a particle follows ("What does the strategy focus on?", "... lay down?"), or a name
    and a particle do ("What does the US criticize China for?", "... criticize china for?")."""
    aux = next((i for i, w in enumerate(low[:3]) if w in DO_MODALS), None)
    if aux is None or any(w in VERBS for w in low[aux + 1:]):
        return set()
    n = len(low)
    for j in (n - 1, n - 2):
        if aux + 1 < j and low[j] not in STOP and (j == n - 1 or low[n - 1] in PREPOSITIONS):
            if _name(written[j]) and j == n - 2 and aux + 2 < j and low[j - 1] not in STOP:
                return {j - 1}
            return set() if _name(written[j]) else {j}
    return set()


def _name(word: str) -> bool:
    """A capitalised word or a country, U.S. state or continent written in lower case."""
    return word[:1].isupper() or word.lower() in countries_and_states()


def list_items(answer: str) -> list[tuple[str, list[str]]]:
    """The numbered lists of an answer: (lead-in line, item texts without numbers and markers).

    >>> list_items("Four areas of action: [1]\\n1. Promote a; [1]\\n2. Align b; And [1]\\nOther.")
    [('Four areas of action:', ['Promote a', 'Align b'])]
    """
    lists: list[tuple[str, list[str]]] = []
    previous = ""
    for raw in answer.splitlines():
        line = re.sub(r"(\s*\[\d+\])+\s*$", "", raw).strip()
        m = re.match(r"^(\d{1,2})[.)]\s+(.+)$", line)
        if m:
            item = re.sub(r"[\s;,.:]*(?:\b(?:and|or)\b)?[\s;,.:]*$", "", m.group(2), flags=re.I).strip()
            if m.group(1) == "1" or not lists:
                lists.append((previous if previous.endswith(":") else "", []))
            lists[-1][1].append(item)
        else:
            previous = line
    return lists


def people(text: str, who: bool = False) -> list[str]:
    """Names in ``text``: runs of capitalised words holding a title ("Secretary of State Antony
    Blinken"); when the text answers a "who" question and holds none, a capitalised run that is the
    subject of a verb ("where Blinken outlined ...").

    >>> people("U.S. Secretary of State Antony Blinken recently announced a strategy.")
    ['U.S. Secretary of State Antony Blinken']
    >>> people("It was at RSA in San Francisco, where Blinken outlined the plan.", who=True)
    ['Blinken']
    """
    toks = list(_TOKEN.finditer(text))

    def joined(j: int) -> bool:  # no punctuation between token j-1 and token j
        return not re.search(r"[?!.,;:()\"“”—–]", text[toks[j - 1].end():toks[j].start()])

    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(toks):
        if toks[i].group(0)[0].isupper():
            j = i + 1
            while j < len(toks) and joined(j) and (toks[j].group(0)[0].isupper() or (
                    toks[j].group(0) == "of" and j + 1 < len(toks) and toks[j + 1].group(0)[0].isupper())):
                j += 1
            runs.append((i + 1, j) if toks[i].group(0).lower() in STOP and j - i > 1 else (i, j))  # "And ..."
            i = j
        else:
            i += 1
    spans = [text[toks[a].start():toks[b - 1].end()] for a, b in runs]
    titled = [s for s in spans if any(w.lower().rstrip(".") in TITLES for w in words(s))
              and not all(w.lower().rstrip(".") in TITLES | {"of", "u.s."} for w in words(s))]
    if titled or not who:
        return titled
    found = []
    for (a, b), span in zip(runs, spans):
        after = toks[b].group(0) if b < len(toks) else ""
        before = toks[a - 1].group(0).lower() if a > 0 else ""
        verb = after.islower() and (after in VERBS or (after.endswith("ed") and len(after) > 4))
        if (len(words(span)) <= 3 and before not in PREPOSITIONS and verb and b < len(toks) and joined(b)
                and not any(w.lower() in DOCUMENT_NOUNS | ORGANISATIONS | STOP for w in words(span))):
            found.append(span)
    return found[:1]


def document_name(title: str) -> str | None:
    """A short name for what a document is about, from its title: the phrase ending in a document
    noun (strategy, plan, order, ...), without its owner, cut at "and" when long.

    >>> document_name("Release of United States’ International Cyberspace and Digital Policy Strategy – State")
    'the International Cyberspace Strategy'
    >>> document_name("Blinken announces international cyber strategy"), document_name("Remarks by the President")
    ('the international cyber strategy', None)
    """
    title = title.replace("\xa0", " ").replace("\u2060", "")
    title = re.split(r"\s+[–—|-]\s+", title)[0]
    title = re.sub(r"^[A-Z][A-Z ]{2,}:\s*", "", title)  # "FACT SHEET: ..."
    ws = words(title)
    heads = [i for i, w in enumerate(ws) if w.lower() in DOCUMENT_NOUNS]
    if not heads:
        return None
    end = heads[0]
    while end + 1 < len(ws) and ws[end + 1].lower() in DOCUMENT_NOUNS | {"implementation"}:
        end += 1
    start = end
    while start > 0:
        w = ws[start - 1]
        if w.endswith(("’s", "'s", "’", "'")) or (w.lower() != "and" and not is_content(w, "more")):
            break
        start -= 1
    name = ws[start:end + 1]
    if name and name[0].lower() == "and":
        name = name[1:]
    if len(name) > 3 and "and" in name:
        name = name[:name.index("and")] + [name[-1]]
    return "the " + " ".join(name)
