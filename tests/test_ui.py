"""ui.py, ui_render.py and ui_state.py without a browser (fake embedder): escaping, the chat turn with its
history, "ask standalone", scope, the short answer, what the browser keeps and restores, the Markdown
download, and the rebuild handler. The upload rules themselves are tested in test_uploads.py; the
follow-up rules in test_conversation.py."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

import ui
import ui_render as render
import ui_state
from rag import export

from .conftest import FakeEmbedder
from .servers import chat_app

HOSTILE = Path(__file__).resolve().parent / "data" / "hostile" / "hostile-markup.txt"
FOUR = "What are the four areas of action?"


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
    assert "Searched as" not in html and "standalone" not in html


def test_turn_html_for_an_abstention_shows_closest_passages_not_an_answer():
    hit = {"doc_id": "d", "chunk_id": "c", "source": "a.txt", "title": "A", "page": None, "start": 0, "end": 5,
           "score": 0.1, "dense": 0.1, "bm25": 0.0, "text": "<svg onload=alert(1)> closest"}
    answer = {"question": "bread", "answer": "", "abstained": True, "message": "The sources don't answer this.",
              "sentences": [], "citations": [], "retrieved": [hit] * 5, "timings_ms": {}}
    html = render.turn_html(1, "and bread?", "Earlier question and bread?", answer, lambda d: None)
    assert "Closest passages (not an answer)" in html and "The sources don&#x27;t answer this." in html
    assert html.count('class="card muted"') == render.CLOSEST_SHOWN
    assert "cite-" not in html and "<mark>" not in html and "<svg" not in html
    assert "Searched as: “Earlier question and bread?”" in html
    assert '<a class="standalone" role="button" tabindex="0" data-turn="1">Ask standalone instead</a>' in html


@pytest.fixture
def app(tmp_path) -> ui.ChatApp:
    return chat_app(tmp_path, FakeEmbedder())


def test_chat_turns_send_the_history_and_show_how_a_follow_up_was_searched(app, monkeypatch):
    seen = []
    ask = app.engine.ask
    monkeypatch.setattr(app.engine, "ask", lambda q, **kw: seen.append((q, kw)) or ask(q, **kw))
    state = ui_state.empty()
    html, state, kept, box, notice = app.turn(FOUR, state)
    assert 'id="cite-1-1"' in html and 'href="#cite-1-1"' in html and box == "" and notice == ""
    assert seen[-1] == (FOUR, {"history": [], "sources": None}) and "Searched as" not in html
    html, state, kept, _, _ = app.turn("Who announced it?", state)
    assert [t["question"] for t in seen[-1][1]["history"]] == [FOUR]
    assert seen[-1][1]["history"][0]["answer"].startswith("Four areas of action")
    second = state["turns"][-1]
    assert second["question"] == "Who announced it?" and second["understood_as"]
    assert html.count('class="turn"') == 2 and f"Searched as: “{render.esc(second['understood_as'])}”" in html
    assert 'data-turn="2">Ask standalone instead' in html and 'data-turn="1"' not in html
    html, state, _, _, _ = app.turn("What is digital solidarity?", state)
    assert state["turns"][-1]["understood_as"] is None and html.count("Searched as") == 1
    assert kept["turns"] != state["turns"] and app.stored(state)["turns"] == state["turns"]
    for bad, message in (("   ", "Please type a question."), ("x" * 100_000, "100,000 characters long")):
        t0 = time.perf_counter()
        html2, state2, kept2, box, notice = app.turn(bad, state)
        assert message in notice and state2 is state and time.perf_counter() - t0 < 1
        assert html2 == kept2 == box == {"__type__": "update"}  # the page and the stored conversation stay


def test_ask_standalone_asks_the_turns_own_question_without_history(app, monkeypatch):
    state = ui_state.empty()
    _, state, _, _, _ = app.turn(FOUR, state)
    _, state, _, _, _ = app.turn("Who announced it?", state)
    seen = []
    ask = app.engine.ask
    monkeypatch.setattr(app.engine, "ask", lambda q, **kw: seen.append((q, kw)) or ask(q, **kw))
    html, new, _, _, _ = app.standalone(state, 2)
    assert seen == [("Who announced it?", {"history": None, "sources": None})]
    # asked as a first question: "it" is the longest document (docs/api.md), not the areas of action before
    assert new["count"] == 3 and new["turns"][-1]["understood_as"] == "Who announced it? (the International " \
        "Cyberspace Strategy)"
    assert new["turns"][-1]["question"] == "Who announced it?" and html.count('class="turn"') == 3
    for bad in (99, 0, "2", None, True, 2.0):  # no such turn: nothing happens
        assert app.standalone(new, bad)[1] is new


def test_scope_limits_the_documents_and_the_turn_says_so(app):
    blinken = "blinken-announces-international-cyber-strategy.txt"
    assert blinken in [v for _, v in app.documents()]
    html, state, _, _, notice = app.turn(FOUR, ui_state.empty(), [blinken])
    turn = state["turns"][-1]
    assert notice == "" and turn["scope"] == [blinken]
    assert {c["source"] for c in turn["citations"]} <= {blinken} and turn["citations"]
    assert f"Searched in: <code>{blinken}</code>" in html
    assert "state-department-releases" not in html.split('<aside class="sources">')[1]
    html, same, _, _, notice = app.turn(FOUR, state, ["no-such.txt"])
    assert "no document named &#x27;no-such.txt&#x27;" in notice and same is state and html == {"__type__": "update"}
    update = app.scope_choices([blinken, "gone.txt"])
    assert update["value"] == [blinken] and len(update["choices"]) == 2


def test_the_short_answer_comes_first_in_bold_and_escaped():
    answer = {"question": "Who?", "answer": "<Ann> did it. [1]", "abstained": False, "message": "",
              "sentences": [{"text": "<Ann> did it.", "citation": 1}], "retrieved": [],
              "citations": [_citation(1, "<Ann> did it.", "<Ann> did it.", 0)],
              "short_answer": {"text": "<Ann>", "start": 0, "end": 5, "citation": 1, "kind": "person"}}
    html = render.turn_html(1, "Who?", "Who?", answer, lambda d: None)
    assert '<p class="short"><b>&lt;Ann&gt;</b>&nbsp;<a class="cite" href="#cite-1-1">[1]</a></p><p class="answer">' \
        in html
    assert '<p class="short">' not in render.turn_html(1, "Who?", "Who?", {**answer, "short_answer": None},
                                                       lambda d: None)


def test_what_the_browser_keeps_restores_the_same_page(app):
    state = ui_state.empty()
    for q in (FOUR, "and the second area?", "How do I bake sourdough bread?"):
        page, state, kept, _, _ = app.turn(q, state)
    assert app.restore(json.loads(json.dumps(kept))) == (page, state)
    assert app.restore(None) == (render.conversation_html([]), ui_state.empty())
    junk = {"v": 1, "count": "many", "turns": [42, {"question": 7}, {"question": "<b>q</b>", "abstained": "yes",
                                                                    "citations": [{"n": "1"}], "sentences": "x"}]}
    html, restored = app.restore(junk)
    assert restored["count"] == 1 and restored["turns"][0]["question"] == "<b>q</b>"
    assert "&lt;b&gt;q&lt;/b&gt;" in html and "<b>q</b>" not in html


def test_what_the_browser_keeps_stays_under_half_the_request_limit(app):
    state = ui_state.empty()
    for _ in range(40):
        state = ui_state.add(state, app.engine.ask(FOUR).to_dict())
    assert len(state["turns"]) == ui_state.MAX_TURNS and state["count"] == 40
    limit = app.settings.max_request_kb * 1024 // 2
    kept = app.stored(state)
    assert len(json.dumps(kept)) <= limit and kept["count"] == 40
    small = ui_state.stored(state, 20_000)
    assert 0 < len(small["turns"]) < len(state["turns"]) and small["turns"] == state["turns"][-len(small["turns"]):]
    assert [n for n, _ in ui_state.numbered(ui_state.restore(small))][-1] == 40


def test_download_is_markdown_whose_quotes_are_the_documents_text(app):
    state = ui_state.empty()
    for q in (FOUR, "Who announced it?"):
        _, state, _, _, _ = app.turn(q, state)
    markdown = app.export(state)
    assert markdown.startswith("# Conversation") and "## 2. Who announced it?" in markdown
    assert "*Searched as: " in markdown
    quotes = export.quotes(markdown)
    texts = [app._document(c["doc_id"])[c["start"]:c["end"]] for t in state["turns"] for c in
             sorted(t["citations"], key=lambda c: (c["n"], c["start"]))]
    assert quotes == texts and quotes
    assert app.export(ui_state.empty()) == ""


def test_the_page_has_one_session_state_and_a_browser_state(app):
    kinds = [type(b).__name__ for b in app.blocks().blocks.values()]
    assert kinds.count("State") == 1 and kinds.count("BrowserState") == 1


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

    old = app.engine.index.index_id  # loaded (and its off-topic floor embedded) before the build is slowed
    app.engine.embedder = SlowEmbedder()
    Path(app.settings.sources_dir, "new.txt").write_text("The Zorblax Accord was signed in Reykjavik in 2031.")
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
