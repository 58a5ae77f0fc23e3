"""The HTTP API (rag.api): answers, history, scope, auth, and 4xx JSON for every bad input."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient

from rag.api import create_api
from rag.engine import Engine

from .conftest import FAKE_FRIENDLY, FakeEmbedder, mini_index


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    embedder = FakeEmbedder()
    return Engine(mini_index(tmp_path_factory.mktemp("mini"), embedder, **FAKE_FRIENDLY), embedder)


@pytest.fixture
def client(engine):
    with TestClient(create_api(engine, token="")) as c:
        yield c


def without_timings(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "timings_ms"}


def test_ask_returns_the_answer_object(client, engine):
    r = client.post("/api/ask", json={"question": "Which animals can fly?"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert without_timings(r.json()) == without_timings(engine.ask("Which animals can fly?").to_dict())


def test_history_scope_mode_and_k_reach_the_engine(client, engine):
    first = client.post("/api/ask", json={"question": "What does the plan say about birds?"}).json()
    r = client.post("/api/ask", json={"question": "and what about cats?", "history": [first], "mode": "bm25", "k": 2,
                                      "sources": ["plan.md"]})
    assert r.status_code == 200
    body = r.json()
    assert body["understood_as"] == "What does the plan say about cats?" and body["scope"] == ["plan.md"]
    assert {h["source"] for h in body["retrieved"]} <= {"plan.md"} and len(body["retrieved"]) <= 2


@pytest.mark.parametrize("body, status, message", [
    (b"{not json", 400, "not valid JSON"),
    (b"\xff\xfe", 400, "not valid JSON"),
    (b"", 400, "not valid JSON"),
    (b"[1, 2]", 422, "JSON object"),
    (b'{"q": "hi"}', 422, 'missing "question"'),
    (b'{"question": null}', 422, 'missing "question"'),
    (b'{"question": ["hi"]}', 422, "must be a string"),
    (b'{"question": "   "}', 422, "empty"),
    (json.dumps({"question": "x" * 100_000}).encode(), 413, "100,000 characters"),
    (b'{"question": "hi", "sources": ["no-such.txt"]}', 422, "animals.txt"),
    (b'{"question": "hi", "sources": [3]}', 422, "sources"),
    (b'{"question": "hi", "history": "earlier"}', 422, "history"),
    (b'{"question": "hi", "history": [{"answer": "no question"}]}', 422, "history"),
    (b'{"question": "hi", "mode": "magic"}', 422, "mode"),
    (b'{"question": "hi", "k": 0}', 422, "k"),
    (b'{"question": "hi", "k": "5"}', 422, "k"),
    (b'{"question": "hi", "k": true}', 422, "k"),
])
def test_bad_input_is_a_4xx_json_error(client, body, status, message):
    r = client.post("/api/ask", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert message in r.json()["error"]


def test_an_oversized_body_is_refused_before_it_is_read(engine):
    app = create_api(engine, token="", max_body=1000)
    with TestClient(app) as c:
        r = c.post("/api/ask", content=b'{"question": "' + b"x" * 5000 + b'"}')
        assert r.status_code == 413 and "larger than 1,000 bytes" in r.json()["error"]

        def stream():  # no Content-Length: counted as it arrives
            for _ in range(10):
                yield b"x" * 500

        r = c.post("/api/ask", content=stream())
        assert r.status_code == 413


def test_other_routes_and_methods_answer_json(client):
    assert client.get("/api/ask").status_code == 405
    r = client.get("/api/nothing")
    assert r.status_code == 404 and "error" in r.json()


def test_info_health_and_docs(client):
    info = client.get("/api/info").json()
    assert info["n_documents"] == 3 and {d["source"] for d in info["documents"]} == {"animals.txt", "birds.html",
                                                                                      "plan.md"}
    assert client.get("/api/health").json()["status"] == "ok"
    assert client.get("/api/docs").status_code == 200
    spec = client.get("/api/openapi.json").json()
    schema = spec["paths"]["/api/ask"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["question"] and "history" in schema["properties"]
    assert "Turn" in spec["components"]["schemas"]


def basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize("headers, status", [
    ({}, 401),
    (basic("ann", "wrong"), 401),
    (basic("bob", "secret"), 401),
    ({"authorization": "Basic !!notbase64"}, 401),
    ({"authorization": "Bearer nope"}, 401),
    ({"authorization": "Bearer tok-123"}, 200),
    (basic("ann", "secret"), 200),
])
def test_login_or_token_is_required_when_configured(engine, headers, status):
    with TestClient(create_api(engine, auth=("ann", "secret"), token="tok-123")) as c:
        r = c.post("/api/ask", json={"question": "Which animals can fly?"}, headers=headers)
        assert r.status_code == status
        if status == 401:
            assert r.json()["error"] and r.headers["www-authenticate"].startswith("Basic")
        assert c.get("/api/info", headers=headers).status_code == status
        assert c.get("/api/health").status_code == 200  # for monitors: says nothing about the documents


def test_the_token_comes_from_the_environment(engine, monkeypatch):
    monkeypatch.setenv("RAG_API_TOKEN", "from-env")
    with TestClient(create_api(engine)) as c:
        assert c.get("/api/info").status_code == 401
        assert c.get("/api/info", headers={"authorization": "Bearer from-env"}).status_code == 200


@pytest.mark.e2e
def test_api_answer_equals_rag_ask_json(sources_index, real_embedder, capsys):
    """The acceptance check: /api/ask returns the same object as `rag ask --json`."""
    from rag.cli import main

    s = sources_index
    question = "Who announced the strategy?"
    assert main(["ask", "--json", "--index", s.index_dir, question]) == 0
    cli = json.loads(capsys.readouterr().out)
    with TestClient(create_api(Engine(s, real_embedder), token="")) as c:
        api = c.post("/api/ask", json={"question": question}).json()
    assert without_timings(api) == without_timings(cli)
    assert "Antony Blinken" in api["answer"]
