"""The ranker's soft-match signal (rag/tokenmatch.py): word pieces matched by meaning, with the real model."""

from __future__ import annotations

import numpy as np
import pytest

from rag.config import Settings

TEXTS = {
    "recall.txt": "The automobile maker withdrew forty thousand vehicles after faults were found in their brakes.",
    "budget.txt": "The harbour committee published its yearly spending report and thanked the volunteers.",
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory, real_embedder):
    from rag.engine import Engine
    from rag.indexing import build

    root = tmp_path_factory.mktemp("soft-match")
    for name, text in TEXTS.items():
        (root / name).write_text(text, encoding="utf-8")
    settings = Settings(index_dir=str(root / "ix"))
    build([root], settings, real_embedder)
    return Engine(settings, real_embedder)


def _rows(engine):
    return {engine.index.document(c.doc_id).source.rsplit("/", 1)[-1]: i for i, c in enumerate(engine.index.chunks)}


@pytest.mark.e2e
def test_a_passage_that_says_it_in_other_words_matches_better(engine):
    from rag.search import index_idf

    rows = _rows(engine)
    question = "Which car company recalled cars?"  # no word of it is in recall.txt
    scores = engine.soft_match.scores(engine.index, question, [rows["recall.txt"], rows["budget.txt"]],
                                  index_idf(engine.index))
    assert scores[0] > scores[1] + 0.05
    assert 0 < scores[1] < scores[0] <= 1


@pytest.mark.e2e
def test_gather_fills_the_signal_only_with_a_token_match(engine):
    from rag.rerank import SIGNALS, gather
    from rag.search import index_idf

    question = "Which car company recalled cars?"
    q = engine.embedder.encode([question])[0]
    col = SIGNALS.index("soft_match")
    with_it = gather(engine.index, question, q, 5, index_idf(engine.index), soft_match=engine.soft_match)
    without = gather(engine.index, question, q, 5, index_idf(engine.index))
    assert not without.signals[:, col].any()
    best = int(with_it.rows[int(np.argmax(with_it.signals[:, col]))])
    assert best == _rows(engine)["recall.txt"] and with_it.signals[:, col].min() < 0


@pytest.mark.e2e
def test_the_question_states_are_the_ones_encode_computed(engine):
    model = engine.soft_match.model
    question = "Which car company recalled cars?"
    engine.embedder.encode([question])
    assert model._last[0] == question
    kept = model.last_states(question)
    assert kept is model._last[1]  # not run again
    assert np.allclose(kept, model.states([question])[0][0], atol=1e-5)
    assert model.last_states("another question").shape[1] == kept.shape[1]


class _Chunk:
    def __init__(self, text):
        self.text = text


class _Index:
    """What TokenMatch reads of an index: its passages' texts and its derived-data cache."""

    def __init__(self, *texts):
        self.chunks = [_Chunk(t) for t in texts]
        self.derived = {}

    def cached(self, name, make):
        return self.derived.setdefault(name, make())


@pytest.mark.e2e
def test_a_passage_without_pieces_scores_0_and_leaves_the_others_alone(engine):
    idf = {"automaker": 3.0, "recall": 2.0}
    alone = engine.soft_match.scores(_Index("The automobile maker withdrew vehicles."), "automaker recall", [0], idf)
    both = engine.soft_match.scores(_Index("The automobile maker withdrew vehicles.", " \u200b "), "automaker recall",
                                    [0, 1], idf)
    assert both[1] == 0 and both[0] == pytest.approx(alone[0]) and alone[0] > 0.3


@pytest.mark.e2e
def test_the_piece_memo_starts_again_past_its_limit_without_losing_a_passage(engine, monkeypatch):
    import rag.tokenmatch

    monkeypatch.setattr(rag.tokenmatch, "_KEEP", 3)
    index = _Index(*(f"passage number {i} about ports" for i in range(8)))
    first = [p.tolist() for p in engine.soft_match.pieces(index, [0, 1, 2])]
    again = engine.soft_match.pieces(index, [0, 1, 2, 3, 4, 5])  # past the limit: the memo is emptied
    assert [p.tolist() for p in again[:3]] == first and len(index.derived["chunk_pieces"]) <= 6


@pytest.mark.e2e
def test_learned_answers_and_their_evaluation_use_the_signal_and_other_modes_do_not(engine, monkeypatch):
    from rag.evaluation import Question, evaluate
    from rag.tokenmatch import TokenMatch

    calls = []
    real = TokenMatch.scores
    monkeypatch.setattr(TokenMatch, "scores", lambda self, *a: calls.append(a[1]) or real(self, *a))
    engine.ask("Which car company recalled cars?")
    assert calls == ["Which car company recalled cars?"]
    engine.ask("Which car company recalled cars?", mode="hybrid")
    assert len(calls) == 1
    q = Question("q1", "Which firm recalled automobiles?", True, ("The automobile maker withdrew",),
                 sources=("recall.txt",))
    evaluate(engine, [q], "learned")
    assert calls[1:] == ["Which firm recalled automobiles?"] * 2  # the answer and the ranking scored


@pytest.mark.e2e
def test_the_vocabulary_table_is_made_once_and_cached(tmp_path, real_embedder, monkeypatch):
    from rag.tokenmatch import TABLE, vocabulary_states

    model = real_embedder.warm_up()
    table = vocabulary_states(model, tmp_path)
    assert table.shape == (model.counter.get_vocab_size(), real_embedder.dim) and table.dtype == np.float16
    assert np.allclose(np.linalg.norm(table[1000:1010].astype(np.float32), axis=1), 1, atol=1e-2)
    written = (tmp_path / TABLE).stat().st_mtime_ns
    assert np.array_equal(vocabulary_states(model, tmp_path), table)
    assert (tmp_path / TABLE).stat().st_mtime_ns == written
    np.save(tmp_path / TABLE, table[:10])  # a table of another vocabulary is made again
    assert vocabulary_states(model, tmp_path).shape == table.shape
    (tmp_path / TABLE).unlink()

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr("tempfile.mkstemp", read_only)  # a read-only cache: the table is used, not kept
    assert vocabulary_states(model, tmp_path).shape == table.shape and not (tmp_path / TABLE).exists()


def test_a_fake_embedder_has_no_signal(fake_embedder, tmp_path):
    from rag.tokenmatch import for_embedder

    assert for_embedder(fake_embedder, tmp_path) is None


@pytest.mark.e2e
def test_the_torch_backend_matches_as_onnx_does_even_with_a_read_only_cache(engine, tmp_path, monkeypatch):
    from rag.embedding import SentenceTransformerEmbedder
    from rag.search import index_idf
    from rag.tokenmatch import for_embedder

    def read_only(self, *args, **kwargs):
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr("pathlib.Path.mkdir", read_only)
    torch = for_embedder(SentenceTransformerEmbedder(), tmp_path)  # the table is made and kept in memory
    assert not (tmp_path / "tokens").exists()
    rows = sorted(_rows(engine).values())
    question = "Which car company recalled cars?"
    idf = index_idf(engine.index)
    assert np.allclose(torch.scores(engine.index, question, rows, idf),
                       engine.soft_match.scores(engine.index, question, rows, idf), atol=2e-3)


def test_the_shipped_ranker_counts_soft_match_for_a_passage():
    from rag import selector

    model = selector.load()
    assert model.ranker.coef[model.ranker.names.index("soft_match")] > 0
