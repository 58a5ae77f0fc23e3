"""``rag eval``: run a question set through the engine and score retrieval, citations, answers, abstention.

    questions.jsonl ──load_questions──▶ Question ──Engine.ask + retrieve top 10──▶ record ──summarise──▶ metrics

The answer comes from ``Engine.ask`` with the configured ``k``; the ranking metrics (hit@n, MRR@10,
evidence recall@n) come from a separate ``retrieve`` of the top 10 with the same mode, so that deeper
ranks can be scored without changing the answers. Matching rules and metric definitions: ``rag.metrics``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from . import metrics as M
from .questions import Question, QuestionError, load_questions, parse_question
from .retrieval import MODES, retrieve
from .types import Answer, Hit

__all__ = ["Question", "QuestionError", "load_questions", "parse_question", "evaluate", "summarise", "run"]
DEPTH = 10  # ranks scored by the retrieval metrics

# -- running ------------------------------------------------------------------------------------------

CONFIGS = {  # named configurations for --compare, besides the retrieval modes
    "legacy": {"mode": "hybrid", "composer": "legacy"},  # the hand-set composer and RRF hybrid search
    "learned": {"mode": "learned", "composer": "learned"},
    "standalone": {"mode": "learned", "composer": "learned"},  # conversations' last turns asked on their own
}


class UnknownConfig(ValueError):
    pass


def configure(settings: Any, name: str) -> Any:
    """The settings of a named configuration: a retrieval mode, or one of ``CONFIGS``."""
    if name in CONFIGS:
        return settings.replace(**CONFIGS[name])
    if name in MODES:
        return settings.replace(mode=name)
    raise UnknownConfig(f"unknown configuration {name!r}; use {', '.join(dict.fromkeys([*CONFIGS, *MODES]))}")


def _ask(engine: Any, q: Question, standalone: bool) -> Answer:
    """The question's answer; a conversation's earlier turns are asked first and passed as history."""
    if q.history and standalone:
        return engine.ask(q.standalone or q.question)
    history: list[dict] = []
    for earlier in q.history:
        history.append(engine.ask(earlier, history=history).to_dict())
    return engine.ask(q.question, history=history or None)


def evaluate(engine: Any, questions: list[Question], mode: str, progress: Callable[[str], None] | None = None,
             vectors: dict[str, Any] | None = None, check: EvidenceCheck | None = None) -> dict:
    """One run: every question asked with configuration ``mode`` (a retrieval mode or a ``CONFIGS`` name,
    applied by the caller to ``engine.settings``), scored; ``{"config", "metrics", "by_kind", "questions"}``.

    ``vectors`` caches question embeddings across runs (the ranking retrieval needs its own); ``check``,
    the index's evidence check, likewise.
    """
    from .engine import clean_question

    index, s = engine.index, engine.settings
    ranker = engine.model.ranker if s.mode == "learned" else None
    vectors = {} if vectors is None else vectors
    check = check or EvidenceCheck(index)
    records = []
    for i, q in enumerate(questions, start=1):
        answer = _ask(engine, q, mode == "standalone")
        hits: list[Hit] = []
        cleaned, problem = clean_question(answer.understood_as or (q.standalone if q.history and mode == "standalone"
                                                                   else q.question), s.max_question_chars)
        if q.answerable and not problem:
            cleaned = engine.searched(index, cleaned)
            if cleaned not in vectors:
                vectors[cleaned] = engine.question_vector(index, cleaned)
            hits = retrieve(index, cleaned, vectors[cleaned], s.mode, DEPTH, s.candidates, s.rrf_k, ranker=ranker,
                            soft_match=engine.soft_match if ranker is not None else None)
        rec = score_question(check, q, answer, hits, s.k)
        records.append(rec)
        if progress:
            rank = f"hit rank {rec['hit_rank'] or '-'}, " if q.answerable else ""
            progress(f"[{mode}] {i}/{len(questions)} {q.id}: {rank}"
                     f"{'abstained' if answer.abstained else 'answered'}, {rec['status']} "
                     f"({rec['latency_ms']:.0f} ms)")
    config = {"name": mode, "mode": s.mode, "composer": s.composer, "k": s.k, "depth": DEPTH,
              "abstain_below": s.abstain_below, "candidates": s.candidates, "rrf_k": s.rrf_k,
              "max_sentences": s.max_sentences, "max_words": s.max_words, "model": s.model,
              "selector": engine.model.version if s.composer == "learned" else None,
              "index": str(s.index_dir), "index_id": index.index_id}
    kinds = sorted({r["kind"] for r in records})
    threshold = engine.model.policy.abstain_below if s.composer == "learned" else s.abstain_below
    config["abstain_below"] = threshold
    return {"config": config, "metrics": summarise(records, threshold),
            "by_kind": {k: summarise([r for r in records if r["kind"] == k], threshold) for k in kinds},
            "questions": records}


class EvidenceCheck:
    """Which documents a question's ``sources`` name, and whether a text covers its evidence."""

    def __init__(self, index: Any) -> None:
        self.index = index
        self.by_name: dict[str, list[str]] = {}
        self._flat: dict[str, str] = {}  # doc_id → collapsed text, for exact matches
        for d in index.documents:
            self.by_name.setdefault(PurePosixPath(d.source).name, []).append(d.doc_id)

    def allowed(self, q: Question) -> set[str] | None:
        """doc_ids a passage must come from to count, or None (no ``sources``: any document)."""
        return {i for name in q.sources for i in self.by_name.get(name, [])} if q.sources else None

    def cover(self, q: Question, doc_id: str, text: str, allowed: set[str] | None) -> list[bool]:
        ok = allowed is None or doc_id in allowed
        return [ok and M.covers(text, e) for e in q.evidence]

    def in_index(self, q: Question, allowed: set[str] | None) -> list[bool]:
        """Per span: an exact (normalised) match in a named source, or in any document without sources."""
        ids = sorted(allowed) if allowed is not None else [d.doc_id for d in self.index.documents]
        flat = [self._flat.get(i) or self._flat.setdefault(i, M.collapse(self.index.document(i).text))
                for i in ids]
        return [any(M.collapse(e) in text for text in flat) for e in q.evidence]


