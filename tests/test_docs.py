"""The docs cannot drift: every ``$ command`` shown in README.md and docs/*.md runs here, and what it prints
must still match what the page shows.

How a page is read: in an indented code block, a line ``$ command`` (continued while it ends with ``\\`` or
has an open quote) is a command, and the lines up to the next ``$`` line or the end of the block are its
output. Output is compared as doctest does with ELLIPSIS and NORMALIZE_WHITESPACE (``...`` stands for any
text; line breaks and runs of spaces are all one space), after both sides are normalised: build ids, times
of day, durations ("in 1.2s") and the numbers of ``rag eval``'s latency rows become placeholders, and the
folders the test runs in are written the way the docs show them (the project in /work/main, scratch
indexes in /tmp). A command shown without output must exit 0. In a chat transcript the text after each
``you> `` is what the command reads from its input, ``^D`` the end of it.

Every page runs in a project folder of its own (``sources`` and ``eval`` linked from the repository, the
default index its own), all its commands in order in one shell, so later commands see what earlier ones
built and the shell variables they set. Commands that read ../shared/corpus or the index built from it
(/tmp/ix-all) run in a second test of the page, skipped when ../shared/corpus is absent; /tmp/ix-all is
built once per session. The api.md page gets a ``rag serve`` of its own; limits.md the files it describes.

A command in any code block, with or without ``$``, either runs here or is in ``NOT_RUN`` with the reason,
so a new one cannot slip in unchecked. Benchmarks print measurements, not fixed text: benchmarks/smoke.py
runs each once with its smallest options, and a test here checks that it lists every benchmark the docs
name.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from rag import store
from rag.config import Settings

from .conftest import ROOT, SOURCES, free_port
from .doc_commands import CORPUS_INDEX, Command, Project, check_page, code_blocks, commands, make_project

PAGES = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]
README_LIMIT = 12_000  # bytes: the README holds what a newcomer needs first, docs/ the rest

NOT_RUN = [  # (pattern found in the command, why it is not run here)
    (r"^bash scripts/install", "sets up the environment these tests run in (CI runs it: .ci/run)"),
    (r"\[--|\[[A-Z]", "a synopsis of the options, not a command"),
    (r"rag serve|(?<![\w/])ui\.py", "a server that runs until stopped: the api.md test starts one of its "
                                    "own, tests/test_serving.py checks what it serves"),
    (r"-m pytest", "the test suite itself"),
    (r"\.venv/bin/(ruff|mypy)", "checks of the code; they print no output the docs show"),
    (r"pip install", "installs the benchmark extras"),
    (r"benchmarks/\w+\.py", "a benchmark prints measurements: benchmarks/smoke.py runs each with its smallest "
                            "options (test_every_benchmark_the_docs_name_has_a_smoke_run)"),
    (r"--index /tmp/ix-src", "the index benchmarks/load.py serves: a step of that benchmark"),
    (r"^rag build sources --index index$", "the README's tour runs this build (`rag build`: sources/ into index/)"),
    (r"^rag train(?!.* --cv)", "rewrites rag/models/selector.json; tests/test_selector.py trains and checks the "
                               "result (`rag train --cv` writes nothing and runs here)"),
    (r"Bearer s3cret|-u ann:pw", "needs a server started with a token or a login (the line above); "
                                 "tests/test_serving.py checks the API's logins"),
]


def why_not_run(command: Command) -> str | None:
    return next((why for pattern, why in NOT_RUN if re.search(pattern, command.bare)), None)


def runnable(page: str, corpus: bool) -> list[Command]:
    return [c for c in commands(page) if c.shown and not why_not_run(c) and c.needs_corpus == corpus]


# -- what some pages need ----------------------------------------------------------------------------------

def limits_files(project: Project, embedder) -> None:  # noqa: ANN001
    """What docs/limits.md says src/ and tiny/ hold."""
    src = project.proj / "src"
    if src.exists():
        return
    src.mkdir()
    for p in SOURCES.iterdir():
        (src / p.name).write_bytes(p.read_bytes())
    (src / "notes.md").write_text("---\ntitle: Notes\n---\nThe notes list two facts. Both are short.\n", "utf-8")
    (src / "bom.txt").write_bytes(b"\xff\xfeA")
    rows = "".join(f"<tr><td>{i}</td><td>x</td></tr>" for i in range(3000))
    (src / "table.html").write_text(f"<html><body><table><tr><td>{'w' * 2000}</td><td>head</td></tr>{rows}"
                                    "</table></body></html>", "utf-8")
    (project.proj / "tiny").mkdir()
    (project.proj / "tiny" / "tiny.txt").write_text("Ab cd. " * (2**20 // 7), "utf-8")


def api_server(project: Project, embedder) -> subprocess.Popen:  # noqa: ANN001
    """``rag serve`` on a free port over the page's own index of sources/; the docs' port maps to it."""
    from rag.indexing import build

    build([SOURCES], Settings(index_dir=project.env["RAG_INDEX_DIR"]), embedder)
    port = free_port()
    (project.proj / "uploads").mkdir(exist_ok=True)
    server = subprocess.Popen(["rag", "serve", "--port", str(port), "--sources", str(project.proj / "uploads")],
                              cwd=project.proj, env=project.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            os.killpg(server.pid, signal.SIGKILL)
            pytest.fail(f"rag serve did not start for docs/api.md (exit {server.poll()})")
        time.sleep(0.3)
    project.replace = {"localhost:7860": f"localhost:{port}", "127.0.0.1:7860": f"127.0.0.1:{port}"}
    return server


# -- fixtures ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def docs_session(tmp_path_factory) -> Path:
    session = tmp_path_factory.mktemp("docs")
    (session / "tmp").mkdir()
    return session


@pytest.fixture(scope="session")
def docs_corpus_index(docs_session, corpus_index) -> Path:
    """/tmp/ix-all of the docs (sources/ + ../shared/corpus): a copy of the session's corpus index, so the
    pages' own ``rag build`` of it finds every document unchanged."""
    folder = docs_session / "tmp" / Path(CORPUS_INDEX).name
    shutil.copytree(corpus_index.index_dir, folder, symlinks=True)
    return folder


