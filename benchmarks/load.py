"""Load test the server: N users asking dev-set questions for a while, through Gradio's /ask route (the
chat's queue) or the plain HTTP API (POST /api/ask), or both against the same server in one run.

    .venv/bin/python benchmarks/load.py                          # 50 users for 120 s on sources/, Gradio /ask
    .venv/bin/python benchmarks/load.py --users 100 --seconds 60  # more users than the queue holds
    .venv/bin/python benchmarks/load.py --route both --users 50 --seconds 45   # Gradio, then the API: the ratio
    .venv/bin/python benchmarks/load.py --url http://127.0.0.1:7860 --users 10 --route api

Unless --url names a running app, it starts `ui.py` itself (its own process, so the clients do not share
the server's interpreter) on a free loopback port against --index; without --index, sources/ is built
into a temporary folder first. Loopback only; bounded by --seconds and --max-requests.

Each user is a thread with its own connection asking one question at a time, chosen at random from
eval/train_dev_*.jsonl. Route "gradio": POST /gradio_api/call/ask, then the event stream until
"complete". The queue holds 64 waiting requests (ui.launch: max_size=64, 4 at a time); past that Gradio
answers 503 "Queue is full", counted apart from errors, and that user waits --retry-after seconds before
asking again. Route "api": POST /api/ask with {"question": q}; an answer is a 200 whose JSON has an
`index_id`. With --route both, the two take turns of --slice seconds against the same server (so that
other work on the machine weighs on both alike) until each has had --seconds, and the ratio of their
answers/s is printed. A probe loads the page once a second to show it
stays up meanwhile. Prints throughput, latency percentiles of the answered requests, errors, queue-full
replies, the load average at the start and the CPU time per answer of the server (when load.py
started it, or --server-pid) and of this client (--json for a machine).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as C  # noqa: E402

ROOT = C.ROOT
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def questions(paths: list[str]) -> list[str]:
    out = []
    for p in paths:
        with open(ROOT / p, encoding="utf-8") as f:
            out += [json.loads(line)["question"] for line in f if line.strip()]
    return out


def start_app(index: str, sources: str) -> tuple[subprocess.Popen, str]:
    """`ui.py` on a free loopback port; returns once it says it is serving (it builds a missing index)."""
    port = C.free_port()
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


class Budget:
    """At most ``n`` requests in all, handed out one at a time across the users."""

    def __init__(self, n: int) -> None:
        self.left, self.lock = n, threading.Lock()

    def take(self) -> bool:
        with self.lock:
            self.left -= 1
            return self.left >= 0


def ask_api(http: httpx.Client, question: str) -> tuple[str, str]:
    """One POST /api/ask: (outcome, detail) as ``ask``."""
    r = http.post("/api/ask", content=json.dumps({"question": question}), headers={"content-type": "application/json"})
    if r.status_code != 200:
        return "error", f"POST {r.status_code}: {r.text[:100]}"
    answer = r.json()
    if not isinstance(answer, dict) or "index_id" not in answer:
        return "error", f"not an answer: {r.text[:100]}"
    return "answer", "abstained" if answer["abstained"] else "answered"


def ask(http: httpx.Client, question: str) -> tuple[str, str]:
    """One question through Gradio's queue: (outcome, detail); outcome is "answer", "queue_full" or "error"."""
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


ROUTES = {"gradio": ask, "api": ask_api}


def cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system, all threads) used so far by process ``pid``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return None


