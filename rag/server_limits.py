"""What one client can make the chat server hold: request bodies, and the sessions Gradio keeps.

``BodyLimit`` (ASGI middleware, no web framework imported) answers a body over its limit with ``413``
from its Content-Length, before a byte of it is read, or as soon as the bytes received pass the limit
when it comes without one (chunked). Requests to paths ending in one of ``upload_paths`` get
``upload_bytes``; every other request ``other_bytes``.

    app = FastAPI(middleware=[Middleware(BodyLimit, upload_bytes=100 * 2**20, other_bytes=256 * 2**10)])

``sweep_sessions``: Gradio keeps every session's last inputs and outputs in memory until newer sessions
push it out, and each raw API call is a session of its own, so a burst of calls would stay in memory.
Sessions that hold no ``gr.State`` (API calls, not browser conversations) and have been idle a while
are dropped, and the freed memory handed back to the system.
"""

from __future__ import annotations

import ctypes
import datetime
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BodyLimit:
    def __init__(self, app: Callable[..., Awaitable[None]], upload_bytes: int, other_bytes: int,
                 upload_paths: tuple[str, ...] = ("/gradio_api/upload",)) -> None:
        self.app, self.upload_bytes, self.other_bytes = app, upload_bytes, other_bytes
        self.upload_paths = upload_paths

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.upload_bytes if scope["path"].rstrip("/").endswith(self.upload_paths) else self.other_bytes
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > limit:
            return await too_large(send, limit)
        seen, started = 0, False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except TooLarge:
            if not started:
                await too_large(send, limit)


class TooLarge(Exception):
    """Raised from ``receive`` when a streamed body passes the limit."""


async def too_large(send: Send, limit: int) -> None:
    body = f"Request too large: at most {limit:,} bytes.".encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


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
