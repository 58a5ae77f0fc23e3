"""End to end with the real model, the real FAISS index and the real files."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from rag import store
from rag.config import Settings
from rag.engine import Engine
from rag.indexing import build

from .conftest import ROOT, SOURCES, copy_sources
from .damage import DAMAGES

pytestmark = pytest.mark.e2e
FOUR_AREAS = ["Promote, build and maintain an open, inclusive, secure and resilient digital ecosystem",
              "Align rights-respecting approaches to digital and data governance with international partners",
              "Advancing responsible state behavior in cyberspace",
              "Strengthen and build international partner digital and cyber capacity"]


@pytest.fixture(scope="session")
def sources_engine(sources_index, real_embedder):
    return Engine(sources_index, real_embedder)


@pytest.fixture(scope="session")
def corpus_engine(corpus_index, real_embedder):
    return Engine(corpus_index, real_embedder)


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


# What the shipped model (learned ranker, selector and abstention; docs/answers.md) does today with each question
# of eval/train_dev_sources.jsonl: ("answers", a phrase its citations must quote) or ("abstains", a phrase of the
# message). Where today's answer misses the question bank's reference, the entry says so: those are pinned so
# that a change shows up here, for better or worse; update the entry when a retrained model gets them right.
TODAY = {
    "s01": ("answers", "Antony Blinken recently announced a new international cyber strategy"),
    "s02": ("answers", "During the RSA conference, in San Francisco"),  # the release's sentence, not the reference's
    "s03": ("answers", "Strengthen and build international partner digital and cyber capacity"),
    "s04": ("answers", "Integration of cyber security, sustainable development and technological innovation"),
    "s05": ("answers", "the willingness to work together on shared goals"),
    "s06": ("answers", "Antony Blinken recently announced"),  # the official title (second part) is not quoted
    "s07": ("answers", "detailed in a 54-page document"),  # "how long is the document" asks for pages (it abstained
    # for lacking a duration until then); the second part, digital solidarity, is not quoted
    "s08": ("answers", "The strategy focuses on the concept of digital solidarity"),  # misses the reference's goals
    "s09": ("answers", "like Russia and China"),  # abstained until "It criticizes these countries" was read
    # with the sentence it refers to
    "s10": ("answers", "challenging the existing multi-stakeholder processes"),  # abstained on "Russian" before
    "s11": ("answers", "similar to the support previously provided to Ukraine, Costa Rica, and Albania"),
    "s12": ("answers", "hunt forward missions and the Joint Ransomware Task Force"),
    "s13": ("answers", "build solid coalitions of governments, businesses, and civil"),
    "s14": ("answers", "Working with other federal agencies"),
    "s15": ("answers", "The concept of digital solidarity rests on efforts to build digital and cyber capacity"),
    "s16": ("answers", "During the RSA conference, in San Francisco"),  # reference: "... is fundamental" (quoted
    # until the retrain with singular/plural acronyms, which moved BM25's weight; docs/answers.md)
    "s17": ("answers", "when we work together to shape the international environment"),
    "s18": ("answers", "more cooperation among allied countries around rights-respecting digital"),
    "s19": ("answers", "ensuring a secure, open, and vibrant technological future"),
    "s20": ("abstains", "The sources don't answer this."),
    "s21": ("abstains", "The sources never mention FIFA World Cup"),
    "s22": ("abstains", "No passage close to the question gives an amount of money"),
    "s23": ("abstains", "No passage close to the question gives a date"),
    "s24": ("abstains", "The sources never mention Ambassador-at-Large Nathaniel Fick"),
}


def test_each_sources_question_is_answered_or_refused_as_today(sources_engine):
    questions = [json.loads(line) for line in (ROOT / "eval" / "train_dev_sources.jsonl").open()]
    assert sorted(q["id"] for q in questions) == sorted(TODAY), "a question was added or removed: update TODAY"
    wrong = []
    for q in questions:
        a = sources_engine.ask(q["question"])
        integrity(sources_engine, a)
        verdict, phrase = TODAY[q["id"]]
        quoted = " ".join(" ".join(c.quote.split()) for c in a.citations)
        if verdict == "answers" and (a.abstained or phrase not in quoted):
            wrong.append(f"{q['id']} should answer quoting {phrase!r}; got {a.message or quoted[:160]!r}")
        elif verdict == "abstains" and (not a.abstained or a.citations or phrase not in a.message):
            wrong.append(f"{q['id']} should abstain with {phrase!r}; got {a.message or a.answer[:160]!r}")
    assert not wrong, "\n".join(wrong)


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
    folder = copy_sources(tmp_path / "src")
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
    folder = copy_sources(tmp_path / "src")
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
    DAMAGES["truncated FAISS file"](store.current_build(s.index_dir))
    proc = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "hello", "--index", s.index_dir],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2
    assert "FAISS file" in proc.stderr and f"rag build {SOURCES.resolve()} --index {s.index_dir}" in proc.stderr
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
