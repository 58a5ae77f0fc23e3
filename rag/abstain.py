"""When to say "the sources don't answer this": three checks, each cheap and explainable.

1. Topic: the best candidate sentence scores below ``abstain_below``.
2. Names: the question names something (a capitalised word inside the question, or a country, U.S.
   state, continent or letters-and-digits code in lower case: "india", "log4j") that appears
   nowhere in the index (its text, its documents' titles and file names: ``known_terms``), e.g. a
   person the sources never mention.
3. Answer type: the question asks for an amount of money, a date or a count, and none of the best
   candidate sentences holds one.

>>> expected_type("How much funding does the program get?"), expected_type("When will it start?")
('money', 'date')
>>> has_type("It provides $1 billion over four years.", "money", "How much?")
True
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Callable, Container
from pathlib import PurePath
from typing import TYPE_CHECKING

import numpy as np

from .acronyms import spelled
from .entities import ORG_WORDS
from .places import countries_and_states, country_of
from .search import tokenize

if TYPE_CHECKING:
    from .store import Index

_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_NUMBER_WORDS = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
                 "fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|"
                 "hundred|thousand|dozen|million|billion")
_ASKS = {
    "money": re.compile(r"\bhow much (money|funding|funds?|budget)\b|\b(annual )?budget\b|"
                        r"\bhow much\b.*\b(cost|spend|spent|spending|invest|allocat|fund|pay|paid)", re.I),
    "date": re.compile(r"^\s*when\b|\b(what|which) (exact )?(date|day|year|month)\b|\bon what date\b", re.I),
    "count": re.compile(r"\bhow many\b", re.I),
}
_HAS = {
    "money": re.compile(r"\$\s?\d|\b\d[\d,.]*\s*(million|billion|trillion)\b|\bdollars?\b", re.I),
    "date": re.compile(rf"\b(1[89]|20)\d\d\b|\b({_MONTHS})\b|\b(today|tomorrow|yesterday)\b", re.I),
    "count": re.compile(rf"\b\d[\d,.]*\b|\b({_NUMBER_WORDS})\b", re.I),
}
_STOP_CAPS = {"i", "what", "who", "when", "where", "why", "how", "which", "is", "are", "does", "do",
              "did", "the", "a", "an", "in", "on", "of", "and", "or", "according", "under", "per"}


def expected_type(question: str) -> str | None:
    for kind in ("money", "date", "count"):
        if _ASKS[kind].search(question):
            return kind
    return None


def has_type(sentence: str, kind: str, question: str) -> bool:
    """Whether ``sentence`` holds an answer of ``kind`` that the question does not already give."""
    asked = {m.group(0).lower() for m in _HAS[kind].finditer(question)}
    return any(m.group(0).lower() not in asked for m in _HAS[kind].finditer(sentence))


def known_terms(index: Index) -> Container[str]:
    """The terms an index knows, made once per index: its passages' (BM25's vocabulary) and its
    documents' titles and file names, and the acronyms spelled out from its text (``acronyms.spell_out``).
    A speech whose text never names its speaker is still about him: "Remarks by National Security
    Advisor Jake Sullivan ..." is a title, kept apart from the text."""
    def make() -> Container[str]:
        docs = index.manifest.get("documents", [])
        names = [f"{d.get('title', '')} {re.sub(r'[-_.]+', ' ', PurePath(str(d.get('source', ''))).stem)}"
                 for d in docs]
        named = dict.fromkeys(t for terms in (tokenize(names) if names else []) for t in terms)
        return ChainMap(index.bm25.vocab_dict if index.bm25 is not None else {}, named, spelled(index))

    return index.cached("known_terms", make)


def unknown_names(question: str, vocabulary: Container[str]) -> list[str]:
    """Names in the question (runs of capitalised words after its first word) with a word the index
    has never seen. A month or a weekday is no name; a common noun inside a name ("Department") counts
    for nothing; "America", "the Pentagon" and "the White House" are known where the documents say
    "United States", "Defense" or "DoD", "Administration" or "President".

    >>> unknown_names("What did Chris Inglis say about CISA?", {"cisa", "chris"})
    ['Chris Inglis']
    >>> unknown_names("What did America's State Department say in March?", {"unit", "state"})
    []
    >>> unknown_names("what did blinken say about india and log4j", {"blinken"})
    ['india', 'log4j']
    """
    names: list[list[str]] = []
    previous_capital = False
    for i, word in enumerate(re.findall(r"[A-Za-z][\w'’.-]*", question)):
        capital = i > 0 and word[0].isupper() and word.lower() not in _STOP_CAPS
        if capital:
            if previous_capital:
                names[-1].append(word.strip(".'’"))
            else:
                names.append([word.strip(".'’")])
        previous_capital = capital
    names += _lower_case_names(question, names)
    missing = []
    for name in names:
        name = [re.sub(r"['’]s$", "", w) for w in name]  # "the CSRB's", "Washington's"
        if _aliased(" ".join(name), vocabulary):
            continue
        for word in name:
            terms = tokenize([word])[0]
            if not terms or word.lower() in _DATES or len(name) > 1 and word.lower() in _GENERIC \
                    or _aliased(word, vocabulary):
                continue
            if not any(t in vocabulary for t in terms) and not any(
                    t in vocabulary for form in _place_of(word) for t in tokenize([form])[0]):
                missing.append(" ".join(name))
                break
    return missing


