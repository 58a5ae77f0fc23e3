from pathlib import Path

import pytest

from rag.sources import Parser, Unreadable, decode, load, load_all, walk

from .badfiles import TRUNCATED_UTF16, html_table, surrogate_pdf
from .conftest import DATA, SOURCES
from .pdfgen import make_pdf

MINI = DATA / "mini"


def test_markdown_front_matter_goes_to_metadata_not_text():
    doc = load(MINI.resolve(), (MINI / "plan.md").resolve())
    assert doc.title == "The Garden Plan"
    assert doc.meta == {"date": "2024-05-01", "url": "https://example.org/garden"}
    assert "source_url" not in doc.text and "---" not in doc.text
    assert "**" not in doc.text and "approved the plan in April." in doc.text
    assert "1. Plant tomatoes in the south bed;" in doc.text


def test_html_keeps_visible_text_only():
    doc = load(MINI.resolve(), (MINI / "birds.html").resolve())
    assert doc.title == "Birds of the Coast"
    assert "Puffins nest on coastal cliffs" in doc.text
    assert "secret" not in doc.text and "color" not in doc.text


def test_pdf_text_per_page(tmp_path):
    (tmp_path / "two.pdf").write_bytes(make_pdf(["Lighthouses guide ships.", "The harbour master keeps the log."]))
    doc = load(tmp_path, tmp_path / "two.pdf")
    assert doc.title == "Two"
    assert doc.pages[0] == 0
    assert doc.page_at(doc.text.index("harbour")) == 2
    assert doc.page_at(doc.text.index("Lighthouses")) == 1


def test_sources_are_the_shared_files_byte_for_byte():
    shared = SOURCES.parent.parent / "shared" / "sources"
    if not shared.is_dir():
        pytest.skip("../shared/sources is absent")
    for f in shared.iterdir():
        assert (SOURCES / f.name).read_bytes() == f.read_bytes()


@pytest.mark.parametrize("name, content, reason", [
    ("empty.txt", b"", "empty file"),
    ("blank.md", b"  \n\n", "empty file"),
    ("binary.txt", b"\x00\x01\x02\x03binary", "binary"),
    ("broken.pdf", b"%PDF-1.4\n1 0 obj <<", "PDF"),
    ("fake.pdf", b"just text, not a pdf", "PDF"),
    ("image.png", b"\x89PNG....", "unsupported type"),
])
def test_unreadable_files_are_skipped_with_a_reason(tmp_path, name, content, reason):
    (tmp_path / name).write_bytes(content)
    (tmp_path / "good.txt").write_text("A readable sentence about ships.")
    docs, skipped = load_all([tmp_path])
    assert [d.source for d in docs] == ["good.txt"]
    assert len(skipped) == 1 and skipped[0].path.endswith(name)
    assert reason in skipped[0].reason


def test_decoding_latin1_and_utf16():
    assert decode("naïve café".encode("latin-1")) == "naïve café"
    assert decode("hello wörld".encode("utf-16")) == "hello wörld"
    assert decode("\ufeffbom".encode("utf-8")) == "bom"
    with pytest.raises(Unreadable):
        decode(b"\x00\x00\x00 binary")


def test_walk_is_recursive_sorted_and_ignores_links_out_and_loops(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "deep.txt").write_text("Deep text here.")
    (tmp_path / "z.txt").write_text("Top text here.")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text("Secret outside text.")
    (tmp_path / "link.txt").symlink_to(outside)
    (tmp_path / "a" / "loop").symlink_to(tmp_path / "a")
    files = [p.relative_to(tmp_path).as_posix() for _, p in walk([tmp_path])]
    assert files == ["link.txt", "z.txt", "a/b/deep.txt"], "each folder's files sorted, loop cut"
    docs, skipped = load_all([tmp_path])
    assert {d.source for d in docs} == {"a/b/deep.txt", "z.txt"}
    assert any("outside" in s.reason for s in skipped)


