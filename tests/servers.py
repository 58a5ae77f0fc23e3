"""The chat for tests: built over a writable copy of sources/, in this process (``chat_app``), served on a
free loopback port (``live_app``), or started as ``python ui.py`` in a process of its own (``ui_process``).

    with live_app(tmp_path, FakeEmbedder()) as srv:   # srv.url, srv.app, srv.settings, srv.sources
        httpx.get(srv.url)
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import ui
from rag.engine import Engine

from .conftest import ROOT, free_port, index_sources

__all__ = ["chat_app", "live_app", "ui_process"]


def chat_app(root: Path, embedder: Any, extra_sources: Mapping[str, str] | None = None,
             overrides: Mapping[str, Any] | None = None, extra_roots: Sequence[Path] = (), manage: bool = False,
             folders: Sequence[Path] = ()) -> ui.ChatApp:
    """``ui.ChatApp`` over ``index_sources(root, ...)``: a copy of sources/ at ``root/sources`` (plus the files of
    ``folders`` and ``extra_sources`` {name: text}) indexed with ``extra_roots`` into ``root/index``;
    ``overrides`` change the settings, ``manage`` shows the replace/remove controls."""
    settings = index_sources(root, embedder, folders, extra_sources, extra_roots, **(overrides or {}))
    return ui.ChatApp(Engine(settings, embedder=embedder), **({"manage": True} if manage else {}))


@contextmanager
def live_app(root: Path, embedder: Any, extra_sources: Mapping[str, str] | None = None,
             overrides: Mapping[str, Any] | None = None, extra_roots: Sequence[Path] = (), manage: bool = False,
             folders: Sequence[Path] = (), **launch_kwargs: Any) -> Iterator[SimpleNamespace]:
    """``chat_app(...)`` and the HTTP API served (``ui.launch``) on a free loopback port until the block ends;
    ``launch_kwargs`` go to ``ui.launch`` (``auth``, ``token``, ``mcp``, ``monitoring``). Yields ``url`` (no
    trailing slash), ``app``, ``settings``, ``root``, ``sources``, ``demo`` and ``server``."""
    app = chat_app(root, embedder, extra_sources, overrides, extra_roots, manage, folders)
    server = ui.launch(app, "127.0.0.1", free_port(), **launch_kwargs)
    try:
        yield SimpleNamespace(url=server.url.rstrip("/"), app=app, settings=app.settings, root=root,
                              sources=Path(app.settings.sources_dir), demo=server.demo, server=server)
    finally:
        server.close()


@contextmanager
def ui_process(*args: str, env: Mapping[str, str] | None = None, cwd: Path = ROOT, wait: float = 300,
               command: Sequence[str] = (sys.executable, str(ROOT / "ui.py"))) -> Iterator[SimpleNamespace]:
    """``python ui.py --port <free> *args`` (or another ``command`` taking the same options, such as
    ``rag serve``) in a process of its own, its output read as it comes. Yields once it says "Chat running"
    (``started``), exits, or ``wait`` seconds pass: ``proc``, ``port``, ``url``, ``log`` (the lines so far,
    still growing) and ``output()`` (them joined). Ends the process after the block."""
    port = free_port()
    proc = subprocess.Popen([*command, "--port", str(port), *args], cwd=cwd,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    log: list[str] = []
    started = threading.Event()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            log.append(line)
            if "Chat running" in line:
                started.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + wait
    while not started.is_set() and proc.poll() is None and time.monotonic() < deadline:
        started.wait(0.2)
    try:
        yield SimpleNamespace(proc=proc, port=port, url=f"http://127.0.0.1:{port}", log=log,
                              started=started.is_set(), output=lambda: "".join(log))
    finally:
        proc.terminate()
        proc.wait(30)
