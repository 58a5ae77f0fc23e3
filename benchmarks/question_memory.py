"""The chat server's memory through a burst of oversized questions (issue 12, finding 6).

Starts ``ui.py`` on a copy of ``sources/`` (real model), asks a few ordinary questions, sends
``--burst`` questions of ``--mb`` MB each through the raw queue route (``POST /gradio_api/call/ask``),
waits ``--settle`` seconds, asks ordinary questions again, and prints the server's resident memory
(VmRSS) at each step with what each request got back. Idle API sessions are dropped about two minutes
after their last use (``ui_server.sweep_sessions``): a settle of 200 s shows the memory after that.

    .venv/bin/python benchmarks/question_memory.py --burst 10 --mb 20            # refused unread
    .venv/bin/python benchmarks/question_memory.py --burst 1500 --mb 0.24 --settle 200  # just under the limit
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as C  # noqa: E402

ROOT = C.ROOT
FOUR = "What are the four areas of action?"


def ask(http: httpx.Client, body: bytes) -> tuple[int, int]:
    """(HTTP status of the POST, length of the ``question`` field echoed back, or -1)."""
    r = http.post("/gradio_api/call/ask", content=body, headers={"content-type": "application/json"})
    if r.status_code != 200:
        return r.status_code, -1
    r = http.get(f"/gradio_api/call/ask/{r.json()['event_id']}")
    data = [line[5:].strip() for line in r.text.splitlines() if line.startswith("data:")]
    try:
        return 200, len(json.loads(data[-1])[0]["question"])
    except (IndexError, KeyError, TypeError, ValueError):
        return 200, -1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--burst", type=int, default=10, help="oversized questions to send")
    p.add_argument("--mb", type=float, default=20, help="size of each, in MB")
    p.add_argument("--settle", type=float, default=5, help="seconds to wait after the burst")
    p.add_argument("--ui", default=str(ROOT / "ui.py"), help="the chat to start (e.g. an older ui.py, to compare)")
    args = p.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        sources, index = Path(tmp) / "sources", Path(tmp) / "index"
        shutil.copytree(ROOT / "sources", sources)
        env = {**os.environ, "RAG_SOURCES_DIR": str(sources), "RAG_INDEX_DIR": str(index)}
        subprocess.run([py, "-m", "rag.cli", "build", str(sources), "--index", str(index), "--quiet"],
                       cwd=ROOT, env=env, check=True)
        port = C.free_port()
        server = subprocess.Popen([py, args.ui, "--index", str(index), "--port", str(port)], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            for line in server.stdout:  # type: ignore[union-attr]
                if "Chat running" in line:
                    break
            else:
                print("the server did not start", file=sys.stderr)
                return 1
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as http:
                for _ in range(5):
                    ask(http, json.dumps({"data": [FOUR]}).encode())
                base = C.rss_mib(server.pid)
                print(f"baseline after 5 questions        {base:8.0f} MB")
                big = json.dumps({"data": ["why " * int(args.mb * 2**20 / 4)]}).encode()
                peak = base
                for i in range(args.burst):
                    t0 = time.perf_counter()
                    status, echoed = ask(http, big)
                    now = C.rss_mib(server.pid)
                    peak = max(peak, now)
                    print(f"{args.mb:.0f} MB question {i + 1:2d}: HTTP {status}, question echoed "
                          f"{echoed:>10,} chars, {time.perf_counter() - t0:5.2f} s, RSS {now:6.0f} MB")
                del big
                time.sleep(args.settle)
                for _ in range(5):
                    ask(http, json.dumps({"data": [FOUR]}).encode())
                after = C.rss_mib(server.pid)
                print(f"peak during the burst             {peak:8.0f} MB")
                print(f"after {args.settle:.0f} s and 5 more questions   {after:8.0f} MB ({after - base:+.0f} MB)")
        finally:
            server.terminate()
            server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
