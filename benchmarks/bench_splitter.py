"""Sentence splitting: time against the length of one paragraph (25 KB to 20 MB), and, with --evidence,
how well-kept splitters compare with ours on where the eval sets' evidence spans start and end.

    .venv/bin/python benchmarks/bench_splitter.py                   # the curve: ours, others while quick
    .venv/bin/python benchmarks/bench_splitter.py --evidence        # + the evidence table (eval/*.jsonl)

The curve splits one paragraph made of a repeated unit: the issue's "Word is here. " (on which the
splitter this one replaced took time growing with the square of the length), an abbreviation-heavy
sentence, and ../shared/corpus as one paragraph. Linear time shows as a constant µs/KB. "ours before" is
that quadratic splitter (tests/reference_splitter.py), with the same output. The others (pysbd, sentencex, nupunkt,
blingfire: `pip install` them into .venv; they are not dependencies) run while a size takes under
--budget s, as does "ours before".

The evidence table locates every evidence span of eval/*.jsonl in its document's text (as rag.sources
reads it) and asks, per splitter run on each whole document: does the span start and end on sentence
boundaries (it is whole sentences), does it lie inside one sentence, and what share of the whole
sentences covering it is the span itself (1.0 = quoting those sentences quotes nothing else). Ties of
whitespace or punctuation between a span's edge and a boundary count as on the boundary. Each other
splitter also runs inside our blocks ("+blocks": paragraphs, list items, headings, which ours never
crosses), to separate what the sentence rules do from what the block rules do.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from common import CORPUS, ROOT, SOURCES, print_machine

from rag.chunking import _blocks, sentence_spans

Spans = list[tuple[int, int]]
SIZES_KB = (25, 50, 100, 200, 400, 1000, 2000, 5000, 10000, 20000)
UNITS = {"Word is here.": "Word is here. ",
         "abbreviations": "Dr. Smith met Mr. Jones at 9 a.m. in the U.S. lab on Jan. 5. No. 3 is e.g. fine. "}


def _strip(text: str, spans: Spans) -> Spans:
    out = []
    for a, b in spans:
        piece = text[a:b]
        a += len(piece) - len(piece.lstrip())
        b = a + len(piece.strip())
        if b > a:
            out.append((a, b))
    return out


def splitters() -> dict[str, Callable[[str], Spans]]:
    """Our splitter and each well-kept one that is installed, all as text -> (start, end) spans."""
    out: dict[str, Callable[[str], Spans]] = {"ours": sentence_spans}
    try:
        import pysbd

        seg = pysbd.Segmenter(language="en", clean=False, char_span=True)
        out["pysbd"] = lambda t: _strip(t, [(s.start, s.end) for s in seg.segment(t)])
    except ImportError:
        pass
    try:
        import sentencex

        def sx(t: str) -> Spans:
            spans, at = [], 0
            for piece in sentencex.segment("en", t):
                if not t.startswith(piece, at):  # segments should tile the text; find one that does not
                    at = max(t.find(piece, at), at)
                spans.append((at, at + len(piece)))
                at += len(piece)
            return _strip(t, spans)

        out["sentencex"] = sx
    except ImportError:
        pass
    try:
        import nupunkt

        out["nupunkt"] = lambda t: _strip(t, nupunkt.sent_spans(t))
    except ImportError:
        pass
    try:
        import blingfire

        def bf(t: str) -> Spans:
            try:
                return _strip(t, blingfire.text_to_sentences_and_offsets(t)[1])  # character offsets
            except AssertionError:  # it fails on some short blocks (a lone "1.", a line of dashes)
                return _strip(t, [(0, len(t))])

        out["blingfire"] = bf
    except ImportError:
        pass
    for name, fn in list(out.items())[1:]:  # each also given our blocks (paragraphs, list items, headings)
        out[f"{name}+blocks"] = _within_blocks(fn)
    return out


def _within_blocks(fn: Callable[[str], Spans]) -> Callable[[str], Spans]:
    def split(t: str) -> Spans:
        return [(a + s, b + s) for s, e in _blocks(t) for a, b in fn(t[s:e])]

    return split


def corpus_texts() -> dict[str, str]:
    from rag.sources import load_all

    docs, _ = load_all([SOURCES, CORPUS])
    return {Path(d.source).name: d.text for d in docs}


def before() -> Callable[[str], Spans]:
    """Our splitter as it was before it was made linear (kept in tests/ as the reference it must match)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from reference_splitter import split_sentences

    return lambda t: [(s.start, s.end) for s in split_sentences(t)]


