"""``rag eval``: run a question set through the engine and score retrieval, citations, answers, abstention.

    questions.jsonl ──load_questions──▶ Question ──Engine.ask + retrieve top 10──▶ record ──summarise──▶ metrics

The answer comes from ``Engine.ask`` with the configured ``k``; the ranking metrics (hit@n, MRR@10,
evidence recall@n) come from a separate ``retrieve`` of the top 10 with the same mode, so that deeper
ranks can be scored without changing the answers. Matching rules and metric definitions: ``rag.metrics``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from . import metrics as M
from .retrieval import MODES, retrieve
from .types import Answer, Hit

DEPTH = 10  # ranks scored by the retrieval metrics
TYPES = {"id": str, "question": str, "answerable": bool, "answer": str, "kind": str}
NAMES = {str: "string", bool: "true or false", list: "list"}


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answerable: bool
    evidence: tuple[str, ...] = ()
    answer: str | None = None  # a reference answer, for token F1
    sources: tuple[str, ...] = ()  # file names (basenames) of the documents holding the evidence
    kind: str = ""
    where: str = ""  # "file, line n"


class QuestionError(ValueError):
    """A malformed question file; the message names the file, the line and the problem."""


def load_questions(paths: Iterable[str | Path]) -> list[Question]:
    """Read and check JSONL question files; raise ``QuestionError`` at the first problem."""
    out: list[Question] = []
    first: dict[str, str] = {}
    for path in paths:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise QuestionError(f"cannot read question file '{path}': {getattr(e, 'strerror', None) or e}") from None
        before = len(out)
        for no, line in enumerate(lines, start=1):
            if line.strip():
                q = parse_question(line, f"{path}, line {no}")
                if q.id in first:
                    raise QuestionError(f"{q.where}: duplicate id '{q.id}' (first at {first[q.id]})")
                first[q.id] = q.where
                out.append(q)
        if len(out) == before:
            raise QuestionError(f"{path}: no questions in the file")
    return out


def parse_question(line: str, where: str) -> Question:
    """One JSONL line → a ``Question``.

    >>> parse_question('{"id": "q1", "question": "Who?", "answerable": false}', "f, line 1").kind
    'unanswerable'
    >>> parse_question('{"id": "q1", "question": "Who?"}', "f, line 3")
    Traceback (most recent call last):
    rag.evaluation.QuestionError: f, line 3: missing 'answerable'
    """
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise QuestionError(f"{where}: not valid JSON ({e.msg}, column {e.colno})") from None
    if not isinstance(obj, dict):
        raise QuestionError(f"{where}: expected a JSON object, got {_json_type(obj)}")
    for key in ("id", "question", "answerable"):
        if obj.get(key) is None:
            raise QuestionError(f"{where}: missing '{key}'")
    for key, wanted in TYPES.items():
        if obj.get(key) is not None and not isinstance(obj[key], wanted):
            raise QuestionError(f"{where}: '{key}' must be {NAMES[wanted]}, got {_json_type(obj[key])}")
    for key in ("sources", "evidence"):
        value = obj.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) and v.strip()
                                                                        for v in value)):
            raise QuestionError(f"{where}: '{key}' must be a list of non-empty strings, got {_json_type(value)}")
    if not obj["id"].strip() or not obj["question"].strip():
        raise QuestionError(f"{where}: '{'id' if not obj['id'].strip() else 'question'}' is empty")
    evidence = tuple(obj.get("evidence") or ())
    if obj["answerable"] and not evidence:
        raise QuestionError(f"{where}: answerable question '{obj['id']}' has no evidence")
    if not obj["answerable"] and evidence:
        raise QuestionError(f"{where}: unanswerable question '{obj['id']}' has evidence")
    kind = obj.get("kind") or ("other" if obj["answerable"] else "unanswerable")
    return Question(obj["id"], obj["question"], obj["answerable"], evidence, obj.get("answer"),
                    tuple(obj.get("sources") or ()), kind, where)


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


# -- running ------------------------------------------------------------------------------------------

def evaluate(engine: Any, questions: list[Question], mode: str,
             progress: Callable[[str], None] | None = None, vectors: dict[str, Any] | None = None) -> dict:
    """One run: every question asked with ``mode``, scored; ``{"config", "metrics", "by_kind", "questions"}``.

    ``vectors`` caches question embeddings across runs (the ranking retrieval needs its own).
    """
    from .engine import clean_question

    index, s = engine.index, engine.settings
    vectors = {} if vectors is None else vectors
    check = EvidenceCheck(index)
    records = []
    for i, q in enumerate(questions, start=1):
        answer = engine.ask(q.question, mode=mode)
        hits: list[Hit] = []
        cleaned, problem = clean_question(q.question, s.max_question_chars)
        if q.answerable and not problem:
            if cleaned not in vectors:
                vectors[cleaned] = engine.embedder.encode([cleaned])[0]
            hits = retrieve(index, cleaned, vectors[cleaned], mode, DEPTH, s.candidates, s.rrf_k)
        rec = score_question(check, q, answer, hits, s.k)
        records.append(rec)
        if progress:
            rank = f"hit rank {rec['hit_rank'] or '-'}, " if q.answerable else ""
            progress(f"[{mode}] {i}/{len(questions)} {q.id}: {rank}"
                     f"{'abstained' if answer.abstained else 'answered'}, {rec['status']} "
                     f"({rec['latency_ms']:.0f} ms)")
    config = {"name": mode, "mode": mode, "k": s.k, "depth": DEPTH, "abstain_below": s.abstain_below,
              "candidates": s.candidates, "rrf_k": s.rrf_k, "max_sentences": s.max_sentences,
              "max_words": s.max_words, "model": s.model, "index": str(s.index_dir), "index_id": index.index_id}
    kinds = sorted({r["kind"] for r in records})
    return {"config": config, "metrics": summarise(records, s.abstain_below),
            "by_kind": {k: summarise([r for r in records if r["kind"] == k], s.abstain_below) for k in kinds},
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
    return m


def run_cli(args: Any, settings: Any, embedder: Any = None) -> int:
    """``rag eval``: 0 when done, 1 when a citation fails the integrity check; usage errors raise."""
    from .cli import UsageError
    from .engine import Engine
    from .report import format_table, write_html

    try:
        questions = load_questions(args.questions)
    except QuestionError as e:
        raise UsageError(str(e)) from None
    modes = list(dict.fromkeys(m.strip() for m in (args.compare or settings.mode).split(",") if m.strip()))
    if not modes or any(m not in MODES for m in modes):
        raise UsageError(f"--compare takes modes from {', '.join(MODES)}, got '{args.compare}'")
    say = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    engine = Engine(settings, embedder)
    check = EvidenceCheck(engine.index)
    missing = sorted({n for q in questions for n in q.sources if n not in check.by_name})
    if missing:
        print(f"rag: warning: {len(missing)} source file(s) named by the questions are not in the index: "
              + ", ".join(missing[:5]) + (" …" if len(missing) > 5 else ""), file=sys.stderr)
    engine.ask(questions[0].question)  # untimed warm-up: the model and lazy imports load here, not in p95
    t0 = time.perf_counter()
    vectors: dict[str, Any] = {}
    runs = [evaluate(engine, questions, mode, say, vectors) for mode in modes]
    result = {"question_files": [str(p) for p in args.questions], "index": str(settings.index_dir),
              "index_id": engine.index.index_id, "seconds": round(time.perf_counter() - t0, 2), "runs": runs}
    print(format_table(runs))
    print(f"{len(questions)} questions × {len(runs)} configuration(s) in {result['seconds']:.1f}s")
    try:
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
        if args.report:
            write_html(result, args.report)
    except OSError as e:
        raise UsageError(f"cannot write {e.filename}: {e.strerror}") from None
    broken = [r["config"]["name"] for r in runs if (r["metrics"]["integrity"] is not None
                                                    and r["metrics"]["integrity"] < 1.0)]
    if broken:
        print(f"rag: citation integrity below 1.0 in: {', '.join(broken)}", file=sys.stderr)
        return 1
    return 0
