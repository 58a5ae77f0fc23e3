"""Acronyms and their long forms, mined from the documents themselves ("Software Bill of Materials
(SBOM)"), so that a question using one form also searches the other.

>>> mine(["agencies must use a Software Bill of Materials (SBOM) and the Office of the National Cyber "
...       "Director (ONCD) agrees"])
{'sbom': 'Software Bill of Materials', 'oncd': 'Office of the National Cyber Director'}
>>> expand("who maintains the SBOM?", {"sbom": "Software Bill of Materials"})
'who maintains the SBOM? Software Bill of Materials'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_PAREN = re.compile(r"\(([A-Z][A-Za-z0-9&-]{1,9})\)")
_SMALL = {"of", "for", "and", "the", "on", "in", "to", "&", "a", "an"}


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
        content = "".join(w[0] for w in run if w and w.lower() not in _SMALL).lower()
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
