"""The real index format at 10k-1M passages: written by ``rag.store``, loaded by ``rag.store.load_index``.

    .venv/bin/python benchmarks/bench_scale.py --real-index --vectors real-like                       # 10k + 100k
    .venv/bin/python benchmarks/bench_scale.py --real-index --vectors real-like --sizes 1000000 --keep

Per size, in a child process (so the parent stays small): synthetic documents of 10 chunks each, every
chunk ≈ 150 words (≈ 200 tokens) of whole sentences, neighbouring chunks sharing one sentence (≈ the
40-token overlap); words drawn from ../shared/corpus, sentence lengths from the sentences rag's
splitter found in it; vectors from ``synthetic.py`` (``real-like`` by default) for the chunks, and for
every sentence ``normalise(its chunk's vector + a fresh draw)``, so a sentence is close to its
passage as in real data. The manifest takes its keys from one ``rag.indexing.build`` wrote (the real
index of sources/ + ../shared/corpus, ``synthetic.reference_index``), with ``"faiss": "hnsw"`` above
``Settings().hnsw_above`` passages; the files are written by ``rag.builds.write_build`` (FAISS incl. HNSW
construction, BM25 from ``rag.search.build_bm25``, records, arrays, fsync) and published by
``rag.builds.publish``.

Serving, each in a fresh process: ``rag.store.load_index`` (as ``rag.engine.Engine`` calls it, with
``Settings().hnsw_ef_search``), FAISS on one thread (as the engine sets), then per question
``rag.retrieval.retrieve`` for dense, bm25 and hybrid, and ``rag.answer.compose`` on the hybrid hits.
The question vectors are precomputed, **embedding is skipped**: each is ``normalise(a random
sentence's vector + noise)`` (so retrieval finds its passage and most answers are composed, not
abstained); the question text is a dev question (for BM25 and the composer's word overlap). Memory:
VmRSS and its anonymous / file-backed parts (memory-mapped files count as file-backed once touched),
then again after loading the real embedding model and embedding 50 questions, the figure the 3 GB
target is about. ``--loader copy`` repeats the serving run with ``faiss.read_index`` without flags (how
``rag.store`` loaded FAISS before it memory-mapped it). The cold run first evicts this index's files
from the page cache (``posix_fadvise(DONTNEED)``, this index's files only).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as C  # noqa: E402
import synthetic as S  # noqa: E402

DIM = S.DIM
CHUNKS_PER_DOC = 10
CHUNK_WORDS = 150  # words of English prose in about Settings().chunk_tokens cl100k tokens
N_QUESTIONS = 300
N_TRUTH = 100  # questions whose exact top 10 is kept, for the recall of the served FAISS index


# -- synthetic corpus, written by rag.store ----------------------------------------------------------------

def sentence_model() -> tuple[list[str], object, object]:
    """(the words of ../shared/corpus, their probabilities, the word counts of the sentences ``rag``'s own
    splitter found in sources/ + ../shared/corpus)."""
    _, words, counts = S.corpus_words()
    return words, counts / counts.sum(), S.sentence_lengths()


def manifest_like(template: dict, **contents: object) -> dict:
    """A manifest for a synthetic build: every key ``rag.indexing.build`` wrote into ``template`` (a real
    build's manifest, so the format is the writer's own, never a copy of it), ``contents`` replacing what
    describes that build's documents. Checked as ``rag.store.load_index`` will check it."""
    from rag import checksums, integrity

    unknown = set(contents) - set(template)
    if unknown:  # the writer no longer has these keys: this benchmark must follow it
        raise KeyError(f"rag.indexing.build writes no {sorted(unknown)} any more")
    entry_keys = set(template["documents"][0])
    if any(set(d) != entry_keys for d in contents.get("documents", [])):
        raise KeyError(f"a document entry of rag.indexing.build has the keys {sorted(entry_keys)}")
    manifest = {k: v for k, v in template.items() if k not in (checksums.KEY, checksums.SELF_KEY)}
    manifest.update(contents)
    integrity.check_manifest(manifest)
    return manifest


