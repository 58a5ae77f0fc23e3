"""One server for the chat and the HTTP API: ``rag.api.create_api`` is the FastAPI app, the Gradio chat is
mounted on it at ``/`` (``gr.mount_gradio_app``), and uvicorn runs it in a thread.

    server = launch(ChatApp(engine), "127.0.0.1", 7860, auth=("alice", "secret"), mcp=True)
    print(server.url)      # the chat at /, the API at /api (docs /api/docs), MCP at /mcp
    server.close()

What ``demo.launch()`` gave the chat still holds: loopback by default, no share link, no extra file
paths, uploads bounded by ``max_file_size``, every other request body bounded before it is read
(``rag.server_limits.BodyLimit``; the API bounds its own bodies and answers with JSON), at most
``max_sessions`` sessions kept and idle API sessions swept, /monitoring off unless asked for, the
queue (4 answers at a time, 64 waiting, direct routes closed). ``--auth`` guards both: Gradio's login
for the chat, HTTP Basic with the same login (or a bearer ``RAG_API_TOKEN``) for /api and /mcp.

A read-only chat (``Settings.read_only``) also gets ``NoUploads``: Gradio's upload route refuses.

``serve`` is ``rag serve`` and ``python ui.py`` (``main`` parses the same options, ``rag.options``): it
builds a missing index, answers questions with ONNX Runtime on one thread each (many users at once get
more answers a second that way; docs/chat.md, "Load") and rebuilds with every core.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr
import uvicorn
from starlette.responses import PlainTextResponse
from starlette.routing import Mount

import ui_assets as assets
from rag import options, store, uploads
from rag.api import create_api
from rag.builds import BuildError
from rag.config import Settings, from_env
from rag.embedding import ModelNotFound, make_embedder
from rag.engine import Engine, index_exists
from rag.indexing import build
from rag.server_limits import BodyLimit

if TYPE_CHECKING:
    from ui import ChatApp

Login = tuple[str, str]


class Bounded:
    """ASGI middleware: ``BodyLimit`` on everything but ``/api/``, which bounds its own bodies (2 MB, a
    history of earlier answers can be long) and answers a body over it with a JSON error."""

    def __init__(self, app: Callable[..., Any], **limits: Any) -> None:
        self.app, self.limited = app, BodyLimit(app, **limits)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            return await self.app(scope, receive, send)
        return await self.limited(scope, receive, send)


class NoUploads:
    """ASGI middleware of a read-only server: Gradio's upload route, which Gradio serves whatever the page
    shows, refuses every request (403) and saves nothing."""

    def __init__(self, app: Callable[..., Any], drain: int = 2**20) -> None:
        self.app, self.drain = app, drain

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not re.sub("/+", "/", scope["path"]).rstrip("/").endswith("/gradio_api/upload"):
            return await self.app(scope, receive, send)
        seen, more = 0, True
        while more and seen < self.drain:  # a small body is read out: the client then gets the 403, not a reset
            message = await receive()
            seen, more = seen + len(message.get("body", b"")), message.get("more_body", False)
        await PlainTextResponse("This server is read-only: it takes no uploads.", status_code=403,
                                headers={"connection": "close"})(scope, receive, send)


@dataclass
class Server:
    """A running server: ``url`` ends with "/"; ``close()`` stops it and the chat's queue."""

    url: str
    demo: gr.Blocks
    gradio_app: Any  # the Gradio app mounted on the API's
    uvicorn: uvicorn.Server
    thread: threading.Thread

    def close(self) -> None:
        if self.gradio_app is not None:
            self.gradio_app.stop_event.set()  # ends the event streams: the server can stop
        self.demo.close(verbose=False)
        self.uvicorn.should_exit = True
        self.thread.join(10)


def one_login(auth: Login | Sequence[Login] | None) -> Login | None:
    """The login as one (user, password) pair; the API takes one.

    >>> one_login([("ann", "pw")]), one_login(("ann", "pw")), one_login(None)
    (('ann', 'pw'), ('ann', 'pw'), None)
    """
    if not auth:
        return None
    if isinstance(auth[0], str):
        return (str(auth[0]), str(auth[1]))
    if len(auth) != 1:
        raise ValueError("give one login (user, password): the chat and the API share it")
    user, password = auth[0]
    return (str(user), str(password))


