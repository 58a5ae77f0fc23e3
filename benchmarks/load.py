"""Load test the chat's /ask API: N users asking dev-set questions through Gradio's queue for a while.

    .venv/bin/python benchmarks/load.py                          # 50 users for 120 s on sources/
    .venv/bin/python benchmarks/load.py --users 100 --seconds 60  # more users than the queue holds
    .venv/bin/python benchmarks/load.py --url http://127.0.0.1:7860 --users 10

Unless --url names a running app, it starts `ui.py` itself (its own process, so the clients do not share
the server's interpreter) on a free loopback port against --index; without --index, sources/ is built
into a temporary folder first. Loopback only; bounded by --seconds and --max-requests.

Each user is a thread with its own connection asking one question at a time, chosen at random from
eval/train_dev_*.jsonl: POST /gradio_api/call/ask, then the event stream until "complete". The queue holds
64 waiting requests (ui.launch: max_size=64, 4 at a time); past that Gradio answers 503 "Queue is
full", counted apart from errors, and that user waits --retry-after seconds before asking again.
A probe loads the page once a second to show it stays up meanwhile. Prints throughput, latency
percentiles of the answered requests, errors and queue-full replies (--json for a machine).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def questions(paths: list[str]) -> list[str]:
    out = []
    for p in paths:
        with open(ROOT / p, encoding="utf-8") as f:
            out += [json.loads(line)["question"] for line in f if line.strip()]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(index: str, sources: str) -> tuple[subprocess.Popen, str]:
    """`ui.py` on a free loopback port; returns once it says it is serving (it builds a missing index)."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "RAG_SOURCES_DIR": sources,
           "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "ui.py"), "--host", "127.0.0.1", "--port", str(port),
                             "--index", index], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, cwd=ROOT)
    deadline = time.monotonic() + 600
    for line in proc.stdout:
        print(f"  app: {line.rstrip()}", file=sys.stderr)
        if "Chat running at" in line:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # keep draining
            return proc, f"http://127.0.0.1:{port}"
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise SystemExit(f"load.py: the app did not start (exit {proc.wait()})")


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class Budget:
    """At most ``n`` requests in all, handed out one at a time across the users."""

    def __init__(self, n: int) -> None:
        self.left, self.lock = n, threading.Lock()

    def take(self) -> bool:
        with self.lock:
            self.left -= 1
            return self.left >= 0


def ask(http: httpx.Client, question: str) -> tuple[str, str]:
    """(outcome, detail): outcome is "answer", "queue_full" or "error"."""
    r = http.post("/gradio_api/call/ask", content=json.dumps({"data": [question]}),
                  headers={"content-type": "application/json"})
    if r.status_code == 503 and "Queue is full" in r.text:
        return "queue_full", r.json().get("detail", r.text)
    if r.status_code != 200:
        return "error", f"POST {r.status_code}: {r.text[:100]}"
    r = http.get(f"/gradio_api/call/ask/{r.json()['event_id']}")
    event = ""
    for line in r.text.splitlines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event == "complete":
            answer = json.loads(line.split(":", 1)[1])[0]
            if not isinstance(answer, dict) or "index_id" not in answer:
                return "error", f"not an answer: {str(answer)[:100]}"
            return "answer", "abstained" if answer["abstained"] else "answered"
        elif line.startswith("data:") and event == "error":
            return "error", f"error event: {line[:100]}"
    return "error", f"stream ended without an answer (HTTP {r.status_code}, last event {event!r})"


