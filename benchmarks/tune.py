"""Choose the legacy composer's defaults on the dev set: chunking × k × composition, printed as one table.

    .venv/bin/python benchmarks/tune.py --chunks 120/24,160/40,200/40,240/48 --max-passages 1,2,3

Every option takes a comma-separated list; the grid is their product (defaults: the shipped settings).

Builds one index per chunking over sources/ + ../shared/corpus (cached under /tmp/rag-tune/BACKEND-SIZE-OVERLAP)
with the embedder the project ships (``rag.embedding.make_embedder(Settings())``: ONNX Runtime by default;
``--backend`` picks another), then runs the dev questions through every combination with the hand-set
composer of ``rag/answer.py`` (``composer = legacy``: the learned one has no such settings) and prints the
metrics the targets name.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.config import Settings  # noqa: E402
from rag.embedding import BACKENDS, make_embedder  # noqa: E402
from rag.engine import Engine  # noqa: E402
from rag.evaluation import evaluate, load_questions  # noqa: E402
from rag.indexing import build  # noqa: E402

COLUMNS = ["hit@5", "evidence_recall@5", "citation_precision", "answer_evidence_recall", "answered_rate",
           "abstained_rate", "answer_words", "best_threshold"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", default="200/40")
    ap.add_argument("--modes", default="hybrid")
    ap.add_argument("--k", default="5")
    ap.add_argument("--overlap-weight", default="0.5")
    ap.add_argument("--max-sentences", default="4")
    ap.add_argument("--cutoff", default="0.12")
    ap.add_argument("--abstain", default="0.55")
    ap.add_argument("--max-passages", default="2")
    ap.add_argument("--cue", default="0.1")
    ap.add_argument("--questions", default="eval/train_dev_sources.jsonl,eval/train_dev_corpus.jsonl")
    ap.add_argument("--backend", choices=BACKENDS, default=Settings().embedding_backend,
                    help="embedding backend (default: %(default)s, what ships)")
    args = ap.parse_args()
    questions = load_questions([ROOT / q for q in args.questions.split(",")])
    corpus = ROOT.parent / "shared" / "corpus"
    embedder = make_embedder(Settings(embedding_backend=args.backend))
    print(f"# embedder: {args.backend} ({type(embedder).__name__})", file=sys.stderr, flush=True)
    print(f"{'chunks':>7} {'mode':>6} {'k':>2} {'ow':>4} {'ms':>2} {'cut':>4} {'abst':>4} {'mp':>2} "
          f"{'cue':>4} "
          + " ".join(f"{c[:12]:>12}" for c in COLUMNS), flush=True)
    for chunking in args.chunks.split(","):
        size, overlap = map(int, chunking.split("/"))
        base = Settings(index_dir=f"/tmp/rag-tune/{args.backend}-{size}-{overlap}", chunk_tokens=size,
                        chunk_overlap=overlap, embedding_backend=args.backend,
                        composer="legacy")  # the settings tuned here are the hand-set composer's
        t = time.perf_counter()
        build([ROOT / "sources", corpus], base, embedder)
        print(f"# built {chunking} in {time.perf_counter() - t:.0f}s", file=sys.stderr, flush=True)
        engine = Engine(base, embedder)
        index = engine.index
        vectors: dict = {}
        grid = itertools.product(args.modes.split(","), map(int, args.k.split(",")),
                                 map(float, args.overlap_weight.split(",")),
                                 map(int, args.max_sentences.split(",")), map(float, args.cutoff.split(",")),
                                 map(float, args.abstain.split(",")), map(int, args.max_passages.split(",")),
                                 map(float, args.cue.split(",")))
        for mode, k, ow, ms, cut, ab, mp, cue in grid:
            s = base.replace(mode=mode, k=k, overlap_weight=ow, max_sentences=ms,
                             relative_cutoff=cut, abstain_below=ab, max_passages=mp,
                             cue_weight=cue)
            e = Engine(s, embedder)
            e._index = index
            m = evaluate(e, questions, mode, vectors=vectors)["metrics"]
            print(f"{chunking:>7} {mode:>6} {k:>2} {ow:>4} {ms:>2} {cut:>4} {ab:>4} {mp:>2} {cue:>4} "
                  + " ".join(f"{(m[c] if m[c] is not None else float('nan')):>12.3f}" for c in COLUMNS), flush=True)


if __name__ == "__main__":
    main()
