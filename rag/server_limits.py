"""What one client can make the chat server read: request bodies.

``BodyLimit`` (ASGI middleware, no web framework imported) answers a body over its limit with ``413``
from its Content-Length, before a byte of it is read, or as soon as the bytes received pass the limit
when it comes without one (chunked). Requests to paths ending in one of ``upload_paths`` get
``upload_bytes``; every other request ``other_bytes``.

    app = FastAPI(middleware=[Middleware(BodyLimit, upload_bytes=100 * 2**20, other_bytes=256 * 2**10)])

The sessions Gradio keeps in memory are swept by ``ui_server.sweep_sessions``.
"""

from __future__ import annotations

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