def build(n: int, folder: Path, kind: str, faiss_kind: str) -> dict:
    """Generate ``n`` passages and write them as a published index under ``folder/index``."""
    import uuid
    from datetime import UTC, datetime

    import numpy as np

    from rag import builds
    from rag.acronyms import mine
    from rag.config import Settings
    from rag.search import build_bm25
    from rag.types import Chunk, Document, Sentence

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    r: dict = {"n": n, "vectors": kind}
    say = lambda m: print(f"  [{n:,}] {m}", flush=True)  # noqa: E731
    t = time.perf_counter()
    words, p, sent_lengths = sentence_model()
    rng = np.random.default_rng(n + 1)

    def sentence() -> tuple[str, int]:
        """A generated sentence and its word count (drawn a million words at a time, as int16)."""
        nonlocal ids, at, lens
        if not lens:
            lens = rng.choice(sent_lengths, size=50_000).tolist()
        k = lens.pop()
        if at + k > len(ids):
            ids, at = rng.choice(len(words), size=1_000_000, p=p).astype(np.int16), 0
        s = " ".join([words[i] for i in ids[at:at + k].tolist()])
        at += k
        return s[:1].upper() + s[1:] + ".", k

    ids, at, lens = np.zeros(0, np.int16), 0, []
    documents: list[Document] = []
    chunks: list[Chunk] = []
    chunk_lo: list[int] = []
    rows: list[tuple[int, int, int]] = []
    entries: list[dict] = []
    n_docs = -(-n // CHUNKS_PER_DOC)
    for d in range(n_docs):
        texts: list[str] = []
        counts: list[int] = []
        spans: list[tuple[int, int]] = []
        a = 0
        while len(spans) < min(CHUNKS_PER_DOC, n - len(chunks)):
            b, total = a, 0
            while True:
                if b == len(texts):
                    words_of, k = sentence()
                    texts.append(words_of)
                    counts.append(k)
                if b > a and total + counts[b] > CHUNK_WORDS:
                    break
                total += counts[b]
                b += 1
            spans.append((a, b))
            a = b - 1 if b - a > 1 else b  # neighbours share one sentence
        starts = np.cumsum([0] + [len(s) + 1 for s in texts])
        text = " ".join(texts[:spans[-1][1]])
        sentences = [Sentence(int(starts[i]), int(starts[i]) + len(texts[i]), texts[i]) for i in range(spans[-1][1])]
        doc_id = f"{d:016x}"
        sha = hashlib.sha256(text.encode()).hexdigest()
        base = len(rows)
        rows.extend((d, s.start, s.end) for s in sentences)
        for a, b in spans:
            start, end = sentences[a].start, sentences[b - 1].end
            chunks.append(Chunk(f"{len(chunks):016x}", doc_id, text[start:end], start, end,
                                round(sum(counts[a:b]) * 1.33), None, tuple(sentences[a:b])))
            chunk_lo.append(base + a)
        documents.append(Document(doc_id, f"synthetic/doc-{d:07d}.txt", f"/synthetic/doc-{d:07d}.txt",
                                  f"Synthetic document {d}", text, sha))
        entries.append({"doc_id": doc_id, "source": documents[-1].source, "path": documents[-1].path,
                        "title": documents[-1].title, "sha256": sha, "n_chunks": len(spans),
                        "n_sentences": len(sentences), "n_chars": len(text), "pages": None})
    r["generate_text_s"] = time.perf_counter() - t
    r["n_documents"], r["n_sentences"] = len(documents), len(rows)
    say(f"{len(documents):,} documents, {n:,} chunks, {len(rows):,} sentences generated in "
        f"{r['generate_text_s']:.0f}s")

    t = time.perf_counter()
    chunk_vectors = S.vectors(kind, n, seed=n)
    first_chunk = np.full(len(rows), -1, dtype=np.int64)
    for i in range(len(chunks) - 1, -1, -1):  # as write_build: the first chunk holding each sentence
        first_chunk[chunk_lo[i]:chunk_lo[i] + len(chunks[i].sentences)] = i
    scratch = folder / "sentence-vectors.tmp"
    sentence_vectors = np.lib.format.open_memmap(scratch, "w+", np.float32, (len(rows), DIM))
    block = 200_000
    for lo in range(0, len(rows), block):
        hi = min(lo + block, len(rows))
        v = chunk_vectors[first_chunk[lo:hi]] + S.vectors(kind, hi - lo, seed=10_000_000 + lo)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        sentence_vectors[lo:hi] = v
    sentence_vectors.flush()
    # questions: near a random sentence (their passage should be found), plus the exact top 10
    picks = np.random.default_rng(5).choice(len(rows), size=N_QUESTIONS, replace=False)
    q = np.asarray(sentence_vectors[np.sort(picks)]) + 0.5 * S.vectors(kind, N_QUESTIONS, seed=6)
    q = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)
    np.save(folder / "questions.npy", q)
    truth = []
    for i in range(N_TRUTH):
        scores = chunk_vectors @ q[i]
        top = np.argpartition(-scores, 10)[:10]
        truth.append(top[np.argsort(-scores[top])])
    truth = np.vstack(truth)
    np.save(folder / "truth.npy", truth)
    r["generate_vectors_s"] = time.perf_counter() - t
    say(f"vectors generated in {r['generate_vectors_s']:.0f}s")

    settings = Settings()
    r["hnsw_above"] = settings.hnsw_above
    t = time.perf_counter()
    bm25 = build_bm25([c.text for c in chunks])
    r["build_bm25_s"] = time.perf_counter() - t
    say(f"BM25 indexed in {r['build_bm25_s']:.0f}s")
    faiss_kind = faiss_kind if faiss_kind != "auto" else "hnsw" if n > settings.hnsw_above else "flat"
    index_dir = folder / "index"
    index_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    template = S.reference_index().manifest
    manifest = manifest_like(
        template, index_id=index_id, built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        dim=DIM, faiss=faiss_kind, roots=["/synthetic"], acronyms=mine(c.text for c in chunks),
        n_documents=len(documents), n_chunks=len(chunks), n_sentences=len(rows), documents=entries, skipped=[],
        report={**dict.fromkeys(template["report"], 0), "added": len(documents)})
    r["faiss"] = faiss_kind
    say(f"writing the index ({faiss_kind}) with rag.builds.write_build")
    t = time.perf_counter()
    tmp = index_dir / "builds" / f".tmp-{index_id}"
    builds.write_build(tmp, manifest, documents, chunks, chunk_lo, np.array(rows, dtype=np.int64).reshape(-1, 3),
                       chunk_vectors, sentence_vectors, bm25)  # a float32 memmap: np.asarray does not copy it
    final = index_dir / "builds" / index_id
    tmp.rename(final)
    builds.publish(index_dir, final)
    r["write_s"] = time.perf_counter() - t
    r["build_peak_rss_mib"] = C.peak_rss_mib()
    del sentence_vectors
    scratch.unlink()
    r["disk_mib"] = {f.name: C.dir_mib(f) for f in sorted(final.iterdir())}
    r["disk_total_mib"] = C.dir_mib(final)
    say(f"written and published in {r['write_s']:.0f}s: {r['disk_total_mib']:,.0f} MiB")
    return r


