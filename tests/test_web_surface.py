"""The live app's web surface: what an HTTP client can read, send and skip.

- Gradio 6's file routes (``/gradio_api/file=<path>``, its ``/gradio_api/file/<path>`` alias, ``/static``,
  ``/assets``, ``/svelte``, ``/gradio_api/custom_component``, and the pre-4 ``/file=``) refuse ``../``,
  absolute paths (system files, the sources folder, the index) and their URL-encoded and double-encoded
  forms with a 4xx, and never return the file. The requests go out as raw bytes (``http.client``) so
  that no client-side normalisation hides a traversal.
- Uploads are bounded: Gradio refuses a body over ``max_file_size`` (20 MB) with 413, and the rebuild
  saves only document types under 20 MB.
- The /ask queue (max_size, concurrency limit) cannot be skipped through Gradio's direct REST routes.
- With ``auth=`` (the README's "Running it for others"), an anonymous client can neither ask, upload nor
  rebuild.
- Gradio's monitoring routes are off (``ui.py --monitoring`` turns them on).
"""

from __future__ import annotations

import http.client
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from .conftest import ROOT, FakeEmbedder
from .servers import live_app
from .test_serving import FOUR, call_ask, post_json

SECRET = "SECRET-SOURCE-MARKER-5f3a1c"
MB = 2**20


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    notes = {"secret-notes.txt": f"The board approved the harbour budget. {SECRET} is the vault code.\n"}
    with live_app(tmp_path_factory.mktemp("web"), FakeEmbedder(), extra_sources=notes) as srv:
        yield srv


def raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written: no client-side normalisation of ``..`` or percent signs."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def targets(srv) -> dict[str, tuple[str, bytes]]:  # noqa: ANN001
    """Files the app must never serve: absolute path → a marker of their content."""
    index = srv.app.engine.index
    build = index.path
    return {
        "/etc/passwd": ("/etc/passwd", b"root:"),
        "/proc/self/environ": ("/proc/self/environ", b"PATH="),
        "a sources file": (str(srv.sources / "secret-notes.txt"), SECRET.encode()),
        "the index manifest": (f"{build}/manifest.json", b'"format_version"'),
        "the index documents": (f"{build}/documents.jsonl", SECRET.encode()),
        "the index through current/": (f"{srv.settings.index_dir}/current/manifest.json", b'"format_version"'),
        "the repository README": (str(ROOT / "README.md"), b"cited answers from policy documents"),
        "the app's own code": (str(ROOT / "ui.py"), b"import gradio"),
    }


def spellings(path: str) -> list[str]:
    """``path`` (absolute) as an attacker would write it after a route prefix."""
    rel = "../" * 12 + path.lstrip("/")
    return [
        path,
        path.lstrip("/"),
        rel,
        rel.replace("/", "%2f"),
        rel.replace(".", "%2e").replace("/", "%2f"),
        rel.replace(".", "%252e").replace("/", "%252f"),  # double encoding
        rel.replace("/", "%5c"),  # backslashes
        rel.replace("../", "..%2f"),
        rel.replace("../", "....//"),
        "%2f" + path.lstrip("/").replace("/", "%2f"),
        "/tmp/gradio/" + rel,  # out of Gradio's upload folder
        f"{path}%00.png",
    ]


ROUTES = ["/gradio_api/file={}", "/gradio_api/file/{}", "/file={}", "/static/{}", "/assets/{}", "/svelte/{}",
          "/gradio_api/custom_component/x/client/js/{}", "/gradio_api/file=/{}"]


@pytest.mark.parametrize("route", ROUTES)
def test_file_routes_refuse_everything_outside_what_the_app_serves(server, route):
    leaks, statuses = [], set()
    for name, (path, marker) in targets(server).items():
        for spelled in spellings(path):
            status, body = raw_get(server.url, route.format(spelled))
            statuses.add(status)
            if not 400 <= status < 500 or marker in body:
                leaks.append(f"{name}: GET {route.format(spelled)} -> {status} {body[:80]!r}")
    assert not leaks, "\n".join(leaks)
    assert statuses and all(400 <= s < 500 for s in statuses)


def test_the_file_route_serves_an_upload_back_so_the_refusals_are_not_a_dead_route(server):
    with httpx.Client(base_url=server.url, timeout=60) as http:
        r = http.post("/gradio_api/upload", files={"files": ("note.txt", b"uploaded bytes", "text/plain")})
        assert r.status_code == 200
        (path,) = r.json()
        status, body = raw_get(server.url, f"/gradio_api/file={path}")
        assert status == 200 and body == b"uploaded bytes"


