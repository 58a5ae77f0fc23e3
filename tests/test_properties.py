"""Property tests (issue 12): random bytes, random Unicode and random documents of every supported type
through each loader, and random text through the sentence splitter and the chunker. A loader either
gives valid text with sentences inside it or raises ``Unreadable`` (the build then skips the file with
that reason); no other exception may escape. Timing is not tested here: benchmarks/bench_splitter.py
measures that splitting grows linearly."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rag.chunking import chunk_document, sentence_spans
from rag.sources import SUPPORTED, Unreadable, read
from rag.types import Document

from .badfiles import TRUNCATED_UTF16, pdf_with_cmap
from .pdfgen import make_pdf

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ANY_CHAR = st.characters(codec=None, exclude_categories=())  # surrogates and controls included
WORDS = st.sampled_from(["Dr.", "U.S.", "e.g.", "a.m.", "The", "policy", "is", "here.", "Why?", "Yes!", "1.",
                         "(a)", "—", "“Quote.”", "x", "\u00a0", "\u2028", "é", "中文", "🙂", "\ufeff", "\x00"])
SEPARATORS = st.sampled_from([" ", "  ", "\n", "\n\n", "\t", "\r\n", ". ", ": ", ";\n", "\n- ", "\n1. "])
PROSE = st.lists(st.tuples(WORDS, SEPARATORS), max_size=80).map(lambda ws: "".join(a + b for a, b in ws))
TEXT = st.one_of(st.text(ANY_CHAR, max_size=400), PROSE)


def check_loaded(name: str, data: bytes) -> None:
    """``read`` the bytes as a file called ``name``: valid text and sentences, or ``Unreadable``."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            doc, sentences = read(Path(folder), path)
        except Unreadable as e:
            assert str(e) and "\n" not in str(e), repr(str(e))
            return
    doc.text.encode("utf-8")  # no lone surrogates: the index is written as UTF-8
    assert doc.title.strip() and doc.text.strip()
    previous_end = 0
    for start, end, tokens in sentences.tolist():
        assert previous_end <= start < end <= len(doc.text) and tokens >= 1
        previous_end = end
    assert all(0 <= p <= len(doc.text) for p in doc.pages)


@FAST
@given(st.sampled_from(SUPPORTED), st.binary(max_size=3000))
@example(".txt", TRUNCATED_UTF16)
def test_random_bytes_of_any_type_load_or_are_unreadable(suffix, data):
    check_loaded("random" + suffix, data)


@FAST
@given(st.sampled_from([s for s in SUPPORTED if s != ".pdf"]), TEXT,
       st.sampled_from(["utf-8", "utf-16", "utf-16-be", "latin-1", "utf-8-sig"]))
def test_random_unicode_in_any_encoding_loads_or_is_unreadable(suffix, text, codec):
    check_loaded("text" + suffix, text.encode(codec, "surrogatepass") if "utf" in codec
                 else text.encode(codec, "replace"))


YAML_VALUES = st.one_of(TEXT, st.integers(), st.lists(st.integers(), max_size=3), st.just("[unclosed"),
                        st.just("{a: [b"), st.just("!!python/object:os.system ls"), st.just("*ref"))
FRONT_MATTER = st.dictionaries(st.sampled_from(["title", "date", "url", "source_url", "tags", "x"]),
                               YAML_VALUES, max_size=4).map(
    lambda d: "---\n" + "".join(f"{k}: {v}\n" for k, v in d.items()) + "---\n")
MARKDOWN_BLOCK = st.one_of(
    PROSE, TEXT.map(lambda t: "# " + t), TEXT.map(lambda t: "> " + t), PROSE.map(lambda t: "```\n" + t + "\n```"),
    st.lists(PROSE, max_size=5).map(lambda items: "\n".join(f"- {i}" for i in items)),
    st.lists(PROSE, max_size=4).map(lambda cells: "| " + " | ".join(cells) + " |\n|---|---|"),
    st.just("<script>alert(1)</script>"), st.just("[x](javascript:alert(1))"), st.just("---"))


@FAST
@given(st.one_of(st.just(""), FRONT_MATTER), st.lists(MARKDOWN_BLOCK, max_size=8))
def test_random_markdown_with_front_matter_loads_or_is_unreadable(front, blocks):
    check_loaded("doc.md", (front + "\n\n".join(blocks)).encode("utf-8", "surrogatepass"))


TAGS = st.sampled_from(["p", "div", "table", "tr", "td", "th", "ul", "li", "pre", "script", "style", "title",
                        "head", "body", "br", "span", "a", "h1", "textarea", "svg", "math", "!--", "![CDATA["])
ATTRS = st.sampled_from(["", ' class="x"', " colspan=99999", ' style="display:none"', " href=javascript:x",
                         " rowspan=0", ' title="&amp;&#0;&#xD800;"'])


@st.composite
def html(draw, depth: int = 0) -> str:  # noqa: ANN001 - hypothesis's draw
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        if depth < 4 and draw(st.booleans()):
            tag, attrs = draw(TAGS), draw(ATTRS)
            inner = draw(html(depth + 1))
            close = draw(st.sampled_from([f"</{tag}>", "", f"</{tag}", "</x>"]))
            parts.append(f"<{tag}{attrs}>{inner}{close}")
        else:
            parts.append(draw(st.one_of(PROSE, st.sampled_from(["&amp;", "&#0;", "&#xD800;", "&nbsp;", "<", "&"]))))
    return "".join(parts)


@FAST
@given(html())
def test_random_html_loads_or_is_unreadable(markup):
    check_loaded("page.html", markup.encode("utf-8", "surrogatepass"))


PDF_WORDS = st.lists(st.sampled_from(["Ships", "sail", "at", "dawn.", "Otters", "rest.", "The", "state", "acts."]),
                     min_size=1, max_size=12).map(" ".join)
PAGE = st.one_of(st.text(st.characters(codec="latin-1", exclude_characters="\\()"), max_size=80), PDF_WORDS)
FONT_MAP = st.dictionaries(st.sampled_from("aeost "), st.sampled_from(
    ["D800", "DFFF", "0000", "FFFE", "D83DDE00", "0041", "FEFF", "000A"]), max_size=3)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PAGE, min_size=1, max_size=3), FONT_MAP,
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6))
@example(["Ships sail at dawn."], {"a": "D800"}, [])
def test_random_pdfs_and_damaged_pdfs_load_or_are_unreadable(pages, mapping, flips):
    data = bytearray(pdf_with_cmap(pages[0], mapping) if mapping else make_pdf(pages))
    for at, value in flips:
        data[at % len(data)] = value
    check_loaded("doc.pdf", bytes(data))


def check_spans(text: str) -> None:
    previous_end = 0
    for start, end in sentence_spans(text):
        piece = text[start:end]
        assert previous_end <= start < end <= len(text)
        assert piece == piece.strip() and any(ch.isalnum() for ch in piece)
        previous_end = end


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_the_splitter_takes_any_text(text):
    check_spans(text)


@FAST
@given(TEXT, st.integers(16, 60))
def test_the_chunker_takes_any_text(text, max_tokens):
    doc = Document("d", "x.txt", "/x.txt", "X", text, "f" * 64)
    for c in chunk_document(doc, max_tokens, max_tokens // 4, fits=lambda t: len(t) < 300):
        assert doc.text[c.start:c.end] == c.text and c.sentences
