"""The browser chat over ``rag.engine.Engine``: ``python ui.py`` or ``rag serve``.

Answers are rendered by ``ui_render`` (everything escaped, shown with ``gr.HTML``). A conversation is
a list of turns (``ui_state``): each question is asked with the earlier turns as ``history``, so the
engine resolves follow-ups ("Who announced it?") and the turn shows what was searched, with a link to
ask the question on its own instead. The scope box limits questions to some documents; "Download
conversation" saves the conversation as Markdown (``rag.export``); the browser keeps it across a reload
(``gr.BrowserState``) until "New chat". The same server serves the HTTP API at ``/api`` and, with
``--mcp``, the MCP server at ``/mcp`` (``ui_server``). The "Add documents" tab hands uploads to
``rag.uploads`` (saved beside, never over, what is there) and rebuilds the index while the chat keeps
answering from the previous one; with ``--auth`` it also replaces and removes documents, keeping the
previous version. A read-only chat (``--read-only``, ``RAG_READ_ONLY=1``) has a "Documents" tab instead,
and registers no event that could change the documents.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

import ui_assets as assets  # noqa: E402
import ui_render as render  # noqa: E402
import ui_server  # noqa: E402
import ui_state  # noqa: E402
from rag import store, uploads  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.embedding import Embedder  # noqa: E402
from rag.engine import Engine, UnknownSource, clean_question  # noqa: E402
from rag.export import conversation_markdown  # noqa: E402
from rag.sources import SUPPORTED  # noqa: E402
from ui_server import launch  # noqa: E402, F401 - ui.launch, for callers

EXAMPLES = ("What are the four areas of action?", "Who announced the strategy?", "What is digital solidarity?")
READ_ONLY = "This server is read-only: nothing was saved, replaced, removed or rebuilt."
PROGRESS = gr.Progress()  # gradio finds the progress bar by this default value


class ChatApp:
    """The state shared by every browser session: one engine, one rebuild at a time.

    Uploads go into ``upload_dir`` (default ``settings.sources_dir``); ``manage`` adds the replace and
    remove controls (``serve`` turns it on only with ``--auth``). Rebuilds embed with ``build_embedder``
    (default: the engine's). ``settings.read_only``: no upload or rebuild controls, and the handlers that
    would change the documents refuse (``READ_ONLY``), however they are called."""

    def __init__(self, engine: Engine, upload_dir: str | None = None, manage: bool = False,
                 build_embedder: Embedder | None = None) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.read_only = self.settings.read_only
        self.upload_dir = str(upload_dir or self.settings.sources_dir)
        self.manage = manage and not self.read_only
        self.rebuilding = threading.Lock()
        self._build_embedder = build_embedder

    @property
    def build_embedder(self) -> Embedder:
        return self._build_embedder or self.engine.embedder

    def _document(self, doc_id: str) -> str | None:
        index = self.engine.index  # doc_id is a hash of the file, so any index holding it has the same text
        return index.document(doc_id).text if doc_id in index.doc_row else None

    def page(self, state: dict[str, Any]) -> str:
        """The conversation's HTML: every kept turn with its sources."""
        return render.conversation_html([render.turn_html(n, t["question"], t.get("understood_as") or t["question"],
                                                          t, self._document) for n, t in ui_state.numbered(state)])

    def stored(self, state: dict[str, Any]) -> dict[str, Any]:
        """What the browser keeps: at most half the request-body limit, so its restore request fits."""
        return ui_state.stored(state, self.settings.max_request_kb * 1024 // 2)

    def turn(self, question: str, state: dict[str, Any], scope: Sequence[str] | None = None,
             history: bool = True) -> tuple[Any, dict[str, Any], Any, Any, str]:
        """One chat turn: (conversation HTML, new state, what the browser keeps, question box, notice).
        The earlier turns go to the engine as ``history`` unless ``history`` is False."""
        state = ui_state.current(state)
        cleaned, problem = clean_question(question, self.settings.max_question_chars)
        if problem:
            return gr.update(), state, gr.update(), gr.update(), render.notice_html(problem)
        try:
            answer = self.engine.ask(cleaned, history=ui_state.history(state) if history else None,
                                     sources=list(scope or []) or None).to_dict()
        except UnknownSource as e:
            return gr.update(), state, gr.update(), gr.update(), render.notice_html(str(e))
        new = ui_state.add(state, answer)
        return self.page(new), new, self.stored(new), "", ""

    def standalone(self, state: dict[str, Any], turn: Any) -> tuple[Any, dict[str, Any], Any, Any, str]:
        """Ask turn number ``turn``'s question again on its own: no history, the same documents."""
        state = ui_state.current(state)
        asked = dict(ui_state.numbered(state)).get(turn) if type(turn) is int else None
        if asked is None:
            return gr.update(), state, gr.update(), gr.update(), ""
        return self.turn(asked["question"], state, asked.get("scope"), history=False)

    def restore(self, kept: Any) -> tuple[str, dict[str, Any]]:
        """The conversation the browser kept (page load): checked, then shown."""
        state = ui_state.restore(kept)
        return self.page(state), state

    def export(self, state: dict[str, Any]) -> str:
        """The conversation as Markdown (``rag.export``): questions, answers with [n], sources with quotes."""
        turns = ui_state.current(state)["turns"]
        return conversation_markdown(turns) if turns else ""

    def documents(self) -> list[tuple[str, str]]:
        """The scope box's choices: (title · file name, source) for each document of the index."""
        return [(f"{d.get('title') or d['source']} · {Path(str(d['source'])).name}", str(d["source"]))
                for d in self.engine.index.manifest.get("documents", [])]

    def scope_choices(self, chosen: Sequence[str] | None = None) -> Any:
        """The scope box after a page load or a rebuild: the index's documents, the chosen ones that are
        still there kept."""
        choices = self.documents()
        names = {v for _, v in choices}
        return gr.update(choices=choices, value=[c for c in chosen or [] if c in names])

    def api_ask(self, question: str) -> dict:
        """Answer one question from the documents: the same JSON object as `rag ask --json`."""
        return self.engine.ask(question).to_dict()  # the engine never echoes more than max_question_chars

    def roots(self) -> list:
        """What a rebuild reads: the folders the index was built from, plus the upload folder."""
        try:
            serving = self.engine.index.manifest.get("roots", [])
        except store.IndexLoadError:
            serving = []
        return uploads.rebuild_roots(uploads.indexed_roots(self.settings.index_dir, serving), self.upload_dir)

    def rebuild(self, files: Sequence[str] | None, progress: Callable[..., Any] = lambda *a, **k: None
                ) -> tuple[str, Any, Any]:
        """Save uploads into the upload folder, rebuild, switch to the new index: (report, status, files)."""
        return self._run(lambda say: uploads.add(list(files or []), self.upload_dir, self.settings,
                                                 self.build_embedder, self.roots(), say), progress)

    def replace_document(self, name: str, file: str | None, progress: Callable[..., Any] = lambda *a, **k: None
                         ) -> tuple[str, Any, Any, Any]:
        """Put ``file`` in place of the document ``name``; the previous version is kept."""
        if not file:
            return render.report_html(None, self.upload_dir, error="Choose the new version first."), \
                gr.update(), gr.update(), gr.update()
        return (*self._run(lambda say: uploads.replace(name, file, self.upload_dir, self.settings,
                                                       self.build_embedder, self.roots(), say), progress),
                gr.update(choices=uploads.documents(self.upload_dir), value=None))

    def remove_document(self, name: str, progress: Callable[..., Any] = lambda *a, **k: None
                        ) -> tuple[str, Any, Any, Any]:
        """Take the document ``name`` out of the sources; its last version is kept."""
        report, status, _ = self._run(lambda say: uploads.remove(name, self.upload_dir, self.settings,
                                                                 self.build_embedder, self.roots(), say), progress)
        return report, status, gr.update(), gr.update(choices=uploads.documents(self.upload_dir), value=None)

    def _run(self, action: Callable[[uploads.Progress], uploads.Outcome], progress: Callable[..., Any]
             ) -> tuple[str, Any, Any]:
        root = self.upload_dir
        if self.read_only:  # never registered then, but Gradio's raw routes do not ask the page
            return render.report_html(None, root, error=READ_ONLY), gr.update(), gr.update()
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
            except store.IndexLoadError as e:
                return render.report_html(out.report, root, out.saved, out.rejected, f"The new index was built "
                                          f"but cannot be used: {e}", out.kept), gr.update(), None
            return (render.report_html(out.report, root, out.saved, out.rejected, kept=out.kept)
                    + render.documents_html(index.manifest), render.status_html(index.manifest), None)
        finally:
            self.rebuilding.release()

    def _documents_tab(self, demo: gr.Blocks, status: gr.HTML, scope: gr.Dropdown) -> gr.HTML:
        """The "Add documents" tab (and, with ``manage``, replace and remove) and its events; its report."""
        s, manifest = self.settings, self.engine.index.manifest
        with gr.Tab("Add documents", elem_id="rebuild-tab"):
            gr.HTML(render.uploads_html(self.upload_dir, self.roots(), SUPPORTED, s.max_upload_mb,
                                        s.max_upload_total_mb, s.max_upload_files, self.manage))
            files = gr.File(label="Files to add", file_count="multiple", type="filepath", elem_id="upload")
            go = gr.Button("Add to sources and rebuild the index", variant="primary", elem_id="rebuild")
            report = gr.HTML(render.documents_html(manifest), elem_id="report")
            if self.manage:
                with gr.Accordion("Replace or remove a document", open=False, elem_id="manage"):
                    target = gr.Dropdown(uploads.documents(self.upload_dir), value=None, label="Document",
                                         allow_custom_value=True, elem_id="manage-target")
                    new_version = gr.File(label="New version (for Replace)", type="filepath", elem_id="manage-file")
                    with gr.Row():
                        replace = gr.Button("Replace with the new version", elem_id="replace")
                        remove = gr.Button("Remove from the sources", variant="stop", elem_id="remove")

        # the lambdas' PROGRESS default is how Gradio finds where to send progress
        rebuilt = go.click(lambda files, progress=PROGRESS: self.rebuild(files, progress), [files],
                           [report, status, files], api_name="rebuild", api_visibility="private",
                           show_progress_on=[report])
        rebuilt.then(self.scope_choices, [scope], [scope], api_visibility="private")
        if self.manage:
            listed = lambda: gr.update(choices=uploads.documents(self.upload_dir))  # noqa: E731
            rebuilt.then(listed, None, [target], api_visibility="private")
            demo.load(listed, None, [target], api_visibility="private")
            replacing = lambda name, file, progress=PROGRESS: self.replace_document(name, file, progress)  # noqa: E731
            removing = lambda name, progress=PROGRESS: self.remove_document(name, progress)  # noqa: E731
            for done in (replace.click(replacing, [target, new_version], [report, status, new_version, target],
                                       api_name="replace_document", api_visibility="private",
                                       show_progress_on=[report]),
                         remove.click(removing, [target], [report, status, new_version, target],
                                      api_name="remove_document", api_visibility="private",
                                      show_progress_on=[report])):
                done.then(self.scope_choices, [scope], [scope], api_visibility="private")
        return report

    def blocks(self) -> gr.Blocks:
        manifest = lambda: self.engine.index.manifest  # noqa: E731 - the index in use when called
        with gr.Blocks(title="Policy Q&A", delete_cache=(3600, 3600)) as demo:  # uploads do not pile up
            gr.HTML("<h1 style='margin:8px 0 0;font-size:1.6rem'>Policy Q&amp;A</h1>")
            status = gr.HTML(render.status_html(manifest()), elem_id="status")
            state = gr.State(ui_state.empty())  # this tab's conversation, on the server
            kept = gr.BrowserState(self.stored(ui_state.empty()), storage_key="rag-conversation")  # the same, in
            with gr.Tab("Chat"):                                                 # the browser, for a reload
                conversation = gr.HTML(render.conversation_html([]), elem_id="conversation",
                                       js_on_load=assets.STANDALONE_JS)
                notice = gr.HTML("", elem_id="notice")
                with gr.Row(equal_height=True, elem_id="scope-row"):
                    scope = gr.Dropdown(label="Search only in (empty: all documents)", multiselect=True, value=[],
                                        choices=self.documents(), scale=8, elem_id="scope")
                    download = gr.Button("Download conversation", scale=0, min_width=200, elem_id="download")
                    markdown = gr.Textbox(visible=False)
                with gr.Row(equal_height=True, elem_id="input-row"):
                    box = gr.Textbox(show_label=False, placeholder="Ask about the documents…", scale=8,
                                     autofocus=True, elem_id="question")
                    ask = gr.Button("Ask", variant="primary", scale=0, min_width=100, elem_id="ask")
                    clear = gr.Button("New chat", scale=0, min_width=110, elem_id="clear")
                with gr.Row(elem_id="examples"):
                    examples = [gr.Button(q, size="sm", variant="secondary", scale=0) for q in EXAMPLES]
            if self.read_only:  # no upload or rebuild control, and no event that could change the documents
                with gr.Tab("Documents", elem_id="documents-tab"):
                    gr.HTML("<p>This server is read-only: documents are added by whoever runs it.</p>")
                    report = gr.HTML(render.documents_html(manifest()), elem_id="report")
            else:
                report = self._documents_tab(demo, status, scope)
            outputs = [conversation, state, kept, box, notice]
            for event in (box.submit, ask.click):
                event(self.turn, [box, state, scope], outputs, api_visibility="private").then(None, js=assets.SCROLL_JS)
            for button, question in zip(examples, EXAMPLES, strict=True):
                button.click(lambda s, sc, q=question: self.turn(q, s, sc), [state, scope], outputs,
                             api_visibility="private").then(None, js=assets.SCROLL_JS)

            def standalone(state: dict[str, Any], event: gr.EventData) -> tuple:
                return self.standalone(state, (getattr(event, "_data", None) or {}).get("turn"))

            conversation.click(standalone, [state], outputs, api_visibility="private").then(None, js=assets.SCROLL_JS)
            clear.click(lambda: (render.conversation_html([]), ui_state.empty(), self.stored(ui_state.empty()), "",
                                 ""), None, outputs, api_visibility="private")
            download.click(self.export, [state], [markdown], api_visibility="private").then(
                None, [markdown], None, js=assets.DOWNLOAD_JS)
            demo.load(self.restore, [kept], [conversation, state], api_visibility="private")
            demo.load(self.scope_choices, [scope], [scope], api_visibility="private")
            demo.load(lambda: (render.status_html(manifest()), render.documents_html(manifest())), None,
                      [status, report], api_visibility="private")  # fresh on each page load, after rebuilds
            gr.api(self.api_ask, api_name="ask")
        return demo


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None,
          **options: Any) -> int:
    """``rag serve``: this chat until Ctrl+C (``ui_server.serve``; options: monitoring, mcp, quiet, prog)."""
    return ui_server.serve(ChatApp, settings, host, port, auth, **options)


def main(argv: list[str] | None = None) -> int:
    """``python ui.py``: the options of ``rag serve`` (``rag.options.serving``), then ``serve``."""
    return ui_server.main(argv, ChatApp)


if __name__ == "__main__":
    sys.exit(main())
