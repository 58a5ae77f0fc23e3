"""The chat's conversation as data: what a session keeps, what the browser stores, what is sent as history.

A turn is the answer object (``Answer.to_dict()``) cut to what the chat shows, exports and resolves
follow-ups with (``compact``): no passage texts (the cards read them from the index), the closest
passages only for an abstention, of the timings only the total. The browser keeps the turns in its
localStorage (``gr.BrowserState``, encrypted with a key of this server run) so that a reload shows the
conversation again; what it sends back is checked (``restore``) like any other input, and
``stored`` keeps it well under the request-body limit, dropping the oldest turns first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

VERSION = 1
MAX_TURNS = 30  # older turns drop off the page
CLOSEST_KEPT = 3  # closest passages kept for an abstention (ui_render shows them all)
CITATION_KEYS = ("n", "doc_id", "chunk_id", "source", "title", "page", "start", "end", "quote", "passage_start",
                 "passage_end")
HIT_KEYS = ("doc_id", "chunk_id", "source", "title", "page", "start", "end", "text")
ANSWER_KEYS = ("question", "answer", "abstained", "message", "sentences", "short_answer", "understood_as", "scope",
               "index_id")


def empty() -> dict[str, Any]:
    """A new conversation: no turns; ``count`` numbers the turns (the page's anchors use it)."""
    return {"turns": [], "count": 0}


def current(state: Any) -> dict[str, Any]:
    """The session's conversation, or a new one when the session holds none."""
    return state if isinstance(state, dict) and "turns" in state else empty()


def compact(answer: Mapping[str, Any]) -> dict[str, Any]:
    """The part of an answer object a conversation keeps.

    >>> sorted(compact({"question": "q", "answer": "", "abstained": True, "citations": [], "retrieved": [
    ...     {"text": "t", "score": 0.1}], "timings_ms": {"embed": 1.0, "total": 3.0}}))
    ['abstained', 'answer', 'citations', 'index_id', 'message', 'question', 'retrieved', 'scope', 'sentences', \
'short_answer', 'timings_ms', 'understood_as']
    """
    out = {k: answer.get(k) for k in ANSWER_KEYS}
    out["citations"] = [{k: c.get(k) for k in CITATION_KEYS} for c in answer.get("citations") or []]
    hits = answer.get("retrieved") or [] if answer.get("abstained") else []
    out["retrieved"] = [{k: h.get(k) for k in HIT_KEYS} for h in hits[:CLOSEST_KEPT]]
    total = (answer.get("timings_ms") or {}).get("total")
    out["timings_ms"] = {"total": total} if isinstance(total, int | float) else {}
    return out


def add(state: Mapping[str, Any], answer: Mapping[str, Any]) -> dict[str, Any]:
    """``state`` with ``answer`` as its newest turn (the oldest dropped past ``MAX_TURNS``)."""
    return {"turns": ([*state.get("turns", []), compact(answer)])[-MAX_TURNS:], "count": state.get("count", 0) + 1}


def numbered(state: Mapping[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """(turn number, turn) for each kept turn; numbers keep counting when old turns drop off.

    >>> [n for n, _ in numbered({"turns": [{}, {}], "count": 7})]
    [6, 7]
    """
    turns = list(state.get("turns", []))
    first = int(state.get("count", len(turns))) - len(turns) + 1
    return list(enumerate(turns, start=first))


def history(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The earlier turns as ``Engine.ask`` takes them (question, how it was understood, answer, titles)."""
    return [{"question": t["question"], "understood_as": t.get("understood_as"), "answer": t.get("answer") or "",
             "sentences": t.get("sentences") or [],
             "citations": [{"title": c.get("title")} for c in t.get("citations") or []]}
            for t in state.get("turns", [])]


def stored(state: Mapping[str, Any], max_chars: int) -> dict[str, Any]:
    """What the browser keeps: the turns, the oldest dropped until the JSON is at most ``max_chars``.

    >>> s = {"turns": [{"question": "x" * 50}, {"question": "y"}], "count": 2}
    >>> [t["question"] for t in stored(s, 100)["turns"]]
    ['y']
    """
    turns = list(state.get("turns", []))
    while turns and len(json.dumps({"v": VERSION, "count": 0, "turns": turns})) > max_chars:
        turns.pop(0)
    return {"v": VERSION, "count": int(state.get("count", 0)), "turns": turns}


def restore(value: Any) -> dict[str, Any]:
    """The session state from what the browser sent back: anything malformed is dropped, never an error.

    >>> restore({"v": 1, "count": 4, "turns": [{"question": "q", "answer": "a", "abstained": False}, "junk"]})
    {'turns': [{'question': 'q', 'answer': 'a', 'abstained': False, 'message': '', 'sentences': [], \
'citations': [], 'retrieved': [], 'short_answer': None, 'understood_as': None, 'scope': [], 'index_id': '', \
'timings_ms': {}}], 'count': 4}
    >>> restore("nonsense")
    {'turns': [], 'count': 0}
    """
    if not isinstance(value, Mapping) or value.get("v") != VERSION or not isinstance(value.get("turns"), list):
        return empty()
    turns = [t for t in (_turn(x) for x in value["turns"][-MAX_TURNS:]) if t is not None]
    count = value.get("count")
    count = count if isinstance(count, int) and not isinstance(count, bool) and count >= len(turns) else len(turns)
    return {"turns": turns, "count": min(count, 10**9)}


def _turn(t: Any) -> dict[str, Any] | None:
    """One stored turn with every field of the type the page expects, or None."""
    if not isinstance(t, Mapping) or not isinstance(t.get("question"), str):
        return None

    def text(x: Any) -> str:
        return x if isinstance(x, str) else ""

    def integer(x: Any) -> int | None:
        return x if isinstance(x, int) and not isinstance(x, bool) else None

    sentences = [{"text": s["text"], "citation": s["citation"]} for s in _dicts(t.get("sentences"))
                 if isinstance(s.get("text"), str) and integer(s.get("citation")) is not None]
    citations = [{**{k: c.get(k) for k in CITATION_KEYS}, "page": integer(c.get("page")),
                  "source": text(c.get("source")), "title": text(c.get("title")), "doc_id": text(c.get("doc_id"))}
                 for c in _dicts(t.get("citations"))
                 if isinstance(c.get("quote"), str) and all(integer(c.get(k)) is not None for k in
                                                            ("n", "start", "end", "passage_start", "passage_end"))]
    retrieved = [{k: (text(h.get(k)) if k != "page" else integer(h.get(k))) for k in HIT_KEYS}
                 for h in _dicts(t.get("retrieved"))[:CLOSEST_KEPT]]
    short = t.get("short_answer")
    short = ({"text": short["text"], "citation": short["citation"], "start": integer(short.get("start")),
              "end": integer(short.get("end")), "kind": text(short.get("kind"))}
             if isinstance(short, Mapping) and isinstance(short.get("text"), str)
             and integer(short.get("citation")) is not None else None)
    timings = t.get("timings_ms")
    total = timings.get("total") if isinstance(timings, Mapping) else None
    return {"question": t["question"], "answer": text(t.get("answer")), "abstained": t.get("abstained") is True,
            "message": text(t.get("message")), "sentences": sentences, "citations": citations,
            "retrieved": retrieved, "short_answer": short,
            "understood_as": t["understood_as"] if isinstance(t.get("understood_as"), str) else None,
            "scope": [s for s in t.get("scope") or [] if isinstance(s, str)] if isinstance(t.get("scope"), list)
            else [], "index_id": text(t.get("index_id")),
            "timings_ms": {"total": total} if isinstance(total, int | float) and not isinstance(total, bool) else {}}


def _dicts(x: Any) -> list[Mapping[str, Any]]:
    return [d for d in x if isinstance(d, Mapping)] if isinstance(x, Sequence) and not isinstance(x, str) else []
