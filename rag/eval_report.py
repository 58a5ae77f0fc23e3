"""``rag eval`` results → a text table (rows = metrics, columns = configurations) and a self-contained
HTML report: inline CSS, charts drawn as inline SVG, every piece of text HTML-escaped, no scripts."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

ROWS = [  # (metric key, label, format)
    ("questions", "questions", "n"), ("answerable", "  answerable", "n"), ("unanswerable", "  unanswerable", "n"),
    ("hit@1", "hit@1", "r"), ("hit@3", "hit@3", "r"), ("hit@5", "hit@5", "r"), ("hit@10", "hit@10", "r"),
    ("mrr@10", "MRR@10", "r"), ("evidence_recall@5", "evidence recall@5", "r"),
    ("evidence_recall@10", "evidence recall@10", "r"),
    ("citation_precision", "citation precision", "r"), ("citation_recall", "citation recall", "r"),
    ("answer_evidence_recall", "answer evidence recall", "r"), ("answer_f1", "answer token F1", "r"),
    ("answer_words", "answer length (words)", "w"), ("answer_words_median", "  median", "w"),
    ("short_correct", "short answer correct", "r"), ("short_present", "  short answer given", "r"),
    ("integrity", "citation integrity", "r"),
    ("answered_rate", "answered (answerable)", "r"), ("abstained_rate", "abstained (unanswerable)", "r"),
    ("balanced_accuracy", "balanced accuracy", "r"), ("threshold", "abstain threshold", "r"),
    ("best_threshold", "best threshold (sweep)", "r"), ("best_balanced_accuracy", "  its balanced accuracy", "r"),
    ("latency_p50_ms", "latency p50 (ms)", "w"), ("latency_p95_ms", "latency p95 (ms)", "w"),
]
RATES = ["hit@1", "hit@5", "hit@10", "mrr@10", "evidence_recall@10", "citation_precision", "citation_recall",
         "answer_evidence_recall", "answer_f1", "answered_rate", "abstained_rate", "balanced_accuracy"]
COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1"]


def fmt(value: Any, kind: str) -> str:
    """A table cell: rates to 3 decimals, ms and words to 1, counts whole, missing as a dash.

    >>> fmt(0.5, "r"), fmt(None, "r"), fmt(12.34, "w"), fmt(3, "n")
    ('0.500', '–', '12.3', '3')
    """
    if value is None:
        return "–"
    return str(value) if kind == "n" else f"{value:.1f}" if kind == "w" else f"{value:.3f}"


def format_table(runs: list[dict]) -> str:
    names = [r["config"]["name"] for r in runs]
    width = max(len(label) for _, label, _ in ROWS)
    cols = [max(8, len(n)) for n in names]
    lines = [f"{'metric':<{width}}  " + "  ".join(f"{n:>{c}}" for n, c in zip(names, cols, strict=True))]
    for key, label, kind in ROWS:
        cells = [f"{fmt(r['metrics'].get(key), kind):>{c}}" for r, c in zip(runs, cols, strict=True)]
        lines.append(f"{label:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)


# -- SVG ----------------------------------------------------------------------------------------------

def bars(title: str, groups: list[str], series: list[str], values: list[list[float | None]],
         vmax: float | None = None, unit: str = "") -> str:
    """Grouped bar chart: ``values[group][series]``; a missing value draws no bar."""
    top = vmax or max([v for row in values for v in row if v is not None] + [1e-9])
    bw = 12 if len(groups) * len(series) > 40 else 18
    gw = len(series) * bw + 14
    left, plot_h, base = 46, 170, 46 + 170
    width = max(left + len(groups) * gw + 20, 320)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{base + 110}" role="img">',
           f'<text x="4" y="16" class="t">{escape(title)}</text>']
    for i, name in enumerate(series):
        out.append(f'<rect x="{left + i * 110}" y="26" width="10" height="10" fill="{COLOURS[i % 7]}"/>'
                   f'<text x="{left + i * 110 + 14}" y="35">{escape(name)}</text>')
    for f in (0, 0.25, 0.5, 0.75, 1):
        y = base - f * plot_h
        out.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" class="g"/>'
                   f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{_short(f * top)}{unit}</text>')
    for g, (group, row) in enumerate(zip(groups, values, strict=True)):
        x0 = left + g * gw + 7
        for s, v in enumerate(row):
            if v is None:
                continue
            h = max(0.0, min(v / top, 1.0)) * plot_h
            out.append(f'<rect x="{x0 + s * bw}" y="{base - h:.1f}" width="{bw - 2}" height="{h:.1f}" '
                       f'fill="{COLOURS[s % 7]}"><title>{escape(f"{group} · {series[s]}: {_short(v)}{unit}")}'
                       f'</title></rect>')
        cx = x0 + len(row) * bw / 2
        out.append(f'<text transform="translate({cx:.1f},{base + 10}) rotate(35)">{escape(group)}</text>')
    return "\n".join(out + ["</svg>"])


def histogram(title: str, answerable: list[float], unanswerable: list[float], lo: float, hi: float,
              marks: dict[str, float | None], n_bins: int = 20) -> str:
    """Counts of confidences per bin, answerable and unanswerable side by side, with threshold lines."""
    step = (hi - lo) / n_bins or 1.0

    def counts(xs: list[float]) -> list[int]:
        c = [0] * n_bins
        for x in xs:
            c[min(n_bins - 1, max(0, int((x - lo) / step)))] += 1
        return c

    ca, cu = counts(answerable), counts(unanswerable)
    top = max(ca + cu + [1])
    left, plot_w, plot_h, base = 40, 400, 140, 40 + 140

    def xpos(x: float) -> float:
        return left + (x - lo) / (hi - lo or 1.0) * plot_w

    bw = plot_w / n_bins
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + plot_w + 20}" height="{base + 40}" role="img">',
           f'<text x="4" y="14" class="t">{escape(title)}</text>',
           f'<rect x="{left}" y="20" width="10" height="10" fill="{COLOURS[0]}"/><text x="{left + 14}" y="29">'
           f'answerable ({len(answerable)})</text><rect x="{left + 130}" y="20" width="10" height="10" '
           f'fill="{COLOURS[1]}"/><text x="{left + 144}" y="29">unanswerable ({len(unanswerable)})</text>']
    for i, (a, u) in enumerate(zip(ca, cu, strict=True)):
        x = left + i * bw
        for j, c in enumerate((a, u)):
            h = c / top * plot_h
            out.append(f'<rect x="{x + j * bw / 2:.1f}" y="{base - h:.1f}" width="{bw / 2 - 1:.1f}" '
                       f'height="{h:.1f}" fill="{COLOURS[j]}"><title>{c} in [{lo + i * step:.2f}, '
                       f'{lo + (i + 1) * step:.2f})</title></rect>')
    out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{base}" y2="{base}" class="g"/>'
               f'<text x="{left - 4}" y="{base - plot_h + 8}" text-anchor="end">{top}</text>')
    for x in (lo, (lo + hi) / 2, hi):
        out.append(f'<text x="{xpos(x):.1f}" y="{base + 14}" text-anchor="middle">{x:.2f}</text>')
    for k, (label, mark) in enumerate(marks.items()):
        if mark is None:
            continue
        px = xpos(mark)
        out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{base - plot_h}" y2="{base}" stroke="#333" '
                   f'stroke-dasharray="{"4 3" if k else "none"}"/><text x="{px + 3:.1f}" '
                   f'y="{base - plot_h + 10 + 12 * k}">{escape(f"{label} {mark:.3f}")}</text>')
    return "\n".join(out + ["</svg>"])


def _short(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 10 else f"{v:.2f}"


# -- the page -----------------------------------------------------------------------------------------

CSS = """body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1500px}
h1{font-size:20px}h2{font-size:17px;margin-top:28px}svg{margin:6px 12px 6px 0;overflow:visible}
svg text{font-size:11px;fill:#333}svg text.t{font-size:13px;font-weight:600}svg line.g{stroke:#ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 7px;vertical-align:top}
th{background:#f4f4f4;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.bad td{background:#fdecea}tr.warn td{background:#fff6e0}.a{white-space:pre-wrap;min-width:360px;max-width:560px}
.m{color:#777}.q{min-width:200px;max-width:300px}details{margin:10px 0}summary{cursor:pointer;font-weight:600}"""


def write_html(result: dict, path: str | Path) -> None:
    Path(path).write_text(render(result), encoding="utf-8")


def render(result: dict) -> str:
    runs = result["runs"]
    names = [r["config"]["name"] for r in runs]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = (f"<p class=m>Index {escape(str(result.get('index', '')))} ({escape(str(result.get('index_id', '')))})"
            f" · questions from {escape(', '.join(result.get('question_files', [])))} · "
            f"{escape(str(result.get('seconds', '')))} s · {when}</p>")
    table = ["<table><tr><th>metric</th>" + "".join(f"<th>{escape(n)}</th>" for n in names) + "</tr>"]
    for key, label, kind in ROWS:
        table.append(f"<tr><td>{escape(label.strip())}</td>"
                     + "".join(f"<td class=n>{fmt(r['metrics'].get(key), kind)}</td>" for r in runs) + "</tr>")
    table.append("</table>")
    charts = [bars("Metrics per configuration", RATES, names, [[r["metrics"].get(m) for r in runs] for m in RATES],
                   vmax=1.0)]
    kinds = sorted({k for r in runs for k, m in r["by_kind"].items() if m["answerable"]})
    for key, label in (("hit@5", "hit@5"), ("answer_evidence_recall", "answer evidence recall")):
        charts.append(bars(f"{label} per question kind", [f"{k} ({runs[0]['by_kind'][k]['answerable']})"
                                                             for k in kinds],
                           names, [[r["by_kind"][k].get(key) for r in runs] for k in kinds], vmax=1.0))
    confidences = [q["confidence"] for r in runs for q in r["questions"]] or [0.0, 1.0]
    lo, hi = min(confidences + [r["metrics"]["threshold"] for r in runs]), max(confidences)
    hists = [histogram(f"Confidence · {r['config']['name']}",
                       [q["confidence"] for q in r["questions"] if q["answerable"]],
                       [q["confidence"] for q in r["questions"] if not q["answerable"]], lo, hi,
                       {"current": r["metrics"]["threshold"], "best": r["metrics"]["best_threshold"]})
             for r in runs]
    latency = bars("Latency per question (ms)", names, ["p50", "p95"],
                   [[r["metrics"]["latency_p50_ms"], r["metrics"]["latency_p95_ms"]] for r in runs], unit="")
    body = [f"<h1>rag eval: {escape(', '.join(names))}</h1>", head, "<h2>Metrics</h2>", *table,
            "<p class=m>Retrieval and answer metrics average over answerable questions; citation metrics over "
            "answerable questions that were answered; abstention rates over each group. Best threshold "
            "maximises balanced accuracy (ties toward the current threshold).</p>",
            "<h2>Charts</h2>", *charts, "<h2>Answerable vs unanswerable confidence</h2>", *hists,
            "<h2>Latency</h2>", latency, "<h2>Questions</h2>"]
    for i, r in enumerate(runs):
        body.append(_question_table(r, open_=i == len(runs) - 1))
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>rag eval</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _question_table(run: dict, open_: bool) -> str:
    qs = run["questions"]
    bad = sum(q["status"] != "ok" for q in qs)
    rows = [f"<details{' open' if open_ else ''}><summary>{escape(run['config']['name'])}: {len(qs)} questions, "
            f"{bad} not ok</summary><table><tr><th>id</th><th>kind</th><th>question / reference</th>"
            "<th>status</th><th>hit rank</th><th>outcome</th><th>answer</th><th>cited sources</th>"
            "<th>scores</th></tr>"]
    for q in qs:
        a = q["answer"]
        cls = "" if q["status"] == "ok" else " class=bad" if "miss" in q["status"] or "should" in q["status"] \
            or q["status"] == "abstained" else " class=warn"
        cited = dict.fromkeys(f"[{c['n']}] {c['source']}" + (f" p. {c['page']}" if c["page"] else "")
                              for c in a["citations"])
        rank = ("–" if not q["answerable"] else "miss" if q["hit_rank"] is None else str(q["hit_rank"]))
        outcome = f"{'abstained' if q['abstained'] else 'answered'} ({q['confidence']:.3f})"
        scores = "" if not q["answerable"] else " · ".join(
            f"{label} {fmt(q.get(key), 'r')}" for key, label in (("answer_evidence_recall", "ER"),
                                                                 ("answer_f1", "F1"), ("citation_precision", "cP")))
        ref = f"<div class=m>{escape(q['reference'])}</div>" if q.get("reference") else ""
        rows.append(f"<tr{cls}><td>{escape(q['id'])}</td><td>{escape(q['kind'])}</td>"
                    f"<td class=q>{escape(q['question'])}{ref}</td><td>{escape(q['status'])}</td>"
                    f"<td class=n>{rank}</td><td>{outcome}</td>"
                    f"<td class=a>{escape(a['answer'] or a['message'])}</td>"
                    f"<td>{'<br>'.join(escape(c) for c in cited)}</td><td>{escape(scores)}</td></tr>")
    return "\n".join(rows + ["</table></details>"])
