"""The question sets in eval/: well formed, and every evidence span is in the text our loader produces.

The check is stricter than the evaluator's passage rule: a span must occur in its named source document
after ``rag.metrics.collapse`` (lowercase, whitespace runs collapsed), with no 80% token fallback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import sources
from rag.evaluation import Question, load_questions
from rag.metrics import exact_match

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "eval"
SOURCES = ROOT / "sources"


def missing_spans(questions: list[Question], root: Path) -> list[str]:
    """One line per evidence span not found verbatim (after normalisation) in the documents it names."""
    paths: dict[str, list[Path]] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            paths.setdefault(p.name, []).append(p)
    texts: dict[Path, str] = {}
    problems = []
    for q in questions:
        if not q.answerable:
            continue
        if not q.sources:
            problems.append(f"{q.id} ({q.where}): names no sources")
            continue
        docs = []
        for name in q.sources:
            if name not in paths:
                problems.append(f"{q.id}: source '{name}' not found under {root}")
            for p in paths.get(name, []):
                if p not in texts:
                    texts[p] = sources.load(root, p).text
                docs.append(texts[p])
        for i, span in enumerate(q.evidence):
            if docs and not any(exact_match(text, span) for text in docs):
                problems.append(f"{q.id} evidence[{i}] not in {', '.join(q.sources)}: {span!r}")
    return problems


@pytest.mark.parametrize("name", ["dev_sources.jsonl", "dev_corpus.jsonl"])
def test_question_files_are_well_formed(name):
    questions = load_questions([EVAL / name])
    assert any(q.answerable for q in questions) and any(not q.answerable for q in questions)


def test_dev_sources_evidence_is_in_the_loaded_text():
    problems = missing_spans(load_questions([EVAL / "dev_sources.jsonl"]), SOURCES)
    assert not problems, f"{len(problems)} evidence problem(s):\n" + "\n".join(problems)


@pytest.mark.corpus
def test_dev_corpus_evidence_is_in_the_loaded_text(shared_corpus):
    problems = missing_spans(load_questions([EVAL / "dev_corpus.jsonl"]), shared_corpus)
    assert not problems, f"{len(problems)} evidence problem(s):\n" + "\n".join(problems)
