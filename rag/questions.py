"""Question files for ``rag eval`` and ``rag train``: JSONL, one question or one conversation a line.

A question: ``{"id", "question", "answerable", "evidence"?, "answer"?, "sources"?, "kind"?, "style"?,
"asks"?, "short"?}``. A conversation: ``{"id", "kind"?, "turns": [{"question"}, ..., {"question", gold
fields}]}``: its earlier questions become the ``history`` of the last, which carries the gold fields and
may give ``"standalone"``, the same question asked without the conversation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEPTH = 10  # ranks scored by the retrieval metrics
TYPES = {"id": str, "question": str, "answerable": bool, "answer": str, "kind": str, "asks": str, "short": str,
         "style": str, "standalone": str}
ASKS = ("person", "organisation", "place", "date", "duration", "count", "amount")
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
    asks: str | None = None  # the kind of short answer asked for (``ASKS``)
    short: str | None = None  # the gold short answer
    style: str = ""
    history: tuple[str, ...] = ()  # the earlier questions of a conversation
    standalone: str | None = None  # the last turn asked without the conversation


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
    rag.questions.QuestionError: f, line 3: missing 'answerable'
    """
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise QuestionError(f"{where}: not valid JSON ({e.msg}, column {e.colno})") from None
    if not isinstance(obj, dict):
        raise QuestionError(f"{where}: expected a JSON object, got {_json_type(obj)}")
    history: tuple[str, ...] = ()
    if "turns" in obj:
        turns = obj["turns"]
        if not (isinstance(turns, list) and turns and all(isinstance(t, dict) and isinstance(t.get("question"), str)
                                                          for t in turns)):
            raise QuestionError(f"{where}: 'turns' must be a list of objects with a 'question'")
        history = tuple(t["question"] for t in turns[:-1])
        obj = {"id": obj.get("id"), "kind": obj.get("kind")} | turns[-1]
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
    if obj.get("asks") is not None and obj["asks"] not in ASKS:
        raise QuestionError(f"{where}: 'asks' must be one of {', '.join(ASKS)}, got {obj['asks']!r}")
    kind = obj.get("kind") or ("other" if obj["answerable"] else "unanswerable")
    return Question(obj["id"], obj["question"], obj["answerable"], evidence, obj.get("answer"),
                    tuple(obj.get("sources") or ()), kind, where, obj.get("asks"), obj.get("short"),
                    obj.get("style") or "", history, obj.get("standalone"))


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


