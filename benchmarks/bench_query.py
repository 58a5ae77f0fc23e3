"""Warm query latency of ``Engine.ask`` (retrieve + compose) against the bare floor, threads, and start-up.

    .venv/bin/python benchmarks/bench_query.py                 # everything (the first run also builds 2 indexes)
    .venv/bin/python benchmarks/bench_query.py --repeats 9 --batch-texts 1024
    .venv/bin/python benchmarks/bench_query.py --backend torch --no-startup   # the torch backend instead

The embedder is the one the engine ships with: ``rag.embedding.make_embedder(Settings())`` (ONNX Runtime
by default; ``--backend`` picks another). Over the dev questions (eval/train_dev_sources.jsonl +
eval/train_dev_corpus.jsonl) on two indexes built with that embedder by ``rag.indexing.build`` into
/tmp/rag-bench: sources/, and sources/ + ../shared/corpus. For every question, in the same loop:
``Engine.ask`` (warm: model and index loaded), then the floor = the same embedder's ``encode([question])``
+ one FAISS search of the same index for the same number of candidates. Each repeat gives a p50 and p95
over the questions; the script prints the median of the repeats with min and max.

Also: the ``Answer.timings_ms`` breakdown, a cProfile of retrieve + compose (where time goes beyond the
floor); threads: ONNX Runtime intra-op threads 1 vs 2 vs its default (what ships) and torch threads 1 vs 2
(one question; a batch as in a build; ``Engine.ask`` with FAISS OpenMP threads 1 and 2), FAISS threads
alone; and cold start-up of `rag ask` and `python ui.py` with the shipped backend and with
RAG_EMBEDDING_BACKEND=torch.
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

    embedder, index = engine.embedder, engine.index
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
            v = embedder.encode([q])
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


def composers(engine, questions: list[str], repeats: int) -> dict:
    """``Engine.ask`` p50 of today's shipped composer (learned ranker + selector) against the hand-set one it
    replaced (hybrid RRF + ``rag.answer``), interleaved question by question on the same index and embedder."""
    from rag.engine import Engine

    legacy = Engine(engine.settings.replace(composer="legacy", mode="hybrid"), engine.embedder)
    for q in questions[:3]:
        legacy.ask(q)
        engine.ask(q)
    out: dict = {"legacy_p50": [], "learned_p50": [], "ratio_p50": []}
    for _ in range(repeats):
        times: dict = {"legacy": [], "learned": []}
        for q in questions:
            for name, e in (("legacy", legacy), ("learned", engine)):
                t = time.perf_counter()
                e.ask(q)
                times[name].append(time.perf_counter() - t)
        out["legacy_p50"].append(C.percentile(times["legacy"], 50))
        out["learned_p50"].append(C.percentile(times["learned"], 50))
        out["ratio_p50"].append(out["learned_p50"][-1] / out["legacy_p50"][-1])
    return out


def profile_path(engine, questions: list[str], top: int) -> str:
    """cProfile of retrieve + compose only (question vectors computed beforehand)."""
    from rag.compose import compose
    from rag.retrieval import retrieve

    s, index, model = engine.settings, engine.index, engine.model
    depth = max(s.k, model.policy.select_passages)
    vectors = engine.embedder.encode(questions)
    prof = cProfile.Profile()
    prof.enable()
    for q, v in zip(questions, vectors):
        hits = retrieve(index, q, v, s.mode, depth, s.candidates, s.rrf_k, ranker=model.ranker)
        compose(index, q, v, hits, model, s.k)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
    return "\n".join(lines[start:start + top + 1])


def stage_split(engine, questions: list[str], repeats: int) -> dict:
    """Median per-question ms of each retrieval stage and of compose, on vectors computed beforehand."""
    from rag.compose import compose
    from rag.rerank import gather
    from rag.retrieval import retrieve
    from rag.search import bm25_search, dense_search, index_idf, tokenize

    s, index, model = engine.settings, engine.index, engine.model
    depth = max(s.k, model.policy.select_passages)
    vectors = engine.embedder.encode(questions)
    steps = {
        "dense_search (FAISS)": lambda q, v: dense_search(index, v, s.candidates),
        "bm25 tokenize (bm25s + stemmer)": lambda q, v: tokenize([q]),
        "bm25_search (tokenize + get_scores + top)": lambda q, v: bm25_search(index, q, s.candidates),
        "gather (three searches + signals)": lambda q, v: gather(index, q, v, s.candidates, index_idf(index)),
        "retrieve (learned: gather + ranker + hits)": lambda q, v: retrieve(
            index, q, v, s.mode, depth, s.candidates, s.rrf_k, ranker=model.ranker),
    }
    out: dict[str, list[float]] = {k: [] for k in steps}
    out["compose (learned selector)"] = []
    for _ in range(repeats):
        per: dict[str, list[float]] = {k: [] for k in out}
        for q, v in zip(questions, vectors):
            for name, fn in steps.items():
                t = time.perf_counter()
                fn(q, v)
                per[name].append(time.perf_counter() - t)
            hits = retrieve(index, q, v, s.mode, depth, s.candidates, s.rrf_k, ranker=model.ranker)
            t = time.perf_counter()
            compose(index, q, v, hits, model, s.k)
            per["compose (learned selector)"].append(time.perf_counter() - t)
        for k in out:
            out[k].append(C.percentile(per[k], 50))
    return out


def encoder_threads(variants: dict, questions: list[str], texts: list[str], repeats: int) -> dict:
    """For each variant (label → (embedder, setup)): one-question ``encode([q])`` p50 per repeat, and
    texts/s encoding ``texts`` in one call as a build does. Variants interleaved within every repeat."""
    res: dict = {"question_encode_p50": {k: [] for k in variants}, "batch_texts_per_s": {k: [] for k in variants}}
    for embedder, setup in variants.values():
        setup()
        embedder.encode(questions[:3])
    for r in range(repeats):
        for label in C.rotated(list(variants), r):
            embedder, setup = variants[label]
            setup()
            times = []
            for q in questions:
                t0 = time.perf_counter()
                embedder.encode([q])
                times.append(time.perf_counter() - t0)
            res["question_encode_p50"][label].append(C.percentile(times, 50))
    for r in range(max(1, repeats // 2)):
        for label in C.rotated(list(variants), r):
            embedder, setup = variants[label]
            setup()
            t0 = time.perf_counter()
            embedder.encode(texts)
            res["batch_texts_per_s"][label].append(len(texts) / (time.perf_counter() - t0))
    return res


def ask_threads(engines: dict, questions: list[str], repeats: int, faiss_counts: list[int]) -> dict:
    """``Engine.ask`` p50 per repeat for each engine (label → (engine, setup)) × FAISS OpenMP threads."""
    import faiss

    out: dict[str, list[float]] = {}
    try:
        for r in range(repeats):
            for label in C.rotated(list(engines), r):
                engine, setup = engines[label]
                for ft in faiss_counts:
                    setup()
                    faiss.omp_set_num_threads(ft)
                    times = []
                    for q in questions:
                        t0 = time.perf_counter()
                        engine.ask(q)
                        times.append(time.perf_counter() - t0)
                    out.setdefault(f"{label}, faiss {ft}", []).append(C.percentile(times, 50))
    finally:
        faiss.omp_set_num_threads(1)  # what Engine sets
    return out


def faiss_threads(index, qv, repeats: int, threads: list[int]) -> dict:  # noqa: ANN001
    """FAISS OpenMP threads for one search (this index, and 100k random vectors) and 64 searches at once."""
    import faiss
    import numpy as np

    rng = np.random.default_rng(0)
    big = rng.standard_normal((100_000, index.faiss_index.d)).astype(np.float32)
    big /= np.linalg.norm(big, axis=1, keepdims=True)
    big_index = faiss.IndexFlatIP(index.faiss_index.d)
    big_index.add(big)
    res: dict = {"faiss_search_p50": {}, "faiss_search_100k_p50": {}, "faiss_batch64_p50": {}}
    faiss0 = faiss.omp_get_max_threads()
    try:
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
                res[name][t] = per
            per = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                big_index.search(qv[:64], 50)
                per.append(time.perf_counter() - t0)
            res["faiss_batch64_p50"][t] = per
    finally:
        faiss.omp_set_num_threads(faiss0)
    return res


def thread_settings(full, questions: list[str], texts: list[str], repeats: int, threads: list[int]) -> dict:  # noqa: ANN001
    """ONNX Runtime intra-op threads (each count its own session of the same export; ``default`` = the
    engine's own session, ONNX Runtime's choice: what ships), then torch threads, then FAISS threads.
    ONNX first, before torch is imported (torch's idle OpenMP threads would share the cores)."""
    import os

    import numpy as np

    from rag.engine import Engine

    def variant_engine(embedder):  # noqa: ANN001, ANN202 - same settings and loaded index, another embedder
        engine = Engine(full.settings, embedder)
        engine._index = full.index
        return engine

    def noop() -> None:
        pass

    kind = C.backend_of(full.embedder) if C.backend_of(full.embedder).startswith("onnx") else "onnx"
    onnx: dict = {f"{kind} {t}": (C.embedder_for(kind, ort_threads=t), noop) for t in threads}
    onnx[f"{kind} default"] = ((full.embedder, noop) if C.backend_of(full.embedder) == kind
                               else (C.embedder_for(kind), noop))
    for embedder, _ in onnx.values():
        C.warm(embedder, kind)
    res: dict = {"torch_imported_before": "torch" in sys.modules}
    res["onnx"] = encoder_threads(onnx, questions, texts, repeats)
    res["onnx"]["ask_p50"] = ask_threads({k: (variant_engine(e), s) for k, (e, s) in onnx.items()}, questions,
                                         repeats, threads)

    import torch

    from rag.embedding import SentenceTransformerEmbedder

    torch0 = torch.get_num_threads()
    torch_e = (full.embedder if C.backend_of(full.embedder) == "torch" else SentenceTransformerEmbedder())
    torch_e.warm_up()
    tv: dict = {f"torch {t}": (torch_e, lambda t=t: torch.set_num_threads(t)) for t in threads}
    try:
        res["torch"] = encoder_threads(tv, questions, texts, repeats)
        engine = variant_engine(torch_e)
        res["torch"]["ask_p50"] = ask_threads({k: (engine, s) for k, (_, s) in tv.items()}, questions, repeats,
                                              threads)
    finally:
        torch.set_num_threads(torch0)
    qv = np.asarray(full.embedder.encode(questions), dtype=np.float32)
    res |= faiss_threads(full.index, qv, repeats, threads)
    res["defaults"] = {"torch": torch0, "faiss (Engine)": 1, "cores": os.cpu_count()}
    return res


# -- start-up: cold processes ---------------------------------------------------------------------------------

def cold_ask(index_dir: str, question: str, importtime: bool = False, env: dict | None = None) -> tuple[float, str]:
    """Seconds from starting `rag ask` (a new process, existing index) to its exit with an answer."""
    import subprocess

    cmd = [sys.executable] + (["-X", "importtime"] if importtime else []) + [
        "-c", "import sys; from rag.cli import main; sys.exit(main(sys.argv[1:]))",
        "ask", "--index", index_dir, question]
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=C.ROOT, check=False, env=env)
    secs = time.perf_counter() - t
    if out.returncode != 0 or not out.stdout.strip():
        raise RuntimeError(f"rag ask failed ({out.returncode}): {out.stderr[-2000:]}")
    return secs, out.stderr


