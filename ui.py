"""The browser chat over ``rag.engine.Engine``: ``python ui.py`` or ``rag serve``.

Answers are rendered by ``ui_render`` (everything escaped, shown with ``gr.HTML``); the same answer
dict is served at the ``/ask`` API endpoint. The "Add documents" tab hands uploads to ``rag.uploads``
(saved beside, never over, what is there) and rebuilds the index while the chat keeps answering from the
previous one; with ``--auth`` it also replaces and removes documents, keeping the previous version.

Follow-up rule (``is_follow_up``): after a first question, a new one is searched together with the
previous search text when it
  - starts with "and", "what about" or "how about" ("and the third one?"), or
  - has at most 6 words and refers back with it/its/they/them/their/this/that/these/those/he/she/one
    ("who leads it?"), or
  - has no content words of its own ("why?", "tell me more").
Anything else ("Who announced the strategy?") is a new topic and is searched alone.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

import ui_render as render  # noqa: E402
from rag import store, uploads  # noqa: E402
from rag.config import Settings, from_env  # noqa: E402
from rag.embedding import ModelNotFound  # noqa: E402
from rag.engine import Engine, clean_question, index_exists  # noqa: E402
from rag.indexing import BuildError, build  # noqa: E402
from rag.server_limits import BodyLimit, start_sweeping  # noqa: E402
from rag.sources import SUPPORTED  # noqa: E402

MAX_TURNS = 30  # older turns drop off the page
EXAMPLES = ("What are the four areas of action?", "Who announced the strategy?", "What is digital solidarity?")
BACK_REFERENCES = frozenset("it its they them their theirs this that these those he him his she her one ones".split())
FUNCTION_WORDS = BACK_REFERENCES | frozenset(
    "what who whom whose which when where why how is are was were be been being do does did can could will would "
    "should shall may might must has have had a an the some any all each every of in on at to for from with about by "
    "as into than and or but so then also too i me my we us our you your there here else more tell explain please "
    "again other another same first second third fourth fifth sixth last next not no yes ok okay".split())
PROGRESS = gr.Progress()  # gradio finds the progress bar by this default value
SCROLL_JS = ("() => { const t = document.querySelectorAll('#conversation .turn');"
             " if (t.length) t[t.length - 1].scrollIntoView({behavior: 'smooth', block: 'start'}); }")


def is_follow_up(question: str) -> bool:
    """Whether ``question`` leans on the previous turn (the rule in the module docstring).

    >>> [is_follow_up(q) for q in ("and the third one?", "who leads it?", "Who announced the strategy?")]
    [True, True, False]
    """
    words = re.findall(r"[a-z0-9]+", question.lower())
    if not words:
        return False
    if words[0] == "and" or words[:2] in (["what", "about"], ["how", "about"]):
        return True
    if len(words) <= 6 and BACK_REFERENCES.intersection(words):
        return True
    return all(w in FUNCTION_WORDS for w in words)


def follow_up_query(previous: str, question: str, max_chars: int = 2000) -> str:
    """The text to search with: ``question`` alone, or ``f"{previous} {question}"`` for a follow-up.

    >>> follow_up_query("What are the four areas of action?", "and the third one?")
    'What are the four areas of action? and the third one?'
    >>> follow_up_query("What are the four areas of action?", "What is digital solidarity?")
    'What is digital solidarity?'
    """
    if not previous or not is_follow_up(question):
        return question
    combined = f"{previous} {question}"
    return combined if len(combined) <= max_chars else question


class ChatApp:
    """The state shared by every browser session: one engine, one rebuild at a time.

    Uploads go into ``upload_dir`` (default ``settings.sources_dir``); ``manage`` adds the replace and
    remove controls (``main`` turns it on only with ``--auth``)."""

    def __init__(self, engine: Engine, upload_dir: str | None = None, manage: bool = False) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.upload_dir = str(upload_dir or self.settings.sources_dir)
        self.manage = manage
        self.rebuilding = threading.Lock()

    def _document(self, doc_id: str) -> str | None:
        index = self.engine.index  # doc_id is a hash of the file, so any index holding it has the same text
        return index.document(doc_id).text if doc_id in index.doc_row else None

    def turn(self, question: str, state: dict[str, Any]) -> tuple[str, dict[str, Any], Any, str]:
        """One chat turn: (conversation HTML, new state, question box, notice)."""
        turns, previous = list(state.get("turns", [])), state.get("previous", "")
        cleaned, problem = clean_question(question, self.settings.max_question_chars)
        if problem:
            return render.conversation_html(turns), state, gr.update(), render.notice_html(problem)
        searched = follow_up_query(previous, cleaned, self.settings.max_question_chars)
        answer = self.engine.ask(searched).to_dict()
        turn = state.get("count", 0) + 1
        turns = (turns + [render.turn_html(turn, cleaned, searched, answer, self._document)])[-MAX_TURNS:]
        new = {"turns": turns, "previous": searched, "count": turn}
        return render.conversation_html(turns), new, "", ""

    def api_ask(self, question: str) -> dict:
        """Answer one question from the documents: the same JSON object as `rag ask --json`."""
        answer = self.engine.ask(question).to_dict()
        answer["question"] = answer["question"][:self.settings.max_question_chars]  # never echo more
        return answer

    def roots(self) -> list:
        """What a rebuild reads: the folders the index was built from, plus the upload folder."""
        try:
            serving = self.engine.index.manifest.get("roots", [])
        except store.IndexError_:
            serving = []
        return uploads.rebuild_roots(uploads.indexed_roots(self.settings.index_dir, serving), self.upload_dir)

    def rebuild(self, files: Sequence[str] | None, progress: Callable[..., Any] = lambda *a, **k: None
                ) -> tuple[str, Any, Any]:
        """Save uploads into the upload folder, rebuild, switch to the new index: (report, status, files)."""
        return self._run(lambda say: uploads.add(list(files or []), self.upload_dir, self.settings,
                                                 self.engine.embedder, self.roots(), say), progress)

    def replace_document(self, name: str, file: str | None, progress: Callable[..., Any] = lambda *a, **k: None
                         ) -> tuple[str, Any, Any, Any]:
        """Put ``file`` in place of the document ``name``; the previous version is kept."""
        if not file:
            return render.report_html(None, self.upload_dir, error="Choose the new version first."), \
                gr.update(), gr.update(), gr.update()
        return (*self._run(lambda say: uploads.replace(name, file, self.upload_dir, self.settings,
                                                       self.engine.embedder, self.roots(), say), progress),
                gr.update(choices=uploads.documents(self.upload_dir), value=None))

    def remove_document(self, name: str, progress: Callable[..., Any] = lambda *a, **k: None
                        ) -> tuple[str, Any, Any, Any]:
        """Take the document ``name`` out of the sources; its last version is kept."""
        report, status, _ = self._run(lambda say: uploads.remove(name, self.upload_dir, self.settings,
                                                                 self.engine.embedder, self.roots(), say), progress)
        return report, status, gr.update(), gr.update(choices=uploads.documents(self.upload_dir), value=None)

    def _run(self, action: Callable[[uploads.Progress], uploads.Outcome], progress: Callable[..., Any]
             ) -> tuple[str, Any, Any]:
        root = self.upload_dir
        if not self.rebuilding.acquire(blocking=False):
            return render.report_html(None, root, error="A rebuild is already running; nothing was saved; try "
                                      "again when it ends."), gr.update(), gr.update()
        try:
            progress(0.0, desc="reading files")
            out = action(lambda fraction, message: progress(fraction, desc=message))
            if out.report is None:
                return (render.report_html(None, root, out.saved, out.rejected, out.error, out.kept), gr.update(),
                        gr.update() if out.error == uploads.BUSY else None)
            try:
                index = self.engine.reload()
            except store.IndexError_ as e:
                return render.report_html(out.report, root, out.saved, out.rejected, f"The new index was built "
                                          f"but cannot be used: {e}", out.kept), gr.update(), None
            return (render.report_html(out.report, root, out.saved, out.rejected, kept=out.kept)
                    + render.documents_html(index.manifest), render.status_html(index.manifest), None)
        finally:
            self.rebuilding.release()

    def blocks(self) -> gr.Blocks:
        def manifest() -> dict[str, Any]:
            return self.engine.index.manifest

        s = self.settings
        with gr.Blocks(title="Policy Q&A", delete_cache=(3600, 3600)) as demo:  # uploads do not pile up
            gr.HTML("<h1 style='margin:8px 0 0;font-size:1.6rem'>Policy Q&amp;A</h1>")
            status = gr.HTML(render.status_html(manifest()), elem_id="status")
            state = gr.State({"turns": [], "previous": "", "count": 0})
            with gr.Tab("Chat"):
                conversation = gr.HTML(render.conversation_html([]), elem_id="conversation")
                notice = gr.HTML("", elem_id="notice")
                with gr.Row(equal_height=True, elem_id="input-row"):
                    box = gr.Textbox(show_label=False, placeholder="Ask about the documents…", scale=8,
                                     autofocus=True, elem_id="question")
                    ask = gr.Button("Ask", variant="primary", scale=0, min_width=100, elem_id="ask")
                    clear = gr.Button("New chat", scale=0, min_width=110, elem_id="clear")
                with gr.Row(elem_id="examples"):
                    examples = [gr.Button(q, size="sm", variant="secondary", scale=0) for q in EXAMPLES]
            with gr.Tab("Add documents", elem_id="rebuild-tab"):
                gr.HTML(render.uploads_html(self.upload_dir, self.roots(), SUPPORTED, s.max_upload_mb,
                                            s.max_upload_total_mb, s.max_upload_files, self.manage))
                files = gr.File(label="Files to add", file_count="multiple", type="filepath", elem_id="upload")
                go = gr.Button("Add to sources and rebuild the index", variant="primary", elem_id="rebuild")
                report = gr.HTML(render.documents_html(manifest()), elem_id="report")
                if self.manage:
                    with gr.Accordion("Replace or remove a document", open=False, elem_id="manage"):
                        target = gr.Dropdown(uploads.documents(self.upload_dir), value=None, label="Document",
                                             allow_custom_value=True, elem_id="manage-target")
                        new_version = gr.File(label="New version (for Replace)", type="filepath",
                                              elem_id="manage-file")
                        with gr.Row():
                            replace = gr.Button("Replace with the new version", elem_id="replace")
                            remove = gr.Button("Remove from the sources", variant="stop", elem_id="remove")
            outputs = [conversation, state, box, notice]
            for event in (box.submit, ask.click):
                event(self.turn, [box, state], outputs, api_visibility="private").then(None, js=SCROLL_JS)
            for button, question in zip(examples, EXAMPLES, strict=True):
                button.click(lambda s, q=question: self.turn(q, s), [state], outputs,
                             api_visibility="private").then(None, js=SCROLL_JS)
            clear.click(lambda: (render.conversation_html([]), {"turns": [], "previous": "", "count": 0}, "", ""),
                        None, outputs, api_visibility="private")

            def rebuild(files: list[str] | None, progress: gr.Progress = PROGRESS) -> tuple[str, Any, Any]:
                return self.rebuild(files, progress)

            rebuilt = go.click(rebuild, [files], [report, status, files], api_name="rebuild", api_visibility="private",
                               show_progress_on=[report])
            if self.manage:
                listed = lambda: gr.update(choices=uploads.documents(self.upload_dir))  # noqa: E731
                rebuilt.then(listed, None, [target], api_visibility="private")
                demo.load(listed, None, [target], api_visibility="private")
                def replace_document(name: str, file: str | None, progress: gr.Progress = PROGRESS) -> tuple:
                    return self.replace_document(name, file, progress)

                def remove_document(name: str, progress: gr.Progress = PROGRESS) -> tuple:
                    return self.remove_document(name, progress)

                replace.click(replace_document, [target, new_version], [report, status, new_version, target],
                              api_name="replace_document", api_visibility="private", show_progress_on=[report])
                remove.click(remove_document, [target], [report, status, new_version, target],
                             api_name="remove_document", api_visibility="private", show_progress_on=[report])
            demo.load(lambda: (render.status_html(manifest()), render.documents_html(manifest())), None,
                      [status, report], api_visibility="private")  # fresh on each page load, after rebuilds
            gr.api(self.api_ask, api_name="ask")
        return demo


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, settings: Settings | None = None,
           monitoring: bool = False, **kwargs: Any) -> tuple[Any, str, Any]:
    """Queue and start the server: local only, no share link, no extra file paths, request bodies
    bounded, at most ``max_sessions`` sessions kept and idle API sessions dropped, Gradio's /monitoring
    routes off unless ``monitoring``."""
    s = settings or Settings()
    limits = uploads.Limits.of(s)
    bounded = Middleware(BodyLimit, upload_bytes=limits.total_bytes + 1024 * limits.files + 4096,  # part headers
                         other_bytes=max(s.max_request_kb * 1024, 16 * s.max_question_chars))
    demo.queue(default_concurrency_limit=4, max_size=64, api_open=False)
    theme = gr.themes.Soft(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    launched = demo.launch(server_name=host, server_port=port, share=False, css=render.CSS, theme=theme,
                           max_file_size=limits.file_bytes, ssr_mode=False, enable_monitoring=monitoring,
                           state_session_capacity=s.max_sessions, app_kwargs={"middleware": [bounded]}, **kwargs)
    start_sweeping(demo)  # API calls' sessions do not pile up in memory
    return launched


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ui.py", description="Start the browser chat.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                epilog="example: python ui.py --port 7860 --sources sources")
    try:
        defaults = from_env()
    except ValueError as e:
        print(f"ui.py: error: {e}", file=sys.stderr)
        return 2
    p.add_argument("--host", default="127.0.0.1", help="address to bind")
    p.add_argument("--port", type=int, default=int(os.environ.get("RAG_PORT", 7860)), help="port")
    p.add_argument("--index", default=defaults.index_dir, help="index folder")
    p.add_argument("--sources", default=defaults.sources_dir,
                   help="folder uploads are saved into (also RAG_SOURCES_DIR); a rebuild reads it and every "
                        "folder the index was built from")
    p.add_argument("--model", default=defaults.model, help="embedding model")
    p.add_argument("--auth", default=os.environ.get("RAG_AUTH"), metavar="USER:PASSWORD",
                   help="require this login (also RAG_AUTH); anyone who reaches the app can otherwise "
                        "ask questions and add documents. Replacing and removing documents needs it")
    p.add_argument("--monitoring", action="store_true",
                   help="turn on Gradio's /monitoring dashboard (its URL is printed to this console)")
    args = p.parse_args(argv)
    auth = None
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not sep or not user or not password:
            print("ui.py: error: --auth takes USER:PASSWORD", file=sys.stderr)
            return 2
        auth = (user, password)
    settings = defaults.replace(index_dir=args.index, model=args.model, sources_dir=args.sources)
    engine = Engine(settings)
    try:
        if not index_exists(settings.index_dir):
            print(f"No index at {settings.index_dir} yet; building one from {settings.sources_dir}", flush=True)
            report = build([settings.sources_dir], settings, engine.embedder,
                           progress=lambda f, m: print(f"[{f:4.0%}] {m}", flush=True))
            print(f"built: {report.summary()}", flush=True)
        engine.index  # noqa: B018 - load and check it now, not on the first question
        engine.embedder.encode(["warm up"])
        demo = ChatApp(engine, manage=auth is not None).blocks()
        _, url, _ = launch(demo, args.host, args.port, settings, args.monitoring, prevent_thread_lock=True,
                           quiet=True, auth=auth)
    except (store.IndexError_, BuildError, ModelNotFound, OSError) as e:
        print(f"ui.py: error: {e}", file=sys.stderr)
        return 2
    print(f"Chat running at {url} (Ctrl+C to stop); uploads go into {settings.sources_dir}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        demo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
