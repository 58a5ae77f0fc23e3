"""Warm query latency of ``Engine.ask`` (retrieve + compose) against the bare floor, and thread settings.

    .venv/bin/python benchmarks/bench_query.py                 # ~1-2 min (first run also builds 2 indexes)
    .venv/bin/python benchmarks/bench_query.py --repeats 9 --batch-texts 1024

Over the dev questions (eval/dev_sources.jsonl + eval/dev_corpus.jsonl) on two indexes built with
``rag.indexing.build`` into /tmp/rag-bench: sources/, and sources/ + ../shared/corpus. For every question,
in the same loop: ``Engine.ask`` (warm: model and index loaded), then the floor = ``model.encode`` of the
question string + one FAISS search of the same index for the same number of candidates. Each repeat gives
a p50 and p95 over the questions; the script prints the median of the repeats with min and max.

Also: the ``Answer.timings_ms`` breakdown, a cProfile of retrieve + compose (where time goes beyond the
floor), and torch threads 1 vs 2 (one question; a batch as in a build) and FAISS OpenMP threads 1 vs 2.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as C  # noqa: E402


def ask_vs_floor(engine, questions: list[str], repeats: int) -> dict:
    """Per repeat: p50/p95 of Engine.ask and of the floor, interleaved question by question."""
    import numpy as np

    model = engine.embedder.warm_up()
    index = engine.index
    n = min(engine.settings.candidates, index.faiss_index.ntotal)
    for q in questions[:3]:  # untimed warm-up: lazy imports, stemmer, caches
        engine.ask(q)
    out = {"ours_p50": [], "ours_p95": [], "floor_p50": [], "floor_p95": [], "ratio_p50": [],
           "embed": [], "retrieve": [], "compose": [], "floor_embed": [], "floor_search": []}
    for _ in range(repeats):
        ours, floor, parts, f_embed, f_search = [], [], {"embed": [], "retrieve": [], "compose": []}, [], []
        for q in questions:
            t = time.perf_counter()
            answer = engine.ask(q)
            ours.append(time.perf_counter() - t)
            for k in parts:
                parts[k].append(answer.timings_ms[k] / 1e3)
            t0 = time.perf_counter()
            v = model.encode(q, normalize_embeddings=True, convert_to_numpy=True)
            t1 = time.perf_counter()
            index.faiss_index.search(np.asarray(v, dtype=np.float32).reshape(1, -1), n)
            t2 = time.perf_counter()
            floor.append(t2 - t0)
            f_embed.append(t1 - t0)
            f_search.append(t2 - t1)
        out["ours_p50"].append(C.percentile(ours, 50))
        out["ours_p95"].append(C.percentile(ours, 95))
        out["floor_p50"].append(C.percentile(floor, 50))
        out["floor_p95"].append(C.percentile(floor, 95))
        out["ratio_p50"].append(out["ours_p50"][-1] / out["floor_p50"][-1])
        for k in parts:
            out[k].append(C.percentile(parts[k], 50))
        out["floor_embed"].append(C.percentile(f_embed, 50))
        out["floor_search"].append(C.percentile(f_search, 50))
    return out


def profile_path(engine, questions: list[str], top: int) -> str:
    """cProfile of retrieve + compose only (question vectors computed beforehand)."""
    from rag.answer import compose
    from rag.retrieval import retrieve

    s, index = engine.settings, engine.index
    vectors = engine.embedder.encode(questions)
    prof = cProfile.Profile()
    prof.enable()
    for q, v in zip(questions, vectors):
        hits = retrieve(index, q, v, s.mode, s.k, s.candidates, s.rrf_k)
        compose(index, q, v, hits, s)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
    return "\n".join(lines[start:start + top + 1])


def stage_split(engine, questions: list[str], repeats: int) -> dict:
    """Median per-question ms of each retrieval stage and of compose, on vectors computed beforehand."""
    from rag.answer import compose
    from rag.retrieval import bm25_search, dense_search, retrieve, tokenize

    s, index = engine.settings, engine.index
    vectors = engine.embedder.encode(questions)
    steps = {
        "dense_search (FAISS)": lambda q, v: dense_search(index, v, s.candidates),
        "bm25 tokenize (bm25s + stemmer)": lambda q, v: tokenize([q]),
        "bm25_search (tokenize + get_scores + top)": lambda q, v: bm25_search(index, q, s.candidates),
        "retrieve (hybrid: both + RRF + hits)": lambda q, v: retrieve(index, q, v, s.mode, s.k, s.candidates,
                                                                     s.rrf_k),
    }
    out: dict[str, list[float]] = {k: [] for k in steps}
    out["compose"] = []
    for _ in range(repeats):
        per: dict[str, list[float]] = {k: [] for k in out}
        for q, v in zip(questions, vectors):
            for name, fn in steps.items():
                t = time.perf_counter()
                fn(q, v)
                per[name].append(time.perf_counter() - t)
            hits = retrieve(index, q, v, s.mode, s.k, s.candidates, s.rrf_k)
            t = time.perf_counter()
            compose(index, q, v, hits, s)
            per["compose"].append(time.perf_counter() - t)
        for k in out:
            out[k].append(C.percentile(per[k], 50))
    return out


def thread_settings(engine, questions: list[str], texts: list[str], repeats: int, threads: list[int]) -> dict:
    """torch threads for one question and for a batch; FAISS omp threads for search; both for Engine.ask."""
    import faiss
    import numpy as np
    import torch

    model = engine.embedder.warm_up()
    index = engine.index
    torch0, faiss0 = torch.get_num_threads(), faiss.omp_get_max_threads()
    res: dict = {"question_encode_p50": {}, "batch_texts_per_s": {}, "faiss_search_p50": {},
                 "faiss_batch64_p50": {}, "ask_p50": {}}
    rng = np.random.default_rng(0)
    big = rng.standard_normal((100_000, index.faiss_index.d)).astype(np.float32)
    big /= np.linalg.norm(big, axis=1, keepdims=True)
    big_index = faiss.IndexFlatIP(index.faiss_index.d)
    big_index.add(big)
    qv = np.asarray(engine.embedder.encode(questions), dtype=np.float32)
    try:
        for t in threads:
            torch.set_num_threads(t)
            per = []
            for _ in range(repeats):
                times = []
                for q in questions:
                    t0 = time.perf_counter()
                    model.encode(q, normalize_embeddings=True, convert_to_numpy=True)
                    times.append(time.perf_counter() - t0)
                per.append(C.percentile(times, 50))
            res["question_encode_p50"][t] = per
            batch = []
            for _ in range(max(1, repeats // 2)):
                t0 = time.perf_counter()
                engine.embedder.encode(texts)
                batch.append(len(texts) / (time.perf_counter() - t0))
            res["batch_texts_per_s"][t] = batch
        torch.set_num_threads(torch0)
        for t in threads:
            faiss.omp_set_num_threads(t)
            for name, idx in (("faiss_search_p50", index.faiss_index), ("faiss_search_100k_p50", big_index)):
                per = []
                for _ in range(repeats):
                    times = []
                    for v in qv:
                        t0 = time.perf_counter()
                        idx.search(v.reshape(1, -1), 50)
                        times.append(time.perf_counter() - t0)
                    per.append(C.percentile(times, 50))
                res.setdefault(name, {})[t] = per
            per = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                big_index.search(qv[:64], 50)
                per.append(time.perf_counter() - t0)
            res["faiss_batch64_p50"][t] = per
        for tt in threads:
            for ft in threads:
                torch.set_num_threads(tt)
                faiss.omp_set_num_threads(ft)
                per = []
                for _ in range(repeats):
                    times = []
                    for q in questions:
                        t0 = time.perf_counter()
                        engine.ask(q)
                        times.append(time.perf_counter() - t0)
                    per.append(C.percentile(times, 50))
                res["ask_p50"][f"torch {tt}, faiss {ft}"] = per
    finally:
        torch.set_num_threads(torch0)
        faiss.omp_set_num_threads(faiss0)
    res["defaults"] = {"torch": torch0, "faiss": faiss0}
    return res


# -- start-up: cold processes ---------------------------------------------------------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cold_ask(index_dir: str, question: str, importtime: bool = False) -> tuple[float, str]:
    """Seconds from starting `rag ask` (a new process, existing index) to its exit with an answer."""
    import subprocess

    cmd = [sys.executable] + (["-X", "importtime"] if importtime else []) + [
        "-c", "import sys; from rag.cli import main; sys.exit(main(sys.argv[1:]))",
        "ask", "--index", index_dir, question]
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=C.ROOT, check=False)
    secs = time.perf_counter() - t
    if out.returncode != 0 or not out.stdout.strip():
        raise RuntimeError(f"rag ask failed ({out.returncode}): {out.stderr[-2000:]}")
    return secs, out.stderr


def cold_ui(index_dir: str, importtime: bool = False, limit_s: float = 180.0) -> tuple[float, str]:
    """Seconds from starting `python ui.py --port FREE` (existing index) to an HTTP 200 on /."""
    import subprocess
    import tempfile
    import urllib.request

    port = _free_port()
    cmd = [sys.executable] + (["-X", "importtime"] if importtime else []) + [
        str(C.ROOT / "ui.py"), "--port", str(port), "--index", index_dir]
    with tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=C.ROOT, stdout=subprocess.DEVNULL, stderr=err, text=True)
        try:
            while True:
                if proc.poll() is not None:
                    err.seek(0)
                    raise RuntimeError(f"ui.py exited with {proc.returncode}: {err.read()[-2000:]}")
                if time.perf_counter() - t > limit_s:
                    raise RuntimeError(f"ui.py gave no HTTP 200 within {limit_s:.0f}s")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                        if r.status == 200:
                            secs = time.perf_counter() - t
                            break
                except OSError:
                    time.sleep(0.05)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        err.seek(0)
        return secs, err.read()


def import_summary(stderr: str, top: int = 8) -> tuple[float, list[tuple[str, float]]]:
    """(seconds of all imports, [(package, seconds)]) from ``-X importtime`` output: each package's own
    (self) time summed over its modules, so torch imported by sentence_transformers counts as torch."""
    per: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, _, name = (x for x in line[len("import time:"):].split("|"))
        pkg = name.strip().split(".")[0]
        per[pkg] = per.get(pkg, 0.0) + int(own) / 1e6
    return sum(per.values()), sorted(per.items(), key=lambda kv: -kv[1])[:top]


def startup(index_dir: str, question: str, repeats: int) -> dict:
    ask = [cold_ask(index_dir, question)[0] for _ in range(repeats)]
    ui = [cold_ui(index_dir)[0] for _ in range(repeats)]
    ask_imports = import_summary(cold_ask(index_dir, question, importtime=True)[1])
    ui_imports = import_summary(cold_ui(index_dir, importtime=True)[1])
    return {"rag_ask_s": ask, "ui_http200_s": ui, "rag_ask_imports": ask_imports, "ui_imports": ui_imports}


def best(d: dict, higher: bool = False) -> str:
    import statistics

    key = (max if higher else min)(d, key=lambda k: statistics.median(d[k]))
    return str(key)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5, help="passes over the dev questions (default: 5)")
    ap.add_argument("--threads", default="1,2", help="thread counts to compare (default: 1,2)")
    ap.add_argument("--batch-texts", type=int, default=256,
                    help="index texts encoded per batch-throughput run (default: 256)")
    ap.add_argument("--no-threads", action="store_true", help="skip the thread-settings section")
    ap.add_argument("--no-startup", action="store_true", help="skip the cold start-up section")
    ap.add_argument("--startup-repeats", type=int, default=3, help="cold starts of each face (default: 3)")
    ap.add_argument("--profile-top", type=int, default=12, help="functions shown by cProfile (default: 12)")
    args = ap.parse_args()

    info = C.print_machine("bench_query: warm Engine.ask vs the floor (model.encode of one string + one FAISS search)")
    from rag.embedding import SentenceTransformerEmbedder
    from rag.engine import Engine

    embedder = SentenceTransformerEmbedder()
    t = time.perf_counter()
    embedder.warm_up()
    print(f"model loaded in {time.perf_counter() - t:.1f}s")
    questions = [q.question for q in C.dev_questions()]
    results: dict = {"machine": info, "questions": len(questions), "repeats": args.repeats, "indexes": {}}
    rows = []
    engines = {}
    for name, roots in (("sources", [C.SOURCES]), ("sources+corpus", [C.SOURCES, C.CORPUS])):
        s, secs = C.ensure_index("q-" + name.replace("+", "-"), roots, embedder)
        engine = Engine(s, embedder)
        m = engine.index.manifest
        print(f"index {name}: {m['n_documents']} documents, {m['n_chunks']} chunks, {m['n_sentences']} sentences "
              f"(build or check {secs:.1f}s) at {s.index_dir}", flush=True)
        r = ask_vs_floor(engine, questions, args.repeats)
        results["indexes"][name] = {"n_chunks": m["n_chunks"], "n_sentences": m["n_sentences"], **r}
        rows.append([name, m["n_chunks"], C.mmm(r["ours_p50"], 1e3, 1), C.mmm(r["ours_p95"], 1e3, 1),
                     C.mmm(r["floor_p50"], 1e3, 1), C.mmm(r["floor_p95"], 1e3, 1), C.mmm(r["ratio_p50"], 1, 2),
                     "≤ 1.5"])
        engines[name] = engine
    results["rss_mib_serving"] = C.rss_mib()
    print(f"\n{len(questions)} questions × {args.repeats} repeats; ms, median of repeats (min–max); process RSS "
          f"with the model and both indexes loaded: {results['rss_mib_serving']:.0f} MiB")
    print(C.table(rows, ["index", "chunks", "ask p50", "ask p95", "floor p50", "floor p95",
                         "ratio p50 ours/floor", "target"]))

    print("\nBreakdown (per-question p50, ms; Answer.timings_ms, and the floor's parts):")
    rows = []
    for name, r in results["indexes"].items():
        rows.append([name, C.mmm(r["embed"], 1e3, 2), C.mmm(r["retrieve"], 1e3, 2), C.mmm(r["compose"], 1e3, 2),
                     C.mmm(r["floor_embed"], 1e3, 2), C.mmm(r["floor_search"], 1e3, 3)])
    print(C.table(rows, ["index", "embed", "retrieve", "compose", "floor: encode", "floor: FAISS search"]))

    full = engines["sources+corpus"]
    split = stage_split(full, questions, args.repeats)
    results["stages"] = split
    print("\nStages on sources+corpus (per-question p50, ms, question vectors precomputed):")
    print(C.table([[k, C.mmm(v, 1e3, 3)] for k, v in split.items()], ["stage", "p50 ms"]))
    print(f"\ncProfile of retrieve + compose over {len(questions)} questions on sources+corpus "
          "(sorted by own time):")
    print(profile_path(full, questions, args.profile_top))

    if not args.no_threads:
        threads = [int(x) for x in args.threads.split(",")]
        idx = full.index
        step = max(1, (len(idx.chunks) + len(idx.sentence_rows)) // args.batch_texts)
        pool = [c.text for c in idx.chunks] + [idx.sentence(i)[1].text for i in range(len(idx.sentence_rows))]
        texts = pool[::step][:args.batch_texts]
        th = thread_settings(full, questions, texts, args.repeats, threads)
        results["threads"] = th
        print(f"\nThread settings (defaults here: torch {th['defaults']['torch']}, FAISS omp "
              f"{th['defaults']['faiss']}); median of repeats (min–max):")
        rows = []
        for t in threads:
            rows.append([f"torch {t}", "one question: model.encode p50",
                         C.mmm(th["question_encode_p50"][t], 1e3, 2, " ms")])
        for t in threads:
            rows.append([f"torch {t}", f"batch of {len(texts)} index texts",
                         C.mmm(th["batch_texts_per_s"][t], 1, 0, " texts/s")])
        for t in threads:
            rows.append([f"faiss {t}", f"one search, {idx.faiss_index.ntotal} vectors, k=50",
                         C.mmm(th["faiss_search_p50"][t], 1e3, 3, " ms")])
        for t in threads:
            rows.append([f"faiss {t}", "one search, 100k random vectors, k=50",
                         C.mmm(th["faiss_search_100k_p50"][t], 1e3, 2, " ms")])
        for t in threads:
            rows.append([f"faiss {t}", "64 searches at once, 100k vectors",
                         C.mmm(th["faiss_batch64_p50"][t], 1e3, 1, " ms")])
        for k, v in th["ask_p50"].items():
            rows.append([k, "Engine.ask p50 (sources+corpus)", C.mmm(v, 1e3, 2, " ms")])
        print(C.table(rows, ["setting", "what", "median (min–max)"]))
        print("best: one question → torch " + best(th["question_encode_p50"])
              + "; batch (build) → torch " + best(th["batch_texts_per_s"], higher=True)
              + "; one search → faiss " + best(th["faiss_search_p50"])
              + " (100k: faiss " + best(th["faiss_search_100k_p50"]) + "); batched search → faiss "
              + best(th["faiss_batch64_p50"]) + "; Engine.ask → " + best(th["ask_p50"]))
    if not args.no_startup:
        st = startup(str(full.settings.index_dir), questions[0], args.startup_repeats)
        results["startup"] = st
        print(f"\nStart-up with an existing index (sources+corpus), {args.startup_repeats} cold starts each, "
              "s, median (min–max):")
        print(C.table([["`rag ask QUESTION` → answer printed, process exits", C.mmm(st["rag_ask_s"], 1, 2)],
                       ["`python ui.py --port FREE` → HTTP 200 on /", C.mmm(st["ui_http200_s"], 1, 2)]],
                      ["cold start", "seconds"]))
        for name, (total, top) in (("rag ask", st["rag_ask_imports"]), ("ui.py", st["ui_imports"])):
            print(f"{name}: imports take {total:.2f}s (python -X importtime, one run; own time of each "
                  "package's modules): " + ", ".join(f"{p} {t:.2f}" for p, t in top))
    out = C.save_json("query", results)
    print(f"\nraw figures: {out}")


if __name__ == "__main__":
    main()