def cold_ui(index_dir: str, importtime: bool = False, limit_s: float = 180.0,
            env: dict | None = None) -> tuple[float, str]:
    """Seconds from starting `python ui.py --port FREE` (existing index) to an HTTP 200 on /."""
    import subprocess
    import tempfile
    import urllib.request

    port = C.free_port()
    cmd = [sys.executable] + (["-X", "importtime"] if importtime else []) + [
        str(C.ROOT / "ui.py"), "--port", str(port), "--index", index_dir]
    with tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=C.ROOT, stdout=subprocess.DEVNULL, stderr=err, text=True,
                                env=env)
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


def imported(stderr: str, package: str) -> bool:
    """Whether ``-X importtime`` output shows ``package`` being imported."""
    return any(line.startswith("import time:") and line.rsplit("|", 1)[-1].strip().split(".")[0] == package
               for line in stderr.splitlines())


def startup(index_dir: str, question: str, repeats: int, backends: list[str]) -> dict:
    """Cold `rag ask` and `ui.py` → HTTP 200 with each backend (RAG_EMBEDDING_BACKEND; "" = unset, the
    shipped default); backends interleaved in every repeat. Then one ``-X importtime`` run of each."""
    import os

    envs = {}
    for b in backends:
        env = {k: v for k, v in os.environ.items() if k != "RAG_EMBEDDING_BACKEND"}
        if b:
            env["RAG_EMBEDDING_BACKEND"] = b
        envs[b or "default"] = env
    res: dict = {k: {"rag_ask_s": [], "ui_http200_s": []} for k in envs}
    for r in range(repeats):
        for k in C.rotated(list(envs), r):
            res[k]["rag_ask_s"].append(cold_ask(index_dir, question, env=envs[k])[0])
        for k in C.rotated(list(envs), r):
            res[k]["ui_http200_s"].append(cold_ui(index_dir, env=envs[k])[0])
    for k, env in envs.items():
        ask_err = cold_ask(index_dir, question, importtime=True, env=env)[1]
        ui_err = cold_ui(index_dir, importtime=True, env=env)[1]
        res[k] |= {"rag_ask_imports": import_summary(ask_err), "ui_imports": import_summary(ui_err),
                   "rag_ask_imports_torch": imported(ask_err, "torch"), "ui_imports_torch": imported(ui_err, "torch")}
    return res


