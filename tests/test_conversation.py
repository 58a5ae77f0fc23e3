"""Follow-ups → standalone questions (rag.conversation), and the engine answering them."""

from __future__ import annotations

import pytest

from rag.conversation import Resolved, resolve
from rag.engine import Engine

AREAS_ANSWER = ("Four areas of action: [1]\n"
                "1. Promote, build and maintain an open, inclusive, secure and resilient digital ecosystem; [1]\n"
                "2. Align rights-respecting approaches to digital and data governance with international "
                "partners; [1]\n"
                "3. Advancing responsible state behavior in cyberspace, and countering threats to cyberspace and "
                "critical infrastructure by building coalitions and engaging partners; And [1]\n"
                "4. Strengthen and build international partner digital and cyber capacity, including the ability to "
                "combat cybercrime. [1]")
STATE_TITLE = ("Release of United States’ International Cyberspace and Digital Policy Strategy – United States "
               "Department of State")
AREAS = {"question": "What are the four areas of action?", "answer": AREAS_ANSWER,
         "citations": [{"n": 1, "title": STATE_TITLE, "source": "state-department.txt"}]}
BLINKEN = {"question": "Who announced the strategy?",
           "answer": "U.S. Secretary of State Antony Blinken recently announced a new international cyber strategy "
                     "aimed at ensuring a secure, open, and vibrant technological future. [1]",
           "citations": [{"n": 1, "title": "Blinken announces international cyber strategy"}]}


PILLARS = {"question": "What are the five pillars?",
           "answer": "This Strategy seeks to build and enhance collaboration around five pillars: [1]\n"
                     "1. Defend Critical Infrastructure [1]\n2. Disrupt and Dismantle Threat Actors [1]\n"
                     "3. Shape Market Forces [1]\n4. Invest in a Resilient Future [1]\n"
                     "5. Forge International Partnerships [1]"}


def understood(question: str, *turns: dict) -> str | None:
    return resolve(question, list(turns)).understood_as


