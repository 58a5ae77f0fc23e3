"""Each held-out document alone: what a user who indexes one document of their own gets.

    .venv/bin/python benchmarks/alone.py [--index DIR] [--seed 0]

The train questions are split into the document folds of ``rag train --cv 3`` (``rag.crossval.folds``).
Each fold's model is trained on the other folds' questions over ``--index`` (an index of `sources/` and
``../shared/corpus``; default: built once in the benchmark cache), as ``--cv`` does; then every document
of the held-out fold is indexed alone (from the path the index recorded, once, in the benchmark cache),
and the fold's answerable questions about that document
alone are asked over that one-document index, by the legacy composer and by the fold's model. Printed:
the held-out questions' answered share, answer evidence recall, citation precision and hit@5, over all
folds. Only the train split is read: a setting chosen on these figures is chosen on train.
"""

from __future__ import annotations

import argparse
import glob
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as C  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", default=None, help="an index of sources/ + ../shared/corpus (default: built once)")
    p.add_argument("--seed", default="0", help="the fold seed, as rag train --cv --seed")
    args = p.parse_args()

    from rag import crossval, selector
    from rag import train as T
    from rag.engine import Engine
    from rag.evaluation import EvidenceCheck, configure, evaluate, load_questions
    from rag.indexing import build

    C.print_machine("alone: each held-out train document in an index of its own")
    embedder = C.embedder_for()
    settings = C.corpus_settings(args.index, embedder)
    questions = load_questions(sorted(glob.glob(str(C.ROOT / "eval" / "train*.jsonl"))))
    engine = Engine(settings, embedder)
    paths = {Path(d["path"]).name: d["path"] for d in engine.index.manifest["documents"]}
    where = crossval.folds(questions, 3, args.seed)
    runs: dict[str, list[dict]] = {"legacy": [], "learned": []}
    with tempfile.TemporaryDirectory(prefix="rag-alone-") as tmp:
        for f in range(3):
            fit = [q for q, w in zip(questions, where) if w != f]
            held = [q for q, w in zip(questions, where) if w == f and q.answerable and len(set(q.sources)) == 1]
            model, _ = T.train(engine, fit, lambda m: None)
            path = Path(tmp) / f"fold{f}.json"
            T.write(model, path, {})
            selector.load.cache_clear()
            for doc in sorted({q.sources[0] for q in held}):
                alone = C.settings_for(C.CACHE / "alone" / Path(doc).stem)
                if not (Path(alone.index_dir) / "current").exists():
                    build([paths[doc]], alone, engine.embedder)
                small = Engine(alone, engine.embedder)
                mine, check = [q for q in held if q.sources[0] == doc], EvidenceCheck(small.index)
                for config in runs:
                    settings = configure(small.settings.replace(selector_model=str(path)), config)
                    runs[config] += evaluate(small.with_settings(settings), mine, config, check=check)["questions"]
    print(f"each held-out document alone, seed {args.seed}: {len(runs['learned'])} answerable questions")
    print(f"{'config':8s} {'answered':>9s} {'recall':>7s} {'precision':>9s} {'hit@5':>6s}")
    for config, recs in runs.items():
        answered = statistics.mean(0.0 if r["abstained"] else 1.0 for r in recs)
        recall = statistics.mean(r["answer_evidence_recall"] or 0.0 for r in recs)
        precision = statistics.mean(r["citation_precision"] for r in recs if r["citation_precision"] is not None)
        hit5 = statistics.mean(r["hit@5"] or 0.0 for r in recs)
        print(f"{config:8s} {answered:9.3f} {recall:7.3f} {precision:9.3f} {hit5:6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
