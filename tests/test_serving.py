"""A live chat server (ui.ChatApp on a real port, fake embedder) through rebuilds and broken indexes.

- 20 clients keep asking through Gradio's queue while a rebuild adds a document: no request fails and
  every answer comes wholly from the build its ``index_id`` names (citations checked against that
  build's documents and chunks, loaded with ``rag.store`` before the switch).
- A broken index published under a running server is refused: the server keeps answering from its
  good index, ``Engine.reload`` names the problem and the ``rag build`` command, and the chat's own
  rebuild replaces the broken index with a good one. Starting on a broken index exits with that message.

The request helpers (``post_json``, ``call_fn``, ``call_ask``, ``upload``) are shared with test_hostile.py,
test_uploads.py, test_web_surface.py and test_read_only.py; the server itself is tests/servers.py's.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

import ui
from rag import builds, store
from rag.config import Settings
from rag.indexing import build

from .conftest import FakeEmbedder, free_port, index_sources
from .damage import DAMAGES, edit_manifest
from .servers import live_app

FOUR = "What are the four areas of action?"
ZORBLAX = "Where was the Zorblax Accord signed?"
ZORBLAX_TEXT = "# Zorblax notes\n\nThe Zorblax Accord was signed in Reykjavik in 2031 by twelve harbour cities.\n"


def post_json(client: httpx.Client, path: str, body: Any) -> httpx.Response:
    """POST ``body`` as ASCII JSON, so that even a lone surrogate travels (as ``\\ud800``)."""
    return client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})


def call_fn(client: httpx.Client, api_name: str, data: list[Any]) -> list[Any]:
    """One call of the app's function ``api_name`` through Gradio's queue, as a raw client does: POST
    /gradio_api/call/<api_name>, then read its event stream. Returns the outputs; raises
    ``AssertionError`` with what came back for anything else."""
    r = post_json(client, f"/gradio_api/call/{api_name}", {"data": data})
    assert r.status_code == 200, f"POST /call/{api_name}: {r.status_code} {r.text[:300]}"
    r = client.get(f"/gradio_api/call/{api_name}/{r.json()['event_id']}")
    assert r.status_code == 200, f"GET /call/{api_name}: {r.status_code} {r.text[:300]}"
    event, data_line = "", ""
    for line in r.text.splitlines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data_line = line.split(":", 1)[1].strip()
        if event in ("complete", "error") and data_line:
            break
    assert event == "complete", f"/{api_name} ended with event {event!r}: {data_line[:300]}"
    return json.loads(data_line)


def call_ask(client: httpx.Client, question: Any) -> dict[str, Any]:
    """One /ask call through Gradio's queue: the answer dict."""
    (answer,) = call_fn(client, "ask", [question])
    return answer


def upload(client: httpx.Client, files: dict[str, bytes] | Iterable[tuple[str, bytes]]) -> list[dict[str, Any]]:
    """POST the files (``{name: bytes}`` or ``[(name, bytes)]``) to /gradio_api/upload in one request;
    the FileData a call then sends."""
    pairs = files.items() if isinstance(files, dict) else files
    r = client.post("/gradio_api/upload", files=[("files", (name, data, "application/octet-stream"))
                                                 for name, data in pairs])
    assert r.status_code == 200, f"POST /upload: {r.status_code} {r.text[:300]}"
    return [{"path": path, "meta": {"_type": "gradio.FileData"}} for path in r.json()]


@dataclass
class BuildView:
    """What one build holds, copied out of it: enough to check any answer that names it."""

    index_id: str
    documents: dict[str, str]  # doc_id -> text
    chunks: dict[str, tuple[str, int, int, str]]  # chunk_id -> (doc_id, start, end, text)
    sources: dict[str, str]  # doc_id -> source

    @classmethod
    def of(cls, index: store.Index) -> BuildView:
        docs = list(index.documents)
        return cls(index.index_id, {d.doc_id: d.text for d in docs},
                   {c.chunk_id: (c.doc_id, c.start, c.end, c.text) for c in index.chunks},
                   {d.doc_id: d.source for d in docs})

    def problems(self, answer: dict[str, Any]) -> list[str]:
        """Every way ``answer`` disagrees with this build (empty when it comes wholly from it)."""
        out = []
        if answer["index_id"] != self.index_id:
            out.append(f"index_id {answer['index_id']} is not {self.index_id}")
        for c in answer["citations"]:
            text = self.documents.get(c["doc_id"])
            chunk = self.chunks.get(c["chunk_id"])
            if text is None or chunk is None:
                out.append(f"citation {c['doc_id']}/{c['chunk_id']} is not in build {self.index_id}")
                continue
            doc_id, start, end, chunk_text = chunk
            if doc_id != c["doc_id"] or text[c["start"]:c["end"]] != c["quote"]:
                out.append(f"quote {c['quote'][:60]!r} is not at {c['start']}:{c['end']} of {c['doc_id']}")
            if (c["passage"], c["passage_start"], c["passage_end"]) != (chunk_text, start, end):
                out.append(f"passage of {c['chunk_id']} differs from the chunk")
            if not start <= c["start"] < c["end"] <= end:
                out.append(f"quote {c['start']}:{c['end']} is outside its passage {start}:{end}")
            if c["source"] != self.sources[c["doc_id"]]:
                out.append(f"source {c['source']} is not {self.sources[c['doc_id']]}")
        for h in answer["retrieved"]:
            if self.chunks.get(h["chunk_id"]) != (h["doc_id"], h["start"], h["end"], h["text"]):
                out.append(f"retrieved {h['chunk_id']} is not that chunk of build {self.index_id}")
        return out


