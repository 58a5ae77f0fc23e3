"""Scoring functions for ``rag eval``: evidence matching, ranking, citations, answers, abstention.

Pure functions over strings, lists and numbers, so that each number can be worked out by hand.

>>> covers("The Secretary  ANNOUNCED a new strategy.", "secretary announced a new")
True
>>> ranking({"q": [False, True, False]})["q"]["mrr@10"]
0.5
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence

COVER_SHARE = 0.8  # a text covers a span holding at least this share of the span's word tokens
CUTOFFS = (1, 3, 5, 10)
_WORD = re.compile(r"\w+")
_MARKER = re.compile(r"\[\d+\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def collapse(text: str) -> str:
    """Lowercase with every whitespace run made one space.

    >>> collapse("  Open,\\n\\tInclusive ")
    'open, inclusive'
    """
    return " ".join(text.lower().split())


def words(text: str) -> list[str]:
    """Word tokens: lowercase runs of letters, digits and underscore.

    >>> words("U.S. cyber-strategy, 2023")
    ['u', 's', 'cyber', 'strategy', '2023']
    """
    return _WORD.findall(text.lower())


def token_coverage(span: str, text: str) -> float:
    """Share of the span's word tokens (repeats counted) that occur anywhere in ``text``.

    >>> token_coverage("the red fox", "A fox, red and quick")
    0.6666666666666666
    """
    tokens = words(span)
    if not tokens:
        return 0.0
    present = set(words(text))
    return sum(t in present for t in tokens) / len(tokens)


def exact_match(text: str, span: str) -> bool:
    """The span occurs in the text, case-insensitively, whitespace runs collapsed."""
    span = collapse(span)
    return bool(span) and span in collapse(text)


def covers(text: str, span: str, share: float = COVER_SHARE) -> bool:
    """The evaluator's matching rule: an exact match after ``collapse``, else ``share`` token coverage.

    >>> covers("It was made in San Francisco.", "made at the RSA conference in San Francisco")
    False
    """
    return exact_match(text, span) or token_coverage(span, text) >= share


def strip_markers(answer: str) -> str:
    """The answer text without its ``[n]`` citation markers.

    >>> strip_markers("One [1] two. [2]")
    'One  two. '
    """
    return _MARKER.sub("", answer)


# -- retrieval ------------------------------------------------------------------------------------------

def ranking(relevant: dict[str, Sequence[bool]], cutoffs: Sequence[int] = CUTOFFS,
            depth: int = 10) -> dict[str, dict[str, float]]:
    """hit@n and MRR@depth per question, from each question's ranked passages marked relevant or not.

    Computed with ir-measures (``Success@n``, ``RR@depth``) on qrels that judge the ranked passages
    only; a question with no relevant passage scores 0 everywhere.
    """
    import ir_measures
    from ir_measures import RR, Success

    qrels = {q: {f"p{r}": int(rel) for r, rel in enumerate(ranks)} for q, ranks in relevant.items()}
    # distinct descending scores: trec_eval breaks score ties by document id, not by our order
    run = {q: {f"p{r}": float(len(ranks) - r) for r in range(len(ranks))} for q, ranks in relevant.items()}
    names = {Success @ n: f"hit@{n}" for n in cutoffs} | {RR @ depth: f"mrr@{depth}"}
    out = {q: dict.fromkeys(names.values(), 0.0) for q in relevant}
    if any(any(r) for r in relevant.values()):
        for m in ir_measures.iter_calc(list(names), qrels, run):
            out[m.query_id][names[m.measure]] = float(m.value)
    return out


def first_hit(relevant: Sequence[bool]) -> int | None:
    """1-based rank of the first relevant passage, or None.

    >>> first_hit([False, False, True])
    3
    """
    return next((r + 1 for r, rel in enumerate(relevant) if rel), None)


def evidence_recall(cover: Sequence[Sequence[bool]], n: int) -> float:
    """Share of evidence spans covered by some passage in the top ``n``; ``cover[rank][span]``.

    >>> evidence_recall([[False, True], [True, False]], 1)
    0.5
    """
    n_spans = len(cover[0]) if cover else 0
    if not n_spans:
        return 0.0
    return sum(any(row[s] for row in cover[:n]) for s in range(n_spans)) / n_spans


# -- citations and answers -----------------------------------------------------------------------------

def citation_scores(passages: Sequence[str], evidence: Sequence[str]) -> tuple[float, float]:
    """(precision, recall) of the distinct cited passages against the evidence spans.

    Precision: cited passages covering some span / cited passages. Recall: spans covered by some cited
    passage / spans. No citations scores (0, 0).
    """
    if not passages or not evidence:
        return 0.0, 0.0
    hits = [[covers(p, e) for e in evidence] for p in passages]
    precision = sum(any(row) for row in hits) / len(passages)
    recall = sum(any(row[s] for row in hits) for s in range(len(evidence))) / len(evidence)
    return precision, recall


def in_answer(answer: str, evidence: Sequence[str], share: float = COVER_SHARE) -> list[bool]:
    """Per span: at least ``share`` of its word tokens are present in the answer text."""
    text = strip_markers(answer)
    return [token_coverage(e, text) >= share for e in evidence]


def short_match(predicted: str, gold: str) -> bool:
    """A short answer is right when, normalised, it lies inside the gold answer or the gold inside it.

    >>> short_match("Antony Blinken", "U.S. Secretary of State Antony Blinken."), short_match("72", "$65 billion")
    (True, False)
    """
    p, g = squad_normalise(predicted), squad_normalise(gold)
    return bool(p and g) and (p in g or g in p)


def squad_normalise(text: str) -> str:
    """SQuAD's answer normalisation: lowercase, drop punctuation (any Unicode P* character) and articles.

    >>> squad_normalise("The U.S. Secretary, Antony Blinken!")
    'us secretary antony blinken'
    """
    text = "".join(ch for ch in text.lower()
                   if ch not in string.punctuation and not unicodedata.category(ch).startswith("P"))
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, truth: str) -> float:
    """SQuAD token F1 between two answers (both empty: 1; one empty: 0).

    >>> round(token_f1("Antony Blinken announced it", "Antony Blinken"), 3)
    0.667
    """
    pred, gold = squad_normalise(prediction).split(), squad_normalise(truth).split()
    if not pred or not gold:
        return float(pred == gold)
    same = sum((Counter(pred) & Counter(gold)).values())
    if not same:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


# -- abstention and latency ------------------------------------------------------------------------------

def balanced_accuracy(answerable: Sequence[float], unanswerable: Sequence[float], threshold: float) -> float:
    """Mean of the answered rate on answerable and the abstained rate on unanswerable questions when
    answering exactly the questions whose confidence is at least ``threshold``.

    >>> balanced_accuracy([0.5, 0.7], [0.3, 0.6], 0.55)
    0.5
    """
    answered = sum(c >= threshold for c in answerable) / len(answerable)
    abstained = sum(c < threshold for c in unanswerable) / len(unanswerable)
    return (answered + abstained) / 2


def sweep(answerable: Sequence[float], unanswerable: Sequence[float],
          default: float) -> tuple[float | None, float | None]:
    """(best threshold, its balanced accuracy) over the recorded confidences and ``default``.

    Best maximises balanced accuracy; ties go to the candidate nearest ``default``, then the lower one.
    None when either group is empty.

    >>> sweep([0.5, 0.7], [0.3, 0.6], 0.2)  # 0.5, 0.7 (and 0.42 below) all reach 0.75
    (0.5, 0.75)
    >>> sweep([0.5, 0.7], [0.3, 0.6], 0.42)
    (0.42, 0.75)
    """
    if not answerable or not unanswerable:
        return None, None
    candidates = sorted({*answerable, *unanswerable, default})
    best = max(candidates, key=lambda t: (balanced_accuracy(answerable, unanswerable, t), -abs(t - default), -t))
    return best, balanced_accuracy(answerable, unanswerable, best)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile, interpolated linearly between order statistics (numpy's default).

    >>> percentile([10, 20, 30, 40], 50)
    25.0
    """
    if not values:
        return None
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))


def mean(values: Sequence[float | None]) -> float | None:
    """Mean of the values that are not None; None when there are none.

    >>> mean([1.0, None, 0.0])
    0.5
    """
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None
