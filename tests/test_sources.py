from pathlib import Path

import pytest

from rag.sources import Parser, Unreadable, decode, load, load_all, walk

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
