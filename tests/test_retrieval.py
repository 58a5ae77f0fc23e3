"""Retrieval's own tokenizer must give exactly the terms bm25s indexes (idf lookups and BM25 queries
depend on it), for every sentence of the real sources and odd inputs."""

from __future__ import annotations

import json
import threading

import bm25s

from rag.chunking import split_sentences
from rag.search import _stemmer, tokenize
from rag.sources import load_all

from .conftest import DATA, ROOT, SOURCES

ODD = ["", " ", "a", "0", "Are there.", "12 34", "É tat's naïve café", "__init__ x_y", "U.S.-EU", "漢字 🙂",
       "THE Strategies OF the United States' allies", "don't won't can't", "e-mail, E-Mail and EMAIL"]


def reference(texts: list[str]) -> list[list[str]]:
    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)


def test_tokenize_equals_bm25s_on_real_sentences_and_odd_text():
    docs, _ = load_all([SOURCES, DATA / "mini"])
    texts = [s.text for d in docs for s in split_sentences(d.text)] + ODD
    questions = [json.loads(line)["question"] for f in ("train_dev_sources.jsonl", "train_dev_corpus.jsonl")
                 for line in (ROOT / "eval" / f).read_text().splitlines() if line.strip()]
    assert len(texts) > 50
    for group in (texts, questions, ODD, ODD[:1], ["x"] * 3):
        assert tokenize(group) == reference(group)


def test_tokenize_is_safe_across_threads():
    texts = ["The strategies of the United States and its partners"] * 50
    want = reference(texts)
    results: list[bool] = []

    def work() -> None:
        for _ in range(50):
            results.append(tokenize(texts) == want)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 200
