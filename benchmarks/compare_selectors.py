"""Two learners for the answer selector, fitted on the train split, scored on the test split.

    .venv/bin/python benchmarks/compare_selectors.py [--index DIR]

Both see the same candidate units and features (``rag.features``) from the shipped passage ranker:
- ``logistic``: the shipped selector, a logistic regression with sign-constrained weights (``rag train``);
- ``boosting``: scikit-learn's HistGradientBoostingClassifier on the same soft labels.
Each is fitted on eval/train*.jsonl; the composition policy of each is chosen on out-of-fold train
probabilities by the same grid (``rag.policy.choose_policy``). The test split is only scored: answer
evidence recall, citation precision and median answer words of the answerable test questions, every
question answered (abstention is the same model for both and is measured by ``rag eval``).
"""

from __future__ import annotations

import argparse
import glob
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as C  # noqa: E402


class Boosted:
    """A fitted HistGradientBoostingClassifier behind the ``Linear.proba`` interface."""

    def __init__(self, x: np.ndarray, labels: np.ndarray) -> None:
        from sklearn.ensemble import HistGradientBoostingClassifier

        self.model = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.05, max_leaf_nodes=15,
                                                    min_samples_leaf=40, random_state=0)
        self.model.fit(np.vstack([x, x]), np.r_[np.ones(len(x)), np.zeros(len(x))],
                       sample_weight=np.r_[labels, 1 - labels] + 1e-9)

    def proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(x)[:, 1]


def main() -> None:
    from rag import policy as P
    from rag import train as T
    from rag.engine import Engine
    from rag.evaluation import load_questions
    from rag.features import FEATURES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", default=None, help="an index of sources/ + ../shared/corpus (default: built once)")
    args = ap.parse_args()
    C.print_machine("compare_selectors: logistic vs boosting, fitted on train, scored on test")
    embedder = C.embedder_for()
    settings = C.corpus_settings(args.index, embedder)
    engine = Engine(settings, embedder)
    train = load_questions(sorted(glob.glob(str(C.ROOT / "eval" / "train*.jsonl"))))
    test = load_questions(sorted(glob.glob(str(C.ROOT / "eval" / "test*.jsonl"))))
    t0 = time.perf_counter()
    model, _ = T.train(engine, train, lambda m: None)
    print(f"trained the shipped pipeline on {len(train)} train questions in {time.perf_counter() - t0:.0f}s")

    def cases(questions):
        vectors = dict(zip([q.id for q in questions], embedder.encode([q.question for q in questions])))
        return T.cases(engine, questions, vectors, model.ranker, model.policy)

    tr, te = cases(train), cases(test)
    fit = [c for c in tr if c.q.answerable and len(c.cands)]
    x, y = np.vstack([c.x for c in fit]), np.concatenate([c.labels for c in fit])
    rows = []
    for name, learner in (("logistic", lambda xx, yy: T.soft_fit(xx, yy, FEATURES)), ("boosting", Boosted)):
        folds = [np.zeros(0)] * len(tr)
        for f in range(T.FOLDS):
            part = [c for i, c in enumerate(tr) if i % T.FOLDS != f and c.q.answerable and len(c.cands)]
            m = learner(np.vstack([c.x for c in part]), np.concatenate([c.labels for c in part]))
            for i, c in enumerate(tr):
                if i % T.FOLDS == f and len(c.cands):
                    folds[i] = m.proba(c.x)
        final = learner(x, y)
        shell = replace(model, selector=final)  # type: ignore[arg-type]
        policy, sim = P.choose_policy(tr, folds, shell)
        probs = [final.proba(c.x) if len(c.cands) else np.zeros(0) for c in te]
        scored = P.simulate(te, probs, replace(shell, policy=policy))
        rows.append([name, f"{sim['answer_evidence_recall']:.3f}", f"{scored['answer_evidence_recall']:.3f}",
                     f"{scored['citation_precision']:.3f}", f"{scored['median_words']:.0f}"])
    print(C.table(rows, ["selector", "train recall (out of fold)", "test: answer evidence recall",
                         "test: citation precision", "test: median words"]))


if __name__ == "__main__":
    main()
