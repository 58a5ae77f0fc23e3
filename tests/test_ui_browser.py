"""The chat in a real Chromium (Debian's /usr/bin/chromium, driven by Playwright) against the real model.

One server for the module: a temporary copy of sources/ plus tests/data/hostile/, indexed once with the
real embedder. The conversation over sources/ + ../shared/corpus (follow-ups, a topic switch, "ask
standalone", reload, download) has a server of its own. Screenshots go to artifacts/ for a person to
look at.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import pytest

import ui
from rag import export

from .conftest import ROOT, SOURCES, copy_sources
from .servers import live_app, ui_process

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
HOSTILE = Path(__file__).resolve().parent / "data" / "hostile"
ARTIFACTS = ROOT / "artifacts"
FOUR = "What are the four areas of action?"
BREAD = "How do I bake sourdough bread?"
BLINKEN = "blinken-announces-international-cyber-strategy.txt"
STATE = "state-department-releases-cyberspace-digital-policy-strategy.txt"
SECOND_AREA = "Align rights-respecting approaches to digital and data governance with international partners"
HOSTILE_QUESTION = "Which image tag does the hostile markup sample contain?"
LITERALS = ("<img src=x onerror=alert(1)>", "<script>alert(1)</script>", '<form action="https://example.com/steal">',
            "[x](javascript:alert(1))", "<svg onload=alert(1)></svg>", "${alert(1)}",
            "{{constructor.constructor('alert(1)')()}}")


@pytest.fixture(scope="module")
def server(tmp_path_factory, real_embedder):
    with live_app(tmp_path_factory.mktemp("ui"), real_embedder, folders=[HOSTILE]) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium` (scripts/install does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def open_page(browser, url: str):  # noqa: ANN001, ANN201
    """A page on the chat (its own browser context, downloads on) that records dialogs and refuses (and
    records) any non-local request."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.dialogs, pg.external = [], []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))

    def route(r):
        if r.request.url.startswith(("http://127.0.0.1", "data:", "blob:")):
            return r.continue_()
        pg.external.append(r.request.url)
        return r.abort()

    pg.route("**/*", route)
    pg.goto(url)
    pg.wait_for_selector("#question textarea")
    return pg


@pytest.fixture
def page(browser, server):
    pg = open_page(browser, server.url)
    yield pg
    pg.context.close()


def ask(page, question: str) -> None:
    turns = page.locator("#conversation .turn").count()
    page.fill("#question textarea", question)
    page.click("#ask")
    wait_turns(page, turns + 1)


def wait_turns(page, n: int) -> None:  # noqa: ANN001
    page.wait_for_function(f"document.querySelectorAll('#conversation .turn').length >= {n}", timeout=30_000)


def document_text(app: ui.ChatApp, source: str) -> str:
    index = app.engine.index
    (doc,) = [d for d in index.documents if d.source == source]
    return doc.text


def exported_quotes_are_the_documents_text(markdown: str, app: ui.ChatApp) -> int:
    """Check every quote of a downloaded conversation against the document it names; return how many."""
    expected = []
    for line in markdown.split("\n"):
        if line.startswith("- [") and "`, " in line and "characters " in line:
            source = line.split("`")[-2]
            text = document_text(app, source)
            for span in line.rsplit("characters ", 1)[1].split(", "):
                start, end = map(int, span.split("–"))
                expected.append(text[start:end])
    quotes = export.quotes(markdown)
    assert quotes == expected and quotes
    return len(quotes)