def test_a_single_file_can_be_a_root(tmp_path):
    f = tmp_path / "one.txt"
    f.write_text("Only one file.")
    docs, _ = load_all([f])
    assert docs[0].source == "one.txt"
    assert Path(docs[0].path) == f.resolve()


def test_parsing_is_bounded_in_time(tmp_path):
    (tmp_path / "big.html").write_text("<p>" + "word " * 200_000 + "</p>")
    with Parser(seconds=0.05) as parse:
        with pytest.raises(Unreadable, match="longer than"):
            load(tmp_path, tmp_path / "big.html", parse=parse)
        (tmp_path / "small.md").write_text("Still works after a timeout.")
        assert load(tmp_path, tmp_path / "small.md", parse=parse).text == "Still works after a timeout."


def test_files_over_the_size_limit_are_skipped(tmp_path):
    (tmp_path / "huge.txt").write_text("x" * 2048)
    docs, skipped = load_all([tmp_path], max_bytes=1024)
    assert not docs and "too large" in skipped[0].reason


# --- one file's content never stops a build (issue 12, findings 2, 4 and 5) ---------------------------

def test_a_truncated_utf16_file_is_skipped_with_a_reason(tmp_path):
    (tmp_path / "bom.txt").write_bytes(TRUNCATED_UTF16)
    (tmp_path / "good.txt").write_text("A readable sentence about ships.")
    docs, skipped = load_all([tmp_path])
    assert [d.source for d in docs] == ["good.txt"]
    assert [s.path.split("/")[-1] for s in skipped] == ["bom.txt"] and "UTF-16" in skipped[0].reason


def test_a_pdf_extracting_lone_surrogates_is_read_as_valid_unicode(tmp_path):
    (tmp_path / "odd.pdf").write_bytes(surrogate_pdf())
    docs, skipped = load_all([tmp_path])
    assert not skipped and len(docs) == 1
    text = docs[0].text
    text.encode("utf-8")  # a lone surrogate would raise here (and in the model's tokenizer)
    assert "Hell\ufffd w\ufffdrld." in text and "Ships sail at dawn." in text


def test_any_exception_of_a_parser_is_a_skip_not_a_crash(tmp_path):
    (tmp_path / "a.md").write_text("Some text.")

    def explode(*args):
        raise RecursionError("maximum recursion depth exceeded")

    with pytest.raises(Unreadable, match="RecursionError"):
        load(tmp_path, tmp_path / "a.md", parse=explode)


def test_sentence_splitting_runs_inside_the_bounded_worker(tmp_path):
    """A .txt used to be decoded in the build's own process and split there, outside any bound."""
    (tmp_path / "one-paragraph.txt").write_text("Dr. Smith met Mr. Jones at 9 a.m. in the U.S. lab. " * 60_000)
    with Parser(seconds=0.05) as parse:
        with pytest.raises(Unreadable, match="longer than"):
            load(tmp_path, tmp_path / "one-paragraph.txt", parse=parse)


def test_the_worker_returns_sentences_and_their_token_counts(tmp_path):
    from rag.sources import read

    (tmp_path / "a.md").write_text("# Title\n\nOne fish. Two fish.\n")
    with Parser() as parse:
        doc, spans = read(tmp_path, tmp_path / "a.md", parse=parse)
    assert [doc.text[s:e] for s, e, _ in spans] == ["Title", "One fish.", "Two fish."]
    assert [int(n) for _, _, n in spans] == [1, 3, 3]


def test_extracted_text_over_the_limit_is_skipped_not_truncated(tmp_path):
    (tmp_path / "table.html").write_text(html_table(1000))  # 31 KB of HTML, 2 MB of text
    (tmp_path / "good.txt").write_text("A readable sentence about ships.")
    docs, skipped = load_all([tmp_path], max_chars=1_000_000)
    assert [d.source for d in docs] == ["good.txt"]
    assert "2,006,003 characters of text" in skipped[0].reason and "RAG_MAX_TEXT_CHARS" in skipped[0].reason
    docs, skipped = load_all([tmp_path], max_chars=3_000_000)
    assert len(docs) == 2 and not skipped
