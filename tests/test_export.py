"""Markdown export (rag.export): quotes equal the documents' text, and no source text becomes markup."""

from __future__ import annotations

import re

import pytest

from rag.engine import Engine
from rag.export import conversation_markdown, escape, quotes, unescape

from .conftest import DATA, FAKE_FRIENDLY, mini_index


@pytest.fixture
def engine(tmp_path, fake_embedder):
    return Engine(mini_index(tmp_path, fake_embedder, DATA / "hostile", **FAKE_FRIENDLY), fake_embedder)


def test_quotes_equal_the_documents_text(engine):
    questions = ["What does the plan say about compost?", "What does the hostile markup sample contain?",
                 "Which bird has the longest wingspan?"]
    turns = []
    for q in questions:
        turns.append(engine.ask(q, history=turns).to_dict())
    markdown = conversation_markdown(turns)
    expected = []
    for t in turns:
        for n in sorted({c["n"] for c in t["citations"]}):
            for c in sorted((c for c in t["citations"] if c["n"] == n), key=lambda c: c["start"]):
                expected.append(engine.index.document(c["doc_id"]).text[c["start"]:c["end"]])
    assert len(expected) >= 3 and quotes(markdown) == expected
    assert [line for line in markdown.splitlines() if line.startswith("## ")] == [
        f"## {i}. {escape(q)}" for i, q in enumerate(questions, start=1)]
    assert re.search(r"^- \[1\] .* — `hostile/hostile-markup.txt`, characters \d+–\d+$", markdown, re.M)


def test_source_text_is_inert(engine):
    answer = engine.ask("What does the hostile markup sample contain?").to_dict()
    markdown = conversation_markdown([answer])
    for raw in ("<script>", "[x](javascript:", "<img src"):  # never without the backslash that disarms it
        assert not re.search(r"(?<!\\)" + re.escape(raw), markdown)
    assert "\\<script\\>" in markdown


@pytest.mark.parametrize("text", ["1. Promote;", "# heading", "- item", "a * b _c_ `d` <e> [f] & | ~ \\ g",
                                  "  2) indented", "plain text."])
def test_escape_round_trips(text):
    assert unescape(escape(text)) == text


def test_abstentions_and_searched_as_are_written():
    markdown = conversation_markdown([
        {"question": "Why?", "understood_as": "Why? (What is X)", "abstained": True,
         "message": "The sources don't answer this.", "citations": [], "scope": ["a.txt"]}])
    assert "*Searched as: Why? (What is X)*" in markdown and "*Searched in: `a.txt`*" in markdown
    assert "The sources don't answer this." in markdown and "**Sources**" not in markdown
