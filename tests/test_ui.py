"""ui.py and ui_render.py without a browser: the follow-up rule, escaping, the chat turn and the rebuild
handler (with the fake embedder). The upload rules themselves are tested in test_uploads.py."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

import ui
import ui_render as render
from rag.config import Settings
from rag.engine import Engine
from rag.indexing import build

from .conftest import SOURCES, FakeEmbedder

HOSTILE = Path(__file__).resolve().parent / "data" / "hostile" / "hostile-markup.txt"
FOUR = "What are the four areas of action?"


@pytest.mark.parametrize(("question", "expected"), [
    ("and the third one?", True),
    ("And what does it say about China?", True),
    ("what about the fourth?", True),
    ("How about Russia?", True),
    ("who leads it?", True),
    ("Is that binding?", True),
    ("What are those?", True),
    ("why?", True),
    ("tell me more", True),
    ("the third one?", True),
    ("Who announced the strategy?", False),
    ("What is digital solidarity?", False),
    ("How do I bake sourdough bread?", False),
    ("What are the four areas of action?", False),
    ("Which countries does the strategy say promote a governance model that emphasizes domestic control of it?",
     False),  # a pronoun, but long and with its own content words
    ("", False),
])
def test_follow_up_rule(question, expected):
    assert ui.is_follow_up(question) is expected


def test_follow_up_query_leans_on_the_previous_search_only_for_follow_ups():
    assert ui.follow_up_query("", "who leads it?") == "who leads it?"  # nothing to lean on
    assert ui.follow_up_query(FOUR, "and the third one?") == f"{FOUR} and the third one?"
    assert ui.follow_up_query(FOUR, "Who announced the strategy?") == "Who announced the strategy?"
    long_previous = "x " * 995
    assert ui.follow_up_query(long_previous, "who leads it?", max_chars=2000) == "who leads it?"  # would not fit


def test_highlight_escapes_everything_and_marks_spans():
    text = "A <b>bold</b> claim. Then [x](javascript:alert(1))."
    out = render.highlight(text, 100, [(121, 140), (102, 113), (104, 110)])  # overlapping spans merge
    assert out == "A <mark>&lt;b&gt;bold&lt;/b&gt;</mark> claim. <mark>Then [x](javascript</mark>:alert(1))."
    assert render.highlight("abc", 0, [(5, 9), (-3, -1)]) == "abc"  # spans outside are ignored


def _citation(n, quote, passage, passage_start, **extra):
    start = passage_start + passage.index(quote)
    return {"n": n, "doc_id": "d1", "chunk_id": f"c{n}", "source": "evil <file>.txt", "title": "T <i>itle</i>",
            "page": extra.get("page"), "start": start, "end": start + len(quote), "quote": quote,
            "passage": passage, "passage_start": passage_start, "passage_end": passage_start + len(passage),
            "score": 0.9}


def test_turn_html_escapes_source_text_and_links_markers_to_cards():
    passage = "Intro. It says <img src=x onerror=alert(1)> here. Also <script>alert(1)</script> [3] too. End."
    document = "Before. " * 100 + passage + " After." * 100
    offset = document.index(passage)
    q1, q2 = "It says <img src=x onerror=alert(1)> here.", "Also <script>alert(1)</script> [3] too."
    answer = {"question": "q", "answer": f"{q1} [1] {q2} [1]", "abstained": False, "message": "",
              "sentences": [{"text": q1, "citation": 1}, {"text": q2, "citation": 1}],
              "citations": [_citation(1, q1, passage, offset, page=4), _citation(1, q2, passage, offset, page=4)],
              "retrieved": [], "timings_ms": {"total": 12.0}}
    html = render.turn_html(3, "<b>why</b>?", "<b>why</b>?", answer, lambda doc_id: document)
    for raw in ("<img", "<script", "<b>", "<i>", "<file>"):
        assert raw not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count('id="cite-3-1"') == 1  # one card for both quotes of [1]
    assert html.count('href="#cite-3-1"') == 2
    assert 'href="#cite-3-3"' not in html  # a literal "[3]" inside a quote is not a marker
    assert html.count("<mark>") == 2 + 2  # both quotes, in the passage and in the text around it
    assert "page 4" in html and "evil &lt;file&gt;.txt" in html
    assert "Text around this passage" in html and "Before. " in html and " After." in html
    assert "Follow-up" not in html


def test_turn_html_for_an_abstention_shows_closest_passages_not_an_answer():
    hit = {"doc_id": "d", "chunk_id": "c", "source": "a.txt", "title": "A", "page": None, "start": 0, "end": 5,
           "score": 0.1, "dense": 0.1, "bm25": 0.0, "text": "<svg onload=alert(1)> closest"}
    answer = {"question": "bread", "answer": "", "abstained": True, "message": "The sources don't answer this.",
              "sentences": [], "citations": [], "retrieved": [hit] * 5, "timings_ms": {}}
    html = render.turn_html(1, "and bread?", "Earlier question and bread?", answer, lambda d: None)
    assert "Closest passages (not an answer)" in html and "The sources don&#x27;t answer this." in html
    assert html.count('class="card muted"') == render.CLOSEST_SHOWN
    assert "cite-" not in html and "<mark>" not in html and "<svg" not in html
    assert "Follow-up: searched with “Earlier question and bread?”" in html


@pytest.fixture
def app(tmp_path) -> ui.ChatApp:
    sources = tmp_path / "sources"
    shutil.copytree(SOURCES, sources)
    for p in sources.iterdir():
        p.chmod(0o644)
    settings = Settings().replace(index_dir=str(tmp_path / "index"), sources_dir=str(sources))
    embedder = FakeEmbedder()
    build([sources], settings, embedder)
    return ui.ChatApp(Engine(settings, embedder=embedder))


def test_chat_turns_follow_ups_and_bad_questions(app):
    state = {"turns": [], "previous": "", "count": 0}
    html, state, box, notice = app.turn(FOUR, state)
    assert 'id="cite-1-1"' in html and 'href="#cite-1-1"' in html and box == "" and notice == ""
    html, state, _, _ = app.turn("and the third one?", state)
    assert state["previous"] == f"{FOUR} and the third one?" and state["count"] == 2
    assert html.count('class="turn"') == 2 and "Follow-up: searched with" in html
    html, state, _, _ = app.turn("What is digital solidarity?", state)
    assert state["previous"] == "What is digital solidarity?"
    for bad, message in (("   ", "Please type a question."), ("x" * 100_000, "100,000 characters long")):
        t0 = time.perf_counter()
        html2, state2, box, notice = app.turn(bad, state)
        assert message in notice and state2 is state and html2 == html and time.perf_counter() - t0 < 1


def test_api_ask_returns_the_answer_dict(app):
    out = app.api_ask(FOUR)
    expected = app.engine.ask(FOUR).to_dict()
    out.pop("timings_ms"), expected.pop("timings_ms")
    assert out == expected


def test_only_ask_is_a_public_api_endpoint(app):
    demo = app.blocks()
    public = [d["api_name"] for d in demo.config["dependencies"] if d.get("api_visibility") == "public"]
    assert public == ["ask"]


def test_rebuild_adds_uploads_and_switches_the_index(app, tmp_path):
    upload = tmp_path / "up" / "zorblax accord.md"
    upload.parent.mkdir()
    upload.write_text("# Zorblax\n\nThe Zorblax Accord was signed in Reykjavik in 2031.\n")
    (tmp_path / "up" / "virus.exe").write_bytes(b"MZ")
    old = app.engine.index.index_id
    report, status, files = app.rebuild([str(upload), str(tmp_path / "up" / "virus.exe")])
    assert "Index rebuilt and in use" in report and "Added (1): <code>zorblax accord.md</code>" in report
    assert "Rejected <code>virus.exe</code>: unsupported type" in report
    assert "<b>3</b> documents" in status and files is None
    assert app.engine.index.index_id != old
    assert (Path(app.settings.sources_dir) / "zorblax accord.md").is_file()
    answer = app.api_ask("Where was the Zorblax Accord signed?")
    assert {c["source"] for c in answer["citations"]} == {"zorblax accord.md"}
    report, *_ = app.rebuild([str(tmp_path / "up" / "virus.exe")])  # nothing valid: no rebuild
    assert "Nothing was added." in report and app.engine.index.index_id != old


def test_one_rebuild_at_a_time_and_questions_answered_from_the_old_index(app):
    gate, embedding = threading.Event(), threading.Event()
    fake = app.engine.embedder

    class SlowEmbedder(FakeEmbedder):
        def encode(self, texts, progress=False):
            if len(texts) > 1:  # the build, not a question
                embedding.set()
                assert gate.wait(30)
            return fake.encode(texts)

    app.engine.embedder = SlowEmbedder()
    Path(app.settings.sources_dir, "new.txt").write_text("The Zorblax Accord was signed in Reykjavik in 2031.")
    old = app.engine.index.index_id
    results = []
    worker = threading.Thread(target=lambda: results.append(app.rebuild(None, progress=lambda *a, **k: None)))
    worker.start()
    try:
        assert embedding.wait(30)
        busy, *_ = app.rebuild(None)
        assert "A rebuild is already running" in busy
        during = app.api_ask(FOUR)
        assert during["index_id"] == old and not during["abstained"]
    finally:
        gate.set()
        worker.join(30)
    assert "Index rebuilt and in use" in results[0][0]
    assert app.engine.index.index_id != old and app.api_ask(FOUR)["index_id"] == app.engine.index.index_id
    os.remove(Path(app.settings.sources_dir, "new.txt"))


def test_rebuild_failure_keeps_the_old_index(app):
    for p in Path(app.settings.sources_dir).iterdir():
        p.unlink()
    old = app.engine.index.index_id
    report, status, _ = app.rebuild(None)
    assert "The rebuild failed: no readable documents" in report and app.engine.index.index_id == old


def test_status_and_report_escape_names():
    manifest = {"n_documents": 2, "n_chunks": 10, "model": "/models/<evil>", "built_at": "2026-11-22T02:23:36+00:00",
                "documents": [{"source": "<a>.txt", "title": "<b>", "n_chunks": 1}]}
    status = render.status_html(manifest)
    assert "<b>2</b> documents" in status and "&lt;evil&gt;" in status and "2026-11-22 02:23 UTC" in status
    assert "&lt;a&gt;.txt" in render.documents_html(manifest)
    assert "<x>" not in render.report_html(None, "/tmp", [("<x>.md", "<x> (2).md", "<x>.md")], [("<x>.exe", "<why>")],
                                           "<err>", [("<x>.md", ".versions/<x>.md")])


def test_auth_flag_needs_user_and_password(capsys):
    assert ui.main(["--auth", "nopassword"]) == 2
    assert "USER:PASSWORD" in capsys.readouterr().err
