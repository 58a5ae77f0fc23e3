"""`rag chat` (rag.chat): the commands, and a real conversation driven through a pty."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from rag.chat import Chat, run
from rag.engine import Engine, UnknownSource
from rag.export import quotes

from .conftest import FAKE_FRIENDLY, ROOT, mini_index


@pytest.fixture
def chat(tmp_path, fake_embedder):
    return Chat(Engine(mini_index(tmp_path, fake_embedder, **FAKE_FRIENDLY), fake_embedder))


def test_sources_lists_sets_and_resets_the_scope(chat):
    listing = chat.command("/sources")
    assert "1. animals.txt" in listing and "searched: all documents" in listing
    assert chat.command("/sources 3") == "Searching only: plan.md"
    assert chat.ask("Which animals can fly?").scope == ("plan.md",)
    assert chat.command('/sources "The Garden Plan" animals.txt') == "Searching only: plan.md, animals.txt"
    with pytest.raises(UnknownSource, match="birds.html"):
        chat.command("/sources nope.txt")
    assert chat.command("/sources all").startswith("Searching all 3")
    assert chat.ask("Which animals can fly?").scope == ()


def test_new_forgets_the_conversation_but_the_transcript_keeps_it(chat, tmp_path):
    chat.ask("What does the plan say about birds?")
    assert chat.ask("what about cats?").understood_as == "What does the plan say about cats?"
    assert chat.command("/new").startswith("New conversation")
    assert chat.ask("what about cats?").understood_as is None
    assert len(chat.transcript) == 3 and len(chat.history) == 1
    assert chat.command(f"/save {tmp_path / 'c.md'}") == f"Saved 3 turns to {tmp_path / 'c.md'}"
    assert (tmp_path / "c.md").read_text().count("\n## ") == 3


def test_the_loop_prints_answers_and_quits_on_end_of_input(chat):
    lines = iter(["", "/help", "What does the plan say about birds?", "what about cats?", "/bogus"])
    out: list[str] = []

    def read(prompt: str) -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    assert run(chat, read, out.append) == 0
    text = "\n".join(out)
    assert "/sources" in text and "(searched as: What does the plan say about cats?)" in text
    assert "Unknown command /bogus" in text


@pytest.mark.e2e
def test_rag_chat_through_a_pty_answers_a_follow_up(tmp_path, sources_index):
    pexpect = pytest.importorskip("pexpect", reason="pexpect is in the test extra")
    index = sources_index.index_dir
    saved = tmp_path / "chat.md"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
    child = pexpect.spawn(sys.executable, ["-m", "rag.cli", "chat", "--index", str(index), "--save", str(saved)],
                          cwd=str(ROOT), env=env, encoding="utf-8", timeout=60, dimensions=(40, 200))
    try:
        child.expect("Ctrl-D to quit")
        child.expect_exact("you> ")
        child.sendline("What are the four areas of action?")
        child.expect("Align rights-respecting approaches")
        child.expect_exact("you> ")
        child.sendline("Who announced it?")
        child.expect(r"\(searched as: Who announced the [^)]*\)")
        child.expect("Antony Blinken")
        child.expect_exact("you> ")
        child.sendline("/sources")
        child.expect(r"\* +1\. blinken-announces-international-cyber-strategy\.txt")
        child.expect_exact("you> ")
        child.sendeof()
        child.expect(f"Saved 2 turns to {saved}")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    markdown = saved.read_text(encoding="utf-8")
    assert "## 2. Who announced it?" in markdown and "*Searched as: Who announced the" in markdown
    texts = [p.read_text(encoding="utf-8") for p in Path(sources_index.sources_dir).iterdir()]
    found = quotes(markdown)
    assert found and all(any(q in t for t in texts) for q in found)
