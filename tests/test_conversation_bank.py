"""The conversation sets in eval/: well formed, split honestly, and every evidence span is in the loaded text.

A conversation is ``{"id", "kind", "turns": [{"question"}, ..., {last turn}]}``; only the last turn carries
gold fields (those of a question-bank line, plus ``standalone``: the same question asked without the
conversation). Spans must occur in the text ``rag.sources.load`` gives for the named document, after
collapsing whitespace runs (case kept, stricter than the evaluator's rule).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from rag import sources
from rag.evaluation import parse_question

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "eval"
SOURCES = ROOT / "sources"
SPLITS = {"train": EVAL / "conversations_train.jsonl", "test": EVAL / "conversations_test.jsonl"}
PREFIX = {"train": "cv-tr-", "test": "cv-te-"}
KINDS = {"pronoun", "ellipsis", "what-about", "list-item", "topic-switch"}
ASKS = {"person", "organisation", "place", "date", "duration", "count", "amount"}
ANSWER_ONLY = {"evidence", "sources", "asks", "short"}
GOLD = {"question", "answerable", "answer", "sources", "evidence", "asks", "short", "standalone"}
# Only test conversations may touch these (the question bank's document split, issue 13).
UNSEEN = {
    "2022-04-28-background-press-call-by-senior-administration-officials-on-the-declaration-for-the-future-of-the-internet.md",
    "2022-04-28-fact-sheet-united-states-and-60-global-partners-launch-declaration-for-the-future-of-the-internet.md",
    "2022-11-02-readout-of-national-security-advisor-jake-sullivans-participation-at-the-high-level-multi-stakeholder-hybrid-event-on-the-declaration-for-the-future-of-the-internet.md",
    "2022-10-12-fact-sheet-the-biden-harris-administrations-national-security-strategy.md",
    "2023-07-13-fact-sheet-biden-harrisadministration-publishes-thenational-cybersecurity-strategyimplementation-plan.md",
}


def squash(text: str) -> str:
    """Whitespace runs collapsed, case kept.

    >>> squash(" a\\n  b ")
    'a b'
    """
    return " ".join(text.split())


def read(split: str) -> list[dict]:
    return [json.loads(line) for line in SPLITS[split].read_text(encoding="utf-8").splitlines() if line.strip()]


def last(conv: dict) -> dict:
    return conv["turns"][-1]


@cache
def doc_text(root: Path, name: str) -> str | None:
    """The collapsed loader text of the file called ``name`` under ``root``, or None when there is none."""
    for path in sorted(root.rglob(name)):
        if path.is_file():
            return squash(sources.load(root, path).text)
    return None


def span_problems(conv: dict, root: Path) -> list[str]:
    gold = last(conv)
    texts = [doc_text(root, name) for name in gold.get("sources", [])]
    problems = [f"{conv['id']}: source '{n}' not under {root}" for n, t in zip(gold["sources"], texts) if t is None]
    for i, span in enumerate(gold.get("evidence", [])):
        if not any(t and squash(span) in t for t in texts):
            problems.append(f"{conv['id']} evidence[{i}] not in {', '.join(gold['sources'])}: {span!r}")
    return problems


def in_sources(conv: dict) -> bool:
    return all(doc_text(SOURCES, name) is not None for name in last(conv).get("sources", []))


def schema_problems(c: dict, split: str) -> list[str]:
    """What is wrong with one conversation's shape (an empty list when nothing is)."""
    cid, turns = c.get("id", "?"), c.get("turns") or []
    if not cid.startswith(PREFIX[split]) or c.get("kind") not in KINDS or not 2 <= len(turns) <= 3:
        return [f"{cid}: bad id prefix, kind {c.get('kind')!r} or {len(turns)} turns"]
    problems = [f"{cid}: turn {i + 1} has gold {sorted(t)}" for i, t in enumerate(turns[:-1]) if set(t) != {"question"}]
    gold = last(c)
    if set(gold) - GOLD or not gold.get("standalone", "").strip():
        problems.append(f"{cid}: last turn keys {sorted(gold)} (needs standalone, only {sorted(GOLD)})")
    parse_question(json.dumps({"id": cid, **{k: v for k, v in gold.items() if k != "standalone"}}), cid)
    if not gold["answerable"] and set(gold) & ANSWER_ONLY:
        problems.append(f"{cid}: unanswerable but has {sorted(set(gold) & ANSWER_ONLY)}")
    if ("asks" in gold) != ("short" in gold) or gold.get("asks", "person") not in ASKS:
        problems.append(f"{cid}: asks and short must come together, asks one of {sorted(ASKS)}")
    if "short" in gold and not any(squash(gold["short"]) in squash(e) for e in gold["evidence"]):
        problems.append(f"{cid}: short {gold['short']!r} is in none of its spans")
    if c["kind"] == "topic-switch" and gold["standalone"] != gold["question"]:
        problems.append(f"{cid}: a topic switch must be its own standalone question")
    return problems


@pytest.mark.parametrize("split", SPLITS)
def test_conversations_are_well_formed(split):
    convs = read(split)
    assert len(convs) >= 20
    problems = [p for c in convs for p in schema_problems(c, split)]
    assert not problems, "\n".join(problems)
    assert {c["kind"] for c in convs} == KINDS, "every follow-up kind in each split"
    assert sum(not last(c)["answerable"] for c in convs) <= 0.10 * len(convs), "at most 10% unanswerable"


def test_ids_unique_and_splits_disjoint():
    train, test = read("train"), read("test")
    ids = [c["id"] for c in train + test]
    assert len(ids) == len(set(ids)), "duplicate conversation ids"
    touched = {c["id"]: sorted(set(last(c).get("sources", [])) & UNSEEN) for c in train}
    assert not {k: v for k, v in touched.items() if v}, "train conversations touch unseen documents"
    shared = {squash(last(c)["question"]).lower() for c in train} & {squash(last(c)["question"]).lower() for c in test}
    assert not shared, f"last-turn questions in both splits: {shared}"


@pytest.mark.parametrize("split", SPLITS)
def test_sources_evidence_is_in_the_loaded_text(split):
    convs = [c for c in read(split) if last(c)["answerable"] and in_sources(c)]
    assert convs, "no conversation about sources/"
    problems = [p for c in convs for p in span_problems(c, SOURCES)]
    assert not problems, "\n".join(problems)


@pytest.mark.corpus
@pytest.mark.parametrize("split", SPLITS)
def test_corpus_evidence_is_in_the_loaded_text(split, shared_corpus):
    convs = [c for c in read(split) if last(c)["answerable"] and not in_sources(c)]
    problems = [p for c in convs for p in span_problems(c, shared_corpus)]
    assert not problems, "\n".join(problems)
