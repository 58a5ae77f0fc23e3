"""The question-answering service: one loaded index and one embedder, shared by the CLI, chat and eval.

``Engine.ask`` never raises for a bad question: it returns an ``Answer`` whose ``message`` says what
to do. ``Engine.reload`` swaps in a newly published index only if it loads cleanly; on failure the
engine keeps serving the index it has.
"""

from __future__ import annotations

import threading
import time
import unicodedata
from pathlib import Path

from . import store
from .answer import compose
from .config import Settings
from .embedding import Embedder, make_embedder
from .retrieval import retrieve
from .types import Answer

EMPTY_MESSAGE = "Please type a question."


class Engine:
    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or make_embedder(settings)
        import faiss
        from threadpoolctl import threadpool_limits

        faiss.omp_set_num_threads(1)  # one search is faster on one thread (BENCHMARKS.md, "Threads")
        # the composer's small matrix products: OpenBLAS's threads spin and fight ONNX Runtime's for the
        # cores; on one thread a question takes 3.9 ms instead of 7.9 (BENCHMARKS.md, "Threads")
        threadpool_limits(1, user_api="blas")
        self._index: store.Index | None = None
        self._lock = threading.Lock()
        self._checked = 0.0
        self.refused: str = ""  # why the last newly published index was not taken, if it was not
        self._refused_path = ""

    @property
    def index(self) -> store.Index:
        """The loaded index; a build published meanwhile (by ``rag build`` too) is picked up within a
        second, and only if it loads cleanly."""
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._index = self._load()
                    self._checked = time.monotonic()
        elif time.monotonic() - self._checked > 1.0:
            self._checked = time.monotonic()
            published = store.current_build(self.settings.index_dir)
            if published is not None and str(published) not in (self._index.path, self._refused_path):
                try:
                    self.reload()
                except store.IndexError_ as e:
                    self.refused, self._refused_path = str(e), str(published)
        return self._index

    def _load(self) -> store.Index:
        index = store.load_index(self.settings.index_dir, model=self.embedder.name,
                                 ef_search=self.settings.hnsw_ef_search)
        if index.manifest.get("dim") != self.embedder.dim:
            raise store.IndexError_(f"the index has dimension {index.manifest.get('dim')}, the model "
                                    f"{self.embedder.dim}; {store.fix_hint(self.settings.index_dir)}")
        return index

    def reload(self) -> store.Index:
        """Load the published index and switch to it; raise ``store.IndexError_`` and keep the old one
        if it is broken."""
        fresh = self._load()
        with self._lock:
            self._index = fresh
            self.refused = ""
        return fresh

    def ask(self, question: str, mode: str | None = None, k: int | None = None) -> Answer:
        t0 = time.perf_counter()
        index = self.index  # one index for the whole answer, even if a reload happens meanwhile
        cleaned, problem = clean_question(question, self.settings.max_question_chars)
        if problem:  # the question is echoed as valid UTF-8 (a lone surrogate becomes "?")
            echo = question.encode("utf-8", "replace").decode("utf-8") if isinstance(question, str) else ""
            return Answer(echo, "", True, (), (), (), 0.0, problem, index_id=index.index_id)
        q = self.embedder.encode([cleaned])[0]
        t1 = time.perf_counter()
        hits = retrieve(index, cleaned, q, mode or self.settings.mode, k or self.settings.k,
                        self.settings.candidates, self.settings.rrf_k)
        t2 = time.perf_counter()
        answer = compose(index, cleaned, q, hits, self.settings)
        t3 = time.perf_counter()
        timings = {"embed": (t1 - t0) * 1e3, "retrieve": (t2 - t1) * 1e3, "compose": (t3 - t2) * 1e3,
                   "total": (t3 - t0) * 1e3}
        return Answer(answer.question, answer.answer, answer.abstained, answer.sentences, answer.citations,
                      answer.retrieved, answer.confidence, answer.message, timings, answer.index_id)


def clean_question(question: object, max_chars: int) -> tuple[str, str]:
    """(the question to search with, a message when there is nothing to search).

    >>> clean_question("  who\\x00 leads it? ", 100)
    ('who leads it?', '')
    >>> clean_question(" ", 100)[1]
    'Please type a question.'
    """
    if not isinstance(question, str):
        return "", EMPTY_MESSAGE
    if len(question) > max_chars:
        return "", (f"That question is {len(question):,} characters long; please keep it under "
                    f"{max_chars:,} characters.")
    text = question.encode("utf-8", "replace").decode("utf-8")  # lone surrogates become '?'
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = " ".join(text.split())
    if not any(ch.isalnum() for ch in text):
        return "", EMPTY_MESSAGE
    return text, ""


def index_exists(index_dir: str | Path) -> bool:
    return store.current_build(index_dir) is not None