@dataclass
class Tally:
    """What one route's users got, summed over its slices of the run."""

    route: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    queue_messages: Counter[str] = field(default_factory=Counter)
    page: Counter[str] = field(default_factory=Counter)
    client_cpu: float = 0.0
    server_cpu: float | None = 0.0
    load: list[list[float]] = field(default_factory=list)

    def summary(self, users: int) -> dict:
        lat, n = sorted(self.latencies), self.outcomes["answer"]

        def pct(p: float) -> float | None:
            return round(1000 * lat[min(len(lat) - 1, int(p / 100 * len(lat)))], 1) if lat else None

        per = (lambda cpu: round(1000 * cpu / n, 2) if n and cpu is not None else None)  # noqa: E731
        return {"route": self.route, "load_average_at_start": self.load[0] if self.load else None,
                "load_average_at_slices": self.load, "users": users, "seconds": round(self.seconds, 1),
                "answered_requests": n, "answered": self.outcomes["answered"], "abstained": self.outcomes["abstained"],
                "throughput_per_s": round(n / self.seconds, 2) if self.seconds else 0.0, "latency_ms": {
                    "p50": pct(50), "p95": pct(95), "p99": pct(99), "max": pct(100),
                    "mean": round(1000 * statistics.fmean(lat), 1) if lat else None},
                "cpu_ms_per_answer": {"server": per(self.server_cpu), "client": per(self.client_cpu)},
                "queue_full": self.outcomes["queue_full"], "queue_full_messages": dict(self.queue_messages),
                "errors": self.outcomes["error"], "error_kinds": dict(self.errors.most_common(5)),
                "page_loads": dict(self.page)}


def run(url: str, users: int, seconds: float, budget: Budget, pool: list[str], retry_after: float, seed: int,
        tally: Tally, server_pid: int | None = None) -> None:
    """``users`` users ask through ``tally.route`` for ``seconds``; what they get is added to ``tally``."""
    asking, stop, lock = ROUTES[tally.route], threading.Event(), threading.Lock()

    def user(i: int) -> None:
        rng = random.Random(seed + i)
        with httpx.Client(base_url=url, timeout=httpx.Timeout(300, connect=10)) as http:
            while not stop.is_set() and budget.take():
                t0 = time.perf_counter()
                try:
                    outcome, detail = asking(http, rng.choice(pool))
                except httpx.HTTPError as e:
                    outcome, detail = "error", f"{type(e).__name__}: {e}"[:100]
                took = time.perf_counter() - t0
                with lock:
                    tally.outcomes[outcome] += 1
                    if outcome == "answer":
                        tally.latencies.append(took)
                        tally.outcomes[detail] += 1
                    elif outcome == "queue_full":
                        tally.queue_messages[detail.split(" and size")[0]] += 1
                    else:
                        tally.errors[detail] += 1
                if outcome == "queue_full":
                    stop.wait(retry_after)

    def probe() -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            while not stop.wait(1.0):
                try:
                    r = http.get("/")
                    ok = r.status_code == 200 and "<html" in r.text.lower()
                    tally.page["ok" if ok else f"HTTP {r.status_code}"] += 1
                except httpx.HTTPError as e:
                    tally.page[type(e).__name__] += 1

    threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(users)]
    threads.append(threading.Thread(target=probe, daemon=True))
    tally.load.append([round(x, 2) for x in os.getloadavg()])
    server0, client0, t0 = cpu_seconds(server_pid), time.process_time(), time.perf_counter()
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join(330)
    tally.seconds += time.perf_counter() - t0
    tally.client_cpu += time.process_time() - client0
    server1 = cpu_seconds(server_pid)
    tally.server_cpu = (tally.server_cpu + server1 - server0 if None not in (tally.server_cpu, server0, server1)
                        else None)


