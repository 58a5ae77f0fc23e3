"""The ``rag`` command: build, ask, info, eval, serve. User mistakes print one line and exit 2."""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path

from .config import Settings, from_env

EXAMPLES = {
    "build": "example: rag build ../shared/corpus sources --index /tmp/ix",
    "ask": 'example: rag ask --json "What are the four areas of action?"',
    "info": "example: rag info --verify --index /tmp/ix",
    "eval": "example: rag eval eval/test_sources.jsonl --compare legacy,learned --report report.html",
    "train": "example: rag build sources ../shared/corpus --index /tmp/ix && rag train --index /tmp/ix",
    "serve": "example: rag serve --port 7860 --mcp",
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

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--index", default=defaults.index_dir, help="index folder")
        sp.add_argument("--model", default=defaults.model, help="embedding model: the packaged default or a "
                        "local sentence-transformers folder")
        sp.add_argument("--backend", choices=("onnx", "torch", "onnx-int8"), default=defaults.embedding_backend,
                        help="what runs the model: onnx and torch give the same vectors (onnx is faster); "
                        "onnx-int8 is faster still but changes them (an index built with it needs it)")
        sp.add_argument("--quiet", "-q", action="store_true", help="no progress output")

    def querying(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--mode", choices=("learned", "hybrid", "dense", "bm25"), default=defaults.mode,
                        help="retrieval: learned (dense, BM25 and best-sentence search weighed by the trained ranker), "
                        "hybrid (dense + BM25 by reciprocal rank), dense or bm25")
        sp.add_argument("--k", type=int, default=defaults.k, help="passages to answer from")

    def scoping(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--source", action="append", default=argparse.SUPPRESS, metavar="NAME", dest="sources",
                        help="search only this document (file name or title; repeat for more); default: all")

    b = sub.add_parser("build", help="index folders or files", formatter_class=fmt, epilog=EXAMPLES["build"],
                       description="Index .txt, .md, .html and .pdf files; only changed files are re-embedded.")
    b.add_argument("paths", nargs="*", default=[defaults.sources_dir], help="folders or files to index")
    b.add_argument("--chunk-tokens", type=int, default=defaults.chunk_tokens, help="tiktoken tokens per chunk")
    b.add_argument("--chunk-overlap", type=int, default=defaults.chunk_overlap, help="tokens of overlap")
    b.add_argument("--json", action="store_true", help="print the build report as JSON")
    common(b)

    a = sub.add_parser("ask", help="answer a question", formatter_class=fmt, epilog=EXAMPLES["ask"])
    a.add_argument("question")
    a.add_argument("--json", action="store_true", help="print the answer object as JSON")
    common(a)
    querying(a)
    scoping(a)

    c = sub.add_parser("chat", help="a conversation in the terminal (follow-ups, /new, /sources, Ctrl-D quits)",
                       formatter_class=fmt, epilog=EXAMPLES["chat"],
                       description="A conversation in the terminal: follow-ups such as 'Who announced it?' are "
                       "resolved against the earlier turns. Commands: /new (forget the conversation), /sources "
                       "(list the documents; /sources N|NAME ... to search only those, /sources all to reset), "
                       "/save FILE.md, /help. Ctrl-D quits.")
    c.add_argument("--save", default=None, metavar="FILE.md", help="write the conversation as Markdown after "
                   "every turn")
    common(c)
    querying(c)
    scoping(c)

    i = sub.add_parser("info", help="what is in the index", formatter_class=fmt, epilog=EXAMPLES["info"])
    i.add_argument("--json", action="store_true", help="print the manifest as JSON")
    i.add_argument("--verify", action="store_true", help="read every file of the index and compare it with the "
                   "sha256 recorded when it was built; exit 2 naming any file that differs")
    common(i)

    e = sub.add_parser("eval", help="measure retrieval, citations and answers on a question set",
                       formatter_class=fmt, epilog=EXAMPLES["eval"])
    e.add_argument("questions", nargs="+", help="question files (JSONL)")
    e.add_argument("--compare", default=None, help="comma-separated configurations to run side by side: "
                   "retrieval modes (learned, hybrid, dense, bm25), legacy (the hand-set composer with hybrid "
                   "search), learned (the trained ranker and selector), standalone (conversations' last turns "
                   "asked without the conversation)")
    e.add_argument("--json", dest="json_out", default=None, metavar="OUT", help="write results as JSON")
    e.add_argument("--report", default=None, metavar="OUT.html", help="write an HTML report with charts")
    common(e)
    querying(e)

    t = sub.add_parser("train", help="fit the answer selector on the train questions (rag train -h for its options)",
                       formatter_class=fmt, epilog=EXAMPLES["train"], add_help=False)
    t.add_argument("rest", nargs=argparse.REMAINDER)

    s = sub.add_parser("serve", help="start the browser chat", formatter_class=fmt, epilog=EXAMPLES["serve"])
    s.add_argument("--host", default="127.0.0.1", help="address to bind")
    s.add_argument("--port", type=int, default=int(os.environ.get("RAG_PORT", 7860)), help="port")
    s.add_argument("--auth", default=os.environ.get("RAG_AUTH"), metavar="USER:PASSWORD",
                   help="require this login (also RAG_AUTH)")
    s.add_argument("--sources", dest="sources_dir", default=defaults.sources_dir, metavar="DIR",
                   help="the folder uploads are saved into (a chat rebuild also reads the folders the index was "
                   "built from)")
    s.add_argument("--monitoring", action="store_true", help="turn on Gradio's monitoring dashboard (off by default)")
    s.add_argument("--mcp", action="store_true", help="also serve the MCP server (tools ask, list_documents) at "
                   "/mcp; the HTTP API is at /api (docs: /api/docs)")
    common(s)
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
    settings = defaults.replace(index_dir=args.index, model=args.model,
                                embedding_backend=args.backend, mode=getattr(args, "mode", None),
                                k=getattr(args, "k", None), chunk_tokens=getattr(args, "chunk_tokens", None),
                                chunk_overlap=getattr(args, "chunk_overlap", None))
    from . import store
    from .embedding import ModelNotFound
    from .indexing import BuildError

    try:
        if getattr(args, "k", 1) < 1:
            raise UsageError("--k must be at least 1")
        return COMMANDS[args.command](args, settings)
    except (UsageError, store.IndexError_, BuildError, ModelNotFound) as e:
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


def format_answer(answer) -> str:  # noqa: ANN001 - rag.types.Answer
    width = 100
    if answer.message and not answer.retrieved:
        return answer.message
    if answer.abstained:
        lines = [answer.message, "", "Closest passages (not an answer):"]
        for h in answer.retrieved[:3]:
            page = f", p. {h.chunk.page}" if h.chunk.page else ""
            lines.append(f"  - {h.title} ({h.source}{page}): " + textwrap.shorten(h.chunk.text, 160))
        return "\n".join(lines)
    out = [answer.answer, "", "Sources:"]
    if answer.short_answer is not None:
        out[:0] = [f"Short answer: {' '.join(answer.short_answer.text.split())} [{answer.short_answer.citation}]", ""]
    for n in sorted({c.n for c in answer.citations}):
        cites = [c for c in answer.citations if c.n == n]
        c = cites[0]
        page = f", page {c.page}" if c.page else ""
        out.append(f"[{n}] {c.title} — {c.source}{page}")
        passage = c.passage
        for q in sorted(cites, key=lambda x: -x.start):  # mark from the end so offsets hold
            a, b = q.start - c.passage_start, q.end - c.passage_start
            passage = passage[:a] + "»" + passage[a:b] + "«" + passage[b:]
        out.append(textwrap.indent(textwrap.fill(" ".join(passage.split()), width), "    "))
    return "\n".join(out)


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
    from .evaluation import QuestionError, UnknownConfig, broken_citations, run
    from .report import format_table, write_html

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
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import ui

    return ui.main(["--host", args.host, "--port", str(args.port), "--index", settings.index_dir,
                    "--model", settings.model, "--sources", args.sources_dir]
                   + (["--auth", args.auth] if args.auth else []) + (["--monitoring"] if args.monitoring else [])
                   + (["--mcp"] if args.mcp else []))


def _train(args: argparse.Namespace, settings: Settings) -> int:
    from .train import main as train_main

    return train_main(args.rest)


COMMANDS = {"build": _build, "ask": _ask, "chat": _chat, "info": _info, "eval": _eval, "train": _train,
            "serve": _serve}

if __name__ == "__main__":
    sys.exit(main())
