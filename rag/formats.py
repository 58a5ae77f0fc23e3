"""File bytes → text, by type: .txt (decoded), .md (front matter → metadata), .html (visible text),
.pdf (text per page). ``rag.sources`` runs these in its bounded worker process.

>>> parse(".md", b"---\\ntitle: Hi\\n---\\nSome *text*.")
('Some text.', (), {'title': 'Hi'})
"""

from __future__ import annotations

import re


class Unreadable(Exception):
    """A file we skip; the message is the reason shown to the user."""


def parse(suffix: str, data: bytes) -> tuple[str, tuple[int, ...], dict[str, object]]:
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


def decode(data: bytes) -> str:
    """Bytes → str: UTF-8 (BOM aware), UTF-16 with BOM, else Latin-1 when it looks like text.

    >>> decode("café".encode("latin-1"))
    'café'
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as e:  # an odd number of bytes, a lone surrogate
            raise Unreadable(f"not valid UTF-16 text ({e.reason} at byte {e.start})") from None
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