# -- the tests ---------------------------------------------------------------------------------------------

@pytest.mark.e2e
@pytest.mark.parametrize("page", [p for p in PAGES if runnable(p, corpus=False)])
def test_the_commands_of_a_page_print_what_it_shows(page, docs_session, real_embedder):
    project = make_project(docs_session, page)
    server = None
    if page == "docs/limits.md":
        limits_files(project, real_embedder)
    if page == "docs/api.md":
        server = api_server(project, real_embedder)
    try:
        check_page(project, runnable(page, corpus=False))
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)


@pytest.mark.e2e
@pytest.mark.corpus
@pytest.mark.parametrize("page", [p for p in PAGES if runnable(p, corpus=True)])
def test_the_corpus_commands_of_a_page_print_what_it_shows(page, shared_corpus, docs_corpus_index, docs_session):
    check_page(make_project(docs_session, page), runnable(page, corpus=True))


def test_every_command_in_the_docs_runs_or_says_why_not():
    found = [c for page in PAGES for c in commands(page)]
    unchecked = [f"{c.page}, line {c.line}: {c.bare}" for c in found if not c.shown and not why_not_run(c)]
    assert not unchecked, ("commands shown without `$` (so not run) and not in NOT_RUN; show them with `$` and "
                           "their output, or say in NOT_RUN why they are not run:\n" + "\n".join(unchecked))
    unused = [pattern for pattern, _ in NOT_RUN if not any(re.search(pattern, c.bare) for c in found)]
    assert not unused, f"NOT_RUN entries that match no command any more: {unused}"
    assert sum(c.shown and not why_not_run(c) for c in found) >= 25  # the parser still finds the transcripts


def test_every_benchmark_the_docs_name_has_a_smoke_run():
    spec = importlib.util.spec_from_file_location("smoke", ROOT / "benchmarks" / "smoke.py")
    assert spec and spec.loader
    smoke = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(smoke)
    named = {m for page in PAGES for c in commands(page) for m in re.findall(r"benchmarks/(\w+)\.py", c.text)}
    assert named and named <= set(smoke.RUNS), f"no smoke run for {sorted(named - set(smoke.RUNS))}"
    scripts = {p.stem for p in (ROOT / "benchmarks").glob("*.py")} - {"common", "synthetic", "scale_index", "smoke"}
    assert scripts == set(smoke.RUNS), "benchmarks/smoke.py must list every benchmark script"


def test_the_readme_index_layout_is_what_the_store_requires():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## The index on disk"):]
    _, lines = code_blocks(section)[0]
    assert lines[0].startswith("index/current -> builds/")
    listed = [line.split()[0] for line in lines[1:] if line.startswith("    ") and line.strip()]
    listed = [name for name in listed if re.fullmatch(r"[\w.]+/?", name)]
    assert sorted(listed) == sorted([*store.FILES, "bm25/"])
    assert all(name.startswith("bm25/") for name in store.BM25_FILES)


def test_the_readme_opens_with_the_two_commands_and_links_every_page():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) < README_LIMIT, "the README is what a newcomer needs first: move the rest to docs/"
    (_, first), (_, second) = code_blocks(text)[:2]
    assert first == ["bash scripts/install && .venv/bin/python ui.py"]
    assert second == [".venv/bin/python -m pytest"]
    linked = set(re.findall(r"\]\((docs/[\w.-]+\.md)", text))
    assert linked == {p for p in PAGES if p.startswith("docs/")}
    assert "test-split" in text and "train-split" in text  # which table of docs/answers.md is which


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings."""
    heads = re.findall(r"(?m)^#+ (.+)$", page.read_text(encoding="utf-8"))
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


@pytest.mark.parametrize("page", PAGES)
def test_links_between_pages_resolve(page):
    path = ROOT / page
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text(encoding="utf-8")):
        if re.match(r"\w+://|mailto:", target):
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(target)
    assert not broken, f"{page}: links to nothing: {broken}"
