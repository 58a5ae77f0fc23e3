"""Files → ``Document``: .txt, .md (YAML front matter → metadata), .html (visible text), .pdf (per page).

A file that cannot be read becomes a ``Skipped`` with a reason instead of an exception, so one
bad file never stops a build.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .types import Document, Skipped

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")


class Unreadable(Exception):
    """A file we skip; the message is the reason shown to the user."""


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


def load(root: Path, path: Path, max_bytes: int = 25 * 2**20, parse: Parser | None = None) -> Document:
    """Read one file into a Document, or raise ``Unreadable`` with the reason.

    ``parse`` runs the format parsers in a worker process bounded in time and memory (see ``Parser``);
    without it they run in this process.
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
    text, pages, meta = (parse or _parse)(suffix, data)
    if suffix == ".pdf" and not meta.get("title"):
        meta["title"] = _title_from("", path)  # a PDF's first line is rarely its title
    if not text.strip():
        raise Unreadable("no text found" + (" (scanned PDF?)" if suffix == ".pdf" else ""))
    source = display(path.relative_to(root).as_posix() if _inside(str(path), root) else path.name)
    sha = hashlib.sha256(data).hexdigest()
    title = str(meta.pop("title", "") or "").strip() or _title_from(text, path)
    return Document(doc_id=sha[:16], source=source, path=display(path), title=title, text=text,
                    sha256=sha, pages=pages, meta=meta)


def load_all(roots: Iterable[str | Path], max_bytes: int = 25 * 2**20,
             seconds: float = 60.0) -> tuple[list[Document], list[Skipped]]:
    docs, skipped = [], []
    with Parser(seconds) as parse:
        for root, path in walk(roots):
            try:
                docs.append(load(root, path, max_bytes, parse))
            except Unreadable as e:
                skipped.append(Skipped(display(path), str(e)))
    return docs, skipped


def _parse(suffix: str, data: bytes) -> tuple[str, tuple[int, ...], dict[str, object]]:
    """(text, page starts, metadata) of a file's bytes, by its type."""
    if suffix == ".pdf":
        text, pages, title = _pdf_text(data)
        return text, pages, ({"title": title} if title else {})
    raw = decode(data)
    if suffix in (".md", ".markdown"):
        text, meta = _markdown_text(raw)
        return text, (), meta
    if suffix in (".html", ".htm"):
        text, meta = _html_text(raw)
        return text, (), meta
    return raw, (), {}


def _worker_init(megabytes: int) -> None:
    import resource

    import frontmatter  # noqa: F401 - imported before any file's clock starts
    import inscriptis  # noqa: F401
    import markdown_it  # noqa: F401
    import pypdf  # noqa: F401

    limit = megabytes * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import sys

    sys.stderr = open(os.devnull, "w")  # a killed build must not spray tracebacks: errors come back as values


class Parser:
    """Runs ``_parse`` in a worker process that gets ``seconds`` per file and 2 GB of memory, so no
    file can hang or exhaust a build: a file over the bounds is skipped with the reason."""

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

    def __call__(self, suffix: str, data: bytes) -> tuple[str, tuple[int, ...], dict[str, object]]:
        import multiprocessing

        if suffix == ".txt":  # decoding is linear and bounded by the size limit
            return _parse(suffix, data)
        if self._pool is None:
            ctx = multiprocessing.get_context("forkserver")
            self._pool = ctx.Pool(1, initializer=_worker_init, initargs=(self.memory_mb,))
            self._pool.apply(_parse, (".txt", b"warm up"))  # start-up is not the file's time
        job = self._pool.apply_async(_parse, (suffix, data))
        try:
            return job.get(timeout=self.seconds)
        except multiprocessing.TimeoutError:
            self._stop()
            raise Unreadable(f"parsing took longer than {self.seconds:.0f} s") from None
        except MemoryError:
            self._stop()
            raise Unreadable(f"parsing needed more than {self.memory_mb} MB of memory") from None


def decode(data: bytes) -> str:
    """Bytes → str: UTF-8 (BOM aware), UTF-16 with BOM, else Latin-1 when it looks like text.

    >>> decode("café".encode("latin-1"))
    'café'
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data[:4096]:
        raise Unreadable("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    controls = sum(1 for ch in text[:4096] if ord(ch) < 32 and ch not in "\t\n\r\f")
    if controls > 0.01 * min(len(text), 4096):
        raise Unreadable("binary or undecodable file")
    return text


def _markdown_text(raw: str) -> tuple[str, dict[str, object]]:
    import frontmatter
    from markdown_it import MarkdownIt

    try:
        post = frontmatter.loads(raw)
    except Exception as e:  # a broken YAML header: keep the text, say nothing of metadata
        raise Unreadable(f"invalid YAML front matter: {str(e).splitlines()[0]}") from None
    meta: dict[str, object] = {k: str(v) for k, v in post.metadata.items()
                               if k in ("title", "date", "source_url", "url")}
    if "source_url" in meta:
        meta["url"] = meta.pop("source_url")
    html = MarkdownIt("commonmark").render(post.content)
    return _visible_text(html), meta


def _html_text(raw: str) -> tuple[str, dict[str, object]]:
    match = re.search(r"<title[^>]*>(.*?)</title>", raw, re.I | re.S)
    meta: dict[str, object] = {}
    if match:
        import html

        meta["title"] = " ".join(html.unescape(match.group(1)).split())
    return _visible_text(raw), meta


def _visible_text(html: str) -> str:
    """HTML → the text a reader sees, laid out by block (inscriptis drops script, style, head)."""
    from inscriptis import get_text

    text = get_text(html)
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")


def _pdf_text(data: bytes) -> tuple[str, tuple[int, ...], str]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable("encrypted PDF needs a password")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = str(reader.metadata.get("/Title", "") or "") if reader.metadata else ""
    except Unreadable:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as e:
        raise Unreadable(f"broken PDF: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    except Exception as e:  # pypdf raises many kinds on damaged files; none may stop a build
        if "cryptography" in str(e):
            raise Unreadable("encrypted PDF: install 'cryptography' to read it") from None
        raise Unreadable(f"broken PDF: {type(e).__name__}") from None
    texts, starts, offset = [], [], 0
    for page in pages:
        lines = [_PRIVATE_USE.sub("", line).rstrip() for line in page.splitlines()]
        text = "\n".join(lines).strip()
        starts.append(offset)
        texts.append(text)
        offset += len(text) + 2
    return "\n\n".join(texts), tuple(starts), " ".join(title.split())


def _title_from(text: str, path: Path) -> str:
    """The first line if it reads like a title, else the file name.

    >>> _title_from("A very long first paragraph. " * 20, Path("blinken-announces-strategy.txt"))
    'Blinken announces strategy'
    """
    for line in text.splitlines()[:5]:
        line = line.strip()
        if 3 <= len(line) <= 150 and any(ch.isalpha() for ch in line):
            return line
    stem = path.stem.replace("-", " ").replace("_", " ").strip()
    return stem[:1].upper() + stem[1:]