def launch(chat: ChatApp, host: str = "127.0.0.1", port: int = 7860, monitoring: bool = False,
           auth: Login | Sequence[Login] | None = None, token: str | None = None, mcp: bool = False) -> Server:
    """Start the chat (``chat.blocks()``) and the API on ``host:port``; return once it serves."""
    s = chat.settings
    login = one_login(auth)
    demo = chat.blocks()
    demo.queue(default_concurrency_limit=4, max_size=64, api_open=False)
    demo.state_session_capacity = s.max_sessions  # what launch(state_session_capacity=) sets
    app = create_api(chat.engine, s, auth=login, token=token, mcp=mcp, host=host)
    limits = uploads.Limits.of(s)
    app.add_middleware(Bounded,  # type: ignore[arg-type]  # a plain ASGI class, which starlette's stubs do not model
                       upload_bytes=limits.total_bytes + 1024 * limits.files + 4096,  # part headers
                       other_bytes=max(s.max_request_kb * 1024, 16 * s.max_question_chars))
    if s.read_only:
        app.add_middleware(NoUploads)  # type: ignore[arg-type]  # as Bounded
    theme = gr.themes.Soft(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    gr.mount_gradio_app(app, demo, path="/", server_name=host, server_port=port, auth=[login] if login else None,
                        max_file_size=limits.file_bytes, ssr_mode=False, enable_monitoring=monitoring,
                        allowed_paths=[], root_path=os.environ.get("GRADIO_ROOT_PATH"), theme=theme,
                        css=assets.CSS)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise OSError(f"the server could not start on {host}:{port} (is the port taken?)")
        time.sleep(0.01)
    shown = "localhost" if host in ("0.0.0.0", "::") else host
    url = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/"
    gradio_app: Any = next((r.app for r in app.routes if isinstance(r, Mount)), None)
    if monitoring:
        print(f"Monitoring URL: {url}monitoring/{gradio_app.analytics_key}", flush=True)
    start_sweeping(demo)  # API calls' sessions do not pile up in memory
    return Server(url, demo, gradio_app, server, thread)


def serve(chat: type[ChatApp], settings: Settings, host: str = "127.0.0.1", port: int = 7860,
          auth: Login | None = None, *, monitoring: bool = False, mcp: bool = False, quiet: bool = False,
          prog: str = "rag") -> int:
    """``rag serve`` and ``python ui.py`` (``ui.serve``): build the index if there is none (a read-only
    server refuses to), then serve ``chat`` until Ctrl+C. A problem is one line on stderr and exit 2."""
    builder = make_embedder(settings)
    # Many users at once: each question on one core is more answers a second than two cores each, whose
    # spinning threads fight (docs/chat.md, "Load"); a rebuild still embeds on every core.
    questions = make_embedder(settings, threads=1) if settings.embedding_backend == "onnx" else builder
    engine = Engine(settings, embedder=questions)
    say = (lambda text: None) if quiet else (lambda text: print(text, flush=True))
    try:
        if not index_exists(settings.index_dir):
            if settings.read_only:
                raise BuildError(f"no index at {settings.index_dir}, and a read-only server builds none: "
                                 f"run `rag build {settings.sources_dir} --index {settings.index_dir}` first")
            say(f"No index at {settings.index_dir} yet; building one from {settings.sources_dir}")
            report = build([settings.sources_dir], settings, builder, progress=lambda f, m: say(f"[{f:4.0%}] {m}"))
            say(f"built: {report.summary()}")
        engine.index  # noqa: B018 - load and check it now, not on the first question
        engine.embedder.encode(["warm up"])
        engine.soft_match  # noqa: B018 - the ranker's word-piece table: made now (once per model), not on a question
        server = launch(chat(engine, manage=auth is not None, build_embedder=builder), host, port, monitoring,
                        auth=auth, mcp=mcp)
    except (store.IndexLoadError, BuildError, ModelNotFound, OSError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    url = server.url
    print(f"Chat running at {url} (Ctrl+C to stop); " + ("read-only: no uploads or rebuilds" if settings.read_only
                                                          else f"uploads go into {settings.sources_dir}"), flush=True)
    print(f"HTTP API at {url}api/ask (docs: {url}api/docs)" + (f"; MCP server at {url}mcp" if mcp else ""),
          flush=True)
    try:
        while server.thread.is_alive():
            server.thread.join(1.0)
    except KeyboardInterrupt:
        pass
    server.close()
    return 0


def main(argv: list[str] | None, chat: type[ChatApp]) -> int:
    """``python ui.py``: the options of ``rag serve`` (``rag.options.serving``), then ``serve``."""
    try:
        defaults = from_env()
    except ValueError as e:
        print(f"ui.py: error: {e}", file=sys.stderr)
        return 2
    p = argparse.ArgumentParser(prog="ui.py", description="Start the browser chat (the same as `rag serve`).",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                epilog="example: python ui.py --port 7860 --sources sources --read-only")
    options.serving(p, defaults)
    args = p.parse_args(argv)
    try:
        settings, auth = options.settings_of(args, defaults), options.login(args.auth)
    except ValueError as e:
        print(f"ui.py: error: {e}", file=sys.stderr)
        return 2
    return serve(chat, settings, args.host, args.port, auth, monitoring=args.monitoring, mcp=args.mcp,
                 quiet=args.quiet, prog="ui.py")


# Gradio keeps every session's last inputs and outputs in memory until newer sessions push it out, and each
# raw API call is a session of its own, so a burst of calls would stay in memory. Sessions that hold no
# gr.State (API calls, not browser conversations) and have been idle a while are dropped, and the freed
# memory handed back to the system.
def sweep_sessions(demo: Any, idle_seconds: float) -> int:
    """Drop the sessions of ``demo`` (a launched ``gr.Blocks``) that hold no state and were last used
    more than ``idle_seconds`` ago; return how many. Reads Gradio's ``StateHolder`` (``session_data``,
    ``time_last_used``, ``lock``); if a Gradio release renames them, nothing is dropped."""
    holder: Any = getattr(demo, "state_holder", None)
    try:
        cutoff = datetime.datetime.now() - datetime.timedelta(seconds=idle_seconds)
        with holder.lock:
            idle = [sid for sid, s in holder.session_data.items()
                    if not s.state_data and holder.time_last_used.get(sid, cutoff) <= cutoff]
            for sid in idle:
                del holder.session_data[sid]
                holder.time_last_used.pop(sid, None)
    except AttributeError:
        return 0
    if idle:
        _trim()
    return len(idle)


def start_sweeping(demo: Any, idle_seconds: float = 120, every: float = 60) -> threading.Thread:
    """Sweep ``demo``'s idle sessions every ``every`` seconds while it runs."""
    def loop() -> None:
        while True:
            time.sleep(every)
            if not getattr(demo, "is_running", False):
                return
            sweep_sessions(demo, idle_seconds)

    thread = threading.Thread(target=loop, name="sweep-sessions", daemon=True)
    thread.start()
    return thread


def _trim() -> None:
    """Give freed heap memory back to the system (glibc keeps it otherwise); a no-op elsewhere."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
