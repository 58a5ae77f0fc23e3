"""``rag chat``: a conversation in the terminal. Follow-ups are resolved against the earlier turns
(``rag.conversation``); commands start with a slash; Ctrl-D quits.

    /new                 forget the conversation (start a new topic)
    /sources             list the documents, numbered, and which ones are searched
    /sources 2 a.txt     search only these documents (numbers from the list, file names or titles)
    /sources all         search every document again
    /save FILE.md        write the conversation as Markdown now (``--save`` writes it after every turn)
    /help                this list
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .engine import Engine, UnknownSource, resolve_scope
from .export import conversation_markdown
from .formatting import format_answer
from .types import Answer

PROMPT = "you> "
HELP = __doc__.split("\n\n", 1)[1].rstrip() if __doc__ else ""


class Chat:
    """The state of one terminal conversation: the turns (answer dicts) and the scope."""

    def __init__(self, engine: Engine, sources: list[str] | None = None, mode: str | None = None,
                 k: int | None = None, save: str | None = None) -> None:
        self.engine, self.mode, self.k, self.save_to = engine, mode, k, save
        self.sources: list[str] = list(sources or [])
        self.history: list[dict[str, Any]] = []  # what follow-ups are resolved against; /new clears it
        self.transcript: list[dict[str, Any]] = []  # every turn of the session, for the Markdown export

    def ask(self, question: str) -> Answer:
        answer = self.engine.ask(question, mode=self.mode, k=self.k, history=self.history,
                                 sources=self.sources or None)
        turn = answer.to_dict()
        turn.pop("retrieved", None)  # passages are not needed to resolve or export; keep the session light
        if not answer.message or answer.retrieved:  # an empty or over-long question is no turn
            self.history.append(turn)
            self.transcript.append(turn)
            if self.save_to:
                self.save(self.save_to)
        return answer

    def documents(self) -> list[dict[str, Any]]:
        return list(self.engine.index.manifest.get("documents", []))

    def set_sources(self, names: list[str]) -> str:
        docs = self.documents()
        if not names or names == ["all"]:
            self.sources = []
            return f"Searching all {len(docs)} documents."
        chosen = [str(docs[int(n) - 1]["source"]) if n.isdigit() and 0 < int(n) <= len(docs) else n for n in names]
        scope, _ = resolve_scope(self.engine.index, chosen)  # raises UnknownSource, naming the valid ones
        self.sources = list(scope)
        return "Searching only: " + ", ".join(scope)

    def list_sources(self) -> str:
        lines = []
        for i, d in enumerate(self.documents(), start=1):
            mark = "*" if not self.sources or d["source"] in self.sources else " "
            lines.append(f" {mark}{i:3}. {d['source']} — {str(d.get('title', ''))[:70]}")
        scope = "all documents" if not self.sources else f"{len(self.sources)} of them"
        return "\n".join(lines + [f"(* searched: {scope}; /sources N ... to choose, /sources all to reset)"])

    def save(self, path: str) -> str:
        """Write the transcript as Markdown, atomically (a crash never leaves half a file)."""
        target = Path(path)
        fd, tmp = tempfile.mkstemp(dir=target.parent if str(target.parent) else ".", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(conversation_markdown(self.transcript))
        os.replace(tmp, target)
        return f"Saved {len(self.transcript)} turns to {target}"

    def command(self, line: str) -> str:
        """Run a slash command; return what to print."""
        try:
            name, *args = shlex.split(line)
        except ValueError as e:
            return f"Could not read that command: {e}"
        if name == "/new":
            self.history = []
            return "New conversation: earlier questions are forgotten."
        if name == "/sources":
            return self.set_sources(args) if args else self.list_sources()
        if name == "/save":
            if not args and not self.save_to:
                return "Usage: /save FILE.md"
            return self.save(args[0] if args else str(self.save_to))
        if name in ("/help", "/?"):
            return HELP
        return f"Unknown command {name}; /help lists them."


def run(chat: Chat, read: Callable[[str], str] = input, write: Callable[[str], None] = print) -> int:
    """The read-answer loop, until Ctrl-D (end of input)."""
    try:
        import readline  # noqa: F401 - arrow keys and history for input()
    except ImportError:  # not on every platform
        pass
    write(f"Ask about {len(chat.documents())} documents. /help for commands, Ctrl-D to quit.")
    while True:
        try:
            line = read(PROMPT).strip()
        except EOFError:
            write("")
            break
        except KeyboardInterrupt:  # Ctrl-C drops the line being typed
            write("")
            continue
        if not line:
            continue
        try:
            if line.startswith("/"):
                write(chat.command(line))
                continue
            answer = chat.ask(line)
        except (UnknownSource, OSError) as e:
            write(f"error: {e}")
            continue
        if answer.understood_as:
            write(f"(searched as: {answer.understood_as})")
        write(format_answer(answer))
        write("")
    if chat.save_to and chat.transcript:
        write(chat.save(chat.save_to))
    return 0


def main(engine: Engine, sources: list[str] | None = None, mode: str | None = None, k: int | None = None,
         save: str | None = None) -> int:
    chat = Chat(engine, sources, mode, k, save)
    if sources:
        chat.set_sources(sources)  # an unknown name is a usage error before the first prompt
    return run(chat, write=lambda text: print(text, flush=True))