class SlowBuildEmbedder(FakeEmbedder):
    """Questions at full speed; each batch of a build takes ``delay`` seconds, so a rebuild spans many
    requests."""

    def __init__(self) -> None:
        super().__init__()
        self.delay = 0.0

    def encode(self, texts, progress=False):  # noqa: ANN001, ANN201 - the Embedder protocol
        if len(texts) > 1 and self.delay:
            time.sleep(self.delay)
        return super().encode(texts, progress)


def test_twenty_clients_get_whole_answers_from_one_build_while_a_rebuild_adds_a_document(tmp_path):
    embedder = SlowBuildEmbedder()
    questions = (FOUR, "Who announced the strategy?", ZORBLAX, "What is digital solidarity?",
                 "How do I bake sourdough bread?")
    with live_app(tmp_path, embedder) as srv:
        old = BuildView.of(store.load_index(srv.settings.index_dir))
        upload = tmp_path / "inbox" / "zorblax-accord.md"
        upload.parent.mkdir()
        upload.write_text(ZORBLAX_TEXT)
        stop = threading.Event()
        done: list[tuple[str, dict[str, Any], float, float]] = []
        failures: list[tuple[str, str]] = []

        def client(i: int) -> None:
            with httpx.Client(base_url=srv.url, timeout=60) as http:
                n = i
                while not stop.is_set():
                    q = questions[n % len(questions)]
                    n += 1
                    t = time.monotonic()
                    try:
                        done.append((q, call_ask(http, q), t, time.monotonic()))
                    except Exception as e:  # every failure is reported, none stops the others
                        failures.append((q, repr(e)))

        clients = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(20)]
        for c in clients:
            c.start()
        deadline = time.monotonic() + 60
        while len(done) + len(failures) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        embedder.delay = 1.5
        t_start = time.monotonic()
        report, _, _ = srv.app.rebuild([str(upload)])
        t_end = time.monotonic()
        embedder.delay = 0.0
        while sum(1 for *_, t, _ in done if t > t_end) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        for c in clients:
            c.join(60)
        new = BuildView.of(store.load_index(srv.settings.index_dir))

    assert "Index rebuilt and in use" in report, report
    assert not failures, f"{len(failures)} of {len(failures) + len(done)} requests failed: {failures[:5]}"
    assert new.index_id != old.index_id and "zorblax-accord.md" in new.sources.values()
    views = {old.index_id: old, new.index_id: new}
    by_build = Counter(a["index_id"] for _, a, _, _ in done)
    assert set(by_build) <= set(views) and by_build[old.index_id] and by_build[new.index_id], by_build
    during = [a for _, a, t0, t1 in done if t0 >= t_start and t1 <= t_end]
    assert len(during) >= 20, f"only {len(during)} answers were served during the {t_end - t_start:.1f} s rebuild"
    assert all(a["index_id"] == new.index_id for _, a, t0, _ in done if t0 > t_end), "asked after the switch"
    for q, a, _, _ in done:
        problems = views[a["index_id"]].problems(a)
        assert not problems, f"{q!r} answered from a mix of builds: {problems[:3]}"
    zorblax = [a for q, a, _, _ in done if q == ZORBLAX and a["index_id"] == new.index_id]
    assert zorblax and all(not a["abstained"] and a["citations"][0]["source"] == "zorblax-accord.md" for a in zorblax)


# --- a broken index published under a running server -------------------------------------------------


class OtherDimension(FakeEmbedder):
    dim = 32  # same name "fake", vectors of another size: a swapped model folder


class OtherModel(FakeEmbedder):
    name = "other-model"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_app(tmp_path_factory.mktemp("serving"), FakeEmbedder()) as srv:
        yield srv


