"""The question bank in eval/: the train split (train*.jsonl, tuned on) and the test split (test*.jsonl,
reported, never tuned on) are well formed, every evidence span is in the text our loader produces, and the
two splits stay apart (no shared question, no shared span, no unseen document in train).

The rules are those of the question bank spec (issue 13): a span must occur in its named document after
whitespace runs are collapsed on both sides (case kept), a ``short`` answer must occur inside one of its
question's spans, and an unanswerable question carries no sources, evidence, asks or short.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest

from rag import sources
from rag.evaluation import load_questions

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "eval"
SOURCES = ROOT / "sources"
TRAIN = sorted(EVAL.glob("train*.jsonl"))
TEST = sorted(EVAL.glob("test*.jsonl"))
RETIRED = EVAL / "retired_dev.jsonl"  # dev questions tuned on before the split: in neither split

# Documents only the test split may ask about.
UNSEEN = frozenset({
    "2022-04-28-background-press-call-by-senior-administration-officials-on-the-declaration-for-the-future-of"
    "-the-internet.md",
    "2022-04-28-fact-sheet-united-states-and-60-global-partners-launch-declaration-for-the-future-of-the-internet.md",
    "2022-11-02-readout-of-national-security-advisor-jake-sullivans-participation-at-the-high-level-multi-"
    "stakeholder-hybrid-event-on-the-declaration-for-the-future-of-the-internet.md",
    "2022-10-12-fact-sheet-the-biden-harris-administrations-national-security-strategy.md",
    "2023-07-13-fact-sheet-biden-harrisadministration-publishes-thenational-cybersecurity-strategy"
    "implementation-plan.md",
})
KINDS = {"fact", "list", "definition", "why", "two-part", "comparison", "unanswerable", "near-topic"}
LEGACY_KINDS = {"multi-doc"}  # the old dev files' name for a cross-document question
STYLES = {"paraphrased", "casual", "one-word", "lifted"}
ASKS = {"person", "organisation", "place", "date", "duration", "count", "amount"}
ID_PATTERN = {"test_sources": r"te-s-\d{3}", "test_corpus": r"te-c-\d{3}", "test_unseen": r"te-u-\d{3}",
              "train_corpus": r"tr-\d{3}"}


def collapse(text: str) -> str:
    """Whitespace runs made one space, case kept (the spec's matching rule).

    >>> collapse(" CIRCIA will\\n require ")
    'CIRCIA will require'
    """
    return " ".join(text.split())


def normalise(text: str) -> str:
    """Lowercase and collapsed: how questions and spans are compared across the splits.

    >>> normalise("Who  announced\\nIt?")
    'who announced it?'
    """
    return collapse(text).lower()


def records(path: Path) -> list[dict]:
    """The raw JSON objects of a question file (``load_questions`` drops style, asks and short)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def split(paths: list[Path]) -> list[dict]:
    return [r for path in paths for r in records(path)]


def legacy(path: Path) -> bool:
    """The renamed dev files predate the spec's style/asks fields and the 'comparison' kind."""
    return path.name.startswith("train_dev_")


@cache
def documents(root: Path) -> dict[str, Path]:
    """Basename → path of every file under ``root`` (questions name their documents by basename)."""
    return {p.name: p for p in sorted(root.rglob("*")) if p.is_file()}


@cache
def loaded_text(root: Path, name: str) -> str:
    return collapse(sources.load(root, documents(root)[name]).text)


def missing_spans(path: Path, root: Path, only_sources: bool) -> list[str]:
    """One line per span of ``path`` not found in any document it names. ``only_sources``: questions
    citing only sources/ documents; otherwise every other answerable question, looked up under ``root``."""
    problems = []
    for r in records(path):
        if not r["answerable"]:
            continue
        names = r.get("sources") or []
        in_sources = bool(names) and all(n in documents(SOURCES) for n in names)
        if in_sources != only_sources:
            continue
        folders = [SOURCES, root] if not only_sources else [SOURCES]
        texts = []
        for name in names:
            found = [f for f in folders if name in documents(f)]
            if not found:
                problems.append(f"{r['id']}: source '{name}' is in neither sources/ nor {root}")
            texts += [loaded_text(f, name) for f in found]
        for i, span in enumerate(r["evidence"]):
            if not any(collapse(span) in text for text in texts):
                problems.append(f"{r['id']} evidence[{i}] not in {', '.join(names)}: {span!r}")
    return problems


# -- each file ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", TRAIN + TEST, ids=lambda p: p.name)
def test_the_loader_accepts_the_file(path):
    questions = load_questions([path])
    assert questions and all(q.id and q.question for q in questions)


@pytest.mark.parametrize("path", TRAIN + TEST, ids=lambda p: p.name)
def test_records_follow_the_schema(path):
    problems = []
    pattern = ID_PATTERN.get(path.stem)
    for r in records(path):
        where = f"{path.name} {r['id']}"
        if pattern and not re.fullmatch(pattern, r["id"]):
            problems.append(f"{where}: id does not match {pattern}")
        kinds = KINDS | (LEGACY_KINDS if legacy(path) else set())
        if r.get("kind") not in kinds:
            problems.append(f"{where}: kind {r.get('kind')!r} not in {sorted(kinds)}")
        if not legacy(path) and r.get("style") not in STYLES:
            problems.append(f"{where}: style {r.get('style')!r} not in {sorted(STYLES)}")
        if ("asks" in r) != ("short" in r) or ("asks" in r and r["asks"] not in ASKS):
            problems.append(f"{where}: asks {r.get('asks')!r} needs a short, and a short needs one of {sorted(ASKS)}")
        if r["answerable"]:
            if not r.get("sources") or not r.get("answer") or r.get("kind") in {"unanswerable", "near-topic"}:
                problems.append(f"{where}: an answerable question needs sources, an answer and an answerable kind")
            if r.get("kind") == "comparison" and len(r["sources"]) < 2:
                problems.append(f"{where}: a comparison names at least two documents")
        else:
            extra = sorted({"evidence", "sources", "asks", "short"} & r.keys())
            if extra or r.get("kind") not in {"unanswerable", "near-topic"}:
                problems.append(f"{where}: an unanswerable question has kind unanswerable/near-topic "
                                f"and no {', '.join(extra) or 'evidence'}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", TRAIN + TEST, ids=lambda p: p.name)
def test_every_short_answer_is_inside_an_evidence_span(path):
    bad = [f"{r['id']}: {r['short']!r}" for r in records(path) if "short" in r
           and not any(collapse(r["short"]) in collapse(span) for span in r.get("evidence") or [])]
    assert not bad, f"short answers outside their question's spans in {path.name}:\n" + "\n".join(bad)


@pytest.mark.parametrize("path", TRAIN + TEST, ids=lambda p: p.name)
def test_sources_evidence_is_in_the_loaded_text(path):
    problems = missing_spans(path, SOURCES, only_sources=True)
    assert not problems, f"{len(problems)} evidence problem(s):\n" + "\n".join(problems)


@pytest.mark.corpus
@pytest.mark.parametrize("path", TRAIN + TEST, ids=lambda p: p.name)
def test_corpus_evidence_is_in_the_loaded_text(path, shared_corpus):
    problems = missing_spans(path, shared_corpus, only_sources=False)
    assert not problems, f"{len(problems)} evidence problem(s):\n" + "\n".join(problems)


# -- the splits ---------------------------------------------------------------------------------------

def test_both_splits_exist():
    assert TRAIN and TEST, f"expected eval/train*.jsonl and eval/test*.jsonl, found {TRAIN + TEST}"


def test_ids_are_unique_across_all_files():
    load_questions(TRAIN + TEST + ([RETIRED] if RETIRED.exists() else []))  # raises on a duplicate id


def test_no_train_question_touches_an_unseen_document():
    bad = [f"{r['id']}: {sorted(UNSEEN & set(r.get('sources') or []))}" for r in split(TRAIN)
           if UNSEEN & set(r.get("sources") or [])]
    assert not bad, "train questions citing unseen documents:\n" + "\n".join(bad)


def test_train_and_test_share_no_question_and_no_span():
    tuned = split(TRAIN + ([RETIRED] if RETIRED.exists() else []))
    questions = {normalise(r["question"]): r["id"] for r in tuned}
    spans = {normalise(s): r["id"] for r in tuned for s in r.get("evidence") or []}
    shared = [f"{r['id']} asks the same as {questions[normalise(r['question'])]}: {r['question']!r}"
              for r in split(TEST) if normalise(r["question"]) in questions]
    shared += [f"{r['id']} reuses a span of {spans[normalise(s)]}: {s!r}"
               for r in split(TEST) for s in r.get("evidence") or [] if normalise(s) in spans]
    assert not shared, "test overlaps what was tuned on:\n" + "\n".join(shared)


def test_the_test_split_is_large_enough():
    assert len(split(TEST)) >= 100


def test_the_bank_is_large_enough():
    # Fails while the train writer is still adding questions: the bank needs 300 in all.
    assert len(split(TRAIN)) + len(split(TEST)) >= 300


def test_a_quarter_of_the_test_split_touches_only_unseen_documents():
    test = split(TEST)
    unseen = [r for r in test if r.get("sources") and set(r["sources"]) <= UNSEEN]
    assert len(unseen) >= 0.25 * len(test), f"{len(unseen)} of {len(test)} test questions are about unseen documents"


@pytest.mark.parametrize("name, paths", [("train", TRAIN), ("test", TEST)])
def test_each_split_has_enough_unanswerable_questions(name, paths):
    rows = split(paths)
    unanswerable = [r for r in rows if not r["answerable"]]
    assert rows and len(unanswerable) >= 0.15 * len(rows), f"{name}: {len(unanswerable)} of {len(rows)} unanswerable"


def test_the_test_split_is_mostly_paraphrased_with_near_topic_unanswerables():
    test = split(TEST)
    paraphrased = sum(r.get("style") == "paraphrased" for r in test)
    unanswerable = [r for r in test if not r["answerable"]]
    near = sum(r["kind"] == "near-topic" for r in unanswerable)
    assert paraphrased >= 0.5 * len(test), f"{paraphrased} of {len(test)} test questions are paraphrased"
    assert near >= 0.5 * len(unanswerable), f"{near} of {len(unanswerable)} unanswerable test questions are near-topic"
