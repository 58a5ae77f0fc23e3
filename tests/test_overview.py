"""A question about the sources as a whole is answered with how the documents begin, each cited."""

import pytest

from rag.engine import Engine

BLINKEN = "blinken-announces-international-cyber-strategy.txt"


@pytest.mark.e2e
def test_what_is_this_about_quotes_how_each_document_begins(sources_index, real_embedder):
    engine = Engine(sources_index, real_embedder)
    a = engine.ask("what is this about?")
    assert not a.abstained, a.message
    assert [s.text[:30] for s in a.sentences] == ["During the RSA conference, in ", "U.S. Secretary of State Antony"]
    for c in a.citations:  # each sentence is a verbatim span of its document
        assert engine.index.document(c.doc_id).text[c.start:c.end] == c.quote
        assert " ".join(c.quote.split()) in a.answer


@pytest.mark.e2e
def test_an_overview_keeps_to_the_documents_asked_about(sources_index, real_embedder):
    a = Engine(sources_index, real_embedder).ask("Summarize", sources=[BLINKEN])
    assert [c.source for c in a.citations] == [BLINKEN]
    assert a.sentences[0].text.startswith("U.S. Secretary of State Antony Blinken recently announced")


@pytest.mark.e2e
def test_a_summary_of_something_named_is_searched_as_usual(sources_index, real_embedder):
    a = Engine(sources_index, real_embedder).ask("summarize the four areas of action")
    assert any(s.text.startswith("Four areas of action") for s in a.sentences)
