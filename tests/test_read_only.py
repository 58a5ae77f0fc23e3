"""A read-only server (``rag serve --read-only``, ``RAG_READ_ONLY=1``) answers questions and changes nothing.

Every route a client could use to add, replace or remove a document or to rebuild the index is tried with raw
HTTP: Gradio's ``/gradio_api/upload``, ``/gradio_api/call/<fn>`` and ``/gradio_api/queue/join`` (Gradio answers
these for any registered function, whatever its ``api_visibility``), the HTTP API and MCP. Afterwards the
sources folder and the index must be byte-for-byte what they were. The same requests sent to a writable
server do change them, so the refusals are not the answer to a malformed request. Three things guard a
read-only server, and a test fails when any one of them is gone: no function that changes the documents is
registered, ``ChatApp``'s handlers refuse if called anyway, and ``ui_server.NoUploads`` refuses uploads.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

import ui
from rag.engine import Engine

from .conftest import FakeEmbedder, free_port, index_sources, snapshot
from .servers import live_app, ui_process
from .test_serving import FOUR, call_ask, call_fn, mcp_tools, post_json

MUTATORS = ("rebuild", "replace_document", "remove_document")  # ChatApp's handlers that change the documents
NEW = "# Harbour notes\n\nThe harbour council approved the new quay in 2031.\n"
TARGET = "blinken-announces-international-cyber-strategy.txt"  # a document of sources/ to replace or remove


def client(url: str) -> httpx.Client:
    """A client that opens a connection per request: Gradio answers a call of a function it does not have
    with a 500 and drops the connection, which a reused one would then find reset."""
    return httpx.Client(base_url=url, timeout=120, limits=httpx.Limits(max_keepalive_connections=0))


def file_data(path: str | Path) -> dict[str, Any]:
    return {"path": str(path), "orig_name": Path(path).name, "meta": {"_type": "gradio.FileData"}}


def call(http: httpx.Client, api_name: str, data: list[Any]) -> str:
    """POST /gradio_api/call/<api_name>, then read its result: "complete: ...", "error: ..." or "HTTP <status>"."""
    r = post_json(http, f"/gradio_api/call/{api_name}", {"data": data})
    if r.status_code != 200:
        return f"HTTP {r.status_code}"
    events = http.get(f"/gradio_api/call/{api_name}/{r.json()['event_id']}").text
    last = [line.split(":", 1)[1].strip() for line in events.splitlines() if line.startswith(("event:", "data:"))]
    return f"{last[-2]}: {last[-1][:300]}" if len(last) >= 2 else f"no result: {events[:300]}"


def join_every_function(http: httpx.Client, attachment: dict[str, Any], document: str) -> dict[str, str]:
    """POST /gradio_api/queue/join for every function of the page (``/config``), each input given what a
    rebuild, replace or remove would want (files, a document name); their outcomes by name, once all ended."""
    config = http.get("/config").json()
    kinds = {c["id"]: (c.get("type"), c.get("props", {}).get("file_count")) for c in config["components"]}
    payload = {"file": lambda count: [attachment] if count == "multiple" else attachment,
               "dropdown": lambda _: document, "textbox": lambda _: FOUR, "api": lambda _: FOUR}
    session, names, outcomes = uuid.uuid4().hex, {}, {}
    for dep in config["dependencies"]:
        if not dep.get("backend_fn"):
            continue
        data = [payload.get(kind, lambda _: None)(count) for kind, count in (kinds[i] for i in dep["inputs"])]
        r = post_json(http, "/gradio_api/queue/join", {"data": data, "fn_index": dep["id"], "session_hash": session})
        if r.status_code == 200:
            names[r.json()["event_id"]] = dep["api_name"]
        else:
            outcomes[dep["api_name"]] = f"HTTP {r.status_code}"
    with http.stream("GET", f"/gradio_api/queue/data?session_hash={session}", timeout=120) as stream:
        for line in stream.iter_lines():
            msg = json.loads(line[5:]) if line.startswith("data:") else {}
            if msg.get("msg") == "process_completed" and msg.get("event_id") in names:
                outcomes[names[msg["event_id"]]] = "success" if msg.get("success") else "error"
            if all(name in outcomes for name in names.values()) or msg.get("msg") == "close_stream":
                break
    return outcomes


def try_every_change(http: httpx.Client, folder: Path, *watched: Path) -> dict[str, tuple[Any, bool]]:
    """Every request that would add, replace or remove a document or rebuild, in turn: what each got back,
    and whether anything under ``watched`` changed after it."""
    (folder / "harbour-notes.md").write_text(NEW, encoding="utf-8")
    (folder / "harbour-notes.txt").write_text(NEW, encoding="utf-8")  # a new version of TARGET, of its type
    last, got = snapshot(*watched), {}

    def record(route: str, outcome: Any) -> None:
        nonlocal last
        now = snapshot(*watched)
        got[route], last = (outcome, now != last), now

    r = http.post("/gradio_api/upload", files=[("files", (name, NEW.encode(), "text/plain"))
                                               for name in ("harbour-notes.md", "harbour-notes.txt")])
    record("upload", f"HTTP {r.status_code}")
    md, txt = map(file_data, r.json() if r.status_code == 200 else (folder / "harbour-notes.md",
                                                                     folder / "harbour-notes.txt"))
    record("call/rebuild", call(http, "rebuild", [[md]]))
    record("call/replace_document", call(http, "replace_document", [TARGET, txt]))
    record("call/remove_document", call(http, "remove_document", ["harbour-notes.md"]))
    record("queue/join", join_every_function(http, md, TARGET))
    return got


@pytest.fixture(scope="module")
def writable(tmp_path_factory):
    with live_app(tmp_path_factory.mktemp("writable"), FakeEmbedder(), manage=True) as srv:
        yield srv


@pytest.fixture(scope="module")
def read_only(tmp_path_factory):
    with live_app(tmp_path_factory.mktemp("read-only"), FakeEmbedder(), overrides={"read_only": True},
                  manage=True, mcp=True) as srv:
        yield srv


def test_the_same_requests_change_a_writable_server(writable, tmp_path):
    """The control: each request of ``try_every_change`` does change a writable server."""
    with client(writable.url) as http:
        got = try_every_change(http, tmp_path, writable.sources, Path(writable.settings.index_dir))
    assert got["upload"][0] == "HTTP 200"
    for name in MUTATORS:
        outcome, changed = got[f"call/{name}"]
        assert changed and outcome.startswith("complete:") and "Index rebuilt and in use" in outcome, (name, outcome)
        assert got["queue/join"][0][name] == "success", got["queue/join"]
    assert got["queue/join"][1], "joining every function of the page changed nothing"


def test_a_read_only_server_refuses_every_change_through_every_route(read_only, tmp_path):
    folders = (read_only.sources, Path(read_only.settings.index_dir))
    before, index_id = snapshot(*folders), read_only.app.engine.index.index_id
    with client(read_only.url) as http:
        got = try_every_change(http, tmp_path, *folders)
        api = {f"{method} {path}": http.request(method, path, json={"paths": ["harbour-notes.md"]}).status_code
               for method, path in (("POST", "/api/rebuild"), ("POST", "/api/upload"), ("POST", "/api/documents"),
                                    ("PUT", f"/api/documents/{TARGET}"), ("DELETE", f"/api/documents/{TARGET}"))}
        assert not any(changed for _, changed in got.values()), got
        assert got["upload"][0] == "HTTP 403" and "read-only" in http.post(
            "/gradio_api/upload", files=[("files", ("a.md", b"# a\n", "text/markdown"))]).text
        for name in MUTATORS:  # not registered: Gradio finds no such function
            assert got[f"call/{name}"][0].startswith(("HTTP 4", "HTTP 5", "error:")), got[f"call/{name}"]
            assert name not in got["queue/join"][0], got["queue/join"]
        assert set(api.values()) <= {404, 405}, api
        tools, text = asyncio_run(mcp_tools(read_only.url + "/mcp", {}))
        assert tools == ["ask", "list_documents"] and "[1]" in text
        # asking still works, through the page's own event, Gradio's API and the HTTP API
        page = call_fn(http, "turn", [FOUR, None, []])[0]
        assert 'class="turn"' in page and "[1]" in page, page[:300]
        assert call_ask(http, FOUR)["citations"]
        assert http.post("/api/ask", json={"question": FOUR}).json()["citations"]
        assert http.get("/api/info").json()["read_only"] is True
    assert snapshot(*folders) == before and read_only.app.engine.index.index_id == index_id


def test_a_read_only_page_has_no_control_or_function_that_changes_documents(read_only):
    with httpx.Client(base_url=read_only.url, timeout=60) as http:
        config = http.get("/config").json()
        page = http.get("/").text
    assert not {c["type"] for c in config["components"]} & {"file", "uploadbutton"}
    assert not {d["api_name"] for d in config["dependencies"]} & set(MUTATORS)
    assert not {f.api_name for f in read_only.demo.fns.values()} & set(MUTATORS)
    labels = json.dumps(config["components"])
    assert "Add documents" not in labels and "Documents" in labels and "read-only" in labels
    assert read_only.app.manage is False and page  # manage=True asked for; read-only wins


def test_read_only_handlers_refuse_even_when_called_directly(tmp_path):
    """What a raw route would reach if a mutating function were registered after all."""
    settings = index_sources(tmp_path, FakeEmbedder(), read_only=True)
    app = ui.ChatApp(Engine(settings, embedder=FakeEmbedder()), manage=True)
    folders = (Path(settings.sources_dir), Path(settings.index_dir))
    before, index_id = snapshot(*folders), app.engine.index.index_id
    new = tmp_path / "harbour-notes.md"
    new.write_text(NEW, encoding="utf-8")
    for report in (app.rebuild([str(new)])[0], app.replace_document(TARGET, str(new))[0],
                   app.remove_document(TARGET)[0]):
        assert ui.READ_ONLY in report
    assert snapshot(*folders) == before and app.engine.index.index_id == index_id


@pytest.mark.parametrize("how", ["rag serve --read-only", "RAG_READ_ONLY=1 python ui.py"])
def test_a_read_only_server_never_builds_a_missing_index(tmp_path, monkeypatch, capsys, how):
    from rag import cli

    args = ["--index", str(tmp_path / "ix"), "--sources", str(tmp_path), "--port", str(free_port())]
    if how.startswith("rag"):
        assert cli.main(["serve", "--read-only", *args]) == 2
    else:
        monkeypatch.setenv("RAG_READ_ONLY", "1")
        assert ui.main(args) == 2
    err = capsys.readouterr().err
    assert "a read-only server builds none" in err and "rag build" in err and err.count("\n") == 1
    assert not (tmp_path / "ix").exists()


def asyncio_run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


@pytest.mark.e2e
def test_rag_serve_read_only_with_the_real_model(tmp_path, real_embedder):
    settings = index_sources(tmp_path, real_embedder)
    folders = (Path(settings.sources_dir), Path(settings.index_dir))
    before = snapshot(*folders)
    rag_serve = (str(Path(sys.executable).parent / "rag"), "serve")  # the installed command
    with ui_process("--read-only", "--index", settings.index_dir, "--sources", settings.sources_dir,
                    command=rag_serve) as served:
        assert served.started, served.output()
        assert "read-only: no uploads or rebuilds" in served.output()
        with client(served.url) as http:
            got = try_every_change(http, tmp_path, *folders)
            answer = http.post("/api/ask", json={"question": FOUR}).json()
            assert call_ask(http, FOUR)["answer"] == answer["answer"]
    assert not any(changed for _, changed in got.values()) and got["upload"][0] == "HTTP 403", got
    for name in MUTATORS:
        assert got[f"call/{name}"][0].startswith(("HTTP 4", "HTTP 5", "error:")) and name not in got["queue/join"][0]
    assert not answer["abstained"] and answer["citations"] and "cyber" in answer["answer"].lower(), answer
    assert snapshot(*folders) == before
