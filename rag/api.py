"""The plain HTTP API beside the chat: ``POST /api/ask``, ``GET /api/info``, ``GET /api/health``, docs at
``/api/docs``; with ``mcp=True`` also the MCP server at ``/mcp`` (``rag.mcp_server``).

    app = create_api(engine, settings, auth=("user", "secret"))  # a FastAPI app
    gr.mount_gradio_app(app, demo, path="/")                      # the chat on the same server: one call
    uvicorn.run(app, host="127.0.0.1", port=7860)

Every error is a 4xx JSON object ``{"error": "..."}``: bad JSON (400), a wrong or missing login or token
(401), an over-long body or question (413), a missing question or a bad field (422), a document name
the index does not hold (422, listing the ones it does). Bodies larger than ``max_body`` are refused from
their Content-Length (or as they stream in) before anything is parsed.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from .config import Settings
from .engine import Engine, UnknownSource
from .retrieval import MODES

MAX_TURNS = 50  # history turns accepted; resolving reads only the last few
MAX_SOURCES = 100
MAX_K = 50  # passages one question may ask for
OPEN_PATHS = ("/api/health", "/api/docs", "/api/openapi.json", "/api/docs/oauth2-redirect")


class Turn(BaseModel):
    question: str
    answer: str | None = None
    understood_as: str | None = None
    sentences: list[dict[str, Any]] | None = Field(None, description="[{text, citation}] of that answer")
    citations: list[dict[str, Any]] | None = Field(None, description="its citations (their titles help resolve)")


class AskRequest(BaseModel):
    """The body of ``POST /api/ask``; an earlier answer object (``Answer.to_dict()``) is a valid turn."""

    question: str = Field(..., examples=["Who announced it?"])
    history: list[Turn] = Field([], description="earlier turns, oldest first")
    sources: list[str] = Field([], description="document file names or titles to search (default: all)")
    mode: str | None = Field(None, examples=["hybrid"], description=" | ".join(MODES))
    k: int | None = Field(None, ge=1, le=MAX_K, description="passages to answer from")


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def parse_ask(body: bytes, max_chars: int) -> dict[str, Any]:
    """The validated keyword arguments of ``Engine.ask`` from a request body, or ``ApiError``.

    >>> parse_ask(b'{"question": "Who?", "sources": "a.txt"}', 100)
    {'question': 'Who?', 'history': [], 'sources': ['a.txt'], 'mode': None, 'k': None}
    >>> parse_ask(b'{"question": 1}', 100)
    Traceback (most recent call last):
    ...
    rag.api.ApiError: "question" must be a string
    """
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, f"the body is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ApiError(422, 'the body must be a JSON object such as {"question": "..."}')
    question = data.get("question")
    if question is None:
        raise ApiError(422, 'missing "question"')
    if not isinstance(question, str):
        raise ApiError(422, '"question" must be a string')
    if len(question) > max_chars:
        raise ApiError(413, f"the question is {len(question):,} characters long; the limit is {max_chars:,}")
    if not question.strip():
        raise ApiError(422, '"question" is empty')
    history = data.get("history") or []
    if not isinstance(history, list) or not all(isinstance(t, dict) and isinstance(t.get("question"), str)
                                                for t in history):
        raise ApiError(422, '"history" must be a list of turns, each an object with a "question" string')
    if len(history) > MAX_TURNS:
        history = history[-MAX_TURNS:]
    sources = data.get("sources") or []
    if isinstance(sources, str):
        sources = [sources]
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources) or len(sources) > MAX_SOURCES:
        raise ApiError(422, f'"sources" must be a list of at most {MAX_SOURCES} document names')
    mode = data.get("mode")
    if mode is not None and mode not in MODES:
        raise ApiError(422, f'"mode" must be one of {", ".join(MODES)}')
    k = data.get("k")
    if k is not None and (not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K):
        raise ApiError(422, f'"k" must be an integer from 1 to {MAX_K}')
    return {"question": question, "history": history, "sources": sources, "mode": mode, "k": k}


def info(engine: Engine) -> dict[str, Any]:
    """What ``GET /api/info`` returns: the index and the documents in it (for ``sources``)."""
    m = engine.index.manifest
    return {
        "index_id": m.get("index_id"), "built_at": m.get("built_at"), "model": m.get("model"),
        "n_documents": m.get("n_documents"), "n_chunks": m.get("n_chunks"), "n_sentences": m.get("n_sentences"),
        "documents": [{"source": d.get("source"), "title": d.get("title"), "pages": d.get("pages"),
                       "n_chunks": d.get("n_chunks")} for d in m.get("documents", [])],
        "mode": engine.settings.mode, "k": engine.settings.k, "modes": list(MODES),
        "max_question_chars": engine.settings.max_question_chars,
        "read_only": engine.settings.read_only,  # the API never changes documents; this says whether the chat can
    }


class _Guard:
    """ASGI middleware: HTTP Basic or a bearer token on /api/* (health and docs stay open) and /mcp."""

    def __init__(self, app: Any, auth: tuple[str, str] | None, token: str | None) -> None:
        self.app, self.auth, self.token = app, auth, token

    def allowed(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and self.token:
            return secrets.compare_digest(value.strip().encode(), self.token.encode())
        if scheme.lower() == "basic" and self.auth:
            try:
                user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return (secrets.compare_digest(user.encode(), self.auth[0].encode())
                    & secrets.compare_digest(password.encode(), self.auth[1].encode()))
        return False

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path.startswith("/api/") or path == "/mcp" or path.startswith("/mcp/")) \
                and path not in OPEN_PATHS:
            header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), "")
            if not self.allowed(header):
                challenge = 'Basic realm="rag"' if self.auth else 'Bearer realm="rag"'
                message = "wrong login or token" if header else "this server needs a login or a bearer token"
                await _error(401, message, {"WWW-Authenticate": challenge})(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise ApiError(413, f"the request body is larger than {limit:,} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the request body is larger than {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_api(engine: Engine, settings: Settings | None = None, auth: tuple[str, str] | None = None,
               token: str | None = None, mcp: bool = False, host: str = "127.0.0.1",
               max_body: int = 2_000_000) -> FastAPI:
    """The API app. ``token`` defaults to ``RAG_API_TOKEN`` ("" for none); with ``auth`` or a token set,
    /api/ask, /api/info and /mcp need one of them. ``host`` is where the server listens (the MCP
    endpoint refuses other Host headers on loopback, against DNS rebinding)."""
    settings = settings or engine.settings
    token = os.environ.get("RAG_API_TOKEN", "") if token is None else token
    server = None
    if mcp:
        from .mcp_server import create_mcp

        server = create_mcp(engine)
        mcp_routes = server.streamable_http_app(streamable_http_path="/mcp", stateless_http=True,
                                                json_response=True, host=host).routes

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if server is None:
            yield
            return
        async with server.session_manager.run():
            yield

    app = FastAPI(title="rag API", version="1", lifespan=lifespan, docs_url="/api/docs", redoc_url=None,
                  openapi_url="/api/openapi.json",
                  description="Cited, extractive answers from the indexed documents. Every answer sentence is "
                              "copied from a source and cited (file, page, character offsets, quote).")

    @app.exception_handler(ApiError)
    async def api_error(_: Request, e: ApiError) -> JSONResponse:
        return _error(e.status, e.message)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, e: HTTPException) -> JSONResponse:
        return _error(e.status_code, str(e.detail), getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def crash(_: Request, e: Exception) -> JSONResponse:  # a bug, not bad input: still JSON
        return _error(500, f"internal error ({type(e).__name__}); the server log has the details")

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, e: RequestValidationError) -> JSONResponse:
        return _error(422, "; ".join(str(x.get("msg")) for x in e.errors()) or "invalid request")

    schema = AskRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})

    @app.post("/api/ask", summary="Answer a question (with optional history, scope, mode, k)",
              response_description="the answer object, as `rag ask --json` prints it",
              openapi_extra={"requestBody": {"required": True,
                                             "content": {"application/json": {"schema": schema}}}})
    async def ask(request: Request) -> Response:
        kwargs = parse_ask(await _read_body(request, max_body), settings.max_question_chars)
        try:
            answer = await run_in_threadpool(engine.ask, **kwargs)
        except UnknownSource as e:
            raise ApiError(422, str(e)) from None
        return Response(json.dumps(answer.to_dict(), ensure_ascii=False), media_type="application/json")

    @app.get("/api/info", summary="The index: build, model, documents (their names for `sources`)")
    def get_info() -> dict[str, Any]:
        return info(engine)

    @app.get("/api/health", summary="Whether an index is loaded")
    def health() -> JSONResponse:
        try:
            return JSONResponse({"status": "ok", "index_id": engine.index.index_id})
        except Exception as e:  # noqa: BLE001 - a broken index is reported, not raised
            return JSONResponse({"status": "error", "error": str(e)}, status_code=503)

    original = app.openapi

    def openapi() -> dict[str, Any]:
        spec = original()
        spec.setdefault("components", {}).setdefault("schemas", {}).update(defs)
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
    if server is not None:
        app.router.routes.extend(mcp_routes)
    if auth or token:
        app.add_middleware(_Guard, auth=auth, token=token or None)
    return app
