"""Acronyms and their long forms, mined from the documents themselves ("Software Bill of Materials
(SBOM)"), so that a question using one form also searches the other.

>>> mine(["agencies must use a Software Bill of Materials (SBOM) and the Office of the National Cyber "
...       "Director (ONCD) agrees"])
{'sbom': 'Software Bill of Materials', 'oncd': 'Office of the National Cyber Director'}
>>> expand("who maintains the SBOM?", {"sbom": "Software Bill of Materials"})
'who maintains the SBOM? Software Bill of Materials'

An acronym the documents never define nor use ("MFA" asked, "multi-factor authentication" written)
is spelled out at question time (``spell_out``): the runs of words whose initials spell it, the one
closest to it in the embedding model's space, if close enough; the sources do mention it, then.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Container, Iterable
from typing import TYPE_CHECKING

import numpy as np

from .search import tokenize

if TYPE_CHECKING:
    from .store import Index

_PAREN = re.compile(r"\(([A-Z][A-Za-z0-9&-]{1,9})\)")
SMALL_WORDS = {"of", "for", "and", "the", "on", "in", "to", "&", "a", "an"}
_ASKED = re.compile(r"\b([A-Z][A-Za-z]{0,4}[A-Z])s?\b")  # MFA, IoT, DDoS, SBOMs: two capitals or more
SPELL_SURE, SPELL_MIN = 0.5, 0.4  # the cosine an acronym must have to a run spelling it (once / twice written)
_RUNS = 40  # the most frequent runs compared with an acronym


def mine(texts: Iterable[str], limit: int = 5000) -> dict[str, str]:
    """``{acronym (lower case): long form}`` for every "Long Form (LF)" whose capitals spell LF."""
    found: dict[str, str] = {}
    for text in texts:
        for m in _PAREN.finditer(text):
            acronym = m.group(1)
            letters = [c for c in acronym if c.isupper() or c.isdigit()]
            if len(letters) < 2 or acronym.lower() in found:
                continue
            words = text[max(0, m.start() - 200):m.start()].split()
            long_form = _match(words, letters)
            if long_form:
                found[acronym.lower()] = long_form
                if len(found) >= limit:
                    return found
    return found


def _match(words: list[str], letters: list[str]) -> str:
    """The shortest run of words before the parenthesis whose capitalised initials spell ``letters``."""
    want = "".join(letters).lower()
    for n in range(len(letters), min(len(words), 3 * len(letters)) + 1):
        run = [w.strip(",;:\"'“”") for w in words[-n:]]
        content = "".join(w[0] for w in run if w and w.lower() not in SMALL_WORDS).lower()
        every = "".join(w[0] for w in run if w).lower()
        if want in (content, every) and run and run[0][:1].isupper():
            return " ".join(run)
    return ""


def expand(question: str, table: dict[str, str]) -> str:
    """The question with the other form of every acronym or long form it uses appended."""
    if not table:
        return question
    extra = [form for w in re.findall(r"[A-Za-z][A-Za-z0-9&-]+", question) if (form := _lookup(w, table))]
    low = question.lower()
    extra += [a.upper() for a, long_form in table.items() if len(long_form) > 8 and long_form.lower() in low]
    return " ".join([question, *dict.fromkeys(extra)]) if extra else question


def _lookup(word: str, table: dict[str, str]) -> str:
    """The long form of an acronym, singular or plural whichever the documents defined ("SRMA" asked,
    "Sector Risk Management Agencies (SRMAs)" defined); "" for any other word.

    >>> _lookup("SRMA", {"srmas": "Sector Risk Management Agencies"}), _lookup("CSRBs", {"csrb": "Board"})
    ('Sector Risk Management Agencies', 'Board')
    """
    low = word.lower()
    if low in table:
        return table[low]
    if word[:2].isupper():  # an acronym, not a word such as "agencie(s)"
        return table.get(low + "s") or (table.get(low[:-1], "") if low.endswith("s") else "")
    return ""


def written_out(question: str, table: dict[str, str]) -> str:
    """The question with the long form of each of its acronyms in ``table`` appended, the text its vector
    is embedded from: "JRTF" alone means nothing to the embedding model.

    >>> written_out("who does the JRTF help?", {"jrtf": "Joint Ransomware Task Force"})
    'who does the JRTF help? Joint Ransomware Task Force'
    """
    extra = [table[m.group(1).lower()] for m in _ASKED.finditer(question) if m.group(1).lower() in table]
    return " ".join([question, *dict.fromkeys(extra)]) if extra else question


def spelled(index: Index) -> dict[str, str]:
    """The acronyms of ``index`` spelled out so far (``spell_out``), by lower-case acronym."""
    return index.cached("spelled_acronyms", dict)


def spell_out(index: Index, question: str, encode: Callable[[list[str]], np.ndarray],
              known: Container[str]) -> dict[str, str]:
    """Spell out, once per index, each acronym of ``question`` that is not a ``known`` term: the run of
    words of the index's passages whose initials spell it ("multi-factor authentication" for "MFA",
    "Internet of Things" for "IoT") and whose embedding is closest to the acronym's, if its cosine is at
    least ``SPELL_SURE``, or ``SPELL_MIN`` for a run written more than once. With all-MiniLM-L6-v2 the
    meant runs score 0.43 ("MFA", written six times in our corpus) to 0.79 ("AI"), chance runs up to
    0.43 ("vulnerable public networks" for "VPN", written once): docs/answers.md. Returns the table
    (``spelled``), which the unknown-name check reads (``abstain.known_terms``): a question about "MFA"
    is not refused as naming something the sources never mention. The BM25 query is not expanded with
    it (cross-validation on train measured it slightly worse than the dense search alone)."""
    table, tried = spelled(index), index.cached("unspelled_acronyms", set)
    for m in _ASKED.finditer(question):
        acronym = m.group(1)
        key = acronym.lower()
        if key in table or key in tried or key in known or any(t in known for t in tokenize([key])[0]):
            continue  # written in the index: "CHIPS" (BM25 holds "chip")
        found = runs((index.chunks[i].text for i in range(len(index.chunks))), acronym) \
            if len(index.chunks) <= 20_000 else []
        titled = _titled(index, acronym) if len(acronym) >= 3 and acronym.isupper() \
            and len(index.chunks) <= 20_000 else ""
        if titled:  # "Cyber Safety Review Board" for "CSRB": a name, whatever its cosine (0.23)
            table[key] = titled
            continue
        if found:
            vectors = encode([acronym, *(run for run, _ in found)])
            cos = vectors[1:] @ vectors[0]
            best = int(np.argmax(cos))
            if cos[best] >= SPELL_SURE or (cos[best] >= SPELL_MIN and found[best][1] > 1):
                table[key] = found[best][0]
                continue
        tried.add(key)
    return table


def _titled(index: Index, acronym: str) -> str:
    """The first run of capitalised words of the index whose initials are the acronym's capitals, small
    words allowed between them ("Cyber Safety Review Board" for "CSRB"), else ""."""
    capitals = [c for c in acronym if c.isupper()]
    small = "|".join(sorted(w for w in SMALL_WORDS if w.isalpha()))
    words = [rf"(?:{c}[a-z]+|{'|'.join(w for w in sorted(SMALL_WORDS) if w[0] == c.lower())})"
             if 0 < i < len(capitals) - 1 and any(w[0] == c.lower() for w in SMALL_WORDS if w.isalpha())
             else rf"{c}[a-z]+"
             for i, c in enumerate(capitals)]  # "Bill of Materials": the O of SBOM may be a small word
    pattern = re.compile(r"(?<![\w'’-])" + rf"(?:\s+(?:{small}))?[\s-]+".join(words)
                         + r"\b(?![\s-]+[A-Z])")
    for i in range(len(index.chunks)):
        text = index.chunks[i].text
        for m in pattern.finditer(text):
            before = re.search(r"([A-Z][a-z]*)[\s-]+$", text[max(0, m.start() - 30):m.start()])
            if not before or before.group(1).lower() in SMALL_WORDS:  # a whole name, not the tail of one
                return m.group(0)
    return ""


def runs(texts: Iterable[str], acronym: str, limit: int = _RUNS) -> list[tuple[str, int]]:
    """The distinct runs of words (lower case) whose initials spell ``acronym``, with their counts, most
    frequent first. A hyphen separates words and a small word may stand between two; a small word
    gives a letter only where the acronym has it in lower case ("of" in "IoT", not "in" for "CI").

    >>> runs(["Adopt multi-factor authentication.", "Use Multi-Factor Authentication", "more facts about"], "MFA")
    [('multi-factor authentication', 2), ('more facts about', 1)]
    >>> runs(["the Internet of Things and endpoint detection and response"], "IoT"), runs(["an ally"], "AI")
    ([('internet of things', 1)], [])
    """
    small = "|".join(sorted(w for w in SMALL_WORDS if w.isalpha()))
    gap = rf"(?:[\s-]+(?:{small}))?[\s-]+"
    letters = [rf"{re.escape(c)}[a-z]+" if c.islower() else rf"(?!(?:{small})\b){re.escape(c)}[a-z]+"
               for c in acronym]
    pattern = re.compile(r"(?<![\w'’-])" + gap.join(letters) + r"\b", re.I)
    count: Counter[str] = Counter()
    for text in texts:
        count.update(" ".join(m.group(0).lower().split()) for m in pattern.finditer(text))
    return count.most_common(limit)