def best(d: dict, higher: bool = False) -> str:
    import statistics

    key = (max if higher else min)(d, key=lambda k: statistics.median(d[k]))
    return str(key)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5, help="passes over the dev questions (default: 5)")
    ap.add_argument("--backend", choices=C.BACKENDS, default=C.shipped_backend(),
                    help="embedding backend of the engine and the floor (default: %(default)s, what ships)")
    ap.add_argument("--threads", default="1,2", help="thread counts to compare (default: 1,2)")
    ap.add_argument("--batch-texts", type=int, default=256,
                    help="index texts encoded per batch-throughput run (default: 256)")
    ap.add_argument("--no-threads", action="store_true", help="skip the thread-settings section")
    ap.add_argument("--composers-only", action="store_true",
                    help="stop after the ask-vs-floor and composer tables")
    ap.add_argument("--no-startup", action="store_true", help="skip the cold start-up section")
    ap.add_argument("--startup-repeats", type=int, default=3,
                    help="cold starts of each face with each backend (default: 3)")
    ap.add_argument("--questions", type=int, default=0,
                    help="use only the first N dev questions (default: all; a small N for a quick check)")
    ap.add_argument("--profile-top", type=int, default=12, help="functions shown by cProfile (default: 12)")
    args = ap.parse_args()

    info = C.print_machine(f"bench_query: warm Engine.ask vs the floor (the same embedder's encode of one question "
                           f"+ one FAISS search); backend {args.backend}")
    from rag.engine import Engine

    embedder = C.embedder_for(args.backend)
    secs = C.warm(embedder, args.backend)
    print(f"embedder: {C.backend_of(embedder)} ({type(embedder).__name__}, as make_embedder(Settings()) "
          f"gives it) loaded in {secs:.1f}s; torch imported: {'yes' if 'torch' in sys.modules else 'no'}")
    questions = [q.question for q in C.dev_questions()][:args.questions or None]
    results: dict = {"machine": info, "backend": args.backend, "questions": len(questions), "repeats": args.repeats,
                     "model_load_s": secs, "indexes": {}}
    rows = []
    engines = {}
    for name, roots in (("sources", [C.SOURCES]), ("sources+corpus", [C.SOURCES, C.CORPUS])):
        s, secs = C.ensure_index(f"q-{args.backend}-" + name.replace("+", "-"), roots, embedder)
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
    results["torch_imported_serving"] = "torch" in sys.modules
    print(f"\n{len(questions)} questions × {args.repeats} repeats; ms, median of repeats (min–max); process RSS "
          f"with the model and both indexes loaded: {results['rss_mib_serving']:.0f} MiB (torch imported: "
          f"{'yes' if results['torch_imported_serving'] else 'no'})")
    print(C.table(rows, ["index", "chunks", "ask p50", "ask p95", "floor p50", "floor p95",
                         "ratio p50 ours/floor", "target"]))

    print("\nBreakdown (per-question p50, ms; Answer.timings_ms, and the floor's parts):")
    rows = []
    for name, r in results["indexes"].items():
        rows.append([name, C.mmm(r["embed"], 1e3, 2), C.mmm(r["retrieve"], 1e3, 2), C.mmm(r["compose"], 1e3, 2),
                     C.mmm(r["floor_embed"], 1e3, 2), C.mmm(r["floor_search"], 1e3, 3)])
    print(C.table(rows, ["index", "embed", "retrieve", "compose", "floor: encode", "floor: FAISS search"]))

    full = engines["sources+corpus"]
    comp = composers(full, questions, args.repeats)
    results["composers"] = comp
    print("\nComposers on sources+corpus, interleaved (Engine.ask p50, ms, median of repeats (min–max)):")
    print(C.table([[C.mmm(comp["legacy_p50"], 1e3, 2), C.mmm(comp["learned_p50"], 1e3, 2),
                    C.mmm(comp["ratio_p50"], 1, 2), "≤ 2"]],
                  ["legacy (hybrid + rag.answer)", "learned (default)", "ratio learned/legacy", "target"]))
    if args.composers_only:
        print(f"\nraw figures: {C.save_json('query-composers', results)}")
        return
    split = stage_split(full, questions, args.repeats)
    results["stages"] = split
    print("\nStages on sources+corpus (per-question p50, ms, question vectors precomputed):")
    print(C.table([[k, C.mmm(v, 1e3, 3)] for k, v in split.items()], ["stage", "p50 ms"]))
    print(f"\ncProfile of retrieve + compose over {len(questions)} questions on sources+corpus "
          "(sorted by own time):")
    print(profile_path(full, questions, args.profile_top))

    if not args.no_startup:  # before the thread study, which imports torch into this process (not into these)
        C.warm(C.embedder_for())  # the shipped backend's export is in the cache before the first cold start
        backends = ["", "torch"] if C.shipped_backend() != "torch" else [""]
        st = startup(str(full.settings.index_dir), questions[0], args.startup_repeats, backends)
        results["startup"] = st
        print(f"\nStart-up with an existing index (sources+corpus), {args.startup_repeats} cold starts of each, "
              "interleaved, s, median (min–max):")
        rows = []
        for k, v in st.items():
            label = f"{C.shipped_backend()} (default)" if k == "default" else f"RAG_EMBEDDING_BACKEND={k}"
            rows.append([label, C.mmm(v["rag_ask_s"], 1, 2), C.mmm(v["ui_http200_s"], 1, 2)])
        print(C.table(rows, ["backend", "`rag ask QUESTION` → answer printed, exit",
                             "`python ui.py --port FREE` → HTTP 200 on /"]))
        for k, v in st.items():
            for face, key in (("rag ask", "rag_ask"), ("ui.py", "ui")):
                total, top = v[f"{key}_imports"]
                torch_seen = "imported" if v[f"{key}_imports_torch"] else "not imported"
                print(f"{face} ({k}): imports take {total:.2f}s, torch {torch_seen} "
                      "(python -X importtime, one run; own time of each package's modules): "
                      + ", ".join(f"{p} {t:.2f}" for p, t in top))

    if not args.no_threads:
        threads = [int(x) for x in args.threads.split(",")]
        idx = full.index
        step = max(1, (len(idx.chunks) + len(idx.sentence_rows)) // args.batch_texts)
        pool = [c.text for c in idx.chunks] + [idx.sentence(i)[1].text for i in range(len(idx.sentence_rows))]
        texts = pool[::step][:args.batch_texts]
        th = thread_settings(full, questions, texts, args.repeats, threads)
        results["threads"] = th
        print(f"\nThread settings ({th['defaults']['cores']} cores; torch's default {th['defaults']['torch']} threads; "
              "the engine sets FAISS to 1; ONNX Runtime 'default' = the engine's own session, what ships); "
              "variants interleaved in each repeat, median of repeats (min–max):")
        rows = []
        for kind in ("onnx", "torch"):
            r = th[kind]
            for k, v in r["question_encode_p50"].items():
                rows.append([k, "one question: encode([q]) p50", C.mmm(v, 1e3, 2, " ms")])
            for k, v in r["batch_texts_per_s"].items():
                rows.append([k, f"batch of {len(texts)} index texts", C.mmm(v, 1, 0, " texts/s")])
            for k, v in r["ask_p50"].items():
                rows.append([k, "Engine.ask p50 (sources+corpus)", C.mmm(v, 1e3, 2, " ms")])
        for t in threads:
            rows.append([f"faiss {t}", f"one search, {idx.faiss_index.ntotal} vectors, k=50",
                         C.mmm(th["faiss_search_p50"][t], 1e3, 3, " ms")])
        for t in threads:
            rows.append([f"faiss {t}", "one search, 100k random vectors, k=50",
                         C.mmm(th["faiss_search_100k_p50"][t], 1e3, 2, " ms")])
        for t in threads:
            rows.append([f"faiss {t}", "64 searches at once, 100k vectors",
                         C.mmm(th["faiss_batch64_p50"][t], 1e3, 1, " ms")])
        print(C.table(rows, ["setting", "what", "median (min–max)"]))
        print("best: " + "; ".join(
            f"{kind}: one question → {best(th[kind]['question_encode_p50'])}, batch (build) → "
            f"{best(th[kind]['batch_texts_per_s'], higher=True)}, Engine.ask → {best(th[kind]['ask_p50'])}"
            for kind in ("onnx", "torch"))
              + "; one search → faiss " + best(th["faiss_search_p50"])
              + " (100k: faiss " + best(th["faiss_search_100k_p50"]) + "); batched search → faiss "
              + best(th["faiss_batch64_p50"]))
    out = C.save_json(f"query-{args.backend}" if args.backend != C.shipped_backend() else "query", results)
    print(f"\nraw figures: {out}")


if __name__ == "__main__":
    main()
