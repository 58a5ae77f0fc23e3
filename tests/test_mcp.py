"""The MCP server (rag.mcp_server) through the `mcp` client library, over loopback HTTP and stdio."""

from __future__ import annotations

import asyncio
import re
import sys
import threading
import time
from contextlib import contextmanager

import pytest

from rag.api import create_api
from rag.engine import Engine

from .conftest import ROOT, SOURCES, free_port


@contextmanager
def serving(app):
    """``app`` under uvicorn on a free loopback port, in a thread; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def engine(sources_index, real_embedder):
    return Engine(sources_index, real_embedder)


async def session(url: str, calls: list[tuple[str, dict]], headers: dict | None = None):
    import httpx2  # the HTTP client the mcp SDK is built on
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(headers=headers or {}, timeout=60) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            tools = await client.list_tools()
            results = [await client.call_tool(name, args) for name, args in calls]
    return tools, results


def quotes_of(text: str) -> list[str]:
    return re.findall(r'^    "(.*)" \(characters \d+-\d+\)$', text, re.M)


@pytest.mark.e2e
def test_mcp_lists_tools_and_gives_a_cited_answer(engine):
    with serving(create_api(engine, token="", mcp=True)) as url:
        tools, (answer, scoped, unknown, documents) = asyncio.run(session(url + "/mcp", [
            ("ask", {"question": "Who announced the international cyber strategy?"}),
            ("ask", {"question": "What are the four areas of action?",
                     "sources": ["state-department-releases-cyberspace-digital-policy-strategy.txt"]}),
            ("ask", {"question": "Who?", "sources": ["no-such-file.txt"]}),
            ("list_documents", {}),
        ]))
    assert {t.name for t in tools.tools} == {"ask", "list_documents"}
    ask = next(t for t in tools.tools if t.name == "ask")
    assert set(ask.input_schema["properties"]) == {"question", "sources"} and ask.input_schema["required"] == [
        "question"]
    text = answer.content[0].text
    assert not answer.is_error and "Antony Blinken" in text and "[1]" in text
    assert "Sources:\n[1] blinken-announces-international-cyber-strategy.txt — " in text
    docs = {d.source: d.text for d in (engine.index.document(i) for i in engine.index.doc_row)}
    found = quotes_of(text)
    assert found and all(q in " ".join(docs["blinken-announces-international-cyber-strategy.txt"].split())
                         for q in found)
    assert "Align rights-respecting approaches" in scoped.content[0].text
    assert "Searched in: state-department-releases" in scoped.content[0].text
    assert unknown.is_error and "blinken-announces-international-cyber-strategy.txt" in unknown.content[0].text
    names = [d["source"] for d in documents.structured_content["result"]]
    assert sorted(names) == sorted(p.name for p in SOURCES.iterdir())


@pytest.mark.e2e
def test_mcp_needs_the_token_when_one_is_set(engine):
    import httpx

    with serving(create_api(engine, token="tok-9", mcp=True)) as url:
        r = httpx.post(url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert r.status_code == 401 and "error" in r.json()
        tools, _ = asyncio.run(session(url + "/mcp", [], headers={"authorization": "Bearer tok-9"}))
        assert {t.name for t in tools.tools} == {"ask", "list_documents"}


@pytest.mark.e2e
def test_mcp_over_stdio(sources_index):
    """`python -m rag.mcp_server` as Claude Desktop would start it."""
    from mcp import Client, StdioServerParameters

    async def run():
        params = StdioServerParameters(command=sys.executable, args=["-m", "rag.mcp_server", "--index",
                                                                     sources_index.index_dir], cwd=str(ROOT))
        async with Client(params) as client:
            return await client.call_tool("ask", {"question": "Where was the strategy announced?"})

    result = asyncio.run(run())
    assert "RSA" in result.content[0].text and "Sources:" in result.content[0].text