def score_question(check: EvidenceCheck, q: Question, answer: Answer, hits: list[Hit], k: int) -> dict:
    """The per-question record of the JSON output: the full answer plus every per-question score."""
    allowed = check.allowed(q)
    cover = [check.cover(q, h.chunk.doc_id, h.chunk.text, allowed) for h in hits]
    relevant = [any(row) for row in cover]
    cited: dict[str, tuple[str, str]] = {}
    for c in answer.citations:
        cited.setdefault(c.chunk_id, (c.doc_id, c.passage))
    cited_cover = [check.cover(q, doc_id, text, allowed) for doc_id, text in cited.values()]
    ok = sum(check.index.document(c.doc_id).text[c.start:c.end] == c.quote
             and " ".join(c.quote.split()) in answer.answer for c in answer.citations)
    answered = not answer.abstained
    rec: dict[str, Any] = {
        "id": q.id, "kind": q.kind, "answerable": q.answerable, "question": q.question, "where": q.where,
        "reference": q.answer, "sources": list(q.sources), "evidence": list(q.evidence),
        "answer": answer.to_dict(), "abstained": answer.abstained, "confidence": answer.confidence,
        "latency_ms": answer.timings_ms.get("total", 0.0),
        "integrity": {"citations": len(answer.citations), "ok": ok},
        "ranked": [h.chunk.chunk_id for h in hits], "relevant": relevant, "hit_rank": M.first_hit(relevant),
        "evidence_in_index": [], "evidence_hit": [], "cited_evidence": [], "covered_in_answer": [],
    }
    if q.answerable:
        precision, recall = M.citation_scores([t for _, t in cited.values()], q.evidence)
        in_answer = M.in_answer(answer.answer, q.evidence) if answered else [False] * len(q.evidence)
        rec |= M.ranking({q.id: relevant})[q.id]
        rec |= {
            "evidence_in_index": check.in_index(q, allowed),
            "evidence_hit": [any(row[s] for row in cover) for s in range(len(q.evidence))],
            "evidence_recall@5": M.evidence_recall(cover, 5), "evidence_recall@10": M.evidence_recall(cover, 10),
            "cited_evidence": [any(row[s] for row in cited_cover) for s in range(len(q.evidence))],
            "citation_precision": precision if answered else None,
            "citation_recall": recall if answered else None,
            "covered_in_answer": in_answer, "answer_evidence_recall": sum(in_answer) / len(in_answer),
            "answer_f1": None if q.answer is None else M.token_f1(M.strip_markers(answer.answer), q.answer),
            "answer_words": len(M.strip_markers(answer.answer).split()) if answered else None,
        }
    rec["asks"] = q.asks
    if q.asks and q.answerable:
        short = answer.short_answer
        rec["short_answer"] = None if short is None else short.text
        rec["short_correct"] = short is not None and M.short_match(short.text, q.short or q.answer or "")
    rec["status"] = _status(rec, k)
    return rec


def _status(rec: dict, k: int) -> str:
    """A one-phrase diagnosis for the report's failure table."""
    if not rec["answerable"]:
        return "ok" if rec["abstained"] else "answered, should abstain"
    if not all(rec["evidence_in_index"]):
        return "evidence not found in its source"
    if rec["hit_rank"] is None:
        return "retrieval miss" + (", abstained" if rec["abstained"] else "")
    if rec["abstained"]:
        return "abstained"
    if rec["hit_rank"] > k:
        return "evidence ranked below k"
    share = rec["answer_evidence_recall"]
    return "ok" if share == 1 else "answer missed the evidence" if share == 0 else "answer partial"


