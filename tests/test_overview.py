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


@pytest.mark.e2e
def test_a_first_question_about_it_is_about_the_main_document(sources_index, real_embedder):
    # "what's it called?" opening a chat over sources/ was refused as far from every passage: "it" is the
    # longest document in scope, the State Department's release, whose name the answer quotes
    engine = Engine(sources_index, real_embedder)
    a = engine.ask("what's it called?")
    assert a.understood_as == "what's it called? (the International Cyberspace Strategy)"
    assert not a.abstained and "International Cyberspace and Digital Policy Strategy" in a.answer
    assert engine.ask("what's it called?", sources=[BLINKEN]).understood_as == \
        "what's it called? (the international cyber strategy)"  # the longest document asked about
    for question in ("what does it say about China?", "OT vs IT", "is it true that CISA leads?", "what is this about?"):
        assert engine.ask(question).understood_as is None, question  # a name of its own, an acronym, no subject
