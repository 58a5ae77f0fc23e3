"""The question-answering service: one loaded index and one embedder, shared by the CLI, chat and eval.

``Engine.ask`` never raises for a bad question: it returns an ``Answer`` whose ``message`` says what
to do. ``Engine.reload`` swaps in a newly published index only if it loads cleanly; on failure the
engine keeps serving the index it has.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import selector, store
from .abstain import known_terms, off_topic_floor
from .acronyms import spell_out, spelled, written_out
from .answer import compose
from .compose import compose as compose_learned
from .config import Settings
from .embedding import Embedder, make_embedder
from .overview import about_main_document, is_overview, overview
from .retrieval import retrieve
from .search import split_compounds
from .types import Answer

if TYPE_CHECKING:
    from .tokenmatch import TokenMatch

EMPTY_MESSAGE = "Please type a question."


class UnknownSource(ValueError):
    """A scope names a document the index does not hold; the message lists the ones it does."""


class Engine:
    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or make_embedder(settings)
        import faiss
        from threadpoolctl import threadpool_limits

        faiss.omp_set_num_threads(1)  # one search is faster on one thread (docs/benchmarks.md, "Threads")
        # the composer's small matrix products: OpenBLAS's threads spin and fight ONNX Runtime's for the
        # cores; held to one thread a question is much faster (bench_query.py; docs/benchmarks.md, "Threads")
        threadpool_limits(1, user_api="blas")
        self._index: store.Index | None = None
        self._lock = threading.Lock()
        self._checked = 0.0
        self.refused: str = ""  # why the last newly published index was not taken, if it was not
        self._refused_path = ""

    def with_settings(self, settings: Settings) -> Engine:
        """An engine with other answering settings (mode, composer, k, ...) over this one's loaded index and
        model: comparing configurations loads and checks the index once."""
        other = Engine(settings, self.embedder)
        other._index = self.index
        return other

    @property
    def soft_match(self) -> TokenMatch | None:
        """The ranker's soft-match signal for this engine's model (``rag.tokenmatch``), made on first use."""
        from .tokenmatch import for_embedder

        return for_embedder(self.embedder, self.settings.cache_dir)

    @property
    def model(self) -> selector.Model:
        """The learned selector (``rag train`` writes it), read on first use."""
        return selector.load(self.settings.selector_model)

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
                except store.IndexLoadError as e:
                    self.refused, self._refused_path = str(e), str(published)
        return self._index

    def _load(self) -> store.Index:
        index = store.load_index(self.settings.index_dir, model=self.embedder.name,
                                 ef_search=self.settings.hnsw_ef_search)
        if index.manifest.get("dim") != self.embedder.dim:
            raise store.IndexLoadError(f"the index has dimension {index.manifest.get('dim')}, the model "
                                       f"{self.embedder.dim}; {store.fix_hint(self.settings.index_dir)}")
        off_topic_floor(index, self.embedder.encode)  # what "far from every passage" is in this index
        return index

    def reload(self) -> store.Index:
        """Load the published index and switch to it; raise ``store.IndexLoadError`` and keep the old one
        if it is broken."""
        fresh = self._load()
        with self._lock:
            self._index = fresh
            self.refused = ""
        return fresh

    @staticmethod
    def searched(index: store.Index, question: str) -> str:
        """The question as it is searched: a word the index writes in two, written so ("multistakeholder"
        → "multi-stakeholder"; ``search.split_compounds``). ``rag train`` and ``rag eval`` search so too."""
        return split_compounds(question, index, known_terms(index))

    def embedded(self, index: store.Index, question: str) -> str:
        """The text a question's vector is embedded from: the long form of an acronym the index only writes
        out appended ("MFA": "multi-factor authentication"; ``acronyms.spell_out``)."""
        spell_out(index, question, self.embedder.encode, known_terms(index))
        return written_out(question, spelled(index))

    def question_vector(self, index: store.Index, question: str) -> np.ndarray:
        """The question's embedding (of ``embedded``)."""
        return self.embedder.encode([self.embedded(index, question)])[0]

    def ask(self, question: str, mode: str | None = None, k: int | None = None,
            history: Sequence[dict[str, Any]] | None = None, sources: Sequence[str] | None = None) -> Answer:
        """Answer ``question``; a follow-up is first resolved against ``history`` (earlier turns, each
        a dict with "question" and optionally "answer", "understood_as", "sentences"), and retrieval is
        limited to the documents named in ``sources`` (raises ``UnknownSource`` for a name it lacks)."""
        t0 = time.perf_counter()
        index = self.index  # one index for the whole answer, even if a reload happens meanwhile
        scope, allowed = resolve_scope(index, sources)
        cleaned, problem = clean_question(question, self.settings.max_question_chars)
        if problem:  # the question is echoed as valid UTF-8, never longer than the limit
            echo = question[:self.settings.max_question_chars] if isinstance(question, str) else ""
            echo = echo.encode("utf-8", "replace").decode("utf-8")
            return Answer(echo, "", True, (), (), (), 0.0, problem, index_id=index.index_id, scope=scope)
        understood_as, past = None, frozenset[str]()
        if history:
            from .conversation import resolve

            resolved = resolve(cleaned, list(history))
            if resolved.understood_as:
                understood_as = cleaned = resolved.understood_as
            if resolved.more:  # "tell me more": not what the previous answer quoted
                past = shown_sentences(history)
        elif (about := about_main_document(index, cleaned, allowed)) is not None:
            understood_as = cleaned = about  # a first "what's it called?": the main document
        shown, cleaned = cleaned, self.searched(index, cleaned)
        q = self.question_vector(index, cleaned)
        t1 = time.perf_counter()
        mode, k = mode or self.settings.mode, k or self.settings.k
        model = self.model if self.settings.composer == "learned" or mode == "learned" else None
        depth = max(k, model.policy.select_passages) if model is not None else k
        ranker = model.ranker if model is not None else None
        hits = retrieve(index, cleaned, q, mode, depth, self.settings.candidates, self.settings.rrf_k,
                        allowed=allowed, ranker=ranker,
                        soft_match=self.soft_match if mode == "learned" and ranker is not None else None)
        t2 = time.perf_counter()
        if is_overview(cleaned) and hits:  # "what is this about?": how the documents begin
            answer = overview(index, cleaned, hits, k, allowed)
        elif self.settings.composer == "learned" and model is not None:
            answer = compose_learned(index, cleaned, q, hits, model, k, past)
        else:
            answer = compose(index, cleaned, q, hits[:k], self.settings)
        t3 = time.perf_counter()
        timings = {"embed": (t1 - t0) * 1e3, "retrieve": (t2 - t1) * 1e3, "compose": (t3 - t2) * 1e3,
                   "total": (t3 - t0) * 1e3}
        return dataclasses.replace(answer, question=question if understood_as else shown,
                                   timings_ms=timings, understood_as=understood_as, scope=scope)