@pytest.mark.parametrize("question, turns, expected", [
    # pronoun: a plural topic cannot be "it", so "it" is what the cited document is about
    ("Who announced it?", [AREAS], "Who announced the International Cyberspace Strategy?"),
    ("What are they meant to achieve?", [AREAS], "What are the four areas of action meant to achieve?"),
    ("What does it rest on?", [{"question": "What is digital solidarity?"}], "What does digital solidarity rest on?"),
    ("Where did he announce it?", [BLINKEN],
     "Where did U.S. Secretary of State Antony Blinken announce the strategy?"),
    ("When was it passed?", [{"question": "How quickly must they report incidents under CIRCIA?",
                              "understood_as": "How quickly must critical infrastructure report incidents under "
                                               "CIRCIA?"}, {"question": "What is CIRCIA?"}][::-1],
     "When was CIRCIA passed?"),
    ("Who leads that task force?", [{"question": "What is the Joint Ransomware Task Force?"}],
     "Who leads the Joint Ransomware Task Force?"),
    # a list item named by number, with or without the list's noun
    ("and the second area?", [AREAS], "What is the second area of action: Align rights-respecting approaches to "
                                      "digital and data governance with international partners?"),
    ("what about the last one?", [AREAS], "What is the fourth area of action: Strengthen and build international "
                                          "partner digital and cyber capacity, including the ability to combat "
                                          "cybercrime?"),
    ("Who is responsible for number 3?", [AREAS],
     "Who is responsible for the third area of action (Advancing responsible state behavior in cyberspace, and "
     "countering threats to cyberspace and critical infrastructure by building coalitions and engaging partners)?"),
    # "what about X": the previous question, asked about X
    ("What about Russia?", [{"question": "How does the strategy describe the cyber threat from China?"}],
     "How does the strategy describe the cyber threat from Russia?"),
    ("what about the guiding principles?", [AREAS], "What are the guiding principles?"),
    ("what about digital solidarity?", [AREAS], "What is digital solidarity?"),
    ("and for fiscal 2022 alone?", [{"question": "How much money is in the State and Local Cybersecurity Grant "
                                                 "Program?"}],
     "How much money is in the State and Local Cybersecurity Grant Program for fiscal 2022 alone?"),
    ("And who calls it together?", [{"question": "What is the Cyber Safety Review Board meant to review?"}],
     "Who calls the Cyber Safety Review Board together?"),
    # a fragment after a question asked with a topic rewrites the question, and the topic stays
    ("and initiatives?", [{"question": "how many agencies are involved",
                           "understood_as": "How many agencies are involved? (Who coordinates the plan)"}],
     "How many initiatives are involved? (Who coordinates the plan)"),
    # a bare question word after one asked with a topic is asked with that topic, not nested in it
    ("when?", [{"question": "where?", "understood_as": "Where? (What did Blinken announce)"}],
     "When? (What did Blinken announce)"),
    # "is that all?" asks what else the sources say about the topic
    ("is that all?", [{"question": "what does the strategy say about human rights"}],
     "What else? (what does the strategy say about human rights)"),
    # asking for an example is asking about the topic
    ("give me an example", [{"question": "What is digital solidarity?"}], "Examples? (What is digital solidarity)"),
    ("like what?", [{"question": "what threats are mentioned"}], "Examples? (what threats are mentioned)"),
    # an ordinal alone after a question naming one by its ordinal: that question with the new ordinal
    ("what about the fifth?", [{"question": "tell me about the third pillar of the cyber strategy"}],
     "tell me about the fifth pillar of the cyber strategy"),
    # one word in place of the first word of the previous question's compound ("the energy sector")
    ("and water?", [{"question": "Who leads the energy sector under NSM-22?"}],
     "Who leads the water sector under NSM-22?"),
    ("what about resilient?", [{"question": "What does a 'defensible' digital ecosystem mean?"}],
     "What does a 'resilient' digital ecosystem mean?"),
    # "they" after the same question asked about two things: both
    ("what do they want", [{"question": "what does the strategy say about China"},
                           {"question": "and russia?", "understood_as": "what does the strategy say about russia"}],
     "What do China and russia want"),
    # ... or three, when each was asked with the same words around it
    ("what do they have in common",
     [{"question": "what does the strategy say about russia"},
      {"question": "and iran?", "understood_as": "what does the strategy say about iran"},
      {"question": "and north korea?", "understood_as": "what does the strategy say about north korea"}],
     "What do russia, iran and north korea have in common"),
    # the previous answer's subject comes after an opening prepositional phrase
    ("What do they want?", [{"question": "What does the strategy highlight?",
                             "answer": "Amid growing risks, state actors like Russia and China highlight defence."}],
     "What do state actors want?"),
    ("What do they want?", [{"question": "What does the strategy highlight?",
                             "answer": "Amid ongoing cyber threats from Russia, the strategy highlights defence."}],
     "What do they want? (What does the strategy highlight)"),
    # "which one" with no list in the answer: which of the plural topic
    ("which one is about human rights", [{"question": "what are the goals of the strategy",
                                          "answer": "The strategy delineates four primary goals: advancing economic "
                                                    "prosperity and promoting human rights. [1]"}],
     "Which of the goals of the strategy is about human rights"),
    # ... and "which ones?" after a count of a bare plural: which of those, asked with that question
    ("which ones?", [{"question": "how many countries signed the declaration"}],
     "Which countries? (how many countries signed the declaration)"),
    # a compound without a determiner is replaced whole: "human rights" is no "X rights"
    ("and cybercrime?", [{"question": "which one is about human rights"}], "which one is about cybercrime"),
    # "that" said: the previous answer's statement, asked with the previous question
    ("who said that", [{"question": "what did blinken say about partners", "answer": "Partners matter. [1]"}],
     "Who said that? (what did blinken say about partners)"),
    # a list whose lead is a whole sentence takes its noun from the count before the colon or the question
    ("tell me about pillar 3", [PILLARS], "tell me about the third pillar (Shape Market Forces)"),
    ("who is responsible for that", [PILLARS, {"question": "tell me about pillar 3",
                                               "understood_as": "tell me about the third pillar (Shape Market "
                                                                "Forces)"}],
     "Who is responsible for the third pillar (Shape Market Forces)"),
    # "what about X" after a verb the lexicon lacks and a country in lower case: the country is replaced
    ("what about russia", [{"question": "what does the US fault china for"}], "what does the US fault russia for"),
    ("what about China", [{"question": "How does the US work with allies?"}], "How does the US work with China?"),
    # a country in lower case is a name: it replaces a name, not the first word of a compound
    ("what about russia", [{"question": "How does China threaten the energy sector"}],
     "How does russia threaten the energy sector"),
    # an ordinal after a possessive still names an item of the list
    ("what does the strategy's second pillar cover", [PILLARS],
     "what does the strategy's second pillar (Disrupt and Dismantle Threat Actors) cover"),
    # a pronoun means the previous question's own noun before the topic it was asked with, and a rewrite
    # too short to search alone keeps that topic
    ("list them", [{"question": "how many pages is the strategy"}, {"question": "and how many goals",
                    "understood_as": "How many goals? (how many pages is the strategy)"}],
     "List goals? (how many pages is the strategy)"),
    # "do that" stands for the previous question's action: asked with it, its pronouns left alone
    ("how will they do that", [{"question": "what are the goals of the strategy"}],
     "How will they do that? (what are the goals of the strategy)"),
    # after "which agencies ...?" an organisation replaces no phrase that is not one: it is asked with the
    # previous question; elsewhere it replaces the last phrase as any fragment does
    ("what about the defense department", [{"question": "which agencies must adopt zero trust"}],
     "which agencies must adopt zero trust: the defense department?"),
    ("what about the FBI",
     [{"question": "by when?", "understood_as": "By when — Which agencies must adopt zero trust"}],
     "By when — Which agencies must adopt zero trust: the FBI?"),
    ("what about the task force", [{"question": "what does the strategy say about ransomware"}],
     "what does the strategy say about the task force"),
    # an organisation keeps the previous question's possessive: "the state department's role"
    ("and the white house?", [{"question": "what is the state department's role"}], "what is the white house's role"),
    # "any X?" with no verb of its own asks about the conversation's topic
    ("any examples?", [{"question": "explain the third goal"}], "Any examples? (explain the third goal)"),
    # a pronoun replaced by a topic the rewrite already holds needs no parenthesis
    ("who leads it?", [{"question": "what is CISA"}], "Who leads CISA?"),
    # a pronoun replaced by one bare word keeps the question it came from
    ("was russia one of them?", [{"question": "how many countries signed it",
                                  "understood_as": "How many countries signed the declaration"}],
     "Was russia one of countries? (How many countries signed the declaration)"),
    # an ordinal after a possessive is no list item: "its first review" is the board's
    ("what was its first review about", [{"question": "who is on the cyber safety review board"}],
     "What was the cyber safety review board’s first review about"),
    # "that" after "what does X say about Y?" is Y; "why is that?" asks about the previous answer
    ("who is in charge of that", [{"question": "what does the strategy say about ransomware"}],
     "Who is in charge of ransomware? (what does the strategy say about ransomware)"),
    ("why is that?", [{"question": "what are the goals"}], "Why is that? (what are the goals)"),
    # a bare question word
    ("Why?", [{"question": "What does digital solidarity rest on?"}], "Why? (What does digital solidarity rest on)"),
    # a question word with a noun and no verb of its own
    ("how many members?", [{"question": "What is the Cyber Safety Review Board?"}],
     "How many members? (What is the Cyber Safety Review Board)"),
    ("and which agency?", [{"question": "Who leads the energy sector?"}],
     "Which agency? (Who leads the energy sector)"),
    # a last "one" standing for a noun
    ("who has to provide one?", [{"question": "What is an SBOM?"}], "Who has to provide an SBOM?"),
    # ... not a predicate adjective of an earlier question ("why is it important" holds no noun)
    ("who has to provide one?", [{"question": "What is an SBOM?"}, {"question": "why is it important",
                                  "understood_as": "Why is it important? (What is an SBOM)"}],
     "Who has to provide an SBOM?"),
    ("who has to adopt it?", [{"question": "what is zero trust"},
                              {"question": "is it mandatory", "understood_as": "Is zero trust mandatory"}],
     "Who has to adopt zero trust?"),
    # one list item quoted alone is no list: "the last" is the last of the list before it
    ("and the last?", [AREAS, {"question": "tell me more about the second one",
                               "answer": "2. Align rights-respecting approaches to digital and data governance "
                                         "with international partners; [1]"}],
     "What is the fourth area of action: Strengthen and build international partner digital and cyber capacity, "
     "including the ability to combat cybercrime?"),
    # a thing replaces a thing of the same number, not a name, and keeps what it was "of"
    ("how about the pillars?", [{"question": "What are the two fundamental shifts in the 2023 National "
                                             "Cybersecurity Strategy?"}],
     "What are the pillars in the 2023 National Cybersecurity Strategy?"),
    ("and the goals?", [{"question": "what are the principles of the strategy?"}],
     "what are the goals of the strategy?"),
    ("and initiatives?", [{"question": "How many agencies are involved in the plan?"}],
     "How many initiatives are involved in the plan?"),
    ("and phishing?", [{"question": "What does the strategy say about ransomware?"}],
     "What does the strategy say about phishing?"),
    # "it" is the thing a question brought in ("a ... grant program") rather than the one acting
    ("how much is it worth?", [{"question": "Did the Biden administration set up a cybersecurity grant program?"}],
     "How much is the cybersecurity grant program worth?"),
    # "that kind of thing" is what the previous question asked about
    ("has the US done that kind of thing before?", [{"question": "What will the strategy do for countries hit by "
                                                                 "cyberattacks?"}],
     "Has the US done that kind of thing before? (What will the strategy do for countries hit by cyberattacks)"),
    # one thing is not named twice: "it" is another thing than "this strategy"
    ("so why does the US think it needs this strategy?", [{"question": "What does the State Department's "
                                                                       "strategy say about repressive regimes?"}],
     "So why does the US think it needs the State Department's strategy?"),
    # a fragment with a preposition replaces what followed it
    ("and about IoT?", [{"question": "What did the Biden administration do about ransomware?"}],
     "What did the Biden administration do about IoT?"),
    # "the document" is the one just talked about
    ("how long is the document?", [{"question": "Where did Blinken announce the new cyber strategy?"}],
     "How long is the document? (Where did Blinken announce the new cyber strategy)"),
    # a short who/when/how question naming nothing of its own, asked with the conversation's topic
    ("how long do agencies have?", [{"question": "What does the executive order say about logging?"}],
     "How long do agencies have? (What does the executive order say about logging)"),
    ("who checks?", [{"question": "how long do agencies have?",
                      "understood_as": "How long do agencies have? (What does the order say about logging)"}],
     "Who checks? (What does the order say about logging)"),
])
def test_follow_ups_become_standalone(question, turns, expected):
    assert understood(question, *turns) == expected


