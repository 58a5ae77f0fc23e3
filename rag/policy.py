"""The composition policy ``rag train`` chooses on out-of-fold train probabilities: how many units and
words an answer quotes (``choose_policy``, a grid searched with ``simulate``) and the abstention
threshold (``abstain_threshold``). Split from ``rag.train``, which calls them.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from .compose import pick
from .selector import Model, Policy

if TYPE_CHECKING:
    from .train import Case

GRID = {"relative": (0.3, 0.45, 0.6, 0.75), "min_p": (0.1, 0.2, 0.3), "max_words": (50, 60, 70, 85),
        "max_units": (2, 3, 4)}
LIST_WORDS, LIST_UNITS = (70, 100, 130, 160), (3, 4, 6)
WORD_CEILING = 64  # the train median answer length the policy must stay under (70 is the ceiling users get)


def simulate(data: list[Case], probs: list[np.ndarray], model: Model) -> dict[str, float]:
    """The answer metrics the policy would give (no abstention: answerable questions only)."""
    recall, precision, words = [], [], []
    for c, p in zip(data, probs):
        if not c.q.answerable or not len(c.cands):
            continue
        part_p = [model.selector.proba(px) for px in c.part_x] or None
        chosen = pick(c.info, c.cands, c.x, p, c.words, model, part_p)
        covered = [any(c.covers[i][s] for i in chosen) for s in range(len(c.q.evidence))]
        recall.append(sum(covered) / len(covered))
        cited = {c.hits[c.cands[i].passage].row for i in chosen}
        precision.append(sum(c.passage_ok.get(r, False) for r in cited) / len(cited))
        words.append(sum(c.words[i] for i in chosen))
    return {"answer_evidence_recall": float(np.mean(recall)), "citation_precision": float(np.mean(precision)),
            "median_words": float(statistics.median(words))}


def choose_policy(data: list[Case], probs: list[np.ndarray], model: Model) -> tuple[Policy, dict]:
    """The grid point of best answer evidence recall + half the citation precision whose median answer
    stays under ``WORD_CEILING``; list questions get their own budget, chosen after the others'."""
    def score(pol: Policy) -> tuple[float, dict]:
        m = simulate(data, probs, replace(model, policy=pol))
        value = m["answer_evidence_recall"] + 0.5 * m["citation_precision"]
        if m["median_words"] > WORD_CEILING:
            value -= 10 + m["median_words"] / 100  # over the ceiling: only if nothing is under
        return value, m

    best: tuple[float, Policy, dict] | None = None
    for rel in GRID["relative"]:
        for min_p in GRID["min_p"]:
            for words in GRID["max_words"]:
                for n in GRID["max_units"]:
                    pol = replace(model.policy, relative=float(rel), min_p=float(min_p), max_words=int(words),
                                  max_units=int(n), list_words=int(words), list_units=int(n))
                    value, m = score(pol)
                    if best is None or value > best[0] + 1e-9:
                        best = (value, pol, m)
    assert best is not None
    listed: tuple[float, Policy, dict] | None = None  # a list question's own budget, always from LIST_*
    for words in LIST_WORDS:
        for n in LIST_UNITS:
            pol = replace(best[1], list_words=words, list_units=n)
            value, m = score(pol)
            if listed is None or value > listed[0] + 1e-9:
                listed = (value, pol, m)
    assert listed is not None
    return listed[1], listed[2]


def abstain_threshold(p: np.ndarray, answerable: np.ndarray) -> float:
    """The threshold of best balanced accuracy (answered share of the answerable plus abstained share
    of the unanswerable, halved) on out-of-fold probabilities; the lowest of equals."""
    best, best_t = -1.0, 0.5
    for t in sorted(set(np.round(p, 4).tolist())):
        answered = float(np.mean(p[answerable] >= t))
        abstained = float(np.mean(p[~answerable] < t)) if (~answerable).any() else 1.0
        if (answered + abstained) / 2 > best + 1e-12:
            best, best_t = (answered + abstained) / 2, t
    return float(best_t)