def broken_build(srv: SimpleNamespace, scratch: Path, damage: str) -> Path:
    """A build folder in the server's index with ``damage`` (tests/damage.py, or built with another
    embedder) done to it, not yet published."""
    good = store.current_build(srv.settings.index_dir)
    target = good.parent / f"broken-{damage.replace(' ', '-')}"
    if damage in ("built with another dimension", "built with another model"):
        other = scratch / "other"
        embedder = OtherDimension() if "dimension" in damage else OtherModel()
        build([srv.sources], Settings().replace(index_dir=str(other)), embedder)
        shutil.copytree(store.current_build(other), target)
        return target
    shutil.copytree(good, target)
    DAMAGES[damage](target)
    return target


@pytest.mark.parametrize("damage, named", [
    ("truncated FAISS file", "FAISS file"),
    ("invalid manifest", "not valid JSON"),
    ("missing manifest", "no manifest.json"),
    ("more vectors than records", "inconsistent"),
    ("manifest says another dimension", "dimension"),
    ("built with another dimension", "dimension"),
    ("built with another model", "built with model 'other-model'"),
])
def test_a_live_server_keeps_its_index_and_refuses_a_broken_one(server, tmp_path, monkeypatch, damage, named):
    engine = server.app.engine
    good = store.current_build(server.settings.index_dir)
    good_id = engine.index.index_id
    broken = broken_build(server, tmp_path, damage)
    builds.publish(Path(server.settings.index_dir), broken)
    try:
        with pytest.raises(store.IndexLoadError, match=named) as err:
            engine.reload()
        assert "rag build" in str(err.value)
        monkeypatch.setattr(engine, "_checked", 0.0, raising=False)  # look for a new build on the next question
        with httpx.Client(base_url=server.url, timeout=60) as http:
            answer = call_ask(http, FOUR)
        assert answer["index_id"] == good_id and not answer["abstained"] and answer["citations"]
        assert engine.index.index_id == good_id
        assert "rag build" in engine.refused and named.split("'")[0] in engine.refused
    finally:
        builds.publish(Path(server.settings.index_dir), good)
        shutil.rmtree(broken, ignore_errors=True)


def test_the_chat_rebuild_replaces_a_broken_published_index(tmp_path):
    with live_app(tmp_path, FakeEmbedder()) as srv:
        good_id = srv.app.engine.index.index_id
        builds.publish(Path(srv.settings.index_dir), broken_build(srv, tmp_path, "truncated FAISS file"))
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            assert call_ask(http, FOUR)["index_id"] == good_id
            report, status, _ = srv.app.rebuild(None)
            assert "Index rebuilt and in use" in report, report
            fresh = store.load_index(srv.settings.index_dir)  # the published index loads again
            answer = call_ask(http, FOUR)
        assert fresh.index_id not in (good_id, "") and answer["index_id"] == fresh.index_id
        assert not BuildView.of(fresh).problems(answer) and not answer["abstained"]


