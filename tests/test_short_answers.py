"""Short answers: what kind of answer a question asks for, the spans of that kind in a sentence, and
which quoted sentence the short answer is cut from. Rules chosen on the train split's short-answer
questions (docs/answers.md); each case below is a made-up sentence, not a train or test question.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rag import entities
from rag.question import analyse
from rag.shortanswer import short_answer


@pytest.mark.parametrize("question, asks", [
    ("Which nation leads the joint team?", "place"),  # a country is a place, not an organisation
    ("which countries is the us helping join nato", "place"),
    ("How often must agencies report progress?", "duration"),
    ("What length of campaign did they announce?", "duration"),
    ("What's the longest a contractor can wait to report a breach?", "duration"),
    ("Which EU agency should others copy?", "organisation"),
    ("which outlet was the reporter with", "organisation"),
    ("Which university's study found that?", "organisation"),
    ("Which cabinet secretary had to publish the definition?", "person"),
    ("At what time did the call begin?", "date"),
    ("What's the yearly deadline for the threat assessment?", "date"),
    ("how much damage did the worm cause", "amount"),
    ("What is the agency's annual budget?", "amount"),
    ("How big is the shortage of workers?", "count"),
    ("Which four areas does the strategy cover?", None),  # still: a count word is not a count question
    ("Who checks? (How long do agencies have to keep logs)", "person"),  # not the context a follow-up carries
])
def test_what_a_question_asks_for(question, asks):
    assert analyse(question).asks == asks


@pytest.mark.parametrize("sentence, kind, spans", [
    ("The Director of CISA shall review the playbook annually.", "person", ["Director of CISA"]),
    ("Secretary of State Antony Blinken spoke.", "person", ["Antony Blinken"]),  # a name beats its office
    ("the Secretary of Commerce, acting through NIST, shall publish it", "person", ["Secretary of Commerce"]),
    ("The country faces a shortage of hundreds of thousands of workers.", "count", ["hundreds of thousands"]),
    ("The worm caused billions of dollars in damage.", "amount", ["billions of dollars"]),
    # a reference to a section, an order or a page is not a count
    ("Sec. 5. Under section 2(b) of Executive Order 14028 (see page 12), 15 members sit on the board.", "count",
     ["15"]),
    # nor is a legal citation or the day of a month
    ("Under section 871 (6 U.S.C. 451) and Public Law 117-263, signed July 26, 2016, 15 members sit.", "count",
     ["15"]),
    # places named in the gazetteer (GeoNames) come first, then those guessed from a preposition; a name of
    # generic words alone ("the United States") is no answer to "which country"
    ("Delegates of the United States, Kenya and Costa Rica met at the Harbour Forum in Lisbon.", "place",
     ["Kenya", "Costa Rica", "Lisbon", "Harbour Forum"]),
    ("Envoys flew in from Norway.", "place", ["Norway"]),
    # a person after "to" is still a person; a place is not a person
    ("Questions can go to Dana Whitfield at the press office.", "person", ["Dana Whitfield"]),
    ("Envoys from Costa Rica arrived.", "person", []),
    # the tail of a title-cased phrase is no one's name, unless a title comes before it
    ("It builds on the memo on Critical Infrastructure Control Systems and more.", "person", []),
    ("It was signed by Port Director Maria Okafor and Dana Whitfield.", "person", ["Maria Okafor", "Dana Whitfield"]),
    ("The call began at 4:30 P.M. EDT sharp.", "date", ["4:30 P.M. EDT"]),
    ("Losses reached billions of U.S. dollars a year.", "amount", ["billions of U.S. dollars"]),
    ("Warming must stay below 2 degrees Celsius.", "amount", ["2 degrees Celsius"]),
    ("The files stay sealed until 6:00 a.m. on Friday, June 3rd.", "date", ["6:00 a.m.", "Friday, June 3rd"]),
    # a name with its acronym is one short answer, right whether the reader knows the name or the acronym
    ("Reports go to the Harbour Safety Agency (HSA) and then to DOT.", "organisation",
     ["Harbour Safety Agency (HSA)", "DOT"]),
])
def test_spans_of_each_kind(sentence, kind, spans):
    assert [m.text for m in entities.find(sentence, kind)] == spans


def _fake(sentences: list[str], long_forms: dict[str, str] | None = None):
    """An index of one document whose sentences are ``sentences``, each quoted with its own citation, and
    whose documents spell out the acronyms ``long_forms``."""
    text, sents = "", []
    for s in sentences:
        sents.append(SimpleNamespace(text=s, start=len(text)))
        text += s + " "
    index = SimpleNamespace(sentence=lambda r: (None, sents[r]), cached=lambda name, make: long_forms or {})
    answer = SimpleNamespace(citations=[SimpleNamespace(start=s.start, n=i + 1) for i, s in enumerate(sents)])
    return index, answer, text


def test_the_short_answer_comes_from_the_quoted_sentence_that_repeats_the_question():
    index, answer, text = _fake([
        "Within 1 year, agencies shall recommend contract language to the FAR Council.",
        "Within 270 days, NIST shall identify criteria for a consumer labeling program for IoT devices.",
    ])
    info = analyse("How long did NIST have to come up with a consumer label for smart devices?")
    short = short_answer(index, info, [SimpleNamespace(rows=[0, 1])], answer)
    assert short is not None and short.text == "270 days" and short.citation == 2
    assert text[short.start:short.end] == "270 days"


def test_a_span_the_question_already_names_is_not_the_answer_and_none_is_given_when_unsure():
    index, answer, _ = _fake(["Maria Okafor met Jon Reyes in Antwerp."])
    short = short_answer(index, analyse("Who did Maria Okafor meet?"), [SimpleNamespace(rows=[0])], answer)
    assert short is not None and short.text == "Jon Reyes"
    assert short_answer(index, analyse("How long did it take?"), [SimpleNamespace(rows=[0])], answer) is None
    # "who is <name>?" asks what that person is: another name is no answer
    assert short_answer(index, analyse("who is maria okafor"), [SimpleNamespace(rows=[0])], answer) is None


@pytest.mark.parametrize("sentence, question, short", [
    # "where" takes the place the thing happened in; "which country" the country
    ("Envoys of Kenya and Peru attended the port summit in Lisbon.", "Where was the port summit held?", "Lisbon"),
    ("Envoys of Kenya and Peru attended the port summit in Lisbon.",
     "Which country's envoys attended the port summit?", "Kenya"),
    # a question asking for several gets the whole enumeration, one asking for one the first
    ("Envoys of Kenya, Peru and Chile attended the summit in Lisbon.", "Which countries sent envoys to the summit?",
     "Kenya, Peru and Chile"),
    ("Envoys of Kenya, Peru and Chile attended the summit in Lisbon.", "Which country sent an envoy to the summit?",
     "Kenya"),
    # "what conference" takes the event with its event word, not the city it was held in
    ("It was unveiled at the RSA cybersecurity conference in San Francisco.", "what conference was it unveiled at",
     "RSA cybersecurity conference"),
    # a name asked for: the document's full title, or a quoted nickname; no capitalised heading or office
    ("At the summit, the Port Office launched the Harbor Digital Resilience Plan: Toward a Safer Coast, with partners.",
     "what is the plan called", "Harbor Digital Resilience Plan: Toward a Safer Coast"),
    ("The governor flew on a small plane nicknamed the “Blue Heron” that summer.", "what was the plane called",
     "Blue Heron"),
    # "who is the <title>?" takes the name beside the title's words
    ("We hear from Harbour Director Ana Silva and the Deputy Port Advisor for Safety, Jon Reyes.",
     "who is the deputy port advisor for safety", "Jon Reyes"),
    # "who <verb>" takes the subject or the "by" agent of that verb
    ("Today, the United States with 12 partners from the region launched the harbor pact.",
     "who launched the harbor pact", "the United States"),  # a country did it, past a "with" phrase
    ("During the RSA conference, the State Department launched the plan.", "Who launched the plan?",
     "State Department"),
    ("The plan was drafted by the Port Authority after talks with the FBI.", "Who drafted the plan?", "Port Authority"),
    # ... and that doer beats a person-like phrase: "the President’s Budget Request" is no one's name
    ("The Harbour Office will coordinate the plan and align it with the President’s Budget Request.",
     "who coordinates the plan", "Harbour Office"),
    # an event is no organisation ("the RSA conference"), nor is an acronym the documents spell out as no
    # organisation ("EO": Executive Order); a name holding the question's own acronym restates it
    ("At the RSA conference, the plan was unveiled under EO 14028 with the FBI.", "Who unveiled the plan?", "FBI"),
    ("At the RSA cybersecurity conference, the FBI unveiled the plan.", "Who wrote the plan?", "FBI"),
    ("The Harbour Safety Office (HSO) reports to the Port Council.", "who runs the HSO", "Port Council"),
    # ... and so does a name whose words the question holds, in any case
    ("The Port Safety Task Force (PSTF), co-chaired by the Harbour Office, meets weekly.",
     "who runs the port safety task force", "Harbour Office"),
    # "by when" takes a time limit as readily as a date: the first of either
    ("Within 1 year of the order of May 12, 2021, the Port Council shall set up an office.",
     "By when must the Port Council set up the office?", "1 year"),
    ("The order of May 12, 2021 gives the Port Council 1 year to set up an office.",
     "By when must the Port Council set up the office?", "May 12, 2021"),
    # "how many X?" takes the number that counts X, not one before a verb ("Eighteen agencies are leading X")
    ("Eighteen agencies are leading initiatives; the plan details more than 65 high-impact Federal initiatives.",
     "how many initiatives are in the plan?", "65"),
])
def test_which_span_of_the_sentence_is_the_short_answer(sentence, question, short):
    index, answer, text = _fake([sentence], {"eo": "Executive Order", "hso": "Harbour Safety Office",
                                        "pstf": "Port Safety Task Force"})
    got = short_answer(index, analyse(question), [SimpleNamespace(rows=[0])], answer)
    assert got is not None and got.text == short
    assert text[got.start:got.end] == short


def test_a_sentence_opening_preposition_is_no_part_of_a_name():
    found = entities.find("Through the Port Safety Task Force, co-chaired by the FBI, ships report.", "organisation")
    assert [m.text for m in found] == ["Port Safety Task Force", "FBI"]


def test_a_which_outlet_question_is_answered_by_a_bare_proper_name():
    # "Politico" has no organisation word; the sentence holds what the question asks for
    q = "which outlet was the reporter with"
    assert entities.has("Next question, from Dana Reyes with Politico.", "organisation", q)
    assert not entities.has("Next question, from the reporter on the line.", "organisation", q)
    assert not entities.has("The question came from the Federal line.", "organisation", q)  # a generic word


def test_countries_named_one_after_another_are_places_without_a_preposition():
    # "Those endorsing the Declaration include Albania, ...": no "in" or "at" before them, yet places; one
    # country alone still needs its preposition (the selector was fitted so)
    assert "place" in entities.kinds_in("Those endorsing it include Albania, Andorra, Argentina and Chile.")
    assert "place" not in entities.kinds_in("Albania endorsed it.")
    # examples ("like", "such as") name places as a preposition does
    assert "place" in entities.kinds_in("Amid threats from state actors like Russia and China, it acts.")
    assert "place" in entities.kinds_in("Help went to victims such as Costa Rica.")


def test_a_heading_in_capitals_or_an_office_is_no_title():
    assert entities.find("SENIOR ADMINISTRATION OFFICIAL: So, I think we start.", "title") == []
    assert entities.find("We hear from Deputy Port Director Ana Silva today.", "title") == []
    assert entities.find("Harbor Safety Board met today.", "title") == []  # three words, not quoted



@pytest.mark.e2e
def test_the_name_of_the_strategy_is_its_title_in_the_sources(sources_index, real_embedder):
    from rag.engine import Engine

    a = Engine(sources_index, real_embedder).ask("what is the strategy called")
    assert not a.abstained, a.message
    assert a.short_answer is not None
    assert a.short_answer.text.startswith("United States International Cyberspace and Digital Policy Strategy: Toward")
    doc = next(c.doc_id for c in a.citations if c.n == a.short_answer.citation)
    text = Engine(sources_index, real_embedder).index.document(doc).text
    assert text[a.short_answer.start:a.short_answer.end] == a.short_answer.text


@pytest.mark.e2e
def test_countries_given_as_examples_answer_which_countries(sources_index, real_embedder):
    # "state actors like Russia and China": no "in" or "at" before them, and the question was refused as
    # "no passage gives a place"
    from rag.engine import Engine

    engine = Engine(sources_index, real_embedder)
    a = engine.ask("which countries are criticized in the strategy?")
    assert not a.abstained, a.message
    assert a.short_answer is not None and a.short_answer.text == "Russia and China"
    # the best unit's places, though a second quoted unit names Russia and China first in reading order
    a = engine.ask("which countries has the US helped after attacks")
    assert a.short_answer is not None and a.short_answer.text == "Ukraine, Costa Rica, and Albania", a.short_answer


def test_a_class_of_actors_answers_who_will_but_not_who_is():
    # "who will the port work with?": "allies, partners and shipping firms" answers it without a name; "who
    # is the harbour master?" asks for one; and the question's own class restates it
    sentence = "The port will work with allies, partners and shipping companies."
    assert entities.has(sentence, "person", "who will the port work with")
    assert not entities.has(sentence, "person", "who is the harbour master")
    assert not entities.has("The port will work with partners.", "person", "who are the partners")
