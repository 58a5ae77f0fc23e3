import pytest

from rag.abstain import expected_type, has_type, reason_to_abstain, unknown_names


@pytest.mark.parametrize("question, kind", [
    ("How much money is in the fund?", "money"), ("What is the annual budget of the office?", "money"),
    ("How much is the administration spending on broadband?", "money"), ("When will it launch?", "date"),
    ("On what date was it signed?", "date"), ("Which year did it start?", "date"),
    ("How many sectors are there?", "count"), ("What is digital solidarity?", None),
    ("How quickly must incidents be reported?", None),
])
def test_expected_answer_types(question, kind):
    assert expected_type(question) == kind


def test_a_number_already_in_the_question_is_not_an_answer():
    assert not has_type("Ransomware attacks rose in 2022.", "count", "How many attacks were reported in 2022?")
    assert has_type("There were 2,385 complaints in 2022.", "count", "How many attacks were reported in 2022?")


def test_unknown_names_ignore_the_first_word_and_question_words():
    vocab = {"blinken", "strategi"}
    assert unknown_names("Who announced the Strategy?", vocab) == []
    assert unknown_names("What did Blinken tell Nathaniel Fick?", vocab) == ["Nathaniel Fick"]


def test_a_capital_names_its_country_and_a_demonym_its_place():
    vocab = {"china", "russia", "hacker"}
    assert unknown_names("Why does Beijing back the hackers that Moscow hosts?", vocab) == []
    assert unknown_names("Why does Beijing back Iranian hackers?", vocab) == ["Iranian"]
    assert unknown_names("Why does Ottawa back the hackers?", vocab) == ["Ottawa"]  # Canada is not in the sources


def test_reason_to_abstain():
    assert reason_to_abstain("When was it signed?", ["It was signed in May 2023."], {}) == ""
    assert "a date" in reason_to_abstain("When was it signed?", ["It was signed by the President."], {})


def test_the_asked_for_kind_is_missing_only_when_neither_of_the_two_best_units_holds_it():
    """The best unit is often the half that refers back ("It criticizes these countries ..."); the
    country it means is in the runner-up, and the question is answerable."""
    from types import SimpleNamespace

    import numpy as np

    from rag.compose import abstain_row
    from rag.features import FEATURES
    from rag.question import analyse
    from rag.selector import ABSTAIN_FEATURES

    col, at = FEATURES.index("type_missing"), ABSTAIN_FEATURES.index("type_missing")
    x = np.zeros((3, len(FEATURES)))
    x[:, col] = [1.0, 0.0, 1.0]  # the best unit lacks a place, the second holds one
    index = SimpleNamespace(bm25=None)
    hits = [SimpleNamespace(bm25=1.0)]
    info = analyse("which countries are criticized for that?")
    assert abstain_row(index, info, x, np.array([0.9, 0.8, 0.1]), hits)[at] == 0.0
    assert abstain_row(index, info, x, np.array([0.9, 0.1, 0.8]), hits)[at] == 1.0  # third place is too far