def curve(split: dict[str, Callable[[str], Spans]], budget: float, texts: dict[str, str]) -> None:
    units = dict(UNITS, corpus=re.sub(r"\s+", " ", " ".join(texts.values())) + " ")
    split = {"ours": split["ours"], "ours before": before(), **split}
    print(f"{'unit':15s} {'splitter':16s} " + " ".join(f"{kb:>7,}" for kb in SIZES_KB) + "   (KB: seconds; µs/KB)")
    for unit_name, unit in units.items():
        for name, fn in split.items():
            if name.endswith("+blocks"):  # one paragraph is one block
                continue
            cells, per_kb, last = [], [], 0.0
            for kb in SIZES_KB:
                if name != "ours" and last > budget:
                    cells.append("—")
                    continue
                text = (unit * (kb * 1000 // len(unit) + 1))[: kb * 1000]
                t0 = time.perf_counter()
                fn(text)
                seconds = last = time.perf_counter() - t0
                cells.append(f"{seconds:.2f}")
                per_kb.append(seconds / kb * 1e6)
            spread = f"{min(per_kb):,.0f}–{max(per_kb):,.0f}"
            print(f"{unit_name:15s} {name:16s} " + " ".join(f"{c:>7}" for c in cells) + f"   {spread}")


def locate(text: str, span: str) -> tuple[int, int] | None:
    """Where ``span`` is in ``text``, exactly or with runs of whitespace taken as equal."""
    at = text.find(span)
    if at >= 0:
        return at, at + len(span)
    words = span.split()
    if not words:
        return None
    match = re.search(r"\s+".join(map(re.escape, words)), text)
    return (match.start(), match.end()) if match else None


def evidence_spans(texts: dict[str, str]) -> tuple[list[tuple[str, int, int]], int]:
    found, missing = [], 0
    for path in sorted((ROOT / "eval").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            for q in item.get("turns", [item]):
                for span in q.get("evidence") or []:
                    hits = [(name, locate(texts[name], span)) for name in q.get("sources", []) if name in texts]
                    hit = next(((name, where) for name, where in hits if where), None)
                    if hit:
                        found.append((hit[0], *hit[1]))
                    else:
                        missing += 1
    return sorted(set(found)), missing


def _gap(text: str, a: int, b: int) -> bool:
    """Only whitespace or punctuation between two offsets: the same boundary."""
    lo, hi = min(a, b), max(a, b)
    return hi - lo <= 3 and not any(ch.isalnum() for ch in text[lo:hi])


def score(text: str, sentences: Spans, a: int, b: int) -> tuple[bool, bool, bool, float]:
    """(starts on a boundary, ends on one, inside one sentence, span share of the covering sentences)."""
    cover = [(s, e) for s, e in sentences if e > a and s < b]
    if not cover:
        return False, False, False, 0.0
    starts = any(_gap(text, s, a) for s, _ in cover[:2])
    ends = any(_gap(text, e, b) for _, e in cover[-2:])
    inside = len(cover) == 1 or (len(cover) == 2 and (_gap(text, cover[0][1], a) or _gap(text, cover[1][0], b)))
    covered = max(cover[-1][1], b) - min(cover[0][0], a)
    return starts, ends, inside, (b - a) / covered


def evidence_table(split: dict[str, Callable[[str], Spans]], texts: dict[str, str]) -> None:
    spans, missing = evidence_spans(texts)
    print(f"\n{len(spans)} distinct evidence spans located in {len({n for n, _, _ in spans})} documents "
          f"({missing} not found verbatim)")
    print(f"{'splitter':16s} {'sentences':>9s} {'whole sents':>11s} {'start ok':>8s} {'end ok':>7s} "
          f"{'in one':>7s} {'either':>7s} {'share':>6s} {'split s':>8s}")
    for name, fn in split.items():
        t0 = time.perf_counter()
        by_doc = {doc: fn(text) for doc, text in texts.items()}
        seconds = time.perf_counter() - t0
        rows = [score(texts[doc], by_doc[doc], a, b) for doc, a, b in spans]
        n = len(rows)
        whole = sum(s and e for s, e, _, _ in rows) / n
        inside = sum(i for _, _, i, _ in rows) / n
        either = sum((s and e) or i for s, e, i, _ in rows) / n
        print(f"{name:16s} {sum(map(len, by_doc.values())):9,d} {whole:11.3f} {sum(r[0] for r in rows) / n:8.3f} "
              f"{sum(r[1] for r in rows) / n:7.3f} {inside:7.3f} {either:7.3f} "
              f"{sum(r[3] for r in rows) / n:6.3f} {seconds:8.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--evidence", action="store_true", help="also compare on the eval sets' evidence spans")
    ap.add_argument("--budget", type=float, default=5.0, help="stop another splitter's curve past this many s")
    ap.add_argument("--no-curve", action="store_true")
    args = ap.parse_args()
    print_machine("sentence splitting (benchmarks/bench_splitter.py)")
    split = splitters()
    texts = corpus_texts()
    if not args.no_curve:
        curve(split, args.budget, texts)
    if args.evidence:
        evidence_table(split, texts)


if __name__ == "__main__":
    main()
