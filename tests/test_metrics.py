"""rag.metrics on examples small enough to work out by hand; each expected number says how."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rag import metrics as M


def test_exact_match_ignores_case_and_whitespace_runs():
    text = "The strategy  delineates\nfour primary GOALS: advancing prosperity."
    assert M.exact_match(text, "delineates four primary goals")
    assert M.exact_match(text, "  DELINEATES\t four ")
    assert not M.exact_match(text, "delineates five primary goals")
    assert not M.exact_match(text, "   ")  # an empty span matches nothing


def test_covers_at_eighty_percent_of_the_span_tokens():
    text = "Blinken announced the strategy in San Francisco."
    # span tokens blinken, announced, a, new, strategy: "a" and "new" are absent → 3 of 5 = 0.6 → not covered
    assert M.token_coverage("Blinken announced a new strategy", text) == pytest.approx(3 / 5)
    assert not M.covers(text, "Blinken announced a new strategy")
    # blinken, announced, the, new, strategy → only "new" is absent: 4 of 5 = 0.8 → covered
    assert M.token_coverage("Blinken announced the new strategy", text) == pytest.approx(4 / 5)
    assert M.covers(text, "Blinken announced the new strategy")
    # repeats count: "the the the fox" has 4 tokens, 3 of them "the" → 3/4 present
    assert M.token_coverage("the the the fox", "the cat") == pytest.approx(3 / 4)


def test_ranking_by_hand():
    relevant = {
        "a": [False, False, True, False, True],  # first relevant at rank 3: hit@1 0, hit@3 1, RR 1/3
        "b": [True],  # rank 1: every hit 1, RR 1
        "c": [False] * 10,  # no relevant passage: all 0
        "d": [False] * 6 + [True],  # rank 7: hit@1/3/5 0, hit@10 1, RR 1/7
        "e": [],  # nothing retrieved: all 0
    }
    got = M.ranking(relevant)
    assert got["a"] == {"hit@1": 0.0, "hit@3": 1.0, "hit@5": 1.0, "hit@10": 1.0, "mrr@10": pytest.approx(1 / 3)}
    assert got["b"] == {"hit@1": 1.0, "hit@3": 1.0, "hit@5": 1.0, "hit@10": 1.0, "mrr@10": 1.0}
    assert got["c"] == {"hit@1": 0.0, "hit@3": 0.0, "hit@5": 0.0, "hit@10": 0.0, "mrr@10": 0.0}
    assert got["d"] == {"hit@1": 0.0, "hit@3": 0.0, "hit@5": 0.0, "hit@10": 1.0, "mrr@10": pytest.approx(1 / 7)}
    assert got["e"]["mrr@10"] == 0.0
    # mean over the five questions: hit@10 = (1 + 1 + 0 + 1 + 0) / 5 = 0.6
    assert sum(q["hit@10"] for q in got.values()) / 5 == pytest.approx(0.6)


def test_ranking_keeps_our_order_when_a_relevant_passage_sorts_late_by_id():
    # p0..p11: trec_eval orders ties by id ("p10" < "p2"); distinct scores keep rank order
    ranks = [False] * 11 + [True]  # relevant at rank 12: beyond the cut-off of 10
    assert M.ranking({"q": ranks})["q"] == {"hit@1": 0.0, "hit@3": 0.0, "hit@5": 0.0, "hit@10": 0.0,
                                            "mrr@10": 0.0}


@given(st.lists(st.booleans(), max_size=14))
def test_ranking_agrees_with_first_hit(ranks):
    got = M.ranking({"q": ranks})["q"]
    first = M.first_hit(ranks)
    for n in M.CUTOFFS:
        assert got[f"hit@{n}"] == float(first is not None and first <= n)
    assert got["mrr@10"] == pytest.approx(1 / first if first and first <= 10 else 0.0)


def test_evidence_recall_by_hand():
    # 3 spans; cover[rank][span]
    cover = [[False, False, False],  # rank 1 covers nothing
             [True, False, False],  # rank 2 covers span 0
             [False, False, False],
             [False, False, False],
             [False, False, False],
             [True, True, False]]  # rank 6 covers spans 0 and 1
    assert M.evidence_recall(cover, 5) == pytest.approx(1 / 3)  # only span 0 by rank 5
    assert M.evidence_recall(cover, 10) == pytest.approx(2 / 3)  # spans 0 and 1; span 2 never
    assert M.evidence_recall([], 10) == 0.0


def test_citation_precision_and_recall_by_hand():
    evidence = ["four primary goals", "hunt forward missions", "Joint Ransomware Task Force"]
    passages = ["The strategy delineates four primary goals: prosperity and security.",  # covers span 0
                "It includes hunt forward missions and the Joint Ransomware Task Force.",  # spans 1 and 2
                "Russia and China promote domestic control."]  # covers nothing
    # precision: 2 of the 3 cited passages cover some span; recall: all 3 spans are covered
    assert M.citation_scores(passages, evidence) == (pytest.approx(2 / 3), 1.0)
    # citing only the last passage: precision 0/1, recall 0/3
    assert M.citation_scores(passages[2:], evidence) == (0.0, 0.0)
    assert M.citation_scores([], evidence) == (0.0, 0.0)


def test_evidence_in_answer_ignores_citation_markers():
    answer = "Blinken announced it at the RSA conference. [1]\nIt supports Ukraine and Albania. [2]"
    evidence = ["announced at the RSA conference",  # announced, at, the, rsa, conference: 5/5 present
                "Ukraine, Costa Rica, and Albania",  # ukraine, costa, rica, and, albania: 3/5 = 0.6
                "task force 1"]  # "1" appears only in a marker, which is stripped: task, force, 1 → 0/3
    assert M.in_answer(answer, evidence) == [True, False, False]


def test_token_f1_by_hand():
    # prediction → "secretary of state announced it" (5 tokens; "the" dropped)
    # truth → "secretary of state antony blinken" (5 tokens); shared: secretary, of, state = 3
    # precision 3/5, recall 3/5 → F1 0.6
    assert M.token_f1("The Secretary of State announced it.", "Secretary of State, Antony Blinken") == \
        pytest.approx(0.6)
    # prediction "ukraine ukraine albania" vs truth "ukraine costa rica and albania":
    # shared counts min: ukraine 1, albania 1 → 2; P = 2/3, R = 2/5 → F1 = 2·(2/3)(2/5)/(2/3+2/5) = 0.5
    assert M.token_f1("Ukraine, Ukraine; Albania!", "Ukraine, Costa Rica and Albania") == pytest.approx(0.5)
    assert M.token_f1("", "Blinken") == 0.0
    assert M.token_f1("The", "a") == 1.0  # both normalise to nothing
    assert M.squad_normalise("“Small yard, high fence”") == "small yard high fence"  # Unicode quotes too


def test_percentiles_by_hand():
    latencies = [100, 200, 300, 400, 1000]
    assert M.percentile(latencies, 50) == 300.0  # the middle of five
    # p95: position 0.95 · (5 − 1) = 3.8 → 400 + 0.8 · (1000 − 400) = 880
    assert M.percentile(latencies, 95) == pytest.approx(880.0)
    assert M.percentile([], 50) is None


def test_threshold_sweep_by_hand():
    answerable = [0.30, 0.50, 0.60, 0.80]
    unanswerable = [0.20, 0.40, 0.55]
    # balanced accuracy = (answered share of answerable + abstained share of unanswerable) / 2, answer iff ≥ t:
    #   t=0.20: 4/4, 0/3 → 0.500    t=0.30: 4/4, 1/3 → 0.667    t=0.40: 3/4, 1/3 → 0.542
    #   t=0.42: 3/4, 2/3 → 0.708    t=0.50: 3/4, 2/3 → 0.708    t=0.55: 2/4, 2/3 → 0.583
    #   t=0.60: 2/4, 3/3 → 0.750    t=0.80: 1/4, 3/3 → 0.625
    assert M.balanced_accuracy(answerable, unanswerable, 0.42) == pytest.approx((3 / 4 + 2 / 3) / 2)
    best, score = M.sweep(answerable, unanswerable, default=0.42)
    assert best == 0.60 and score == pytest.approx(0.75)
    assert M.sweep(answerable, [], 0.42) == (None, None)


def test_sweep_ties_go_to_the_default():
    # answerable [0.5, 0.7], unanswerable [0.3]: every t in (0.3, 0.5] gives 1.0
    # candidates 0.3 (0.5), 0.42 (1.0), 0.5 (1.0), 0.7 (0.75) → 0.42, the default
    assert M.sweep([0.5, 0.7], [0.3], default=0.42) == (0.42, 1.0)
    # default 0.2: candidates 0.2 (0.5), 0.3 (0.5), 0.5 (1.0), 0.7 (0.75) → 0.5
    assert M.sweep([0.5, 0.7], [0.3], default=0.2) == (0.5, 1.0)


def test_mean_skips_missing_values():
    assert M.mean([1.0, None, 0.5]) == 0.75
    assert M.mean([None]) is None
