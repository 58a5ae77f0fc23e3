"""``rag train --cv K``: what a change to the selector is worth on documents it was not trained on.

The train questions are split into ``K`` folds *by document* (every question about one document lands in
the same fold; a question with no source document, an unanswerable one, goes to a fold drawn from its id
and ``seed``). Each fold in turn is held out: the selector is trained on the other folds' questions, written
to a temporary file, and the held-out questions are asked with it and scored by ``rag.evaluation``. The
figures are the held-out questions' metrics, averaged over the folds weighted by their size, for today's
learned selector and for the legacy composer side by side. Only the train split is read, so a setting
chosen on these figures is chosen on train (docs/answers.md).

>>> fold_of(["a.md"], "q1", {"a.md": 1}, 3, "0"), fold_of([], "q1", {}, 3, "0") in (0, 1, 2)
(1, True)
"""

from __future__ import annotations

import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import selector
from .evaluation import EvidenceCheck, Question, configure, evaluate

KEYS = ("hit@5", "mrr@10", "answer_evidence_recall", "citation_precision", "answer_words_median",
        "answered_rate", "abstained_rate", "short_correct")
CONFIGS = ("legacy", "learned")


def fold_count(text: str) -> int:
    """``--cv``'s value: 0 (no cross-validation) or at least 2 folds."""
    import argparse

    k = int(text) if text.strip().isdigit() else -1
    if k == 1 or k < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of folds (0, or 2 and more)")
    return k


def fold_of(sources: Sequence[str], qid: str, by_doc: dict[str, int], k: int, seed: str) -> int:
    """The fold of a question: its first document's, else one drawn from its id and the seed."""
    if sources:
        return by_doc[sources[0]]
    return zlib.crc32(f"{seed}{qid}".encode()) % k


def folds(questions: Sequence[Question], k: int, seed: str = "0") -> list[int]:
    """Each question's fold: a document's questions share one fold, so no held-out document was trained
    on; the documents are dealt, most questions first, each to the fold with the fewest questions so far."""
    count = Counter(q.sources[0] for q in questions if q.sources)
    sizes = [0] * k
    by_doc: dict[str, int] = {}
    for doc, n in sorted(count.items(), key=lambda dn: (-dn[1], dn[0])):
        by_doc[doc] = sizes.index(min(sizes))
        sizes[by_doc[doc]] += n
    return [fold_of(q.sources, q.id, by_doc, k, seed) for q in questions]


def cross_validate(engine: Any, questions: list[Question], train: Callable, write: Callable, k: int = 3,
                   seed: str = "0", say: Callable[[str], None] = print) -> dict[str, dict[str, float | None]]:
    """Held-out metrics per configuration (``CONFIGS``), averaged over the ``k`` document folds; ``train``
    and ``write`` are ``rag.train``'s (passed in: ``rag train --cv`` calls this)."""
    if k < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    where = folds(questions, k, seed)
    runs: dict[str, list[tuple[int, dict]]] = {c: [] for c in CONFIGS}
    vectors: dict[str, Any] = {}  # each held-out question embedded once for every configuration
    check = EvidenceCheck(engine.index)
    with tempfile.TemporaryDirectory(prefix="rag-cv-") as tmp:
        for f in range(k):
            fit = [q for q, w in zip(questions, where) if w != f]
            held = [q for q, w in zip(questions, where) if w == f]
            if not held or not any(q.answerable for q in fit):
                say(f"fold {f + 1}/{k}: skipped ({len(held)} held out, {len(fit)} to train on)")
                continue
            say(f"fold {f + 1}/{k}: training on {len(fit)} questions, holding out {len(held)}")
            model, _ = train(engine, fit, lambda m: None)
            path = Path(tmp) / f"fold{f}.json"
            write(model, path, {})
            selector.load.cache_clear()
            for name in CONFIGS:
                settings = configure(engine.settings.replace(selector_model=str(path)), name)
                run = evaluate(engine.with_settings(settings), held, name, vectors=vectors, check=check)
                runs[name].append((len(held), run["metrics"]))
    return {name: _weighted(r) for name, r in runs.items()}


def _weighted(runs: list[tuple[int, dict]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in KEYS:
        pairs = [(n, m[key]) for n, m in runs if m.get(key) is not None]
        total = sum(n for n, _ in pairs)
        out[key] = round(sum(n * v for n, v in pairs) / total, 3) if total else None
    return out


def report(engine: Any, questions: list[Question], train: Callable, write: Callable, k: int, seed: str = "0",
           say: Callable[[str], None] = print) -> str:
    """``rag train --cv``'s output: the table and what it was computed from."""
    t0 = time.perf_counter()
    result = cross_validate(engine, questions, train, write, k, seed, say)
    return (f"{table(result)}\n{len(questions)} questions, {k} document folds, seed {seed}, "
            f"{time.perf_counter() - t0:.0f}s")


def table(result: dict[str, dict[str, float | None]]) -> str:
    """The result as an aligned text table, one column per configuration."""
    names = list(result)
    lines = [f"{'metric (held-out documents)':30}" + "".join(f"{n:>10}" for n in names)]
    for key in KEYS:
        cells = [result[n][key] for n in names]
        lines.append(f"{key:30}" + "".join(f"{'—' if v is None else f'{v:.3f}':>10}" for v in cells))
    return "\n".join(lines)