def report(result: dict) -> None:
    lat, cpu = result["latency_ms"], result["cpu_ms_per_answer"]
    print(f"[{result['route']}] users {result['users']}, {result['seconds']} s (load average at start "
          f"{', '.join(map(str, result['load_average_at_start']))}): {result['answered_requests']} answers "
          f"({result['answered']} answered, {result['abstained']} abstained), {result['throughput_per_s']} answers/s")
    print(f"  latency ms: p50 {lat['p50']}, p95 {lat['p95']}, p99 {lat['p99']}, max {lat['max']}")
    print(f"  CPU per answer: server {cpu['server']} ms, this client {cpu['client']} ms")
    print(f"  queue full: {result['queue_full']} {result['queue_full_messages'] or ''}")
    print(f"  errors: {result['errors']} {result['error_kinds'] or ''}")
    print(f"  page loads during the run: {result['page_loads']}"
          + (f"; server memory {result['server_rss_mb']:.0f} MB" if result.get("server_rss_mb") else ""))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=50, help="concurrent users (default: 50)")
    ap.add_argument("--seconds", type=float, default=120, help="how long they ask, per route (default: 120)")
    ap.add_argument("--route", choices=("gradio", "api", "both"), default="gradio",
                    help="gradio: /gradio_api/call/ask; api: POST /api/ask; both: taking turns (default: gradio)")
    ap.add_argument("--slice", type=float, default=10, help="with --route both, each route's turn (default: 10 s)")
    ap.add_argument("--max-requests", type=int, default=100_000, help="stop after this many (default: 100000)")
    ap.add_argument("--index", default=None, help="index to serve (default: sources/ built into a temp folder)")
    ap.add_argument("--url", default=None, help="a running app on this machine instead of starting one")
    ap.add_argument("--server-pid", type=int, default=None, help="with --url: its process, to count its CPU time")
    ap.add_argument("--questions", default="eval/train_dev_sources.jsonl,eval/train_dev_corpus.jsonl")
    ap.add_argument("--retry-after", type=float, default=1.0, help="a queue-full user waits this long (s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    if args.users < 1 or args.seconds <= 0 or args.max_requests < 1 or args.slice <= 0:
        ap.error("--users, --seconds, --slice and --max-requests must be positive")
    if args.url and urlsplit(args.url).hostname not in LOOPBACK:
        ap.error("--url must be on this machine (127.0.0.1, localhost or ::1): this is not a tool for other hosts")
    pool = questions(args.questions.split(","))
    routes = ["gradio", "api"] if args.route == "both" else [args.route]
    slices = max(1, round(args.seconds / args.slice)) if len(routes) > 1 else 1
    tallies, budget = {r: Tally(r) for r in routes}, Budget(args.max_requests)
    proc, scratch, pid = None, None, args.server_pid
    try:
        if args.url:
            url = args.url.rstrip("/")
        else:
            if args.index is None:
                scratch = tempfile.mkdtemp(prefix="rag-load-")
            index = args.index or os.path.join(scratch, "index")
            proc, url = start_app(index, str(ROOT / "sources"))
            pid = proc.pid
        with httpx.Client(base_url=url, timeout=120) as http:  # warm up: the first answer loads lazily
            for route in routes:
                outcome, detail = ROUTES[route](http, pool[0])
                if outcome != "answer":
                    raise SystemExit(f"load.py: the {route} route does not answer: {detail}")
        print(f"load: {args.users} users for {args.seconds:.0f} s per route ({', '.join(routes)}"
              f"{f', taking turns of {args.seconds / slices:.0f} s' if slices > 1 else ''}) against {url} "
              f"({len(pool)} questions)", file=sys.stderr, flush=True)
        for i in range(slices):
            for route in routes:
                run(url, args.users, args.seconds / slices, budget, pool, args.retry_after, args.seed + 1000 * i,
                    tallies[route], pid)
        results = [tallies[r].summary(args.users) for r in routes]
        if proc is not None:
            for result in results:
                result["server_rss_mb"] = C.memory(proc.pid).get("rss")
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    by_route = {r["route"]: r for r in results}
    ratio = (round(by_route["api"]["throughput_per_s"] / by_route["gradio"]["throughput_per_s"], 2)
             if len(by_route) == 2 and by_route["gradio"]["throughput_per_s"] else None)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else {"runs": results, "api_over_gradio": ratio}, indent=1))
        return 0
    for result in results:
        report(result)
    if ratio is not None:
        print(f"api / gradio answers per second: {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
