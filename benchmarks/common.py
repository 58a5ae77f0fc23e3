"""Shared helpers for the benchmark scripts: timing, summaries, machine facts, the shipped embedders,
cached indexes, dev set.

    from common import stats, timed, machine_info, dev_questions, ensure_index, embedder_for

Every script prints the median of several runs with the min and max, and the machine it ran on. Times are
wall-clock (``time.perf_counter``); ratios are only ever taken between figures measured in the same run.

>>> stats([3.0, 1.0, 2.0])["median"]
2.0
>>> round(percentile([10, 20, 30, 40], 95), 1)
38.5
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded, ever
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
SOURCES = ROOT / "sources"
QUESTION_FILES = (ROOT / "eval" / "train_dev_sources.jsonl", ROOT / "eval" / "train_dev_corpus.jsonl")
CACHE = Path(os.environ.get("RAG_BENCH_CACHE", "/tmp/rag-bench"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# -- numbers ----------------------------------------------------------------------------------------------

def percentile(values: Iterable[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default)."""
    import numpy as np

    return float(np.percentile(np.asarray(list(values), dtype=float), q))


def stats(values: Iterable[float]) -> dict[str, float]:
    """median, min, max, p50, p95, mean and n of a list of measurements."""
    v = [float(x) for x in values]
    if not v:
        return {"n": 0, "median": float("nan"), "min": float("nan"), "max": float("nan"),
                "p50": float("nan"), "p95": float("nan"), "mean": float("nan")}
    return {"n": len(v), "median": statistics.median(v), "min": min(v), "max": max(v),
            "p50": percentile(v, 50), "p95": percentile(v, 95), "mean": statistics.fmean(v)}


def timed(fn: Callable[[], Any], repeats: int = 3, warmup: int = 0) -> tuple[list[float], Any]:
    """Seconds of each of ``repeats`` calls of ``fn`` (after ``warmup`` untimed calls), and the last result."""
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return times, result


def mmm(values: Iterable[float], scale: float = 1.0, digits: int = 1, unit: str = "") -> str:
    """'median (min–max)' of the values times ``scale``: ``mmm([0.011, 0.012, 0.02], 1e3, 0, ' ms')``."""
    s = stats(values)
    if s["n"] == 0:
        return "n/a"
    f = f"{{:.{digits}f}}"
    if s["n"] == 1:
        return f.format(s["median"] * scale) + unit
    return (f.format(s["median"] * scale) + unit + " (" + f.format(s["min"] * scale) + "–"
            + f.format(s["max"] * scale) + ")")


def rotated(names: list[str], r: int) -> list[str]:
    """``names`` started at position ``r``: run r of an interleaved comparison does not always measure the
    same one first.

    >>> rotated(["a", "b", "c"], 1)
    ['b', 'c', 'a']
    """
    k = r % len(names) if names else 0
    return names[k:] + names[:k]


