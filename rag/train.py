"""``rag train``: fit the answer selector (``rag.selector``) on the train questions.

    train*.jsonl ──ask each──▶ candidate passages + answer units, labelled by the gold evidence
                 ──fit──▶ ranker, selector, abstention (logistic regressions) ──grid──▶ policy ──▶ selector.json

Labels: a passage is relevant when it covers one of the question's evidence spans (the evaluator's
rule, ``rag.metrics.covers``); a unit's label is the share of the spans it covers. The selector's
probabilities used to fit the abstention model and to choose the policy are out-of-fold (5 folds by
question), so neither is fitted on probabilities the selector has memorised. Everything is
deterministic: the same questions and index give the same file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics as M
from .compose import abstain_row
from .evaluation import EvidenceCheck, Question
from .features import FEATURES, Unit, part_matrices, question_units
from .fit import fit_linear
from .policy import abstain_threshold, choose_policy
from .question import QuestionInfo
from .rerank import SIGNALS, gather
from .search import index_idf
from .selector import ABSTAIN_FEATURES, Linear, Model, Policy

FOLDS = 5


# the direction each feature may push, where it is known: a weight fitted against it (collinear features,
# or a question bank whose unanswerable questions are written to sound answerable) would not transfer
SIGNS = {
    "ranker": {"dense": 1, "dense_recip": 1, "bm25_rel": 1, "bm25_recip": 1, "sent_max": 1, "sent_top2": 1,
               "sent_recip": 1, "title_overlap": 1, "soft_match": 1},
    "selector": {"cos_max": 1, "cos_mean": 1, "cos_first": 1, "overlap": 1, "overlap_first": 1, "part_overlap": 1,
                 "type_has": 1, "type_missing": -1, "type_first": 1, "def_pattern": 1, "def_missing": -1,
                 "why_causal": 1, "heading": -1, "title": -1, "short": -1, "passage_recip": 1, "passage_score": 1,
                 "same_doc_top": 1, "colon_single": -1, "asks_back": -1, "cos_gap": -1, "overlap_gap": -1,
                 "cos_rank": 1, "overlap_rank": 1},
    "abstain": {"p_top": 1, "cos_max": 1, "overlap": 1, "type_missing": -1, "unknown_name": -1,
                "sent_top": 1, "bm25_hit": 1, "off_topic": -1},
}


def soft_fit(x: np.ndarray, labels: np.ndarray, names: tuple[str, ...]) -> Linear:
    """Logistic regression on soft labels in [0, 1]: each row twice, weighted by its label and 1 - label."""
    pos = labels.sum()
    w_pos = len(labels) / (2 * max(pos, 1e-9))
    w_neg = len(labels) / (2 * max(len(labels) - pos, 1e-9))
    xx = np.vstack([x, x])
    yy = np.concatenate([np.ones(len(x)), np.zeros(len(x))])
    ww = np.concatenate([labels * w_pos, (1 - labels) * w_neg])
    keep = ww > 0
    return fit_linear(xx[keep], yy[keep], names, ww[keep], SIGNS["selector"])


@dataclass
class Case:
    """One question's candidates, features and labels."""

    q: Question
    info: QuestionInfo
    hits: list[Any]
    cands: list[Unit]
    x: np.ndarray
    labels: np.ndarray
    words: list[int]
    covers: list[list[bool]]  # per unit, per evidence span
    passage_ok: dict[int, bool]  # chunk row → covers some span
    part_x: list[np.ndarray]


def passage_data(engine: Any, questions: list[Question], vectors: dict[str, np.ndarray]
                 ) -> tuple[np.ndarray, np.ndarray]:
    index, check, soft = engine.index, EvidenceCheck(engine.index), engine.soft_match
    xs, ys = [], []
    for q in questions:
        if not q.answerable:
            continue
        c = gather(index, q.question, vectors[q.id], engine.settings.candidates, index_idf(index), soft_match=soft)
        allowed = check.allowed(q)
        xs.append(c.signals)
        ys.append([any(check.cover(q, index.chunks[int(r)].doc_id, index.chunks[int(r)].text, allowed))
                   for r in c.rows])
    return np.vstack(xs), np.concatenate(ys).astype(int)