def test_uploads_over_20_mb_are_refused_before_they_are_stored(server):
    with httpx.Client(base_url=server.url, timeout=120) as http:
        r = http.post("/gradio_api/upload", files={"files": ("big.txt", b"x" * (20 * MB + 1), "text/plain")})
        assert r.status_code == 413 and "maximum allowed size" in r.text
        r = http.post("/gradio_api/upload", files={"files": ("fits.txt", b"x" * (20 * MB - 1024), "text/plain")})
        assert r.status_code == 200
        Path(r.json()[0]).unlink()  # Gradio keeps uploads until it restarts; do not leave 20 MB behind


def test_the_rebuild_saves_only_document_types_under_20_mb(server, tmp_path):
    with httpx.Client(base_url=server.url, timeout=60) as http:
        sent = {name: http.post("/gradio_api/upload", files={"files": (name, data, "application/octet-stream")})
                for name, data in (("tool.exe", b"MZ\x90\x00"), ("script.sh", b"#!/bin/sh\nrm -rf /\n"),
                                   ("page.svg", b"<svg onload=alert(1)/>"),
                                   ("harbour.md", b"# Harbour\n\nThe harbour opens at six every morning.\n"))}
    paths = [r.json()[0] for r in sent.values()]
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * (4 * MB + 10))  # just over 20 MB: a direct call skips Gradio's own limit
    before = sorted(p.name for p in server.sources.iterdir())
    report, _, _ = server.app.rebuild(paths + [str(big)])
    for name in ("tool.exe", "script.sh", "page.svg"):
        assert f"Rejected <code>{name}</code>: unsupported type" in report
    assert "Rejected <code>big.txt</code>: larger than 20 MB" in report
    assert "Added (1): <code>harbour.md</code>" in report
    assert sorted(p.name for p in server.sources.iterdir()) == sorted(before + ["harbour.md"])


@pytest.mark.parametrize("route", ["/gradio_api/run/ask", "/gradio_api/api/ask"])
def test_the_ask_queue_cannot_be_skipped_through_the_direct_rest_routes(server, route):
    """A direct POST would run outside the queue: no max_size, no concurrency limit, no queue-full reply."""
    with httpx.Client(base_url=server.url, timeout=60) as http:
        r = post_json(http, route, {"data": [FOUR]})
        assert 400 <= r.status_code < 500, f"{route} answered {r.status_code} outside the queue: {r.text[:120]}"
        assert call_ask(http, FOUR)["citations"], "the queued route still answers"


def test_with_auth_anonymous_clients_cannot_ask_upload_or_rebuild(tmp_path):
    with live_app(tmp_path, FakeEmbedder(), auth=[("reader", "correct horse battery")]) as srv:
        with httpx.Client(base_url=srv.url, timeout=60) as anon:
            refused = {
                "ask": post_json(anon, "/gradio_api/call/ask", {"data": [FOUR]}),
                "ask (direct)": post_json(anon, "/gradio_api/run/ask", {"data": [FOUR]}),
                "rebuild": post_json(anon, "/gradio_api/call/rebuild", {"data": [None]}),
                "upload": anon.post("/gradio_api/upload", files={"files": ("a.md", b"# A\n\nText.", "text/plain")}),
                "config": anon.get("/config"),
                "wrong password": anon.post("/login", data={"username": "reader", "password": "guess"}),
            }
            for what, r in refused.items():
                assert r.status_code in (400, 401, 403), f"{what}: {r.status_code} {r.text[:120]}"
        with httpx.Client(base_url=srv.url, timeout=60) as user:
            r = user.post("/login", data={"username": "reader", "password": "correct horse battery"})
            assert r.status_code == 200
            assert call_ask(user, FOUR)["citations"]


def test_gradio_monitoring_is_off(server, capfd):
    """Issue 12, finding 8: anonymous GET /monitoring printed the dashboard URL into the server log."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for route in ("/monitoring", "/monitoring/summary", "/gradio_api/monitoring", "/monitoring/x"):
            r = http.get(route)
            assert r.status_code in (403, 404), (route, r.status_code, r.text[:200])
    assert "Monitoring URL" not in capfd.readouterr().out