def shot(locator, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    locator.screenshot(path=str(ARTIFACTS / name))


def test_answer_has_markers_that_bring_their_highlighted_card_into_view(page, server):
    from playwright.sync_api import expect

    ask(page, FOUR)
    turn = page.locator("#turn-1")
    expect(turn.locator(".answer")).to_contain_text("Promote, build and maintain an open, inclusive, secure")
    markers = turn.locator(".answer a.cite")
    assert markers.count() >= 2
    shot(page, "ui-page.png")
    shot(turn, "ui-answer.png")
    shot(turn.locator("aside.sources"), "ui-sources.png")
    last = markers.last
    href = last.get_attribute("href")
    assert href.startswith("#cite-1-")
    card = page.locator(href)
    page.set_viewport_size({"width": 420, "height": 400})  # narrow: cards stack below the answer, out of view
    page.evaluate("window.scrollTo(0, 0)")
    expect(card).not_to_be_in_viewport()
    last.click()
    expect(card).to_be_in_viewport()
    assert page.evaluate("location.hash") == href
    assert page.evaluate(f"document.querySelector('{href}').matches(':target')")
    expect(card.locator(".passage mark").first).to_be_visible()
    sentence = " ".join(last.evaluate("a => a.previousElementSibling.textContent").split())
    assert any(sentence in " ".join(m.split()) for m in card.locator(".passage mark").all_inner_texts())
    page.set_viewport_size({"width": 1280, "height": 900})
    card.locator("summary").click()
    expect(card.locator(".context")).to_be_visible()
    expect(card.locator(".context mark").first).to_be_visible()
    shot(card, "ui-card-open.png")
    n = server.app.engine.index.manifest["n_documents"]
    expect(page.locator("#status")).to_contain_text(f"{n} documents")
    assert page.external == [], f"the page tried to load from the internet: {page.external}"


def test_a_resolved_follow_up_says_how_it_was_searched_and_can_be_asked_standalone(page):
    from playwright.sync_api import expect

    ask(page, FOUR)
    expect(page.locator("#turn-1 .searched")).to_have_count(0)
    ask(page, "Who announced it?")
    searched = page.locator("#turn-2 .searched")
    expect(searched).to_be_visible()
    expect(searched).to_contain_text("Searched as: “Who announced the")
    expect(page.locator("#turn-2 .short b")).to_have_text("Antony Blinken")
    shot(page.locator("#turn-2"), "ui-follow-up.png")
    searched.locator(".standalone").click()
    wait_turns(page, 3)
    expect(page.locator("#turn-3 .qtext")).to_have_text("Who announced it?")
    # asked on its own this time: "it" is the longest document, not the areas of action (docs/api.md)
    expect(page.locator("#turn-3 .searched")).to_contain_text("Who announced it? (the International Cyberspace")
    page.click("#clear")
    expect(page.locator("#conversation .turn")).to_have_count(0)


def test_scope_to_one_document_shows_only_that_document(page, server):
    from playwright.sync_api import expect

    page.locator("#scope input").click()
    page.get_by_role("option", name=BLINKEN, exact=False).click()
    page.keyboard.press("Escape")
    expect(page.locator("#scope")).to_contain_text("Blinken announces international cyber strategy")
    ask(page, FOUR)
    turn = page.locator("#turn-1")
    expect(turn.locator(".scope")).to_have_text(f"Searched in: {BLINKEN}")
    wheres = turn.locator("aside.sources .card .where").all_inner_texts()
    assert wheres and set(wheres) == {BLINKEN}, wheres
    assert STATE not in turn.inner_text()
    shot(page, "ui-scope.png")
    answer = server.app.engine.ask(FOUR).to_dict()  # unscoped, the same question cites the other document
    assert STATE in {c["source"] for c in answer["citations"]}


def test_a_reload_keeps_the_conversation_and_new_chat_clears_it(page):
    from playwright.sync_api import expect

    ask(page, FOUR)
    ask(page, "Who announced it?")
    before = page.locator("#conversation").inner_text()
    page.reload()
    page.wait_for_selector("#question textarea")
    expect(page.locator("#conversation .turn")).to_have_count(2)
    assert page.locator("#conversation").inner_text() == before
    expect(page.locator("#turn-2 .searched")).to_be_visible()
    ask(page, "and the second area?")  # the restored turns are the history of the next question
    expect(page.locator("#turn-3 .answer")).to_contain_text(SECOND_AREA)
    page.click("#clear")
    expect(page.locator("#conversation .turn")).to_have_count(0)
    page.reload()
    page.wait_for_selector("#question textarea")
    page.wait_for_timeout(1000)
    expect(page.locator("#conversation .turn")).to_have_count(0)
    expect(page.locator("#conversation .empty")).to_be_visible()


def test_download_gives_markdown_whose_quotes_are_the_documents_text(page, server):
    ask(page, FOUR)
    ask(page, "Who announced it?")
    with page.expect_download() as info:
        page.click("#download")
    download = info.value
    assert download.suggested_filename == "conversation.md"
    markdown = Path(download.path()).read_text(encoding="utf-8")
    assert markdown.startswith("# Conversation") and "## 1. What are the four areas of action?" in markdown
    assert "## 2. Who announced it?" in markdown and "*Searched as: " in markdown and "Antony Blinken" in markdown
    assert exported_quotes_are_the_documents_text(markdown, server.app) >= 5


@pytest.mark.corpus
def test_a_conversation_over_the_corpus_resolves_follow_ups_and_keeps_new_topics_apart(browser, tmp_path,
                                                                                      real_embedder, shared_corpus):
    """The issue's acceptance conversation, then "ask standalone", a reload and the download."""
    from playwright.sync_api import expect

    with live_app(tmp_path, real_embedder, folders=[HOSTILE], extra_roots=[shared_corpus]) as served:
        page = open_page(browser, served.url)
        try:
            ask(page, FOUR)
            expect(page.locator("#turn-1 .answer")).to_contain_text(SECOND_AREA)
            ask(page, "Who announced it?")
            turn = page.locator("#turn-2")
            expect(turn.locator(".searched")).to_be_visible()
            expect(turn.locator(".short b")).to_have_text("Antony Blinken")
            expect(turn.locator(".answer")).to_contain_text("Antony Blinken")
            expect(turn.locator("aside.sources .card .where").first).to_have_text(BLINKEN)
            ask(page, "and the second area?")
            turn = page.locator("#turn-3")
            expect(turn.locator(".searched")).to_contain_text("second area")
            expect(turn.locator(".answer")).to_contain_text(SECOND_AREA)
            ask(page, "What is an SBOM?")
            turn = page.locator("#turn-4")
            expect(turn.locator(".searched")).to_have_count(0)  # a new topic: searched as typed
            expect(turn.locator(".answer")).to_contain_text("SBOM")
            assert "Blinken" not in turn.locator(".answer").inner_text()
            shot(page.locator("#conversation"), "ui-conversation.png")
            page.locator("#turn-2 .standalone").click()
            wait_turns(page, 5)
            expect(page.locator("#turn-5 .qtext")).to_have_text("Who announced it?")
            # not the conversation's topic: the longest document's
            expect(page.locator("#turn-5 .searched")).to_contain_text("Who announced it? (the National Cybersecurity")
            before = page.locator("#conversation").inner_text()
            page.reload()
            page.wait_for_selector("#question textarea")
            expect(page.locator("#conversation .turn")).to_have_count(5)
            assert page.locator("#conversation").inner_text() == before
            with page.expect_download() as info:
                page.click("#download")
            markdown = Path(info.value.path()).read_text(encoding="utf-8")
            assert [line for line in markdown.split("\n") if line.startswith("## ")] == [
                f"## 1. {export.escape(FOUR)}", "## 2. Who announced it?", "## 3. and the second area?",
                "## 4. What is an SBOM?", "## 5. Who announced it?"]
            assert exported_quotes_are_the_documents_text(markdown, served.app) >= 8
            assert page.external == [] and page.dialogs == []
        finally:
            page.context.close()


def test_abstention_looks_different_and_shows_closest_passages(page):
    from playwright.sync_api import expect

    ask(page, BREAD)
    turn = page.locator("#turn-1")
    expect(turn.locator(".abstain")).to_contain_text("The sources don't answer this")
    expect(turn.locator(".closest .label")).to_have_text("Closest passages (not an answer)")
    assert turn.locator(".closest .card").count() >= 1
    expect(turn.locator("a.cite")).to_have_count(0)
    expect(turn.locator("mark")).to_have_count(0)
    shot(turn, "ui-abstention.png")


def test_empty_and_huge_questions_get_a_clear_message(page):
    from playwright.sync_api import expect

    page.fill("#question textarea", "")
    page.click("#ask")
    expect(page.locator("#notice")).to_contain_text("Please type a question.")
    t0 = time.perf_counter()
    page.fill("#question textarea", "why " * 25_000)
    page.click("#ask")
    expect(page.locator("#notice")).to_contain_text("100,000 characters long", timeout=15_000)
    assert time.perf_counter() - t0 < 15
    expect(page.locator("#conversation .turn")).to_have_count(0)


def test_hostile_source_text_shows_literally_and_runs_nothing(page):
    from playwright.sync_api import expect

    ask(page, HOSTILE_QUESTION)
    turn = page.locator("#turn-1")
    turn.locator("details summary").first.click()
    expect(turn.locator(".card .where").first).to_contain_text("hostile-markup.txt")
    expect(turn.get_by_text("<img src=x onerror=alert(1)>").first).to_be_visible()
    text = turn.inner_text()
    for literal in LITERALS:
        assert literal in text, literal
    for selector in ("img", "script", "form", "iframe", "svg", "input", "a[href^='javascript']"):
        assert turn.locator(selector).count() == 0, selector
    page.wait_for_timeout(1000)
    assert page.dialogs == []
    shot(turn, "ui-hostile.png")


def test_upload_rebuild_then_answer_from_the_new_file(page, server, tmp_path):
    from playwright.sync_api import expect

    new = tmp_path / "zorblax-accord.md"
    new.write_text("# Zorblax notes\n\nThe Zorblax Accord was signed in Reykjavik in 2031.\n")
    bad = tmp_path / "tool.exe"
    bad.write_bytes(b"MZ\x00\x00")
    repo_before = sorted(p.name for p in SOURCES.iterdir())
    old = server.app.engine.index.index_id
    n = server.app.engine.index.manifest["n_documents"]
    page.get_by_role("tab", name="Add documents").click()
    page.locator("#upload input[type=file]").set_input_files([str(new), str(bad)])
    expect(page.locator("#upload tbody tr")).to_have_count(2)  # both uploaded
    page.click("#rebuild")
    expect(page.locator("#report .ok")).to_contain_text("Index rebuilt and in use", timeout=120_000)
    report = page.locator("#report")
    expect(report).to_contain_text("Added (1): zorblax-accord.md")
    expect(report).to_contain_text("Rejected tool.exe: unsupported type")
    expect(page.locator("#status")).to_contain_text(f"{n + 1} documents")
    page.wait_for_timeout(500)  # let the progress overlay fade out before the screenshot
    shot(page, "ui-rebuild.png")
    assert (Path(server.settings.sources_dir) / "zorblax-accord.md").is_file()
    assert not (Path(server.settings.sources_dir) / "tool.exe").exists()
    assert sorted(p.name for p in SOURCES.iterdir()) == repo_before
    assert server.app.engine.index.index_id != old
    page.get_by_role("tab", name="Chat").click()
    ask(page, "Where was the Zorblax Accord signed?")
    turn = page.locator("#turn-1")
    expect(turn.locator(".answer")).to_contain_text("The Zorblax Accord was signed in Reykjavik in 2031.")
    expect(turn.locator(".card .where").first).to_have_text("zorblax-accord.md")


def test_api_ask_returns_the_same_dict_as_rag_ask_json(server):
    from gradio_client import Client

    client = Client(server.url, verbose=False)
    out = client.predict(FOUR, api_name="/ask")
    assert isinstance(out, dict) and not out["abstained"] and out["citations"]
    cli = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "--json", "--index", server.settings.index_dir, FOUR],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert cli.returncode == 0, cli.stderr
    expected = json.loads(cli.stdout)
    out.pop("timings_ms"), expected.pop("timings_ms")
    assert out == expected
    empty = client.predict("", api_name="/ask")
    assert empty["abstained"] and empty["message"] == "Please type a question." and empty["retrieved"] == []


