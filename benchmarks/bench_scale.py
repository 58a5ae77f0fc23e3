"""Retrieval at 10k, 100k and 1M passages: build, size on disk, load time, memory, query p50/p95.

    .venv/bin/python benchmarks/bench_scale.py                                 # 10k + 100k
    .venv/bin/python benchmarks/bench_scale.py --sizes 10000,100000,1000000    # the full run (the 1M HNSW
        # build is most of it; docs/benchmarks.md says how long each run took)
    .venv/bin/python benchmarks/bench_scale.py --sizes 2000 --queries 20 --tune-queries 20   # a quick check
    .venv/bin/python benchmarks/bench_scale.py --real-index --vectors real-like --compare-copy   # the rag.store
        # format through its own writer and loader (benchmarks/scale_index.py); add --sizes 1000000 for 1M

Synthetic corpora, embedding skipped: random unit vectors of dimension 384 (all-MiniLM-L6-v2's) for
FAISS, and for BM25 passages of words drawn from the unigram distribution of ../shared/corpus (passage
lengths drawn from the real chunks' lengths), tokenised and indexed with ``rag.search.build_bm25``
(bm25s, English stop words, Snowball stemmer), exactly as a build does.

Per size:
- dense, exact: ``faiss.IndexFlatIP`` (what ``rag`` ships);
- dense, approximate: ``faiss.IndexHNSWFlat(384, 32)`` (inner product), efSearch = the smallest of
  ``--ef`` whose recall@10 against the exact search reaches ``--recall`` (default 0.95) on held-out
  queries, reported with that recall;
- BM25: ``rag.search.bm25_search`` (tokenise + ``get_scores`` + top 50) and bm25s's own ``retrieve``,
  queried with the real dev questions;
- hybrid: dense (flat or HNSW) + BM25 + reciprocal rank fusion (``rag.search.rrf_scores``).
Serving is measured in a fresh child process per dense index, which loads the saved FAISS and BM25
files: load time, resident memory (RSS) after loading and after querying, query p50/p95 (k = 50, the
candidates ``rag`` asks for), with FAISS OpenMP threads 1 and 2.

Random uniform vectors are the hardest case for HNSW (no clusters, every neighbour almost equally far);
real embeddings have far lower intrinsic dimension, so the efSearch found here is an upper bound.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as C  # noqa: E402
import synthetic as S  # noqa: E402

DIM = S.DIM
K = 50  # candidates rag asks each retriever for


# -- serving (child process) ----------------------------------------------------------------------------------

def serve(folder: Path, dense: str, ef: int, n_queries: int, faiss_threads: list[int], kind: str) -> dict:
    """Load the saved indexes, measure load time, RSS and query latencies; runs in a fresh process."""

    rss0 = C.rss_mib()
    import bm25s
    import faiss

    from rag.search import bm25_search, rrf_scores, tokenize

    rss_imports = C.rss_mib()
    t = time.perf_counter()
    index = faiss.read_index(str(folder / f"{dense}.faiss"))
    t_dense = time.perf_counter() - t
    if dense == "hnsw":
        index.hnsw.efSearch = ef
    rss_dense = C.rss_mib()
    t = time.perf_counter()
    bm25 = bm25s.BM25.load(str(folder / "bm25"))  # as rag.store.load_index does
    t_bm25 = time.perf_counter() - t
    rss_loaded = C.rss_mib()
    shim = SimpleNamespace(bm25=bm25, chunks=range(index.ntotal))
    queries = S.vectors(kind, n_queries, seed=7)
    questions = [q.question for q in C.dev_questions()]
    questions = [questions[i % len(questions)] for i in range(n_queries)]
    for i in range(5):  # warm-up
        index.search(queries[i:i + 1], K)
        bm25_search(shim, questions[i], K)
    res: dict = {"load_dense_s": t_dense, "load_bm25_s": t_bm25, "rss_start_mib": rss0,
                 "rss_imports_mib": rss_imports, "rss_dense_mib": rss_dense, "rss_loaded_mib": rss_loaded}
    for threads in faiss_threads:
        faiss.omp_set_num_threads(threads)
        lat = []
        for i in range(n_queries):
            t = time.perf_counter()
            index.search(queries[i:i + 1], K)
            lat.append(time.perf_counter() - t)
        res[f"dense_t{threads}"] = C.stats(lat)
    faiss.omp_set_num_threads(min(faiss_threads))
    bm, tok, ret, hyb = [], [], [], []
    vocab = bm25.vocab_dict
    for i in range(n_queries):
        q = questions[i]
        t = time.perf_counter()
        tokenize([q])
        tok.append(time.perf_counter() - t)
        t = time.perf_counter()
        bm25_search(shim, q, K)
        bm.append(time.perf_counter() - t)
        t = time.perf_counter()
        tokens = [w for w in tokenize([q])[0] if w in vocab]
        if tokens:
            bm25.retrieve([tokens], k=K, show_progress=False, n_threads=1)
        ret.append(time.perf_counter() - t)
        t = time.perf_counter()
        scores, ids = index.search(queries[i:i + 1], K)
        lexical = bm25_search(shim, q, K)
        rrf_scores([[int(x) for x in ids[0] if x >= 0], [j for j, _ in lexical]], 60)
        hyb.append(time.perf_counter() - t)
    res |= {"bm25_tokenize": C.stats(tok), "bm25_search": C.stats(bm), "bm25s_retrieve": C.stats(ret),
            "hybrid": C.stats(hyb), "rss_after_queries_mib": C.rss_mib(), "peak_rss_mib": C.peak_rss_mib()}
    return res


def run_child(folder: Path, dense: str, ef: int, n_queries: int, threads: str, kind: str) -> dict:
    cmd = [sys.executable, __file__, "--serve", str(folder), "--dense", dense, "--ef", str(ef),
           "--queries", str(n_queries), "--faiss-threads", threads, "--vectors", kind]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"serving child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- building -------------------------------------------------------------------------------------------------

def build_size(n: int, folder: Path, args: argparse.Namespace, text_model) -> dict:  # noqa: ANN001
    import faiss
    import numpy as np

    from rag.search import build_bm25

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    r: dict = {"n": n}

    def say(m: str) -> None:
        print(f"  [{n:,}] {m}", flush=True)

    t = time.perf_counter()
    x = S.vectors(args.vectors, n, seed=n)
    r["generate_vectors_s"] = time.perf_counter() - t
    # flat: build, ground truth for held-out queries, save
    t = time.perf_counter()
    flat = faiss.IndexFlatIP(DIM)
    flat.add(x)
    r["build_flat_s"] = time.perf_counter() - t
    tune_q = S.vectors(args.vectors, args.tune_queries, seed=3)
    t = time.perf_counter()
    _, truth = flat.search(tune_q, 10)
    r["exact_batch_search_s"] = time.perf_counter() - t
    t = time.perf_counter()
    faiss.write_index(flat, str(folder / "flat.faiss"))
    r["write_flat_s"] = time.perf_counter() - t
    r["disk_flat_mib"] = C.dir_mib(folder / "flat.faiss")
    del flat
    say(f"flat: built in {r['build_flat_s']:.1f}s, {r['disk_flat_mib']:.0f} MiB")
    # HNSW: build, tune efSearch for recall@10, save
    t = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(DIM, args.m, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = args.ef_construction
    for lo in range(0, n, 100_000):
        hnsw.add(x[lo:lo + 100_000])
        if n > 100_000:
            say(f"HNSW: {min(n, lo + 100_000):,} added, {time.perf_counter() - t:.0f}s")
    r["build_hnsw_s"] = time.perf_counter() - t
    del x
    recalls = {}
    chosen = None
    for ef in args.ef:
        hnsw.hnsw.efSearch = ef
        _, found = hnsw.search(tune_q, 10)
        recalls[ef] = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)]))
        if recalls[ef] >= args.recall:
            chosen = ef
            break
    r["hnsw_recall_by_ef"] = recalls
    r["hnsw_ef"] = chosen if chosen is not None else args.ef[-1]
    r["hnsw_recall@10"] = recalls[r["hnsw_ef"]]
    t = time.perf_counter()
    faiss.write_index(hnsw, str(folder / "hnsw.faiss"))
    r["write_hnsw_s"] = time.perf_counter() - t
    r["disk_hnsw_mib"] = C.dir_mib(folder / "hnsw.faiss")
    del hnsw
    say(f"HNSW: built in {r['build_hnsw_s']:.1f}s, efSearch {r['hnsw_ef']} → recall@10 {r['hnsw_recall@10']:.3f} "
        f"({', '.join(f'{k}: {v:.3f}' for k, v in recalls.items())})")
    # BM25 over generated text
    words, p, lengths = text_model
    t = time.perf_counter()
    texts = S.synthetic_texts(n, words, p, lengths, seed=n + 1)
    r["generate_text_s"] = time.perf_counter() - t
    r["text_mib"] = sum(len(s) for s in texts) / 2**20
    rss = C.rss_mib()
    t = time.perf_counter()
    bm25 = build_bm25(texts)
    r["build_bm25_s"] = time.perf_counter() - t
    r["build_bm25_rss_growth_mib"] = C.rss_mib() - rss
    del texts
    bm25.save(str(folder / "bm25"))
    r["disk_bm25_mib"] = C.dir_mib(folder / "bm25")
    del bm25
    say(f"BM25: {r['text_mib']:.0f} MiB of text indexed in {r['build_bm25_s']:.1f}s, {r['disk_bm25_mib']:.0f} MiB")
    for dense in ("flat", "hnsw"):
        r[f"serve_{dense}"] = run_child(folder, dense, r["hnsw_ef"], args.queries, args.faiss_threads,
                                       args.vectors)
        s = r[f"serve_{dense}"]
        say(f"serve {dense}: load {s['load_dense_s'] + s['load_bm25_s']:.2f}s, "
            f"RSS {s['rss_after_queries_mib']:.0f} MiB, dense p50 {s['dense_t1']['p50'] * 1e3:.2f} ms, "
            f"hybrid p50 {s['hybrid']['p50'] * 1e3:.2f} ms")
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return r


def crossover(points: list[tuple[int, float]], budget: float) -> float | None:
    """n at which a latency growing linearly with n (least squares through the points) reaches ``budget``."""
    import numpy as np

    if len(points) < 2:
        return None
    n, y = np.array([p[0] for p in points], float), np.array([p[1] for p in points], float)
    slope, icept = np.polyfit(n, y, 1)
    return float((budget - icept) / slope) if slope > 0 else None


def chart(out: Path, budget_ms: float = 50.0) -> Path | None:
    """Query p50 against corpus size from the saved results (uniform, and real-like when present)."""
    try:
        import matplotlib
    except ImportError:
        print("no chart: matplotlib is not installed (it is a benchmark-only extra)")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    styles = {"uniform": "-", "real-like": "--"}
    colours = {"flat": "tab:blue", "hnsw": "tab:orange", "bm25": "tab:green", "hybrid flat": "tab:red",
               "hybrid hnsw": "tab:purple"}
    for kind, style in styles.items():
        path = C.CACHE / "results" / f"scale-{kind}.json"
        if not path.exists():
            continue
        sizes = json.loads(path.read_text())["sizes"]
        ns = sorted(int(n) for n in sizes)
        rows = [sizes[str(n)] for n in ns]
        lines = {"flat": ("dense, exact (IndexFlatIP)", [r["serve_flat"]["dense_t1"]["p50"] for r in rows]),
                 "hnsw": ("dense, HNSW M=32 (recall@10 marked)", [r["serve_hnsw"]["dense_t1"]["p50"] for r in rows])}
        if kind == "real-like":
            lines["hybrid flat"] = ("hybrid: exact dense + BM25 + RRF",
                                    [r["serve_flat"]["hybrid"]["p50"] for r in rows])
            lines["hybrid hnsw"] = ("hybrid: HNSW dense + BM25 + RRF", [r["serve_hnsw"]["hybrid"]["p50"] for r in rows])
        else:
            lines["bm25"] = ("BM25 alone (rag bm25_search)", [r["serve_flat"]["bm25_search"]["p50"] for r in rows])
        for key, (label, ys) in lines.items():
            ax.plot(ns, [y * 1e3 for y in ys], style, marker="o", color=colours[key],
                    label=f"{label}, {kind} vectors" if key != "bm25" else label)
            if key == "hnsw":
                for n, y, r in zip(ns, ys, rows):
                    ax.annotate(f"{r['hnsw_recall@10']:.2f}", (n, y * 1e3), textcoords="offset points",
                                xytext=(6, -10 if kind == "real-like" else 4), fontsize=7, color=colours[key])
    ax.axhline(budget_ms, color="grey", linestyle=":", label=f"{budget_ms:.0f} ms p50 target (whole query)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("passages in the index")
    ax.set_ylabel("p50 per query, ms (one thread, k = 50)")
    ax.set_title("Retrieval latency against corpus size (2-core Xeon; embedding not included)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000", help="passages per corpus (default: 10000,100000)")
    ap.add_argument("--queries", type=int, default=300, help="timed queries per index (default: 300)")
    ap.add_argument("--tune-queries", type=int, default=200, help="held-out queries for recall (default: 200)")
    ap.add_argument("--recall", type=float, default=0.95, help="recall@10 efSearch must reach (default: 0.95)")
    ap.add_argument("--ef", default="16,32,64,128,256,512,1024,2048,4096", help="efSearch values tried, in order")
    ap.add_argument("--m", type=int, default=32, help="HNSW M (default: 32)")
    ap.add_argument("--ef-construction", type=int, default=40, help="HNSW efConstruction (default: FAISS's 40)")
    ap.add_argument("--faiss-threads", default="1,2", help="FAISS OpenMP threads compared when serving")
    ap.add_argument("--budget-ms", type=float, default=50.0, help="query p50 target (default: 50)")
    ap.add_argument("--vectors", choices=("uniform", "real-like"), default="uniform",
                    help="uniform random unit vectors, or drawn with the real vectors' mean and covariance")
    ap.add_argument("--keep", action="store_true", help="keep the built files under /tmp/rag-bench/scale")
    ap.add_argument("--chart", type=Path, default=C.ROOT / "benchmarks" / "charts" / "scale.png",
                    help="chart written from the saved results (default: benchmarks/charts/scale.png)")
    ap.add_argument("--chart-only", action="store_true", help="only redraw the chart from saved results")
    ap.add_argument("--real-index", action="store_true",
                    help="write each size as a real rag index (rag.builds.write_build + publish) and serve it "
                         "with rag.store.load_index, rag.retrieval.retrieve and rag.answer.compose in fresh "
                         "processes (benchmarks/scale_index.py)")
    ap.add_argument("--faiss", choices=("auto", "flat", "hnsw"), default="auto",
                    help="--real-index: FAISS index kind (default: auto, HNSW above Settings().hnsw_above)")
    ap.add_argument("--load-runs", type=int, default=3, help="--real-index: fresh processes timing load_index "
                                                              "(default: 3; the median is reported)")
    ap.add_argument("--compare-copy", action="store_true",
                    help="--real-index: also serve with faiss.read_index without flags (the file copied)")
    ap.add_argument("--no-model", action="store_true", help="--real-index: do not load the embedding model")
    ap.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--dense", default="flat", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        threads = [int(t) for t in args.faiss_threads.split(",")]
        print(json.dumps(serve(args.serve, args.dense, int(args.ef.split(",")[0]), args.queries, threads,
                               args.vectors)))
        return
    if args.chart_only:
        print(f"chart: {chart(args.chart, args.budget_ms)}")
        return
    args.ef = [int(e) for e in args.ef.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.real_index:
        import scale_index

        scale_index.run(args, sizes)
        return

    info = C.print_machine(f"bench_scale: synthetic corpora of {', '.join(f'{s:,}' for s in sizes)} passages, "
                           f"{args.vectors} vectors")
    t = time.perf_counter()
    text_model = S.corpus_model()
    print(f"word model from ../shared/corpus: {len(text_model[0]):,} distinct words, passages of "
          f"{text_model[2].mean():.0f} words on average ({time.perf_counter() - t:.1f}s)", flush=True)
    results = {"machine": info, "sizes": {}, "args": {k: v for k, v in vars(args).items() if k != "serve"}}
    for n in sizes:
        results["sizes"][n] = build_size(n, C.CACHE / "scale" / f"{args.vectors}-{n}", args, text_model)
        C.save_json(f"scale-{args.vectors}", results)

    thr = [int(t) for t in args.faiss_threads.split(",")]
    print(f"\nServing, each in a fresh process ({args.queries} queries, k = {K}); ms: p50 / p95")
    rows = []
    for n, r in results["sizes"].items():
        for dense in ("flat", "hnsw"):
            s = r[f"serve_{dense}"]
            ef = f" ef {r['hnsw_ef']}, recall@10 {r['hnsw_recall@10']:.3f}" if dense == "hnsw" else ""
            rows.append([f"{n:,}", dense + ef,
                         *[f"{s[f'dense_t{t}']['p50'] * 1e3:.2f} / {s[f'dense_t{t}']['p95'] * 1e3:.2f}" for t in thr],
                         f"{s['bm25_search']['p50'] * 1e3:.2f} / {s['bm25_search']['p95'] * 1e3:.2f}",
                         f"{s['bm25s_retrieve']['p50'] * 1e3:.2f}",
                         f"{s['hybrid']['p50'] * 1e3:.2f} / {s['hybrid']['p95'] * 1e3:.2f}",
                         f"{s['load_dense_s']:.2f} + {s['load_bm25_s']:.2f}",
                         f"{s['rss_after_queries_mib']:.0f}"])
    print(C.table(rows, ["passages", "dense index", *[f"dense (faiss {t} thr)" for t in thr],
                         "BM25 (rag bm25_search)", "bm25s retrieve p50", "hybrid", "load s (FAISS + BM25)",
                         "RSS MiB"]))
    print("\nBuilding (s) and size on disk (MiB):")
    rows = [[f"{n:,}", f"{r['build_flat_s']:.1f}", f"{r['build_hnsw_s']:.1f}", f"{r['build_bm25_s']:.1f}",
             f"{r['disk_flat_mib']:.0f}", f"{r['disk_hnsw_mib']:.0f}", f"{r['disk_bm25_mib']:.0f}",
             f"{r['text_mib']:.0f}"] for n, r in results["sizes"].items()]
    print(C.table(rows, ["passages", "flat build", "HNSW build", "BM25 build (tokenise + index)", "flat disk",
                         "HNSW disk", "BM25 disk", "passage text"]))
    best_t = min(thr, key=lambda t: sum(r["serve_flat"][f"dense_t{t}"]["p50"] for r in results["sizes"].values()))
    flat_dense = [(n, r["serve_flat"][f"dense_t{best_t}"]["p50"] * 1e3) for n, r in results["sizes"].items()]
    flat_hybrid = [(n, r["serve_flat"]["hybrid"]["p50"] * 1e3) for n, r in results["sizes"].items()]
    c1, c2 = crossover(flat_dense, args.budget_ms), crossover(flat_hybrid, args.budget_ms)
    results["crossover"] = {"flat_dense": c1, "flat_hybrid": c2}
    print(f"\nExact (flat) search grows linearly: dense p50 reaches {args.budget_ms:.0f} ms at ≈ "
          f"{c1:,.0f} passages, hybrid retrieval at ≈ {c2:,.0f} (linear fit through the measured sizes; add the "
          "question's embedding and composing, which bench_query.py measures, for the whole ask)." if c1 and c2 else "")
    out = C.save_json(f"scale-{args.vectors}", results)
    print(f"raw figures: {out}")
    print(f"chart: {chart(args.chart, args.budget_ms)}")


if __name__ == "__main__":
    main()
