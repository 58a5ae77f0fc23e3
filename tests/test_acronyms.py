"""Acronyms the documents never define nor use, spelled out from the runs of words that spell them."""

from types import SimpleNamespace

import numpy as np
import pytest

from rag.acronyms import runs, spell_out, spelled, written_out
from rag.engine import Engine


class Pages:
    """What ``spell_out`` reads of an index: its passages' text and its per-index cache."""

    def __init__(self, *texts):
        self.chunks = [SimpleNamespace(text=t) for t in texts]
        self.derived = {}

    def cached(self, name, make):
        if name not in self.derived:
            self.derived[name] = make()
        return self.derived[name]


def encoder(cos):
    """A fake embedder: the acronym is [1, 0], a run at cosine c to it is [c, sqrt(1 - c²)]."""
    calls = []

    def encode(texts):
        calls.append(texts)
        return np.array([[1.0, 0.0]] + [[cos.get(t, 0.0), (1 - cos.get(t, 0.0) ** 2) ** 0.5] for t in texts[1:]])
    return encode, calls


def test_runs_spell_by_initials_across_hyphens_and_small_words():
    text = ("Agencies shall adopt multi-factor authentication. Multi-Factor Authentication protects logins. "
            "The Internet of Things grows; endpoint detection and response helps; we've probably noticed it.")
    assert runs([text], "MFA") == [("multi-factor authentication", 2)]
    assert runs([text], "IoT") == [("internet of things", 1)]  # "of" gives the lower-case letter
    assert runs([text], "EDR") == [("endpoint detection and response", 1)]  # "and" may stand between
    assert runs([text], "VPN") == []  # "ve" after an apostrophe starts no word
    assert runs(["confidence in the plan"], "CI") == []  # a small word gives no capital letter


def test_an_acronym_is_spelled_out_when_its_run_is_close_enough():
    pages = Pages("Adopt multi-factor authentication now.", "Use multi-factor authentication.",
                  "Guard vulnerable public networks.", "Build artificial intelligence safely.")
    encode, calls = encoder({"multi-factor authentication": 0.43, "vulnerable public networks": 0.43,
                             "artificial intelligence": 0.79})
    table = spell_out(pages, "Do agencies need MFA, a VPN or AI?", encode, known=set())
    # MFA: 0.43 and written twice; AI: 0.79 written once; VPN: 0.43 written once is chance
    assert table == {"mfa": "multi-factor authentication", "ai": "artificial intelligence"}
    assert spelled(pages) is table and len(calls) == 3
    spell_out(pages, "And MFA, VPN and AI again?", encode, known=set())
    assert len(calls) == 3  # each acronym is looked up once per index, found or not


def test_a_name_whose_capitals_spell_the_acronym_is_its_long_form_whatever_the_cosine():
    pages = Pages("The Director of the Cyber Safety Review Board (Board) and the Software Bill of Materials.",
                  "In the Interest of Time, Internet of Things. The National Cyber Safety Review Board Act.")
    encode, calls = encoder({})  # every run at cosine 0
    table = spell_out(pages, "Who sits on the CSRB, and what is an SBOM, IoT, ISRB, SRB or CSR?", encode, known=set())
    assert table == {"csrb": "Cyber Safety Review Board", "sbom": "Software Bill of Materials"}
    # "Safety Review Board" (SRB) is the tail of a longer name, so CSR and ISRB spell no whole name; an
    # acronym in mixed case (IoT) is left to the cosine ("Interest of Time" spells it too)


def test_a_known_acronym_is_not_spelled_out():
    encode, calls = encoder({"multi-factor authentication": 0.9})
    assert spell_out(Pages("multi-factor authentication"), "Is MFA required?", encode, known={"mfa"}) == {}
    # an acronym that is also a word the index writes is known by its stem: "CHIPS" (BM25 holds "chip")
    assert spell_out(Pages("Creating Helpful Incentives to Produce Semiconductors"), "Is CHIPS law?", encode,
                     known={"chip"}) == {}
    assert calls == []


@pytest.mark.e2e
def test_an_acronym_the_sources_only_spell_out_is_not_called_unknown(sources_index, real_embedder):
    # sources/ says "artificial intelligence" and never "AI": the question is not refused as naming
    # something the sources never mention; "VPN" is still unknown
    engine = Engine(sources_index, real_embedder)
    a = engine.ask("Is there anything about AI in the strategy?")
    assert "never mention" not in a.message and not a.abstained
    assert spelled(engine.index)["ai"] == "artificial intelligence"
    assert "never mention VPN" in engine.ask("Does the strategy say anything about VPN use?").message


@pytest.mark.e2e
def test_an_acronym_the_sources_only_write_out_is_embedded_with_its_long_form(sources_index, real_embedder):
    # sources/ writes "the Joint Ransomware Task Force" and never "JRTF": "JRTF" alone means nothing to the
    # embedding model, so the question was refused as off topic; its vector now holds the long form
    engine = Engine(sources_index, real_embedder)
    a = engine.ask("who does the JRTF help")
    assert not a.abstained, a.message
    assert any("Joint Ransomware Task Force" in s.text for s in a.sentences)
    assert written_out("who does the JRTF help", spelled(engine.index)).endswith("Joint Ransomware Task Force")


@pytest.mark.e2e
def test_a_question_using_the_acronym_gets_the_sentence_that_spells_it_out(corpus_index, real_embedder):
    # the 2021 executive order writes "multi-factor authentication", never "MFA"
    a = Engine(corpus_index, real_embedder).ask("How long do agencies have to adopt MFA and encryption?")
    assert not a.abstained, a.message
    assert a.short_answer is not None and a.short_answer.text == "180 days"
    assert "multi-factor authentication" in a.sentences[0].text


@pytest.mark.e2e
def test_over_the_2021_order_alone_the_csrb_is_its_cyber_safety_review_board(tmp_path, real_embedder, shared_corpus):
    # the order names the "Cyber Safety Review Board (Board)" and never "CSRB"; the acronym's cosine to
    # the name is 0.23 with all-MiniLM-L6-v2, yet the question is not refused as naming something unknown
    from rag.config import Settings
    from rag.indexing import build

    order = next((shared_corpus / "whitehouse-briefings").glob("2021-05-12-executive-order-*.md"))
    settings = Settings(index_dir=str(tmp_path / "index"))
    build([order], settings, real_embedder)
    engine = Engine(settings, real_embedder)
    a = engine.ask("Who picks the CSRB's leaders?")
    assert "never mention" not in a.message
    assert spelled(engine.index)["csrb"] == "Cyber Safety Review Board"
