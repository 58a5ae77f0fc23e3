import pytest

from rag.engine import Engine, clean_question
from rag.indexing import build

from .conftest import FAKE_FRIENDLY, mini_index
from .damage import DAMAGES


@pytest.fixture
def engine(tmp_path, fake_embedder):
    # the hand-set composer of rag/answer.py (the learned one is tested in test_selector.py)
    return Engine(mini_index(tmp_path, fake_embedder, abstain_below=0.3, **FAKE_FRIENDLY), fake_embedder)


def check_integrity(engine, answer):
    for c in answer.citations:
        doc = engine.index.document(c.doc_id)
        assert doc.text[c.start:c.end] == c.quote
        assert doc.text[c.passage_start:c.passage_end] == c.passage
        assert c.passage_start <= c.start < c.end <= c.passage_end
        assert " ".join(c.quote.split()) in answer.answer


def test_answer_is_copied_and_cited(engine):
    a = engine.ask("How long does a cat sleep a day?")
    assert not a.abstained
    assert "A cat sleeps for about sixteen hours a day. [1]" in a.answer
    check_integrity(engine, a)
    assert a.citations[0].source == "animals.txt" and a.citations[0].n == 1
    assert set(a.timings_ms) == {"embed", "retrieve", "compose", "total"}


def test_lists_stay_whole(engine):
    a = engine.ask("What are the three goals of the plan?")
    assert not a.abstained
    for item in ("1. Plant tomatoes", "2. Build a compost heap", "3. Water the roses"):
        assert item in a.answer
    assert a.answer.index("three goals") < a.answer.index("1. Plant") < a.answer.index("3. Water")
    check_integrity(engine, a)


def test_citation_numbers_count_per_answer_by_passage(engine):
    a = engine.ask("cats dogs wolves domesticated")
    ns = [s.citation for s in a.sentences]
    assert ns[0] == 1 and sorted(set(ns)) == list(range(1, len(set(ns)) + 1))
    for s, c in zip(a.sentences, a.citations):
        assert s.citation == c.n


def test_unrelated_question_abstains_with_closest_passages(engine):
    a = engine.ask("quantum chromodynamics lattice gauge")
    assert a.abstained and a.citations == () and a.answer == ""
    assert a.message == "The sources don't answer this."


@pytest.mark.parametrize("question", ["", "   ", "?!...", "x" * 100_000, "\ud800", None])
def test_bad_questions_get_a_message_not_an_error(engine, question):
    a = engine.ask(question)
    assert a.abstained and a.message and not a.citations


def test_question_cleaning():
    assert clean_question("who\u0000 leads\tit?", 100) == ("who leads it?", "")
    assert "characters" in clean_question("a" * 101, 100)[1]
    assert clean_question("caf\ud800é?", 100)[0] == "caf?é?"


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_every_mode_finds_the_albatross(engine, mode):
    a = engine.ask("Which bird has the longest wingspan?", mode=mode)
    assert any("albatross" in h.chunk.text for h in a.retrieved[:2])


def test_a_name_the_sources_never_mention_abstains(engine):
    a = engine.ask("What did Zebulon Quibble say about cats sleeping?")
    assert a.abstained and "Zebulon" in a.message and "Quibble" in a.message


def test_a_count_question_without_a_number_in_the_sources_abstains(engine):
    a = engine.ask("How much funding does the garden plan get?")
    assert a.abstained and "amount of money" in a.message


def test_the_engine_picks_up_a_build_published_by_another_process(engine, fake_embedder, tmp_path, monkeypatch):
    old = engine.index.index_id
    (tmp_path / "src" / "otters.txt").write_text("Otters hold hands while they sleep.")
    build([tmp_path / "src"], engine.settings, fake_embedder)
    monkeypatch.setattr(engine, "_checked", 0.0)
    assert engine.index.index_id != old
    assert "Otters" in engine.ask("What do otters do while they sleep?").answer


def test_the_engine_keeps_its_index_when_the_new_one_is_broken(engine, fake_embedder, tmp_path, monkeypatch):
    from rag import store

    old = engine.index.index_id
    (tmp_path / "src" / "otters.txt").write_text("Otters hold hands while they sleep.")
    build([tmp_path / "src"], engine.settings, fake_embedder)
    DAMAGES["truncated FAISS file"](store.current_build(engine.settings.index_dir))
    monkeypatch.setattr(engine, "_checked", 0.0)
    assert engine.index.index_id == old and "FAISS" in engine.refused
    assert not engine.ask("How long does a cat sleep a day?").abstained