def cases(engine: Any, questions: list[Question], vectors: dict[str, np.ndarray], ranker: Linear,
          policy: Policy) -> list[Case]:
    from .retrieval import retrieve

    index, check, soft = engine.index, EvidenceCheck(engine.index), engine.soft_match
    out = []
    for q in questions:
        hits = retrieve(index, q.question, vectors[q.id], "learned", policy.select_passages,
                        engine.settings.candidates, ranker=ranker, soft_match=soft)
        table, cands, x = question_units(index, q.question, vectors[q.id], hits, policy.seeds, policy.select_passages)
        info = table.info
        part_x = part_matrices(table, cands, hits, policy.select_passages)
        texts = [" ".join(index.sentence_text(r) for r in u.rows) for u in cands]
        allowed = check.allowed(q)
        cov = [[M.covers(t, e) and (allowed is None or index.sentence(u.rows[0])[0].doc_id in allowed)
                for e in q.evidence] for t, u in zip(texts, cands)]
        labels = np.array([_label(index, u, cv, q.evidence) for u, cv in zip(cands, cov)])
        ok = {h.row: any(check.cover(q, h.chunk.doc_id, h.chunk.text, allowed)) for h in hits}
        out.append(Case(q, info, hits, cands, x, labels, [len(t.split()) for t in texts], cov, ok, part_x))
    return out


def _label(index: Any, u: Unit, cov: list[bool], evidence: tuple[str, ...]) -> float:
    """The share of the spans the unit covers, times the share of its sentences that hold evidence (a
    unit padded with sentences that answer nothing scores lower than the sentence alone)."""
    if not any(cov):
        return 0.0
    texts = [index.sentence_text(r) for r in u.rows]
    relevant = sum(any(M.token_coverage(e, t) >= 0.5 or M.token_coverage(t, e) >= 0.5 for e in evidence)
                   for t in texts)
    return sum(cov) / len(cov) * max(relevant, 1) / len(texts)


def out_of_fold(data: list[Case]) -> list[np.ndarray]:
    """Each case's unit probabilities from a selector fitted on the other folds."""
    probs: list[np.ndarray] = [np.zeros(0)] * len(data)
    for f in range(FOLDS):
        train = [c for i, c in enumerate(data) if i % FOLDS != f and len(c.cands) and c.q.answerable]
        model = soft_fit(np.vstack([c.x for c in train]), np.concatenate([c.labels for c in train]), FEATURES)
        for i, c in enumerate(data):
            if i % FOLDS == f and len(c.cands):
                probs[i] = model.proba(c.x)
    return probs


def train(engine: Any, questions: list[Question], say: Any = print) -> tuple[Model, dict[str, Any]]:
    questions = [replace(q, question=engine.searched(engine.index, q.question)) for q in questions]  # as asked
    vecs = engine.embedder.encode([engine.embedded(engine.index, q.question) for q in questions])
    vectors = {q.id: v for q, v in zip(questions, vecs)}
    say(f"ranker: {sum(q.answerable for q in questions)} answerable questions")
    x, y = passage_data(engine, questions, vectors)
    ranker = fit_linear(x, y, SIGNALS, signs=SIGNS["ranker"])
    policy = Policy()
    data = cases(engine, questions, vectors, ranker, policy)
    say(f"selector: {sum(len(c.cands) for c in data)} units of {len(data)} questions")
    answerable = [c for c in data if c.q.answerable and len(c.cands)]
    selector = soft_fit(np.vstack([c.x for c in answerable]), np.concatenate([c.labels for c in answerable]), FEATURES)
    probs = out_of_fold(data)
    rows = np.array([abstain_row(engine.index, c.info, c.x, p, c.hits, c.cands) if len(c.cands)
                     else np.zeros(len(ABSTAIN_FEATURES)) for c, p in zip(data, probs)])
    labels = np.array([c.q.answerable for c in data])
    abstain = fit_linear(rows, labels.astype(int), ABSTAIN_FEATURES, signs=SIGNS["abstain"])
    model = Model(ranker, selector, abstain, policy)
    pol, sim = choose_policy(data, probs, model)
    oof = np.zeros(len(rows))
    for f in range(FOLDS):
        fold = np.arange(len(rows)) % FOLDS == f
        oof[fold] = fit_linear(rows[~fold], labels[~fold].astype(int), ABSTAIN_FEATURES,
                               signs=SIGNS["abstain"]).proba(rows[fold])
    pol = replace(pol, abstain_below=abstain_threshold(oof, labels))
    answered = float(np.mean(oof[labels] >= pol.abstain_below))
    abstained = float(np.mean(oof[~labels] < pol.abstain_below)) if (~labels).any() else 1.0
    sim |= {"answered": round(answered, 3), "abstained": round(abstained, 3)}
    return replace(model, policy=pol), {"train_simulation": sim, "ranker_rows": int(len(y)),
                                        "ranker_positives": int(y.sum())}