@pytest.mark.parametrize("damage", ["truncated FAISS file", "built with another model"])
def test_starting_the_chat_on_a_broken_index_exits_2_with_the_fix(tmp_path, capsys, damage):
    index_dir = Path(index_sources(tmp_path, FakeEmbedder()).index_dir)
    current = store.current_build(index_dir)
    if damage == "truncated FAISS file":  # made with the default model's name, so the FAISS check is reached
        edit_manifest(current, lambda m: m.update(model=Settings().model))
        DAMAGES[damage](current)
    assert ui.main(["--index", str(index_dir), "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ui.py: error: ") and "rag build" in err and "Traceback" not in err
    assert ("FAISS file" if damage == "truncated FAISS file" else "built with model 'fake'") in err


# --- the HTTP API and the MCP server on the chat's server -------------------------------------------------


async def mcp_tools(url: str, headers: dict[str, str]) -> tuple[list[str], str]:
    """The MCP server's tool names and its answer to one question, through the ``mcp`` client."""
    import httpx2  # the HTTP client the mcp SDK is built on
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            tools = await client.list_tools()
            answer = await client.call_tool("ask", {"question": FOUR})
    return sorted(t.name for t in tools.tools), answer.content[0].text


def test_the_api_and_mcp_are_served_beside_the_chat_behind_the_same_login(tmp_path):
    import asyncio
    import base64

    login = ("reader", "correct horse battery")
    basic = {"authorization": "Basic " + base64.b64encode(":".join(login).encode()).decode()}
    with live_app(tmp_path, FakeEmbedder(), auth=[login], token="tok-5d1", mcp=True) as srv:
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            for path in ("/api/ask", "/mcp"):
                r = post_json(http, path, {"question": FOUR})
                assert r.status_code == 401 and r.json()["error"], (path, r.status_code, r.text[:200])
            assert post_json(http, "/api/ask", {"question": FOUR}).headers["www-authenticate"].startswith("Basic")
            assert http.get("/api/info").status_code == 401 and http.get("/api/health").status_code == 200
            assert post_json(http, "/gradio_api/call/ask", {"data": [FOUR]}).status_code == 401  # the chat's login
            for headers in (basic, {"authorization": "Bearer tok-5d1"}):
                r = http.post("/api/ask", json={"question": FOUR}, headers=headers)
                assert r.status_code == 200 and r.json()["citations"], r.text[:200]
            assert http.post("/api/ask", json={"question": FOUR}, headers={"authorization": "Bearer nope"}
                             ).status_code == 401
        tools, text = asyncio.run(mcp_tools(srv.url + "/mcp", basic))
    assert tools == ["ask", "list_documents"] and "[1]" in text and "Sources:" in text


def test_body_limits_the_api_its_own_and_the_chat_gradios(tmp_path):
    """The chat's requests stay bounded by BodyLimit (plain 413); /api/ask bounds its own bodies (2 MB, with
    a JSON error), so a history of earlier answers larger than the chat's limit still gets an answer."""
    with live_app(tmp_path, FakeEmbedder()) as srv, httpx.Client(base_url=srv.url, timeout=60) as http:
        limit = srv.settings.max_request_kb * 1024
        first = http.post("/api/ask", json={"question": FOUR}).json()
        history = [first] * (limit // len(json.dumps(first)) + 2)
        assert len(json.dumps({"question": "Who announced it?", "history": history})) > limit
        r = http.post("/api/ask", json={"question": "Who announced it?", "history": history})
        assert r.status_code == 200 and r.json()["understood_as"], r.text[:200]
        r = post_json(http, "/gradio_api/call/ask", {"data": ["x" * (limit + 10)]})
        assert r.status_code == 413 and r.text.startswith("Request too large")
        r = http.post("/api/ask", content=b'{"question": "' + b"x" * 2_100_000 + b'"}',
                      headers={"content-type": "application/json"})
        assert r.status_code == 413 and "larger than 2,000,000 bytes" in r.json()["error"]
        r = post_json(http, "/api/ask", {"question": "x" * 100_000})
        assert r.status_code == 413 and "100,000 characters" in r.json()["error"]


def test_rag_serve_and_ui_py_share_one_parser_and_one_serve(monkeypatch, capsys):
    """Both commands accept the same options and call ``ui_server.serve`` the same way (only the name in
    their error messages differs), so none is accepted and then dropped."""
    import re

    import ui_server
    from rag import cli

    from .test_cli import SERVE_FLAGS

    monkeypatch.setenv("RAG_AUTH", "ann:hunter2")  # a password, never shown as a default in --help
    helps = []
    for run in (lambda: cli.main(["serve", "--help"]), lambda: ui.main(["--help"])):
        with pytest.raises(SystemExit) as exit_:
            run()
        assert exit_.value.code == 0
        out = capsys.readouterr().out
        assert "hunter2" not in out
        helps.append(set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", out)))
    assert helps[0] == helps[1] and {"--read-only", "--backend", "--mode", "--mcp", "--quiet"} <= helps[0]
    seen = []
    monkeypatch.setattr(ui_server, "serve", lambda *a, **k: seen.append((a, k)) or 0)
    assert cli.main(["serve", *SERVE_FLAGS]) == 0 and ui.main(SERVE_FLAGS) == 0
    (by_rag, rag_options), (by_ui, ui_options) = seen
    assert by_rag[0] is by_ui[0] is ui.ChatApp and by_rag[1:] == by_ui[1:]
    assert rag_options.pop("prog") == "rag" and ui_options.pop("prog") == "ui.py" and rag_options == ui_options
    assert by_rag[1].embedding_backend == "torch" and by_rag[1].read_only and rag_options["quiet"]


def test_the_mounted_chat_keeps_what_launch_gave_it(tmp_path):
    """Loopback, no share link, no extra file paths, the upload limit, monitoring off, the queue, and at most
    ``max_sessions`` sessions kept (each raw API call is one)."""
    with live_app(tmp_path, FakeEmbedder(), overrides={"max_sessions": 3}) as srv:
        demo = srv.demo
        assert srv.server.uvicorn.config.host == "127.0.0.1" and srv.url.startswith("http://127.0.0.1:")
        assert demo.allowed_paths == [] and not getattr(demo, "share", False) and demo.enable_monitoring is False
        assert demo.max_file_size == srv.settings.max_upload_mb * 2**20
        assert demo._queue.max_size == 64 and demo._queue.default_concurrency_limit == 4 and not demo.api_open
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            for _ in range(6):
                call_ask(http, FOUR)
        assert demo.state_session_capacity == 3 and 0 < len(demo.state_holder.session_data) <= 3
