"""The browser chat over ``rag.engine.Engine``: ``python ui.py`` or ``rag serve``.

Answers are rendered by ``ui_render`` (everything escaped, shown with ``gr.HTML``); the same answer
dict is served at the ``/ask`` API endpoint. The "Add documents" tab saves uploads into the sources
folder and rebuilds the index while the chat keeps answering from the previous one.

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
import shutil
import sys
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

import ui_render as render  # noqa: E402
from rag import store  # noqa: E402
from rag.config import from_env  # noqa: E402
from rag.embedding import ModelNotFound  # noqa: E402
from rag.engine import Engine, clean_question, index_exists  # noqa: E402
from rag.indexing import BuildBusy, BuildError, build  # noqa: E402
from rag.sources import SUPPORTED  # noqa: E402

MAX_UPLOAD_MB = 20
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


def safe_filename(name: str) -> str | None:
    """A file name that stays inside the folder it is saved in, or None if nothing usable is left.

    >>> safe_filename("../../etc/passwd.md"), safe_filename("..\\\\a b/.hidden.txt"), safe_filename("x.exe")
    ('passwd.md', 'hidden.txt', None)
    """
    base = re.split(r"[/\\]", unicodedata.normalize("NFKC", name))[-1]
    base = re.sub(r"[^\w.\- ]", "_", base).strip().lstrip(".").strip()
    base = re.sub(r"\.{2,}", ".", base)
    stem, ext = os.path.splitext(base)
    if not stem or ext.lower() not in SUPPORTED:
        return None
    return stem[:100] + ext.lower()


def save_uploads(paths: Sequence[str], folder: str | Path, max_bytes: int = MAX_UPLOAD_MB * 2**20
                 ) -> tuple[list[str], list[tuple[str, str]]]:
    """Copy uploaded files into ``folder`` under safe names: (saved names, [(name, why rejected)])."""
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    saved, rejected = [], []
    for path in paths:
        original = Path(path).name
        name = safe_filename(original)
        target = folder / name if name else None
        if name is None or target is None:
            rejected.append((original, f"unsupported type (use {', '.join(SUPPORTED)})"))
        elif os.path.getsize(path) > max_bytes:
            rejected.append((original, f"larger than {max_bytes / 2**20:.0f} MB"))
        elif target.parent != folder or target.is_symlink() or (target.exists() and not target.is_file()):
            rejected.append((original, "that name cannot be written in the sources folder"))
        else:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".upload-", delete=False) as tmp:
                with open(path, "rb") as src:
                    shutil.copyfileobj(src, tmp)
            os.replace(tmp.name, target)
            os.chmod(target, 0o644)
            saved.append(name)
    return saved, rejected


class ChatApp:
    """The state shared by every browser session: one engine, one rebuild at a time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.settings = engine.settings
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
        return self.engine.ask(question).to_dict()

    def rebuild(self, files: Sequence[str] | None, progress: Callable[..., Any] = lambda *a, **k: None
                ) -> tuple[str, Any, Any]:
        """Save uploads into the sources folder, rebuild from it, switch to the new index."""
        root = self.settings.sources_dir
        saved: list[str] = []
        rejected: list[tuple[str, str]] = []
        if not self.rebuilding.acquire(blocking=False):
            return render.report_html(None, root, error="A rebuild is already running; try again when it ends."), \
                gr.update(), gr.update()
        try:
            saved, rejected = save_uploads(files or [], root)
            if files and not saved:
                return render.report_html(None, root, [], rejected, "Nothing was added."), gr.update(), None
            progress(0.0, desc="reading files")
            say = lambda fraction, message: progress(fraction, desc=message)  # noqa: E731
            report = build([root], self.settings, self.engine.embedder, progress=say)
            index = self.engine.reload()
            return (render.report_html(report, root, saved, rejected) + render.documents_html(index.manifest),
                    render.status_html(index.manifest), None)
        except BuildBusy:
            return render.report_html(None, root, error="Another build of this index is running (perhaps "
                                      "`rag build`); try again when it ends."), gr.update(), gr.update()
        except (BuildError, store.IndexError_, OSError) as e:
            return render.report_html(None, root, saved, rejected, f"The rebuild failed: {e}"), gr.update(), None
        finally:
            self.rebuilding.release()

    def blocks(self) -> gr.Blocks:
        def manifest() -> dict[str, Any]:
            return self.engine.index.manifest

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
                gr.HTML(f"<p>Files are saved into the sources folder (<code>{render.esc(self.settings.sources_dir)}"
                        f"</code>), then the index is rebuilt from that folder. Types: {', '.join(SUPPORTED)}; up to "
                        f"{MAX_UPLOAD_MB} MB each. The chat keeps answering from the current index meanwhile.</p>")
                files = gr.File(label="Files to add", file_count="multiple", type="filepath", elem_id="upload")
                go = gr.Button("Add to sources and rebuild the index", variant="primary", elem_id="rebuild")
                report = gr.HTML(render.documents_html(manifest()), elem_id="report")
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

            go.click(rebuild, [files], [report, status, files], api_visibility="private", show_progress_on=[report])
            demo.load(lambda: (render.status_html(manifest()), render.documents_html(manifest())), None,
                      [status, report], api_visibility="private")  # fresh on each page load, after rebuilds
            gr.api(self.api_ask, api_name="ask")
        return demo


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, **kwargs: Any) -> tuple[Any, str, Any]:
    """Queue and start the server: local only, no share link, no extra file paths."""
    demo.queue(default_concurrency_limit=4, max_size=64, api_open=False)
    theme = gr.themes.Soft(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    return demo.launch(server_name=host, server_port=port, share=False, css=render.CSS, theme=theme,
                       max_file_size=f"{MAX_UPLOAD_MB}mb", ssr_mode=False, **kwargs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ui.py", description="Start the browser chat.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                epilog="example: python ui.py --port 7860")
    try:
        defaults = from_env()
    except ValueError as e:
        print(f"ui.py: error: {e}", file=sys.stderr)
        return 2
    p.add_argument("--host", default="127.0.0.1", help="address to bind")
    p.add_argument("--port", type=int, default=int(os.environ.get("RAG_PORT", 7860)), help="port")
    p.add_argument("--index", default=defaults.index_dir, help="index folder")
    p.add_argument("--model", default=defaults.model, help="embedding model")
    p.add_argument("--auth", default=os.environ.get("RAG_AUTH"), metavar="USER:PASSWORD",
                   help="require this login (also RAG_AUTH); anyone who reaches the app can otherwise "
                        "ask questions and add documents")
    args = p.parse_args(argv)
    auth = None
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not sep or not user or not password:
            print("ui.py: error: --auth takes USER:PASSWORD", file=sys.stderr)
            return 2
        auth = (user, password)
    settings = defaults.replace(index_dir=args.index, model=args.model)
    engine = Engine(settings)
    try:
        if not index_exists(settings.index_dir):
            print(f"No index at {settings.index_dir} yet; building one from {settings.sources_dir}", flush=True)
            report = build([settings.sources_dir], settings, engine.embedder,
                           progress=lambda f, m: print(f"[{f:4.0%}] {m}", flush=True))
            print(f"built: {report.summary()}", flush=True)
        engine.index  # noqa: B018 - load and check it now, not on the first question
        engine.embedder.encode(["warm up"])
        demo = ChatApp(engine).blocks()
        _, url, _ = launch(demo, args.host, args.port, prevent_thread_lock=True, quiet=True, auth=auth)
    except (store.IndexError_, BuildError, ModelNotFound, OSError) as e:
        print(f"ui.py: error: {e}", file=sys.stderr)
        return 2
    print(f"Chat running at {url} (Ctrl+C to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        demo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