def summarise(records: list[dict], threshold: float) -> dict[str, Any]:
    """Aggregate metrics; retrieval and answer metrics average over answerable questions, citation
    metrics over answerable questions that were answered."""
    ans = [r for r in records if r["answerable"]]
    una = [r for r in records if not r["answerable"]]
    answered = [r for r in ans if not r["abstained"]]
    m: dict[str, Any] = {"questions": len(records), "answerable": len(ans), "unanswerable": len(una)}
    for key in [f"hit@{n}" for n in M.CUTOFFS] + ["mrr@10", "evidence_recall@5", "evidence_recall@10",
                                                   "answer_evidence_recall", "answer_f1"]:
        m[key] = M.mean([r[key] for r in ans])
    for key in ("citation_precision", "citation_recall", "answer_words"):
        m[key] = M.mean([r[key] for r in answered])
    n_cited = sum(r["integrity"]["citations"] for r in records)
    words = [r["answer_words"] for r in answered if r["answer_words"] is not None]
    m["answer_words_median"] = M.percentile(words, 50) if words else None
    m["integrity"] = sum(r["integrity"]["ok"] for r in records) / n_cited if n_cited else None
    m["answered_rate"] = M.mean([float(not r["abstained"]) for r in ans])
    m["abstained_rate"] = M.mean([float(r["abstained"]) for r in una])
    m["balanced_accuracy"] = (m["answered_rate"] + m["abstained_rate"]) / 2 if ans and una else None
    m["threshold"] = threshold
    # an abstention by the name or answer-type checks happens whatever the threshold: -inf models it
    def swept(r: dict) -> float:
        return float("-inf") if r["abstained"] and r["confidence"] >= threshold else r["confidence"]

    m["best_threshold"], m["best_balanced_accuracy"] = M.sweep(
        [swept(r) for r in ans], [swept(r) for r in una], threshold)
    latencies = [r["latency_ms"] for r in records]
    m["latency_p50_ms"], m["latency_p95_ms"] = M.percentile(latencies, 50), M.percentile(latencies, 95)
    asking = [r for r in ans if r.get("asks")]
    m["short_asked"] = len(asking)
    m["short_present"] = M.mean([float(r["short_answer"] is not None) for r in asking])
    m["short_correct"] = M.mean([float(r["short_correct"]) for r in asking])
    return m


def run(question_files: Sequence[str | Path], names: Sequence[str], settings: Any, embedder: Any = None,
        progress: Callable[[str], None] | None = None, warn: Callable[[str], None] | None = None) -> dict:
    """Every configuration of ``names`` (see ``configure``) over the questions of ``question_files``:
    ``{"question_files", "index", "index_id", "seconds", "runs"}`` (the JSON ``rag eval --json`` writes).
    Raises ``QuestionError`` for a bad question file, ``UnknownConfig`` for a name it does not know."""
    from .engine import Engine

    questions = load_questions(question_files)
    configs = [(name, configure(settings, name)) for name in names]
    if not configs:
        raise UnknownConfig("no configuration named")
    engine = Engine(configs[0][1], embedder)
    check = EvidenceCheck(engine.index)
    missing = sorted({n for q in questions for n in q.sources if n not in check.by_name})
    if missing and warn:
        warn(f"{len(missing)} source file(s) named by the questions are not in the index: "
             + ", ".join(missing[:5]) + (" …" if len(missing) > 5 else ""))
    engine.ask(questions[0].question)  # untimed warm-up: the model and lazy imports load here, not in p95
    t0 = time.perf_counter()
    vectors: dict[str, Any] = {}
    runs = [evaluate(engine if i == 0 else engine.with_settings(cfg), questions, name, progress, vectors, check)
            for i, (name, cfg) in enumerate(configs)]
    return {"question_files": [str(p) for p in question_files], "index": str(settings.index_dir),
            "index_id": engine.index.index_id, "seconds": round(time.perf_counter() - t0, 2), "runs": runs}


def broken_citations(result: dict) -> list[str]:
    """The configurations of a ``run`` result with a citation that fails the integrity check.

    >>> broken_citations({"runs": [{"config": {"name": "a"}, "metrics": {"integrity": 1.0}},
    ...                            {"config": {"name": "b"}, "metrics": {"integrity": 0.5}}]})
    ['b']
    """
    return [r["config"]["name"] for r in result["runs"]
            if r["metrics"]["integrity"] is not None and r["metrics"]["integrity"] < 1.0]
