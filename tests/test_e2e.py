"""End to end with the real model, the real FAISS index and the real files."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from rag import store
from rag.config import Settings
from rag.engine import Engine
from rag.indexing import build

from .conftest import ROOT, SOURCES

pytestmark = pytest.mark.e2e
FOUR_AREAS = ["Promote, build and maintain an open, inclusive, secure and resilient digital ecosystem",
              "Align rights-respecting approaches to digital and data governance with international partners",
              "Advancing responsible state behavior in cyberspace",
              "Strengthen and build international partner digital and cyber capacity"]


@pytest.fixture(scope="session")
def sources_engine(tmp_path_factory, real_embedder):
    s = Settings(index_dir=str(tmp_path_factory.mktemp("ix") / "index"))
    build([SOURCES], s, real_embedder)
    return Engine(s, real_embedder)


@pytest.fixture(scope="session")
def corpus_engine(tmp_path_factory, real_embedder):
    corpus = ROOT.parent / "shared" / "corpus"
    if not corpus.is_dir():
        pytest.skip(f"needs ../shared/corpus ({corpus} is absent)")
    s = Settings(index_dir=str(tmp_path_factory.mktemp("ixc") / "index"))
    build([SOURCES, corpus], s, real_embedder)
    return Engine(s, real_embedder)


def integrity(engine, answer):
    for c in answer.citations:
        assert engine.index.document(c.doc_id).text[c.start:c.end] == c.quote
        assert " ".join(c.quote.split()) in answer.answer


def test_four_areas_answer_gives_the_whole_list(sources_engine):
    a = sources_engine.ask("What are the four areas of action?")
    assert not a.abstained
    for item in FOUR_AREAS:
        assert item in a.answer
    assert all(c.source == "state-department-releases-cyberspace-digital-policy-strategy.txt" for c in a.citations)
    integrity(sources_engine, a)


def test_who_announced_cites_blinken(sources_engine):
    a = sources_engine.ask("Who announced the strategy?")
    assert not a.abstained and "Blinken" in a.answer
    integrity(sources_engine, a)


def test_bread_question_abstains(sources_engine):
    a = sources_engine.ask("How do I bake sourdough bread?")
    assert a.abstained and not a.citations and a.retrieved


def test_citations_hold_over_many_questions(sources_engine):
    questions = [json.loads(line)["question"] for line in (ROOT / "eval" / "train_dev_sources.jsonl").open()]
    answered = 0
    for q in questions:
        a = sources_engine.ask(q)
        integrity(sources_engine, a)
        answered += not a.abstained
    assert answered >= len(questions) // 2


def test_pdf_answers_cite_the_page(corpus_engine):
    a = corpus_engine.ask("Under CIRCIA, how quickly must critical infrastructure entities notify CISA?")
    assert "within hours" in a.answer
    cited = [c for c in a.citations if c.source == "National-Cybersecurity-Strategy-2023.pdf"]
    assert cited and all(c.page and 1 <= c.page <= 39 for c in cited)
    doc = corpus_engine.index.document(cited[0].doc_id)
    page_start = doc.pages[cited[0].page - 1]
    page_end = doc.pages[cited[0].page] if cited[0].page < len(doc.pages) else len(doc.text)
    assert page_start <= cited[0].start < page_end, "the page named is the page holding the quote"
    integrity(corpus_engine, a)


def test_incremental_rebuild_embeds_only_the_changed_file(tmp_path, real_embedder):
    folder = tmp_path / "src"
    shutil.copytree(SOURCES, folder)
    s = Settings(index_dir=str(tmp_path / "ix"))
    build([folder], s, real_embedder)
    with open(folder / "blinken-announces-international-cyber-strategy.txt", "a") as f:
        f.write("\nThe strategy was praised by the Zorblax delegation.\n")
    report = build([folder], s, real_embedder)
    assert len(report.changed) == 1 and len(report.unchanged) == 1
    blinken = [d for d in store.load_index(s.index_dir).manifest["documents"] if d["source"].startswith("blinken")][0]
    assert report.n_embedded == blinken["n_chunks"] + blinken["n_sentences"]
    assert "Zorblax" in Engine(s, real_embedder).ask("Who praised the strategy?").answer


def test_killed_build_leaves_the_old_index_answering(tmp_path, real_embedder):
    folder = tmp_path / "src"
    shutil.copytree(SOURCES, folder)
    ix = tmp_path / "ix"
    s = Settings(index_dir=str(ix))
    build([folder], s, real_embedder)
    before = Engine(s, real_embedder).ask("What are the four areas of action?").answer
    for i in range(30):
        (folder / f"extra{i}.txt").write_text(f"Extra document {i}. " * 200)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "build", str(folder), "--index", str(ix)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # kill it while it embeds
        if "embedding" in line:
            time.sleep(1.0)
            break
    assert proc.poll() is None, "the build ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after = Engine(s, real_embedder).ask("What are the four areas of action?").answer
    assert after == before
    assert store.load_index(ix).manifest["n_documents"] == 2


def test_corrupt_index_gives_the_clear_message(tmp_path, real_embedder):
    s = Settings(index_dir=str(tmp_path / "ix"))
    build([SOURCES], s, real_embedder)
    (store.current_build(s.index_dir) / "chunks.faiss").write_bytes(b"garbage")
    proc = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "hello", "--index", s.index_dir],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2
    assert "FAISS file" in proc.stderr and "rag build --index" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_ask_json_has_the_documented_shape(sources_engine):
    proc = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "--json", "Who announced the strategy?",
                           "--index", sources_engine.settings.index_dir], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert {"question", "answer", "abstained", "sentences", "citations", "retrieved", "timings_ms"} <= set(out)
    c = out["citations"][0]
    assert {"n", "doc_id", "source", "title", "page", "start", "end", "quote", "passage", "passage_start",
            "passage_end", "score"} <= set(c)
    assert {"source", "start", "end", "score", "text"} <= set(out["retrieved"][0])