def write(model: Model, path: Path, meta: dict[str, Any]) -> str:
    body = model.to_json() | {"meta": meta}
    body.pop("version", None)
    text = json.dumps(body, indent=1, sort_keys=True)
    version = hashlib.sha256(text.encode()).hexdigest()[:12]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": version} | body, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return version


def main(argv: list[str] | None = None) -> int:
    """``rag train [FILES] --index DIR --out FILE``: the defaults train on eval/train*.jsonl."""
    import argparse
    import glob
    import sys
    import time

    from .config import ROOT, from_env
    from .crossval import fold_count, report
    from .embedding import ModelNotFound
    from .engine import Engine
    from .evaluation import QuestionError, load_questions
    from .selector import DEFAULT_MODEL
    from .store import IndexLoadError

    p = argparse.ArgumentParser(prog="rag train", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                description="Fit the answer selector on the train questions.", epilog="example: "
                                "rag build sources ../shared/corpus --index /tmp/ix && rag train --index /tmp/ix")
    p.add_argument("questions", nargs="*", help="question files (default: eval/train*.jsonl)")
    p.add_argument("--index", default=None, help="an index of the questions' documents (default: index_dir)")
    p.add_argument("--out", default=str(DEFAULT_MODEL), help="where to write the model")
    p.add_argument("--cv", type=fold_count, default=0, metavar="K", help="write no model; print the scores on held-out "
                   "documents, K folds by document (rag/crossval.py)")
    p.add_argument("--seed", default="0", help="with --cv: the draw of the unanswerable questions' folds")
    args = p.parse_args(argv)
    files = args.questions or sorted(glob.glob(str(ROOT / "eval" / "train*.jsonl")))
    if any(Path(f).name.startswith("test") for f in files):
        print("rag train: refusing to train on a test file", file=sys.stderr)
        return 2
    try:
        questions = load_questions(files)
    except QuestionError as e:
        print(f"rag train: {e}", file=sys.stderr)
        return 2
    settings = (env := from_env()).replace(index_dir=args.index or env.index_dir)
    t0 = time.perf_counter()
    try:
        engine = Engine(settings)
        engine.index  # noqa: B018 - loaded and checked before any training output
        if args.cv:
            print(report(engine, questions, train, write, args.cv, args.seed, lambda m: print(m, file=sys.stderr)))
            return 0
        model, stats = train(engine, questions, lambda m: print(m, file=sys.stderr))
    except (IndexLoadError, ModelNotFound) as e:  # one line, as every rag command says it
        print(f"rag train: error: {e}", file=sys.stderr)
        return 2
    digests = {Path(f).name: hashlib.sha256(Path(f).read_bytes()).hexdigest()[:12] for f in files}
    meta = {"questions": len(questions), "files": digests, "index_id": engine.index.index_id,
            "documents": len(engine.index.documents), "model": settings.model} | stats
    version = write(model, Path(args.out), meta)
    print(f"wrote {args.out} (version {version}) from {len(questions)} questions in "
          f"{time.perf_counter() - t0:.0f}s; train simulation: {stats['train_simulation']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