@pytest.mark.parametrize("question, turns", [
    ("What is an SBOM?", [AREAS]),  # a topic switch is never merged
    ("What is zero trust?", [AREAS]),  # a verb of its own: a question of its own
    ("Which NATO members?", [AREAS]),  # a name of its own
    ("Where was the strategy launched?", [AREAS]),  # "the strategy" names its topic
    ("Is there no one?", [{"question": "Who leads the board?"}]),  # "no one" is no list item, nor a noun
    ("who leads CISA now?", [AREAS]),
    ("Who announced the strategy?", [AREAS]),
    ("What did Sullivan call the first big challenge in his speech?", [AREAS]),  # "his" is Sullivan's
    ("What does the strategy say about its goals?", [BLINKEN]),  # "its" is the strategy's
    ("Is it true that the plan names Russia?", [BLINKEN]),  # an "it" that points at nothing
    ("What are the threats that Russia poses?", [AREAS]),  # a relative "that"
    ("What is the first step?", [AREAS]),  # an ordinal that names no earlier list
    ("How do agencies adopt zero trust and why must they do so?", [AREAS]),  # "do so" with a topic of its own
    ("Who announced it?", []),  # nothing to lean on
])
def test_standalone_questions_are_left_alone(question, turns):
    assert resolve(question, turns) == Resolved(question, None)