def table(rows: list[list[Any]], header: list[str]) -> str:
    """A plain, aligned text table (also valid Markdown)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return "\n".join(lines)


# -- the machine --------------------------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def versions(names: Iterable[str] = ("torch", "faiss-cpu", "sentence-transformers", "transformers", "numpy",
                                     "bm25s", "onnxruntime", "tokenizers", "langchain-community")) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for n in names:
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            out[n] = "not installed"
    return out


def machine_info() -> dict[str, Any]:
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "ram_gib": round(ram_gib(), 1),
            "python": platform.python_version(), "load_avg_1m": round(os.getloadavg()[0], 2),
            **versions()}


def print_machine(title: str) -> dict[str, Any]:
    info = machine_info()
    print(f"# {title}")
    print(f"# {info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM, Python {info['python']}, "
          f"load average {info['load_avg_1m']} at start")
    print("# " + ", ".join(f"{k} {v}" for k, v in info.items()
                           if k not in ("cpu", "cores", "ram_gib", "python", "load_avg_1m")))
    if info["load_avg_1m"] > 1.0:
        print(f"# warning: load average {info['load_avg_1m']} > 1 on {info['cores']} cores: other work is "
              "running and absolute times will be noisy; compare the ratios measured within this run")
    sys.stdout.flush()
    return info


def proc_status_mib(fields: Iterable[str], pid: int | str = "self") -> dict[str, float]:
    """Memory lines of ``/proc/PID/status`` (kB) in MiB, e.g. ``{"VmRSS": 120.5}``; a field the kernel
    does not report, or a process that is gone, is left out."""
    wanted, out = set(fields), {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in wanted:
                out[key] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def rss_mib(pid: int | str = "self") -> float:
    """Resident memory of a process (this one by default) now, MiB; NaN if it is gone."""
    return proc_status_mib(["VmRSS"], pid).get("VmRSS", float("nan"))


def peak_rss_mib() -> float:
    """Peak resident memory of this process, MiB (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    return proc_status_mib(["VmHWM"]).get("VmHWM", float("nan"))


def memory(pid: int | str = "self") -> dict[str, float]:
    """``rss`` and its ``anon`` (private) and ``file`` (mapped files, page cache) parts, MiB."""
    names = {"VmRSS": "rss", "RssAnon": "anon", "RssFile": "file"}
    return {names[k]: v for k, v in proc_status_mib(names, pid).items()}


def free_port() -> int:
    """A TCP port free on the loopback interface now (for a server a benchmark starts)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dir_mib(path: str | Path) -> float:
    p = Path(path)
    if p.is_file():
        return p.stat().st_size / 2**20
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) / 2**20


def save_json(name: str, data: Any) -> Path:
    """Keep the raw figures of a run next to the printed ones (``/tmp/rag-bench/results/NAME.json``)."""
    out = CACHE / "results" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    return out


# -- the project ---------------------------------------------------------------------------------------------

def dev_questions() -> list[Any]:
    """The dev questions (``rag.evaluation.Question``) of eval/train_dev_sources.jsonl + eval/train_dev_corpus.jsonl."""
    from rag.evaluation import load_questions

    return load_questions(QUESTION_FILES)


def settings_for(index_dir: str | Path, **changes: Any) -> Any:
    """The shipped defaults (``rag.config.Settings``) pointed at ``index_dir``."""
    from rag.config import Settings

    return Settings().replace(index_dir=str(index_dir), **changes)


BACKENDS = ("torch", "onnx", "onnx-int8")  # rag.embedding.BACKENDS, torch first: the reference


def shipped_backend() -> str:
    """The backend ``Settings()`` ships with (``rag.config.Settings.embedding_backend``)."""
    from rag.config import Settings

    return Settings().embedding_backend


def embedder_for(backend: str = "", ort_threads: int = 0) -> Any:
    """The embedder the project builds for ``backend`` (default: the shipped one), through
    ``rag.embedding.make_embedder``: torch = ``SentenceTransformerEmbedder``, onnx = ``OnnxEmbedder()``,
    onnx-int8 = ``OnnxEmbedder(int8=True)``. ``ort_threads`` > 0 gives an ONNX Runtime session with that
    many intra-op threads (``OnnxEmbedder(threads=...)``) instead of ONNX Runtime's default."""
    from rag.config import Settings
    from rag.embedding import OnnxEmbedder, make_embedder

    settings = Settings().replace(embedding_backend=backend or None)
    if not ort_threads or settings.embedding_backend == "torch":
        return make_embedder(settings)
    return OnnxEmbedder(settings.model, settings.batch_size, settings.cache_dir,
                        int8=settings.embedding_backend == "onnx-int8", threads=ort_threads)


def backend_of(embedder: Any) -> str:
    """What actually runs the model: ``onnx``, ``onnx-int8``, ``torch``, or ``torch (ONNX unavailable)``."""
    return str(getattr(embedder, "backend", "torch"))


def warm(embedder: Any, backend: str = "") -> float:
    """Load the model now (exporting it to ONNX first if the cache has no export) and return the seconds.
    Refuses an ONNX embedder that fell back to torch: its figures would be torch's under another name."""
    t = time.perf_counter()
    embedder.warm_up()
    secs = time.perf_counter() - t
    if backend and backend_of(embedder) != backend:
        raise SystemExit(f"benchmark: asked for the {backend} backend but the model runs on "
                         f"{backend_of(embedder)}")
    return secs


def ensure_index(name: str, roots: list[Path], embedder: Any, fresh: bool = False) -> tuple[Any, float]:
    """Build ``roots`` into ``CACHE/NAME`` with ``rag.indexing.build`` (incremental, so a second call
    embeds nothing) and return (settings, seconds). ``fresh`` removes the folder first."""
    import shutil

    from rag.indexing import build

    index_dir = CACHE / name
    if fresh:
        shutil.rmtree(index_dir, ignore_errors=True)
    s = settings_for(index_dir)
    t = time.perf_counter()
    build([str(r) for r in roots], s, embedder)
    return s, time.perf_counter() - t


def corpus_settings(index: str | None, embedder: Any) -> Any:
    """The settings of ``index`` (an index of sources/ + ../shared/corpus), or of one built once in the
    cache when None: the index the selector benchmarks train and ask over."""
    if index:
        from rag.config import Settings

        return Settings(index_dir=index)
    return ensure_index("q-onnx-sources-corpus", [SOURCES, CORPUS], embedder)[0]
