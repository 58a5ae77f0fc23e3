"""The browser chat's stylesheet and the small scripts its events run: text for Gradio, no logic."""

CSS = """
.gradio-container { max-width: 1280px !important; }
#status .status { font-size: .9rem; color: var(--body-text-color-subdued); padding: 2px 2px 6px; }
#status code, .report code, .docs code { font-size: .85em; }
#conversation .empty { color: var(--body-text-color-subdued); padding: 18px 4px; }
.turn { border-top: 1px solid var(--border-color-primary); padding: 16px 0 10px; }
.turn:first-child { border-top: none; }
.turn .q { display: flex; flex-wrap: wrap; gap: 4px 10px; align-items: baseline; margin-bottom: 10px; }
.turn .who { font-size: .75rem; font-weight: 600; text-transform: uppercase; letter-spacing: .05em;
  color: var(--body-text-color-subdued); }
.turn .qtext { font-weight: 600; font-size: 1.05rem; overflow-wrap: anywhere; white-space: pre-wrap; }
.turn .searched, .turn .scope { flex-basis: 100%; font-size: .8rem; color: var(--body-text-color-subdued); }
.turn .standalone { margin-left: 8px; cursor: pointer; color: var(--color-accent); text-decoration: underline; }
.turn .short { font-size: 1.1rem; margin: 0 0 6px; }
#scope-row { align-items: center; }
.turn .grid { display: grid; grid-template-columns: minmax(0, 5fr) minmax(0, 4fr); gap: 18px; align-items: start; }
@media (max-width: 900px) { .turn .grid { grid-template-columns: minmax(0, 1fr); } }
.turn .label { font-size: .75rem; font-weight: 600; text-transform: uppercase; letter-spacing: .04em;
  color: var(--body-text-color-subdued); margin-bottom: 6px; }
.turn .answer { line-height: 1.65; margin: 0; overflow-wrap: anywhere; }
a.cite { text-decoration: none; font-size: .78em; font-weight: 700; vertical-align: super; padding: 0 2px;
  color: var(--color-accent); border-radius: 4px; }
a.cite:hover { background: var(--color-accent-soft); }
.a.abstain { border-left: 4px solid #f59e0b; padding-left: 12px; }
.abstain .msg { font-size: 1.05rem; font-weight: 600; margin: 0 0 6px; }
.abstain .hint { color: var(--body-text-color-subdued); margin: 0; font-size: .92rem; }
.sources { display: flex; flex-direction: column; gap: 10px; }
.card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px 12px;
  background: var(--background-fill-secondary); scroll-margin-top: 80px; transition: box-shadow .3s; }
.card:target { border-color: var(--color-accent); box-shadow: 0 0 0 3px var(--color-accent-soft); }
.card header { display: flex; gap: 8px; align-items: flex-start; }
.card .num { flex: none; min-width: 1.5em; height: 1.5em; border-radius: 999px; background: var(--color-accent);
  color: white; font-size: .8rem; font-weight: 700; display: inline-flex; align-items: center;
  justify-content: center; }
.card .title { font-weight: 600; line-height: 1.3; overflow-wrap: anywhere; }
.card .where { font-size: .8rem; color: var(--body-text-color-subdued); margin: 2px 0 6px; overflow-wrap: anywhere; }
.card .passage, .card .context { white-space: pre-line; font-size: .9rem; line-height: 1.5; overflow-wrap: anywhere; }
.card .context { max-height: 24em; overflow-y: auto; }
.card.muted { opacity: .85; border-style: dashed; }
.card mark { background: #fde68a; color: #1f2937; border-radius: 3px; padding: 0 1px; }
.dark .card mark { background: #a16207; color: #fff; }
.card details { margin-top: 6px; font-size: .85rem; }
.card summary { cursor: pointer; color: var(--color-accent); }
.card .context { margin-top: 6px; padding-top: 6px; border-top: 1px dashed var(--border-color-primary);
  color: var(--body-text-color-subdued); }
#notice .notice { padding: 8px 12px; border-radius: 8px; background: var(--color-accent-soft); }
.report .ok { color: var(--body-text-color); } .report .bad { color: #b91c1c; }
.dark .report .bad { color: #fca5a5; }
#ask, #clear, #download { white-space: nowrap; }
#examples::before { content: "Try:"; color: var(--body-text-color-subdued); font-size: .9rem; }
#examples { align-items: center; justify-content: flex-start; flex-wrap: wrap; gap: 8px; }
#examples button { white-space: nowrap; flex: none; width: auto; }
#input-row { position: sticky; bottom: 0; z-index: 5; background: var(--body-background-fill); padding: 8px 0; }
"""

SCROLL_JS = ("() => { const t = document.querySelectorAll('#conversation .turn');"
             " if (t.length) t[t.length - 1].scrollIntoView({behavior: 'smooth', block: 'start'}); }")
# the conversation's only event: a click (or Enter) on a turn's "Ask standalone instead" link
STANDALONE_JS = """
const go = (e) => { const a = e.target.closest('.standalone');
  if (a && (e.type === 'click' || e.key === 'Enter')) {
    e.preventDefault(); trigger('click', {turn: Number(a.dataset.turn)}); } };
element.addEventListener('click', go); element.addEventListener('keydown', go);
"""
DOWNLOAD_JS = """(markdown) => { if (!markdown) return;
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([markdown], {type: 'text/markdown;charset=utf-8'}));
  a.download = 'conversation.md'; document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000); }"""