def test_the_question_an_earlier_follow_up_was_understood_as_is_what_counts():
    second = {"question": "and the second area?", "answer": AREAS_ANSWER,
              "understood_as": "What is the second area of action: Align rights-respecting approaches?"}
    assert understood("and the third one?", AREAS, second).startswith("What is the third area of action: Advancing")


def test_a_follow_up_leans_on_the_most_recent_turn():
    sbom, china = ({"question": "What is a Software Bill of Materials?"},
                   {"question": "How does the strategy describe the cyber threat from China?"})
    assert (understood("What about Russia?", sbom, china)
            == "How does the strategy describe the cyber threat from Russia?")
    assert understood("What about Russia?", china, sbom) == "What is Russia?"
    assert understood("Why?", sbom, china) == "Why? (How does the strategy describe the cyber threat from China)"


@pytest.mark.parametrize("history", [
    None, [], [None, 3, "text", {"no": "question"}], [{"question": 5}], [{"question": "x", "answer": 7,
                                                                            "sentences": "bad", "citations": [1]}],
])
def test_malformed_history_never_raises(history):
    resolved = resolve("Who announced it?", history)
    assert resolved.question in ("Who announced it?", "Who announced x?")


def test_answer_sentences_stand_in_for_the_answer_text():
    turn = {"question": "What are the four areas of action?",
            "sentences": [{"text": line.rsplit(" [", 1)[0], "citation": 1} for line in AREAS_ANSWER.splitlines()]}
    assert understood("and the second?", turn).startswith("What is the second area of action: Align")


@pytest.mark.parametrize("question", ["tell me more", "Tell me more about that.", "say more", "can you elaborate?",
                                      "go on", "more on that please", "Could you say some more about it?"])