def _lower_case_names(question: str, names: list[list[str]]) -> list[list[str]]:
    """Names a casual question writes in lower case: a country, U.S. state or continent ("india", "costa
    rica"), or a word of letters and digits ("log4j", "m-22-09"), not among the capitalised ``names``."""
    taken = {w.lower() for name in names for w in name}
    tokens = re.findall(r"(?<![\w'’.-])[a-z][\w'’.-]*", question)
    out: list[list[str]] = []
    i = 0
    while i < len(tokens):
        for n in (3, 2, 1):
            run = [t.strip(".'’") for t in tokens[i:i + n]]
            text = " ".join(re.sub(r"['’]s$", "", t) for t in run)
            if len(run) == n and not taken & set(run) and (
                    text in countries_and_states() or n == 1 and re.search(r"[a-z]", text) and re.search(r"\d", text)):
                out.append(run)
                i += n - 1
                break
        i += 1
    return out


def _aliased(name: str, vocabulary: Container[str]) -> bool:
    """Whether the index knows ``name`` by another of its names (``_ALIASES``)."""
    return any(all(t in vocabulary for t in terms) for terms in tokenize(list(_ALIASES.get(name.lower(), ()))))


# what a question may call by another name than the documents: the country and its government
_ALIASES = {"america": ("united states",), "americans": ("united states",), "pentagon": ("defense", "dod"),
            "white house": ("administration", "president")}
_DATES = set(_MONTHS.split("|")) | {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
# a common noun inside a name ("State Department", "Justice Department"): the other words say which
_GENERIC = {w.lower() for w in ORG_WORDS.split("|")}


def _place_of(word: str) -> list[str]:
    """The place a demonym or a capital may name ("Russian" → "Russia", "Chinese" and "Beijing" →
    "China"): the sources say "Russia and China" where a question says "Russian and Chinese".

    >>> unknown_names("Why do Russian and Chinese hackers matter?", {"russia", "china", "hacker"})
    []
    """
    w = word.rstrip("s")
    forms = []
    if w.endswith("n"):
        forms.append(w[:-1])  # Russian, Korean, American
    if w.endswith(("ian", "ese", "ish")):
        forms += [w[:-3], w[:-3] + "a", w[:-3] + "e"]  # Iranian, Japanese, Chinese → China, Ukrainian
    if w.endswith("i"):
        forms.append(w[:-1])  # Israeli
    forms += country_of(word).split()  # Beijing → China, Moscow → Russia
    return [f for f in forms if len(f) >= 3]


def reason_to_abstain(question: str, best_sentences: list[str], vocabulary: Container[str]) -> str:
    """'' to answer, else why not (for the message under "The sources don't answer this.")."""
    missing = unknown_names(question, vocabulary)
    if missing:
        return f"The sources never mention {', '.join(missing)}."
    kind = expected_type(question)
    if kind and not any(has_type(s, kind, question) for s in best_sentences):
        what = {"money": "an amount of money", "date": "a date", "count": "a number"}[kind]
        return f"No passage close to the question gives {what}."
    return ""


# Questions about nothing a policy corpus holds. How close an index's best sentence comes to them is
# what "far from every passage" means for that index: the more sentences, the closer the best one comes
# by chance (over sources/ + ../shared/corpus, 2,157 sentences, their median best cosine is 0.28; over
# sources/ alone, 39 sentences, 0.15), so a fixed floor refused plain questions over a small corpus.
_UNRELATED = ("How long should I boil an egg?", "What's the plot of Hamlet?", "How many legs does a spider have?",
              "What is the tallest tree in the world?", "How do I get red wine out of a carpet?",
              "Recommend a good science fiction novel.", "How do I fix a flat bicycle tire?",
              "What time is it in Tokyo?", "Who painted the Mona Lisa?", "How far is the Moon from Earth?",
              "What is photosynthesis?", "How do I learn to play guitar?", "What are the symptoms of the flu?",
              "Tell me a joke.",
              "How do you make a cup of tea?", "What is the best way to train a puppy?",
              "What should I plant in my garden in spring?", "How do whales sleep?", "What's a good name for a cat?",
              "Which is the longest river in Africa?")
# the off-topic floor is this far above their median (0.25 over sources/ alone), chosen among 0.065, 0.10 and
# 0.13 on train: each train document alone answered 0.946, 0.946, 0.935 of its questions, and over sources/
# alone the train's unanswerable questions were refused 0.912, 0.930, 0.947 (0.965 at the fixed 0.35)
OFF_TOPIC_MARGIN = 0.10
# the highest floor, chosen on train document-held-out CV among 0.30-0.45 with all-MiniLM-L6-v2 (docs/answers.md),
# and the floor before an index's is known (an index without sentences)
OFF_TOPIC = 0.35


def off_topic_floor(index: Index, encode: Callable[[list[str]], np.ndarray] | None = None) -> float:
    """The best sentence cosine below which a question is far from every passage of ``index``: the
    median best cosine of ``_UNRELATED`` questions plus ``OFF_TOPIC_MARGIN``, never above ``OFF_TOPIC``
    (a larger index, or another model, refuses nothing the fixed floor answered), computed once per index
    with ``encode`` (the engine does so when it loads the index); ``OFF_TOPIC`` until then."""
    if "off_topic_floor" in index.derived or encode is None or not len(index.sentence_vectors):
        return float(index.derived.get("off_topic_floor", OFF_TOPIC))

    def make() -> float:
        tops = (np.asarray(encode(list(_UNRELATED)), np.float32) @ index.sentence_vectors.T).max(axis=1)
        return min(OFF_TOPIC, float(np.median(tops)) + OFF_TOPIC_MARGIN)
    return float(index.cached("off_topic_floor", make))
