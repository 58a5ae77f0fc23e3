"""Run every benchmark once with its smallest options: a check that each still runs, not a measurement.

    .venv/bin/python benchmarks/smoke.py                      # all of them (minutes: each loads the model)
    .venv/bin/python benchmarks/smoke.py bench_scale load     # some of them
    .venv/bin/python benchmarks/smoke.py --list               # what runs, with which options

Results and indexes go to a temporary ``RAG_BENCH_CACHE``, so the raw figures of recorded runs in
/tmp/rag-bench stay as they are. A benchmark whose extra is not installed (LangChain: ``pip install -e
'.[bench]'``) is reported as skipped, with the reason. The figures in docs/benchmarks.md come only from the
full commands shown there; ``tests/test_docs.py`` checks that every benchmark a doc page runs is listed in
``RUNS`` below, so none is left without this check.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

RUNS: dict[str, list[list[str]]] = {  # benchmarks/NAME.py → the options of each smoke run
    "bench_query": [["--questions", "3", "--repeats", "1", "--no-threads", "--startup-repeats", "1"]],
    "bench_build": [["--corpus", "sources", "--backends", "onnx", "--question-repeats", "1", "--no-quality"]],
    "bench_langchain": [["--query-repeats", "1"]],
    "bench_scale": [["--sizes", "2000", "--queries", "20", "--tune-queries", "20", "--chart", "{tmp}/scale.png"],
                    ["--real-index", "--vectors", "real-like", "--sizes", "2000", "--load-runs", "1",
                     "--compare-copy", "--no-model"]],
    "bench_splitter": [["--no-curve", "--evidence"]],
    "compare_selectors": [[]],
    "alone": [[]],
    "tune": [["--chunks", "200/40", "--questions", "eval/train_dev_sources.jsonl"]],
    "load": [["--users", "2", "--seconds", "3", "--slice", "3", "--route", "both"]],
    "question_memory": [["--burst", "1", "--mb", "1", "--settle", "1"]],
}
NEEDS = {"bench_langchain": "langchain_community"}  # benchmark → a module only its extra installs


def run(name: str, options: list[str], tmp: str) -> tuple[str, float]:
    """("ok" | "skipped: why" | "FAILED (exit n)", seconds) of one smoke run; its output passes through."""
    module = NEEDS.get(name)
    if module and importlib.util.find_spec(module) is None:
        return f"skipped: {module} is not installed (pip install -e '.[bench]')", 0.0
    argv = [sys.executable, str(HERE / f"{name}.py"), *[o.replace("{tmp}", tmp) for o in options]]
    print(f"\n$ {' '.join(argv[1:])}", flush=True)
    t = time.perf_counter()
    code = subprocess.run(argv, cwd=HERE.parent, env={**os.environ, "RAG_BENCH_CACHE": tmp}, check=False).returncode
    return ("ok" if code == 0 else f"FAILED (exit {code})"), time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help=f"benchmarks to run (default: all: {', '.join(RUNS)})")
    ap.add_argument("--list", action="store_true", help="print what would run and stop")
    args = ap.parse_args()
    unknown = set(args.names) - set(RUNS)
    if unknown:
        ap.error(f"no smoke run for {', '.join(sorted(unknown))}; known: {', '.join(RUNS)}")
    names = args.names or list(RUNS)
    if args.list:
        for name in names:
            for options in RUNS[name]:
                print(f"benchmarks/{name}.py {' '.join(options)}")
        return 0
    results = []
    with tempfile.TemporaryDirectory(prefix="rag-smoke-") as tmp:
        for name in names:
            for options in RUNS[name]:
                results.append((name, options, *run(name, options, tmp)))
    print("\nsmoke runs:")
    for name, options, outcome, secs in results:
        print(f"  {secs:6.0f}s  benchmarks/{name}.py {' '.join(options)}: {outcome}")
    return 1 if any(r[2].startswith("FAILED") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
