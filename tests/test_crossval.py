"""``rag train --cv``: folds by document, so no held-out document was trained on; the real pipeline scores
the held-out questions and no model file is written."""

from __future__ import annotations

import glob
import re

import pytest

from rag.crossval import folds
from rag.evaluation import load_questions
from rag.questions import Question

from .conftest import ROOT


def _q(qid: str, *sources: str) -> Question:
    return Question(qid, f"question {qid}?", bool(sources), ("span",) if sources else (), sources=sources)


def test_a_documents_questions_share_one_fold_and_every_fold_gets_documents():
    qs = [_q("a1", "a.md"), _q("b1", "b.md"), _q("a2", "a.md", "b.md"), _q("c1", "c.md"), _q("b2", "b.md")]
    where = folds(qs, 3)
    assert where[0] == where[2] and where[1] == where[4]  # a question goes with its first document
    assert sorted(set(where)) == [0, 1, 2]


def test_unanswerable_questions_are_spread_by_seed_and_the_draw_is_repeatable():
    qs = [_q(f"u{i}") for i in range(60)]
    first, again, other = folds(qs, 3, "0"), folds(qs, 3, "0"), folds(qs, 3, "1")
    assert first == again and first != other
    assert all(first.count(f) > 10 for f in range(3))


def test_the_train_split_folds_never_share_a_document():
    qs = load_questions(sorted(glob.glob(str(ROOT / "eval" / "train*.jsonl"))))
    where = folds(qs, 3)
    home: dict[str, int] = {}
    for q, f in zip(qs, where):
        if q.sources:
            assert home.setdefault(q.sources[0], f) == f, q.id
    assert len(set(home.values())) == 3


@pytest.mark.parametrize("value", ["1", "-2", "three"])
def test_a_fold_count_below_two_is_refused_before_anything_runs(value, capsys):
    from rag.train import main

    with pytest.raises(SystemExit) as stop:
        main(["--cv", value, "--index", "/nonexistent"])
    assert stop.value.code == 2 and "is not a number of folds" in capsys.readouterr().err


@pytest.mark.e2e
def test_rag_train_cv_scores_held_out_documents_and_writes_no_model(sources_index, tmp_path, capsys):
    from rag.train import main

    out = tmp_path / "model.json"
    files = [str(ROOT / "eval" / "train_dev_sources.jsonl")]
    assert main([*files, "--index", sources_index.index_dir, "--out", str(out), "--cv", "2"]) == 0
    printed = capsys.readouterr()
    assert not out.exists()
    assert "fold 1/2: training on" in printed.err and "fold 2/2: training on" in printed.err
    rows = dict(re.findall(r"^(\w[\w@]*) +(.+)$", printed.out, re.M))
    legacy, learned = rows["answer_evidence_recall"].split()
    assert 0.0 <= float(legacy) <= 1.0 and 0.0 < float(learned) <= 1.0
    assert "24 questions, 2 document folds, seed 0" in printed.out
