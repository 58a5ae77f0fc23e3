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
    scores = engine.tokens.scores(engine.index, question, [rows["recall.txt"], rows["budget.txt"]],
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
    with_it = gather(engine.index, question, q, 5, index_idf(engine.index), tokens=engine.tokens)
    without = gather(engine.index, question, q, 5, index_idf(engine.index))
    assert not without.signals[:, col].any()
    best = int(with_it.rows[int(np.argmax(with_it.signals[:, col]))])
    assert best == _rows(engine)["recall.txt"] and with_it.signals[:, col].min() < 0


@pytest.mark.e2e
def test_the_question_states_are_the_ones_encode_computed(engine):
    model = engine.tokens.model
    engine.embedder.encode(["Which car company recalled cars?"])
    kept = model.last_states("Which car company recalled cars?")
    fresh = model.states(["Which car company recalled cars?"])[0][0]
    assert np.allclose(kept, fresh, atol=1e-5)
    assert model.last_states("another question").shape[1] == fresh.shape[1]


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
def test_the_torch_backend_matches_as_onnx_does(engine, tmp_path):
    from rag.embedding import SentenceTransformerEmbedder
    from rag.search import index_idf
    from rag.tokenmatch import TABLE, for_embedder

    torch = for_embedder(SentenceTransformerEmbedder(), tmp_path)
    assert (tmp_path / "tokens").is_dir() and list((tmp_path / "tokens").glob(f"*/{TABLE}"))
    rows = sorted(_rows(engine).values())
    question = "Which car company recalled cars?"
    idf = index_idf(engine.index)
    assert np.allclose(torch.scores(engine.index, question, rows, idf),
                       engine.tokens.scores(engine.index, question, rows, idf), atol=2e-3)


def test_the_shipped_ranker_counts_soft_match_for_a_passage():
    from rag import selector

    model = selector.load()
    assert model.ranker.coef[model.ranker.names.index("soft_match")] > 0