def shown_sentences(history: Sequence[Any]) -> frozenset[str]:
    """The sentences the last well-formed turn's answer quoted (its "sentences", else its answer's lines
    without the citation marks), whitespace collapsed: the turn a "tell me more" was resolved against.

    >>> sorted(shown_sentences([{"question": "q", "answer": "Digital solidarity is X. [1]\\nIt helps. [2]"}, 7]))
    ['Digital solidarity is X.', 'It helps.']
    """
    turn = next((t for t in reversed(list(history)) if isinstance(t, dict) and isinstance(t.get("question"), str)),
                None)
    if turn is None:
        return frozenset()
    sentences = turn.get("sentences")
    if isinstance(sentences, list) and sentences:
        texts = [str(s.get("text", "")) for s in sentences if isinstance(s, dict)]
    else:
        answer = turn.get("answer")
        texts = re.split(r"\s*\[\d+\]\s*", answer) if isinstance(answer, str) else []
    return frozenset(t for t in (" ".join(x.split()) for x in texts) if t)


def resolve_scope(index: store.Index, names: Sequence[str] | None) -> tuple[tuple[str, ...], np.ndarray | None]:
    """(the sources of the named documents, a mask of their chunks), or ((), None) for all documents.

    A name matches a document's source path, its file name or its title, ignoring case.
    """
    if not names:
        return (), None
    docs = index.manifest.get("documents", [])
    rows: list[int] = []
    for name in names:
        key = str(name).strip().lower()
        found = [i for i, d in enumerate(docs)
                 if key in (str(d.get("source", "")).lower(), Path(str(d.get("source", ""))).name.lower(),
                            str(d.get("title", "")).strip().lower())]
        if not found:
            known = ", ".join(sorted(Path(str(d.get("source", ""))).name for d in docs))
            raise UnknownSource(f"no document named {str(name)[:200]!r} in the index; it holds: {known}")
        rows.extend(x for x in found if x not in rows)
    chunk_doc = index.sentence_rows[index.chunk_sent_lo, 0]
    return tuple(str(docs[i]["source"]) for i in rows), np.isin(chunk_doc, rows)


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