def test_tell_me_more_asks_the_previous_question_past_its_answer(question):
    r = resolve(question, [AREAS])
    assert r.more and r.question == r.understood_as == "What are the four areas of action?"


def test_tell_me_more_about_something_named_is_a_question_of_its_own():
    assert not resolve("tell me more about ransomware", [AREAS]).more
    assert not resolve("tell me more about the second one", [AREAS]).more


@pytest.fixture(scope="module")
def engine(sources_index, real_embedder):
    return Engine(sources_index, real_embedder)


@pytest.mark.e2e
def test_the_issue_conversation_is_answered(engine):
    """The conversation from the issue, over sources/: the four areas, who announced it, the second area,
    then a topic switch."""
    history = [engine.ask("What are the four areas of action?").to_dict()]
    who = engine.ask("Who announced it?", history=history)
    assert who.understood_as and "Antony Blinken" in who.answer
    assert any(c.source.startswith("blinken") for c in who.citations if "Blinken" in c.quote)
    history.append(who.to_dict())
    second = engine.ask("and the second area?", history=history)
    assert "Align rights-respecting approaches to digital and data governance" in second.answer
    history.append(second.to_dict())
    sbom = engine.ask("What is an SBOM?", history=history)
    assert sbom.understood_as is None and sbom.question == "What is an SBOM?"


@pytest.mark.e2e
def test_a_follow_up_naming_nothing_is_answered_about_the_topic(corpus_index, real_embedder):
    """ "how long do agencies have?" after a question about the executive order's logging rules is
    answered from the executive order, not from whatever else gives agencies a deadline."""
    corpus = Engine(corpus_index, real_embedder)
    history = [corpus.ask("What does the executive order say about logging?").to_dict()]
    a = corpus.ask("how long do agencies have?", history=history)
    assert a.understood_as and "logging" in a.understood_as and not a.abstained
    assert a.short_answer is not None and a.short_answer.kind == "duration"
    assert all(c.source.endswith("2021-05-12-executive-order-on-improving-the-nations-cybersecurity.md")
               for c in a.citations) and a.citations


def test_verbs_the_lexicon_knows_end_a_noun_phrase():
    from rag.phrases import noun_phrases

    assert [p.text for p in noun_phrases("which agencies must adopt zero trust")] == ["agencies", "zero trust"]
    assert [p.text for p in noun_phrases("how does the strategy blame china")] == ["the strategy", "china"]


@pytest.mark.e2e
def test_tell_me_more_quotes_what_the_previous_answer_did_not(engine):
    """"tell me more" re-asked the previous question and repeated its answer word for word."""
    first = engine.ask("what is digital solidarity?")
    more = engine.ask("tell me more", history=[first.to_dict()])
    assert not more.abstained and more.sentences, more.message
    assert more.understood_as == "what is digital solidarity?"
    assert not {s.text for s in first.sentences} & {s.text for s in more.sentences}
    assert "solidarity" in more.answer.lower()


@pytest.mark.e2e
def test_the_document_just_talked_about_is_measured(corpus_index, real_embedder):
    """ "how long is the document?" after a question about Blinken's strategy, over the whole corpus: it was
    searched as typed and answered from a speech ("Seventy"), then with the topic it quoted the previous
    answer again and was refused for lacking a number; the topic now weighs half the question's own words."""
    corpus = Engine(corpus_index, real_embedder)
    history = [corpus.ask("Where did Blinken announce the new international cyber strategy?").to_dict()]
    a = corpus.ask("how long is the document?", history=history)
    assert a.understood_as and "Blinken" in a.understood_as and not a.abstained, a.message
    assert a.short_answer is not None and a.short_answer.text == "54", a.short_answer


@pytest.mark.e2e
def test_an_item_of_a_list_written_in_one_sentence_is_its_short_answer(engine):
    """Blinken's four goals are one sentence ("... four primary goals: advancing ..., enhancing ..., promoting
    ..., and addressing ..."): "what's the third one?" got the sentence about the announcement."""
    history = [engine.ask("What are the main goals of the cyber strategy Blinken announced?").to_dict()]
    a = engine.ask("what's the third one?", history=history)
    assert a.understood_as and "third" in a.understood_as and not a.abstained, a.message
    assert a.short_answer is not None and a.short_answer.kind == "item"
    assert a.short_answer.text == "promoting human rights and the rule of law"
    cited = next(c for c in a.citations if c.n == a.short_answer.citation)
    text = engine.index.document(cited.doc_id).text
    assert text[a.short_answer.start:a.short_answer.end] == a.short_answer.text
    assert len(a.sentences) == 1 and "four primary goals" in a.sentences[0].text