def run(url: str, users: int, seconds: float, max_requests: int, pool: list[str], retry_after: float,
        seed: int) -> dict:
    stop, budget, lock = threading.Event(), Budget(max_requests), threading.Lock()
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    queue_messages: Counter[str] = Counter()
    page: Counter[str] = Counter()

    def user(i: int) -> None:
        rng = random.Random(seed + i)
        with httpx.Client(base_url=url, timeout=httpx.Timeout(300, connect=10)) as http:
            while not stop.is_set() and budget.take():
                t0 = time.perf_counter()
                try:
                    outcome, detail = ask(http, rng.choice(pool))
                except httpx.HTTPError as e:
                    outcome, detail = "error", f"{type(e).__name__}: {e}"[:100]
                took = time.perf_counter() - t0
                with lock:
                    outcomes[outcome] += 1
                    if outcome == "answer":
                        latencies.append(took)
                        outcomes[detail] += 1
                    elif outcome == "queue_full":
                        queue_messages[detail.split(" and size")[0]] += 1
                    else:
                        errors[detail] += 1
                if outcome == "queue_full":
                    stop.wait(retry_after)

    def probe() -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            while not stop.wait(1.0):
                try:
                    r = http.get("/")
                    page["ok" if r.status_code == 200 and "<html" in r.text.lower() else f"HTTP {r.status_code}"] += 1
                except httpx.HTTPError as e:
                    page[type(e).__name__] += 1

    threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(users)]
    threads.append(threading.Thread(target=probe, daemon=True))
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join(330)
    elapsed = time.perf_counter() - t0
    lat = sorted(latencies)

    def pct(p: float) -> float | None:
        return round(1000 * lat[min(len(lat) - 1, int(p / 100 * len(lat)))], 1) if lat else None

    return {"users": users, "seconds": round(elapsed, 1), "answered_requests": outcomes["answer"],
            "answered": outcomes["answered"], "abstained": outcomes["abstained"],
            "throughput_per_s": round(outcomes["answer"] / elapsed, 2), "latency_ms": {
                "p50": pct(50), "p95": pct(95), "p99": pct(99), "max": pct(100),
                "mean": round(1000 * statistics.fmean(lat), 1) if lat else None},
            "queue_full": outcomes["queue_full"], "queue_full_messages": dict(queue_messages),
            "errors": outcomes["error"], "error_kinds": dict(errors.most_common(5)), "page_loads": dict(page)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=50, help="concurrent users (default: 50)")
    ap.add_argument("--seconds", type=float, default=120, help="how long they ask (default: 120)")
    ap.add_argument("--max-requests", type=int, default=100_000, help="stop after this many (default: 100000)")
    ap.add_argument("--index", default=None, help="index to serve (default: sources/ built into a temp folder)")
    ap.add_argument("--url", default=None, help="a running app on this machine instead of starting one")
    ap.add_argument("--questions", default="eval/train_dev_sources.jsonl,eval/train_dev_corpus.jsonl")
    ap.add_argument("--retry-after", type=float, default=1.0, help="a queue-full user waits this long (s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    if args.users < 1 or args.seconds <= 0 or args.max_requests < 1:
        ap.error("--users, --seconds and --max-requests must be positive")
    if args.url and urlsplit(args.url).hostname not in LOOPBACK:
        ap.error("--url must be on this machine (127.0.0.1, localhost or ::1): this is not a tool for other hosts")
    pool = questions(args.questions.split(","))
    proc, scratch = None, None
    try:
        if args.url:
            url = args.url.rstrip("/")
        else:
            if args.index is None:
                scratch = tempfile.mkdtemp(prefix="rag-load-")
            index = args.index or os.path.join(scratch, "index")
            proc, url = start_app(index, str(ROOT / "sources"))
        with httpx.Client(base_url=url, timeout=120) as http:  # warm up: the first answer loads lazily
            ask(http, pool[0])
        print(f"load: {args.users} users for {args.seconds:.0f} s against {url} ({len(pool)} questions)",
              file=sys.stderr, flush=True)
        result = run(url, args.users, args.seconds, args.max_requests, pool, args.retry_after, args.seed)
        if proc is not None:
            result["server_rss_mb"] = rss_mb(proc.pid)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    lat = result["latency_ms"]
    print(f"users {result['users']}, {result['seconds']} s: {result['answered_requests']} answers "
          f"({result['answered']} answered, {result['abstained']} abstained), "
          f"{result['throughput_per_s']} answers/s")
    print(f"latency ms: p50 {lat['p50']}, p95 {lat['p95']}, p99 {lat['p99']}, max {lat['max']}")
    print(f"queue full: {result['queue_full']} {result['queue_full_messages'] or ''}")
    print(f"errors: {result['errors']} {result['error_kinds'] or ''}")
    print(f"page loads during the run: {result['page_loads']}"
          + (f"; server memory {result['server_rss_mb']:.0f} MB" if result.get("server_rss_mb") else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
