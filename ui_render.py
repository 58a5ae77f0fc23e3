"""HTML for the browser chat, built from ``Answer.to_dict()`` by pure functions.

Every piece of text that comes from a source file, the index or the user goes through ``esc``
(``html.escape``) here and nowhere else; the result is shown with ``gr.HTML``, which renders no
Markdown and no LaTeX, so ``<script>``, ``onerror=`` or ``[x](javascript:...)`` in a document show as
text. The only markup is the fixed skeleton below.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ui_state import CLOSEST_KEPT

CONTEXT_CHARS = 400  # document text shown either side of a passage under "Text around this passage"
CLOSEST_SHOWN = CLOSEST_KEPT  # an abstention shows the closest passages its turn keeps

Lookup = Callable[[str], str | None]  # doc_id -> the document's text, if the index still has it


def esc(text: object) -> str:
    """Text as HTML text: nothing in it can become markup.

    >>> esc('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    """
    return html.escape(str(text), quote=True)


def highlight(text: str, offset: int, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` escaped, each document span ``(start, end)`` inside it wrapped in ``<mark>``.

    ``offset`` is the document offset of ``text[0]``; overlapping or touching spans merge.

    >>> highlight("a <b> c", 10, [(12, 15)])
    'a <mark>&lt;b&gt;</mark> c'
    """
    cuts: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        a, b = max(start - offset, 0), min(end - offset, len(text))
        if a >= b:
            continue
        if cuts and a <= cuts[-1][1]:
            cuts[-1] = (cuts[-1][0], max(cuts[-1][1], b))
        else:
            cuts.append((a, b))
    out, pos = [], 0
    for a, b in cuts:
        out += [esc(text[pos:a]), "<mark>", esc(text[a:b]), "</mark>"]
        pos = b
    out.append(esc(text[pos:]))
    return "".join(out)


def quote_spans(passage: str, passage_start: int, cites: Sequence[Mapping[str, Any]]) -> list[tuple[int, int]]:
    """Document spans of the quotes, checked against the passage (searched for if offsets disagree)."""
    spans = []
    for c in cites:
        quote, a = c["quote"], c["start"] - passage_start
        if not (0 <= a and passage[a:a + len(quote)] == quote):
            a = passage.find(quote)
            if a < 0:
                continue
        spans.append((passage_start + a, passage_start + a + len(quote)))
    return spans


def _where(source: str, page: int | None) -> str:
    return esc(source) + (f" · page {int(page)}" if page else "")


def _around(text: str, start: int, end: int) -> tuple[int, int]:
    """About ``CONTEXT_CHARS`` either side of ``text[start:end]``, cut at whitespace, not inside a word.

    >>> _around("one two three four five", 8, 13)
    (0, 23)
    """
    lo, hi = max(0, start - CONTEXT_CHARS), min(len(text), end + CONTEXT_CHARS)
    if lo:
        m = re.search(r"\s", text[lo:start])
        lo = lo + m.end() if m else start
    if hi < len(text):
        m = re.search(r"\s\S*$", text[end:hi])
        hi = end + m.start() if m else end
    return lo, hi


def card(turn: int, n: int, cites: Sequence[Mapping[str, Any]], document: Lookup) -> str:
    """One source card: number, title, file, page, the passage with its quotes marked, the text around.

    A citation kept by a conversation (``ui_state.compact``) has no ``passage``: it is read from the
    document; if the index no longer holds the document, the quotes are shown instead."""
    c = cites[0]
    text = document(c["doc_id"])
    passage, start = c.get("passage"), c["passage_start"]
    if passage is None and text:
        passage = text[start:c["passage_end"]]
    if passage is None:
        passage = " … ".join(x["quote"] for x in cites)
        spans = []
        body = esc(passage)
    else:
        spans = quote_spans(passage, start, cites)
        body = highlight(passage, start, spans)
    context = ""
    if text:
        lo, hi = _around(text, c["passage_start"], c["passage_end"])
        around = ("…" if lo else "") + highlight(text[lo:hi], lo, spans) + ("…" if hi < len(text) else "")
        context = (f'<details class="around"><summary>Text around this passage</summary>'
                   f'<div class="context">{around}</div></details>')
    return (f'<article class="card" id="cite-{turn}-{n}"><header><span class="num">{n}</span>'
            f'<span class="title">{esc(c["title"])}</span></header>'
            f'<div class="where">{_where(c["source"], c["page"])}</div>'
            f'<div class="passage">{body}</div>{context}</article>')


def closest_card(hit: Mapping[str, Any]) -> str:
    return (f'<article class="card muted"><header><span class="title">{esc(hit["title"])}</span></header>'
            f'<div class="where">{_where(hit["source"], hit["page"])}</div>'
            f'<div class="passage">{esc(hit["text"])}</div></article>')


def answer_text(answer: Mapping[str, Any], turn: int) -> str:
    """The answer's sentences, escaped, each followed by a marker linking to its card.

    Built from ``sentences`` rather than by parsing ``answer``, so a literal "[3]" inside a quoted
    sentence never becomes a link; line breaks are taken from ``answer`` (lists go one item a line).
    """
    titles = {c["n"]: c["title"] for c in answer["citations"]}
    full, pos, parts = answer["answer"], 0, []
    for i, s in enumerate(answer["sentences"]):
        n = int(s["citation"])
        piece = f'{s["text"]} [{n}]'
        at = full.find(piece, pos)
        if i:
            parts.append("<br>" if at >= 0 and "\n" in full[pos:at] else " ")
        if at >= 0:
            pos = at + len(piece)
        parts.append(f'<span class="sent">{esc(s["text"])}</span>&nbsp;<a class="cite" href="#cite-{turn}-{n}" '
                     f'title="{esc(titles.get(n, ""))}">[{n}]</a>')
    return "".join(parts)


def short_html(answer: Mapping[str, Any], turn: int) -> str:
    """The short answer (the name, date, count ... asked for), in bold, with its marker; "" if none.

    >>> short_html({"short_answer": {"text": "<Ann>", "citation": 2}}, 1)
    '<p class="short"><b>&lt;Ann&gt;</b>&nbsp;<a class="cite" href="#cite-1-2">[2]</a></p>'
    """
    short = answer.get("short_answer")
    if not short or not short.get("text"):
        return ""
    n = int(short["citation"])
    return f'<p class="short"><b>{esc(short["text"])}</b>&nbsp;<a class="cite" href="#cite-{turn}-{n}">[{n}]</a></p>'


def turn_html(turn: int, question: str, searched: str, answer: Mapping[str, Any], document: Lookup) -> str:
    """One question and its answer (or abstention) with the sources beside it.

    ``searched`` is the standalone question a follow-up was resolved to (``understood_as``); when it
    differs from ``question`` the turn says so, with a link that asks ``question`` on its own
    (``ui.py`` listens for clicks on ``.standalone`` and reads ``data-turn``)."""
    note = (f'<div class="searched">Searched as: “{esc(searched)}” <a class="standalone" role="button" tabindex="0" '
            f'data-turn="{int(turn)}">Ask standalone instead</a></div>' if searched and searched != question else "")
    scope = answer.get("scope") or []
    if scope:
        note += '<div class="scope">Searched in: ' + ", ".join(f"<code>{esc(s)}</code>" for s in scope) + "</div>"
    head = (f'<section class="turn" id="turn-{int(turn)}"><div class="q"><span class="who">You</span>'
            f'<div class="qtext">{esc(question)}</div>{note}</div>')
    if answer["abstained"]:
        closest = "".join(closest_card(h) for h in answer["retrieved"][:CLOSEST_SHOWN])
        return (head + '<div class="grid"><div class="a abstain"><div class="label">No answer</div>'
                f'<p class="msg">{esc(answer["message"])}</p><p class="hint">Nothing in the documents is close '
                'enough to quote as an answer. Try other words, or add a document that covers it.</p></div>'
                '<aside class="sources closest"><div class="label">Closest passages (not an answer)</div>'
                f'{closest}</aside></div></section>')
    by_n: dict[int, list[Mapping[str, Any]]] = {}
    for c in answer["citations"]:
        by_n.setdefault(int(c["n"]), []).append(c)
    cards = "".join(card(turn, n, cites, document) for n, cites in sorted(by_n.items()))
    took = (answer.get("timings_ms") or {}).get("total")
    meta = f" · {took:.0f} ms" if took is not None else ""
    return (head + '<div class="grid"><div class="a"><div class="label">Answer · every sentence quoted from '
            f'the sources{meta}</div>{short_html(answer, turn)}<p class="answer">{answer_text(answer, turn)}</p>'
            f'</div><aside class="sources"><div class="label">Sources</div>{cards}</aside></div></section>')


def conversation_html(turns: Sequence[str]) -> str:
    if not turns:
        return ('<div class="empty">Ask a question about the documents. Every sentence of an answer is copied '
                'from a source and numbered; click a number to see the passage it comes from.</div>')
    return "".join(turns)


def notice_html(message: str) -> str:
    return f'<div class="notice">{esc(message)}</div>' if message else ""


def status_html(manifest: Mapping[str, Any]) -> str:
    """The line above the chat: what the answers come from."""
    try:
        built = datetime.fromisoformat(str(manifest.get("built_at"))).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        built = str(manifest.get("built_at", "?"))
    model = Path(str(manifest.get("model", "?"))).name
    return (f'<div class="status"><b>{int(manifest.get("n_documents", 0))}</b> documents · '
            f'<b>{int(manifest.get("n_chunks", 0))}</b> chunks · model <code>{esc(model)}</code> · '
            f'built {esc(built)}</div>')


def documents_html(manifest: Mapping[str, Any]) -> str:
    rows = "".join(f'<li><code>{esc(d["source"])}</code> — {esc(d["title"])} ({int(d["n_chunks"])} chunks)</li>'
                   for d in manifest.get("documents", []))
    return f'<details class="docs"><summary>Documents in the index</summary><ul>{rows}</ul></details>'


def report_html(report: Any, root: str | Path, saved: Sequence[tuple[str, str, str]] = (),
                rejected: Sequence[tuple[str, str]] = (), error: str = "",
                kept: Sequence[tuple[str, str]] = ()) -> str:
    """The rebuild outcome: files saved (``(uploaded, saved as, name wanted)``), rejected, previous versions
    kept, then the build report (``rag.types.BuildReport``)."""
    base = Path(root).resolve()

    def short(path: str) -> str:
        p = Path(path)
        return p.resolve().relative_to(base).as_posix() if p.resolve().is_relative_to(base) else p.name

    items = []
    plain = [name for _, name, wanted in saved if name == wanted]
    if plain:
        items.append(f'<li>Saved to the sources folder: {", ".join(f"<code>{esc(s)}</code>" for s in plain)}</li>')
    items += [f"<li>Saved <code>{esc(uploaded)}</code> as <code>{esc(name)}</code>: <code>{esc(wanted)}</code> is "
              "already in the sources folder and was not changed</li>"
              for uploaded, name, wanted in saved if name != wanted]
    items += [f"<li><code>{esc(name)}</code>: previous version kept in <code>{esc(where)}</code></li>"
              for name, where in kept]
    items += [f'<li class="bad">Rejected <code>{esc(name)}</code>: {esc(why)}</li>' for name, why in rejected]
    if report is not None:
        for label, paths in (("Added", report.added), ("Changed", report.changed), ("Removed", report.removed)):
            if paths:
                names = ", ".join(f"<code>{esc(short(p))}</code>" for p in paths)
                items.append(f"<li>{label} ({len(paths)}): {names}</li>")
        items.append(f"<li>Unchanged: {len(report.unchanged)}</li>")
        items += [f'<li class="bad">Skipped <code>{esc(short(s.path))}</code>: {esc(s.reason)}</li>'
                  for s in report.skipped]
    head = (f'<p class="bad"><b>{esc(error)}</b></p>' if error else
            f'<p class="ok"><b>Index rebuilt and in use.</b> {esc(report.summary())}</p>' if report else "")
    return f'<div class="report">{head}<ul>{"".join(items)}</ul></div>'


def uploads_html(upload_dir: str | Path, roots: Sequence[str | Path], types: Sequence[str], file_mb: float,
                 total_mb: float, files: int, manage: bool) -> str:
    """The Add documents tab's explanation: where uploads go, what the rebuild reads, the limits."""
    others = [r for r in map(str, roots) if Path(r) != Path(upload_dir)]
    also = (" together with the other folders the index was built from: "
            + ", ".join(f"<code>{esc(r)}</code>" for r in others) if others else "")
    edit = ("Replacing or removing a document is done below; its previous version is kept in the folder's "
            "<code>.versions</code>." if manage else
            "Uploads never replace or remove a document; that needs the server started with <code>--auth</code>.")
    return (f'<div class="uploads"><p>Files are saved into <code>{esc(upload_dir)}</code>, then the index is '
            f"rebuilt from that folder{also}. A file never replaces one already there: a taken name gets a number, "
            f"as in <code>notes (2).txt</code>. {edit}</p><p>Types: {esc(', '.join(types))}; up to {file_mb:g} MB "
            f"a file and {total_mb:g} MB or {files} files an upload. The chat keeps answering from the current "
            "index meanwhile.</p></div>")