def test_the_http_api_is_served_beside_the_chat(server):
    from gradio_client import Client

    chat = Client(server.url, verbose=False).predict(FOUR, api_name="/ask")
    with httpx.Client(base_url=server.url, timeout=60) as http:
        r = http.post("/api/ask", json={"question": FOUR})
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        api = r.json()
        follow = http.post("/api/ask", json={"question": "Who announced it?", "history": [api]}).json()
        assert http.get("/api/info").json()["n_documents"] == server.app.engine.index.manifest["n_documents"]
        assert http.get("/api/docs").status_code == 200
        bad = http.post("/api/ask", content=b"{nope", headers={"content-type": "application/json"})
        assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]
    chat.pop("timings_ms"), api.pop("timings_ms")
    assert api == chat
    assert follow["understood_as"] and "Antony Blinken" in follow["answer"]


def test_python_ui_py_builds_a_missing_index_then_serves(tmp_path):
    sources = copy_sources(tmp_path / "sources", [HOSTILE])
    env = {"RAG_SOURCES_DIR": str(sources), "HF_HUB_OFFLINE": "1"}
    with ui_process("--index", str(tmp_path / "ix"), env=env, cwd=tmp_path, wait=180) as proc:
        output = proc.output()
        assert f"Chat running at http://127.0.0.1:{proc.port}/" in output, output
        assert "No index at" in output and "[100%] done" in output and "3 documents" in output
        with urllib.request.urlopen(f"http://127.0.0.1:{proc.port}/", timeout=10) as r:
            assert r.status == 200