# -- serving (fresh process) --------------------------------------------------------------------------------

def mapped_files(under: Path) -> dict[str, float]:
    """Resident MiB of each memory-mapped file under ``under`` (from /proc/self/smaps)."""
    out: dict[str, float] = {}
    name = None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if re.match(r"[0-9a-f]+-[0-9a-f]+$", head[0]):  # a mapping's header; a file's has a 6th field
            name = head[5] if len(head) >= 6 and head[5].startswith(str(under)) else None
        elif name and line.startswith("Rss:"):
            key = Path(name).name if Path(name).parent.name != "bm25" else "bm25/"
            out[key] = out.get(key, 0.0) + int(head[1]) / 1024
    return {k: round(v, 1) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


def serve(folder: Path, mode: str, loader: str, with_model: bool) -> dict:
    """Load the index as the engine does and time questions; ``mode`` "load" stops after 20 questions."""
    res: dict = {"mem_start": C.memory(), "loader": loader}
    import faiss
    import numpy as np

    from rag import store
    from rag.answer import compose
    from rag.config import Settings
    from rag.retrieval import retrieve

    if loader == "copy":  # how rag.store loaded FAISS before: the whole file copied into memory
        plain = faiss.read_index
        faiss.read_index = lambda path, flags=0: plain(path)
    faiss.omp_set_num_threads(1)  # as rag.engine.Engine
    s = Settings()
    questions = np.load(folder / "questions.npy")
    texts = [q.question for q in C.dev_questions()]
    texts = [texts[i % len(texts)] for i in range(len(questions))]
    import bm25s  # noqa: F401 - imported by load_index; not part of the index's load time

    res["mem_imports"] = C.memory()
    t = time.perf_counter()
    index = store.load_index(folder / "index", model=s.model, dim=DIM, ef_search=s.hnsw_ef_search)
    res["load_s"] = time.perf_counter() - t
    res["mem_loaded"] = C.memory()
    res["mapped_after_load"] = mapped_files(folder.resolve())
    res["faiss"] = index.manifest["faiss"]

    def ask(i: int, timings: dict | None = None) -> tuple[list, object]:
        t0 = time.perf_counter()
        hits = retrieve(index, texts[i], questions[i], "hybrid", s.k, s.candidates, s.rrf_k)
        t1 = time.perf_counter()
        answer = compose(index, texts[i], questions[i], hits, s)
        t2 = time.perf_counter()
        if timings is not None:
            timings["hybrid"].append(t1 - t0)
            timings["compose"].append(t2 - t1)
        return hits, answer

    first = []
    for i in range(20 if mode == "load" else 1):
        t = time.perf_counter()
        ask(i)
        first.append(time.perf_counter() - t)
    res["first_asks_ms"] = [round(x * 1e3, 2) for x in first]
    if mode == "load":
        return res
    for i in range(1, 6):  # warm-up
        ask(i)
    lat: dict[str, list[float]] = {"dense": [], "bm25": [], "hybrid": [], "compose": [], "ask": []}
    answered, recall = 0, []
    truth = np.load(folder / "truth.npy")
    for i in range(len(questions)):
        for m in ("dense", "bm25"):
            t = time.perf_counter()
            retrieve(index, texts[i], questions[i], m, s.k, s.candidates, s.rrf_k)
            lat[m].append(time.perf_counter() - t)
            if m == "dense" and i < len(truth):
                _, found = index.faiss_index.search(questions[i:i + 1], 10)
                recall.append(len(set(found[0].tolist()) & set(truth[i].tolist())) / 10)
        _, answer = ask(i, lat)
        lat["ask"].append(lat["hybrid"][-1] + lat["compose"][-1])
        answered += not answer.abstained
    res |= {k: C.stats(v) for k, v in lat.items()}
    res["answered"] = answered / len(questions)
    res["recall@10"] = float(np.mean(recall))
    res["mem_queries"] = C.memory()
    res["mapped_after_queries"] = mapped_files(folder.resolve())
    res["peak_rss_mib"] = C.peak_rss_mib()
    if with_model:
        try:
            from rag.embedding import make_embedder

            embedder = make_embedder(s)  # the shipped backend (ONNX Runtime unless RAG_EMBEDDING_BACKEND says)
            res["backend"] = getattr(embedder, "backend", "torch")
            embed = []
            for q in texts[:50]:
                t = time.perf_counter()
                embedder.encode([q])
                embed.append(time.perf_counter() - t)
            res["embed"] = C.stats(embed[5:])
            res["mem_model"] = C.memory()
        except Exception as e:  # noqa: BLE001 - report, do not lose the retrieval figures
            res["model_error"] = f"{type(e).__name__}: {e}"
    return res


def child(args: list[str]) -> dict:
    """Run this file with ``args`` in a fresh process; its progress lines pass through, its last line
    is the JSON result."""
    lines = []
    with subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if not line.startswith("{"):
                print(line, end="", flush=True)
    if proc.returncode != 0 or not lines or not lines[-1].startswith("{"):
        raise RuntimeError(f"child {' '.join(args)} failed (exit {proc.returncode})")
    return json.loads(lines[-1])


def evict(build_dir: Path) -> None:
    """Drop this index's files from the page cache (other files are left alone)."""
    for path in build_dir.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def run_size(n: int, args: argparse.Namespace) -> dict:
    """Build in a child, then serve in fresh children: mmap (the store), copy (before), cold."""
    from rag import store

    folder = C.CACHE / "scale-index" / f"{args.vectors}-{n}"
    r = child(["--build", str(n), "--folder", str(folder), "--vectors", args.vectors, "--faiss", args.faiss])
    r["load_avg_before_serving"] = os.getloadavg()
    serve_args = ["--serve", str(folder)] + ([] if args.no_model else ["--with-model"])
    r["serve"] = child(serve_args)
    loads = [r["serve"]["load_s"]] + [child(["--serve", str(folder), "--mode", "load"])["load_s"]
                                      for _ in range(args.load_runs - 1)]
    r["load_s_runs"] = loads
    if args.compare_copy:
        r["serve_copy"] = child(["--serve", str(folder), "--loader", "copy"])
    evict(store.current_build(folder / "index"))
    r["cold"] = child(["--serve", str(folder), "--mode", "load"])
    r["load_avg_after_serving"] = os.getloadavg()
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return r


def ms(s: dict) -> str:
    return f"{s['p50'] * 1e3:.2f} / {s['p95'] * 1e3:.2f}"


def report(results: dict) -> str:
    import statistics

    rows = []
    for n, r in results.items():
        s = r["serve"]
        model = s.get("mem_model", {}).get("rss")
        rows.append([
            f"{int(n):,}", r["faiss"], f"{r['generate_text_s'] + r['generate_vectors_s']:.0f} + "
            f"{r['build_bm25_s']:.0f} + {r['write_s']:.0f}", f"{r['disk_total_mib']:,.0f}",
            f"{statistics.median(r['load_s_runs']):.2f} ({r['cold']['load_s']:.2f} cold)",
            f"{s['mem_loaded']['rss']:,.0f} ({s['mem_loaded']['anon']:,.0f} anon)",
            f"{s['mem_queries']['rss']:,.0f} ({s['mem_queries']['anon']:,.0f} anon)",
            f"{model:,.0f}" if model else s.get("model_error", "n/a"),
            ms(s["dense"]), ms(s["bm25"]), ms(s["hybrid"]), ms(s["compose"]), ms(s["ask"]),
            f"{s['recall@10']:.3f}", f"{s['answered']:.0%}", f"{r['cold']['first_asks_ms'][0]:.0f}"])
    return C.table(rows, [
        "passages", "FAISS", "build s: generate + BM25 + write_build/publish", "on disk MiB",
        "load_index s, median (cold)", "RSS after load MiB", "RSS after 300 questions MiB",
        "RSS with model MiB", "dense p50 / p95 ms", "bm25 p50 / p95", "hybrid p50 / p95",
        "compose p50 / p95", "hybrid + compose", "recall@10", "answered", "cold 1st ask ms"])


def run(args: argparse.Namespace, sizes: list[int]) -> None:
    from rag.config import Settings

    C.print_machine(f"bench_scale --real-index: rag.store format {', '.join(f'{s:,}' for s in sizes)} passages, "
                    f"{args.vectors} vectors, FAISS {args.faiss} (hnsw above {Settings().hnsw_above:,})")
    results: dict = {}
    for n in sizes:
        print(f"load average {os.getloadavg()[0]:.2f} before {n:,}", flush=True)
        results[n] = run_size(n, args)
        C.save_json(f"scale-index-{args.vectors}", {"machine": C.machine_info(), "sizes": results})
        r = results[n]
        print(f"  [{n:,}] load average {r['load_avg_before_serving'][0]:.2f} → {r['load_avg_after_serving'][0]:.2f} "
              "while serving", flush=True)
    print(f"\nrag.store index, served in fresh processes ({N_QUESTIONS} questions, embedding skipped; "
          "ms p50 / p95):")
    print(report(results))
    if args.compare_copy:
        rows = [[f"{int(n):,}", f"{r['serve_copy']['load_s']:.2f}", f"{r['serve']['load_s']:.2f}",
                 f"{r['serve_copy']['mem_loaded']['rss']:,.0f}", f"{r['serve']['mem_loaded']['rss']:,.0f}",
                 f"{r['serve_copy']['mem_queries']['rss']:,.0f}", f"{r['serve']['mem_queries']['rss']:,.0f}",
                 ms(r['serve_copy']['hybrid']), ms(r['serve']['hybrid'])] for n, r in results.items()]
        print("\nFAISS file copied into memory (before) vs memory-mapped (rag.store now):")
        print(C.table(rows, ["passages", "load s copy", "load s mmap", "RSS loaded copy", "RSS loaded mmap",
                             "RSS after copy", "RSS after mmap", "hybrid copy", "hybrid mmap"]))
    print(f"raw figures: {C.CACHE / 'results' / f'scale-index-{args.vectors}.json'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", type=int)
    ap.add_argument("--serve", type=Path)
    ap.add_argument("--folder", type=Path)
    ap.add_argument("--vectors", default="real-like", choices=("uniform", "real-like"))
    ap.add_argument("--faiss", default="auto", choices=("auto", "flat", "hnsw"))
    ap.add_argument("--mode", default="full", choices=("full", "load"))
    ap.add_argument("--loader", default="store", choices=("store", "copy"))
    ap.add_argument("--with-model", action="store_true")
    args = ap.parse_args()
    if args.build:
        print(json.dumps(build(args.build, args.folder, args.vectors, args.faiss)))
    elif args.serve:
        print(json.dumps(serve(args.serve, args.mode, args.loader, args.with_model)))


if __name__ == "__main__":
    main()
