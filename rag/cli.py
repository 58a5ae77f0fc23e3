"""The ``rag`` command: build, ask, info, eval, serve. User mistakes print one line and exit 2."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import Settings, from_env
from .formatting import format_answer
from .options import common, login, querying, serving, settings_of

EXAMPLES = {
    "build": "example: rag build ../shared/corpus sources --index /tmp/ix",
    "ask": 'example: rag ask --json "What are the four areas of action?"',
    "info": "example: rag info --verify --index /tmp/ix",
    "eval": "example: rag eval eval/test_sources.jsonl --compare legacy,learned --report report.html",
    "train": "example: rag build sources ../shared/corpus --index /tmp/ix && rag train --index /tmp/ix",
    "serve": "example: rag serve --port 7860 --mcp --read-only",
    "chat": "example: rag chat --source blinken-announces-international-cyber-strategy.txt --save chat.md",
}


class UsageError(Exception):
    pass


def _parser(defaults: Settings) -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = argparse.ArgumentParser(prog="rag", formatter_class=fmt,
                                description="Cited, extractive answers from your documents.",
                                epilog='example: rag build && rag ask "Who announced the strategy?"')
    sub = p.add_subparsers(dest="command", metavar="{build,ask,chat,info,eval,train,serve}")

    def scoping(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--source", action="append", default=argparse.SUPPRESS, metavar="NAME", dest="sources",
                        help="search only this document (file name or title; repeat for more); default: all")

    b = sub.add_parser("build", help="index folders or files", formatter_class=fmt, epilog=EXAMPLES["build"],
                       description="Index .txt, .md, .html and .pdf files; only changed files are re-embedded.")
    b.add_argument("paths", nargs="*", default=[defaults.sources_dir], help="folders or files to index")
    b.add_argument("--chunk-tokens", type=int, default=defaults.chunk_tokens, help="tiktoken tokens per chunk")
    b.add_argument("--chunk-overlap", type=int, default=defaults.chunk_overlap, help="tokens of overlap")
    b.add_argument("--json", action="store_true", help="print the build report as JSON")
    common(b, defaults)

    a = sub.add_parser("ask", help="answer a question", formatter_class=fmt, epilog=EXAMPLES["ask"])
    a.add_argument("question")
    a.add_argument("--json", action="store_true", help="print the answer object as JSON")
    common(a, defaults)
    querying(a, defaults)
    scoping(a)

    c = sub.add_parser("chat", help="a conversation in the terminal (follow-ups, /new, /sources, Ctrl-D quits)",
                       formatter_class=fmt, epilog=EXAMPLES["chat"],
                       description="A conversation in the terminal: follow-ups such as 'Who announced it?' are "
                       "resolved against the earlier turns. Commands: /new (forget the conversation), /sources "
                       "(list the documents; /sources N|NAME ... to search only those, /sources all to reset), "
                       "/save FILE.md, /help. Ctrl-D quits.")
    c.add_argument("--save", default=None, metavar="FILE.md", help="write the conversation as Markdown after "
                   "every turn")
    common(c, defaults)
    querying(c, defaults)
    scoping(c)

    i = sub.add_parser("info", help="what is in the index", formatter_class=fmt, epilog=EXAMPLES["info"])
    i.add_argument("--json", action="store_true", help="print the manifest as JSON")
    i.add_argument("--verify", action="store_true", help="read every file of the index and compare it with the "
                   "sha256 recorded when it was built; exit 2 naming any file that differs")
    common(i, defaults)

    e = sub.add_parser("eval", help="measure retrieval, citations and answers on a question set",
                       formatter_class=fmt, epilog=EXAMPLES["eval"])
    e.add_argument("questions", nargs="+", help="question files (JSONL)")
    e.add_argument("--compare", default=None, help="comma-separated configurations to run side by side: "
                   "retrieval modes (learned, hybrid, dense, bm25), legacy (the hand-set composer with hybrid "
                   "search), learned (the trained ranker and selector), standalone (conversations' last turns "
                   "asked without the conversation)")
    e.add_argument("--json", dest="json_out", default=None, metavar="OUT", help="write results as JSON")
    e.add_argument("--report", default=None, metavar="OUT.html", help="write an HTML report with charts")
    common(e, defaults)
    querying(e, defaults)

    # listed for `rag -h` only: main() hands `rag train ...` to rag/train.py's own parser before parsing
    sub.add_parser("train", help="fit the answer selector on the train questions (rag train -h for its options)",
                   formatter_class=fmt, epilog=EXAMPLES["train"], add_help=False)

    s = sub.add_parser("serve", help="start the browser chat (python ui.py takes the same options)",
                       formatter_class=fmt, epilog=EXAMPLES["serve"], description="The browser chat, the HTTP API "
                       "at /api and, with --mcp, the MCP server at /mcp; a missing index is built first.")
    serving(s, defaults)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        defaults = from_env()
    except ValueError as e:
        print(f"rag: error: {e}", file=sys.stderr)
        return 2
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["train"]:  # its own parser (rag/train.py), options and all
        from .train import main as train_main

        return train_main(argv[1:])
    parser = _parser(defaults)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        settings = settings_of(args, defaults)
    except ValueError as e:
        print(f"rag: error: {e}", file=sys.stderr)
        return 2
    from . import store
    from .builds import BuildError
    from .embedding import ModelNotFound

    try:
        return COMMANDS[args.command](args, settings)
    except (UsageError, store.IndexLoadError, BuildError, ModelNotFound) as e:
        print(f"rag: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rag: interrupted; the previous index is unchanged", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `rag ask --json ... | head`
        sys.stderr.close()
        return 0


def _build(args: argparse.Namespace, settings: Settings) -> int:
    from .embedding import make_embedder
    from .indexing import build

    if settings.chunk_overlap >= settings.chunk_tokens or settings.chunk_tokens < 16:
        raise UsageError("--chunk-tokens must be at least 16 and larger than --chunk-overlap")
    show = not args.quiet and sys.stderr.isatty()

    def progress(fraction: float, message: str) -> None:
        if not args.quiet and not (show and message.startswith("embedding:")):  # the bar shows those
            print(f"[{fraction:4.0%}] {message}", file=sys.stderr)

    report = build(args.paths, settings, make_embedder(settings), progress=progress, show_bar=show)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
        return 0
    for s in report.skipped:
        print(f"skipped {s.path}: {s.reason}", file=sys.stderr)
    print(f"built {report.index_dir} ({report.index_id}): {report.summary()}")
    return 0


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from .engine import Engine, UnknownSource

    try:
        answer = Engine(settings).ask(args.question, sources=getattr(args, "sources", None))
    except UnknownSource as e:
        raise UsageError(str(e)) from None
    if args.json:
        print(json.dumps(answer.to_dict(), indent=1, ensure_ascii=False))
        return 0
    print(format_answer(answer))
    return 0


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    from . import chat
    from .engine import Engine, UnknownSource

    if args.save and not Path(args.save).resolve().parent.is_dir():
        raise UsageError(f"--save: no folder {Path(args.save).resolve().parent}")
    engine = Engine(settings)
    engine.index  # noqa: B018 - a missing index is a usage error before the first prompt
    try:
        return chat.main(engine, getattr(args, "sources", None), save=args.save)
    except UnknownSource as e:
        raise UsageError(str(e)) from None


def _info(args: argparse.Namespace, settings: Settings) -> int:
    from . import store

    checked = store.verify(settings.index_dir) if args.verify else 0
    manifest = store.read_manifest(settings.index_dir)
    if args.json:
        print(json.dumps(manifest, indent=1, ensure_ascii=False))
        return 0
    print(f"index      {Path(settings.index_dir).resolve()} ({manifest['index_id']})")
    if checked:
        print(f"verified   {checked} files match the sha256 recorded when the index was built")
    print(f"built      {manifest['built_at']}")
    print(f"model      {manifest['model']} ({manifest['dim']} dimensions)")
    print(f"chunking   {manifest['chunk_tokens']} tokens, {manifest['chunk_overlap']} overlap ({manifest['encoding']})")
    print(f"contents   {manifest['n_documents']} documents, {manifest['n_chunks']} chunks, "
          f"{manifest['n_sentences']} sentences")
    for d in manifest["documents"]:
        pages = f", {d['pages']} pages" if d.get("pages") else ""
        print(f"  {d['source']}: {d['n_chunks']} chunks{pages} — {d['title'][:70]}")
    for s in manifest.get("skipped", []):
        print(f"  skipped {s['path']}: {s['reason']}")
    return 0


def _eval(args: argparse.Namespace, settings: Settings, embedder=None) -> int:  # noqa: ANN001 - an Embedder
    """0 when done, 1 when a citation fails the integrity check."""
    from .eval_report import format_table, write_html
    from .evaluation import QuestionError, UnknownConfig, broken_citations, run

    names = list(dict.fromkeys(m.strip() for m in (args.compare or settings.mode).split(",") if m.strip()))
    if not names:
        raise UsageError("--compare names no configuration")
    try:
        result = run(args.questions, names, settings, embedder,
                     progress=None if args.quiet else lambda msg: print(msg, file=sys.stderr, flush=True),
                     warn=lambda msg: print(f"rag: warning: {msg}", file=sys.stderr))
    except QuestionError as e:
        raise UsageError(str(e)) from None
    except UnknownConfig as e:
        raise UsageError(f"--compare: {e}") from None
    runs = result["runs"]
    print(format_table(runs))
    print(f"{len(runs[0]['questions'])} questions × {len(runs)} configuration(s) in {result['seconds']:.1f}s")
    try:
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
        if args.report:
            write_html(result, args.report)
    except OSError as e:
        raise UsageError(f"cannot write {e.filename}: {e.strerror}") from None
    broken = broken_citations(result)
    if broken:
        print(f"rag: citation integrity below 1.0 in: {', '.join(broken)}", file=sys.stderr)
        return 1
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    try:
        auth = login(args.auth)
    except ValueError as e:
        raise UsageError(str(e)) from None
    try:
        import ui  # the Gradio face, installed beside the package (pyproject.toml: py-modules)
    except ImportError as e:
        raise UsageError(f"the browser chat cannot start ({e}); reinstall: pip install -e .") from None
    return ui.serve(settings, args.host, args.port, auth, monitoring=args.monitoring, mcp=args.mcp,
                    quiet=args.quiet, prog="rag")


COMMANDS = {"build": _build, "ask": _ask, "chat": _chat, "info": _info, "eval": _eval, "serve": _serve}

if __name__ == "__main__":
    sys.exit(main())
