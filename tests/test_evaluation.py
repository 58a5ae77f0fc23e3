"""rag.evaluation and rag.eval_report: question files, per-question scoring, aggregation, and `rag eval` end to end."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from rag import cli
from rag.config import Settings
from rag.eval_report import format_table, render
from rag.evaluation import EvidenceCheck, Question, QuestionError, load_questions, score_question, summarise
from rag.types import Answer, AnswerSentence, Citation, Document

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "sources"
DATA = Path(__file__).resolve().parent / "data"
SMALL = DATA / "eval_small.jsonl"
GOOD = '{"id": "q1", "question": "Who?", "answerable": true, "evidence": ["Blinken"]}'


# -- question files ---------------------------------------------------------------------------------

def test_load_questions_reads_every_field():
    qs = load_questions([SMALL])
    assert [q.id for q in qs] == ["e1", "e2", "e3", "e4", "e5"]
    assert qs[0].sources == ("blinken-announces-international-cyber-strategy.txt",)
    assert qs[2].answer is None and len(qs[2].evidence) == 3 and qs[2].kind == "list"
    assert not qs[4].answerable and qs[4].evidence == () and qs[4].where.endswith("line 5")


@pytest.mark.parametrize("line, problem", [
    ('{"id": "q2", "question": "Who?", "answerable": true, ', "not valid JSON"),
    ('["q2", "Who?"]', "expected a JSON object, got a list"),
    ('{"question": "Who?", "answerable": false}', "missing 'id'"),
    ('{"id": "q2", "answerable": false}', "missing 'question'"),
    ('{"id": "q2", "question": "Who?"}', "missing 'answerable'"),
    ('{"id": "q2", "question": "Who?", "answerable": true}', "answerable question 'q2' has no evidence"),
    ('{"id": "q2", "question": "Who?", "answerable": true, "evidence": []}', "has no evidence"),
    ('{"id": "q2", "question": "Who?", "answerable": false, "evidence": ["x"]}', "unanswerable question 'q2' has"),
    ('{"id": "q1", "question": "Who?", "answerable": false}', "duplicate id 'q1' (first at"),
    ('{"id": 2, "question": "Who?", "answerable": false}', "'id' must be string, got a number"),
    ('{"id": "q2", "question": "Who?", "answerable": "yes"}', "'answerable' must be true or false, got a string"),
    ('{"id": "q2", "question": "Who?", "answerable": true, "evidence": "Blinken"}',
     "'evidence' must be a list of non-empty strings, got a string"),
    ('{"id": "q2", "question": "Who?", "answerable": false, "sources": [1]}', "'sources' must be a list"),
    ('{"id": "q2", "question": "  ", "answerable": false}', "'question' is empty"),
])
def test_malformed_lines_name_the_line_and_the_problem(tmp_path, line, problem):
    path = tmp_path / "q.jsonl"
    path.write_text(f"{GOOD}\n\n{line}\n", encoding="utf-8")  # the blank line 2 is skipped, still counted
    with pytest.raises(QuestionError) as e:
        load_questions([path])
    assert f"{path}, line 3: " in str(e.value) and problem in str(e.value)


def test_duplicate_ids_across_files_and_empty_or_missing_files(tmp_path):
    a, b, empty = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "empty.jsonl"
    a.write_text(GOOD + "\n")
    b.write_text(GOOD + "\n")
    empty.write_text("\n  \n")
    with pytest.raises(QuestionError, match=r"b.jsonl, line 1: duplicate id 'q1' \(first at .*a.jsonl, line 1\)"):
        load_questions([a, b])
    with pytest.raises(QuestionError, match="no questions"):
        load_questions([empty])
    with pytest.raises(QuestionError, match="cannot read question file"):
        load_questions([tmp_path / "absent.jsonl"])


def test_cli_rejects_a_malformed_file_with_exit_2(capsys, tmp_path):
    # the question file is checked before any index or model is loaded
    code = cli.main(["eval", str(DATA / "eval_malformed.jsonl"), "--index", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("rag: error: ") and "eval_malformed.jsonl, line 2: answerable question 'm2'" in err
    assert "Traceback" not in err


def test_cli_rejects_unknown_modes(capsys, tmp_path):
    assert cli.main(["eval", str(SMALL), "--compare", "dense,sparse", "--index", str(tmp_path)]) == 2
    assert "--compare: unknown configuration 'sparse'" in capsys.readouterr().err


# -- scoring one question, by hand -----------------------------------------------------------------

TEXT = "Blinken announced the strategy in San Francisco. It helps Ukraine, Costa Rica, and Albania."


class StubIndex:
    documents = [Document("d1", "folder/blinken.txt", "/x/blinken.txt", "Blinken", TEXT, "sha"),
                 Document("d2", "other.txt", "/x/other.txt", "Other", "Ukraine, Costa Rica, and Albania.", "sha2")]

    def document(self, doc_id):
        return {d.doc_id: d for d in self.documents}[doc_id]


def cite(n, doc_id, start, end, quote, chunk_id="c1"):
    return Citation(n, doc_id, chunk_id, "", "", None, start, end, quote, TEXT, 0, len(TEXT), 0.5)


def test_score_question_by_hand():
    q = Question("q", "Which countries got help?", True,
                 ("announced the strategy in San Francisco", "helps Ukraine, Costa Rica, and Albania"),
                 answer="Ukraine, Costa Rica and Albania", sources=("blinken.txt",), kind="fact")
    s2 = TEXT.index("It helps")
    # the first sentence is quoted faithfully; the second citation's quote is NOT document.text[start:end]
    answer = Answer(q.question, "It helps Ukraine, Costa Rica, and Albania. [1]", False,
                    (AnswerSentence("It helps Ukraine, Costa Rica, and Albania.", 1),),
                    (cite(1, "d1", s2, len(TEXT), TEXT[s2:]), cite(1, "d1", 0, 10, "Blinken an")), (), 0.7,
                    timings_ms={"total": 12.0})
    rec = score_question(EvidenceCheck(StubIndex()), q, answer, [], k=5)
    # no ranked passages: no hit at any depth
    assert rec["hit_rank"] is None and rec["hit@10"] == 0.0 and rec["evidence_hit"] == [False, False]
    # both spans occur verbatim in blinken.txt, the named source
    assert rec["evidence_in_index"] == [True, True]
    # one distinct cited passage (chunk c1 = TEXT) covering both spans: precision 1/1, recall 2/2
    assert rec["citation_precision"] == 1.0 and rec["citation_recall"] == 1.0
    # the answer holds span 2 whole; none of span 1's 6 tokens (announced … francisco) is in it → 0/6
    assert rec["covered_in_answer"] == [False, True] and rec["answer_evidence_recall"] == 0.5
    # answer "it helps ukraine costa rica and albania" (7) vs "ukraine costa rica and albania" (5): 5 shared
    # → P 5/7, R 1, F1 = 2·(5/7)/(5/7 + 1) = 10/12
    assert rec["answer_f1"] == pytest.approx(10 / 12)
    assert rec["answer_words"] == 7
    # integrity: the second citation's quote "Blinken an" is text[0:10] ✓ but is not in the answer ✗
    assert rec["integrity"] == {"citations": 2, "ok": 1}
    assert rec["status"] == "retrieval miss"


def test_evidence_only_counts_in_the_named_sources():
    check = EvidenceCheck(StubIndex())
    q = Question("q", "?", True, ("Ukraine, Costa Rica, and Albania",), sources=("blinken.txt",))
    allowed = check.allowed(q)
    assert allowed == {"d1"}  # matched by basename: "folder/blinken.txt"
    assert check.cover(q, "d2", StubIndex.documents[1].text, allowed) == [False]  # other.txt is not named
    assert check.cover(q, "d1", TEXT, allowed) == [True]


def record(answerable, abstained, confidence, latency, **scores):
    base = {"answerable": answerable, "abstained": abstained, "confidence": confidence, "latency_ms": latency,
            "integrity": {"citations": 0 if abstained else 2, "ok": 0 if abstained else 2}, "kind": "k"}
    keys = ["hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "evidence_recall@5", "evidence_recall@10",
            "answer_evidence_recall", "answer_f1", "citation_precision", "citation_recall", "answer_words"]
    return base | dict.fromkeys(keys) | scores


def test_summarise_by_hand():
    records = [
        record(True, False, 0.8, 10, **{"hit@1": 1.0, "answer_evidence_recall": 1.0, "citation_precision": 1.0,
                                        "answer_words": 20, "answer_f1": 0.5}),
        record(True, True, 0.3, 30, **{"hit@1": 0.0, "answer_evidence_recall": 0.0, "answer_f1": 0.0}),
        record(False, True, 0.2, 20),
        record(False, False, 0.6, 40),
    ]
    m = summarise(records, threshold=0.42)
    assert (m["questions"], m["answerable"], m["unanswerable"]) == (4, 2, 2)
    assert m["hit@1"] == 0.5  # over the 2 answerable questions
    assert m["answer_evidence_recall"] == 0.5 and m["answer_f1"] == 0.25
    assert m["citation_precision"] == 1.0 and m["answer_words"] == 20  # only the answered answerable one
    assert m["answered_rate"] == 0.5 and m["abstained_rate"] == 0.5 and m["balanced_accuracy"] == 0.5
    assert m["integrity"] == 1.0  # 4 citations, all 4 ok
    # sweep, answerable 0.8, 0.3 / unanswerable 0.2, 0.6: t=0.2 → (2/2 + 0/2)/2 = 0.5; t=0.3 → (2/2 + 1/2)/2
    # = 0.75; t=0.42 → (1/2 + 1/2)/2 = 0.5; t=0.6 → 0.5; t=0.8 → (1/2 + 2/2)/2 = 0.75. The tie between
    # 0.3 and 0.8 goes to the one nearer the default 0.42: 0.3
    assert m["best_threshold"] == 0.3 and m["best_balanced_accuracy"] == 0.75
    # latency [10, 30, 20, 40] sorted [10, 20, 30, 40]: p50 = 25, p95 at 2.85 → 30 + 0.85·10 = 38.5
    assert m["latency_p50_ms"] == 25.0 and m["latency_p95_ms"] == pytest.approx(38.5)


def test_report_escapes_text_and_draws_svg():
    q = {"id": "<b>x</b>", "kind": "fact", "answerable": True, "question": "<script>alert(1)</script>",
         "reference": None, "status": "ok", "hit_rank": 1, "abstained": False, "confidence": 0.5,
         "answer": {"answer": "a & b [1]", "message": "", "citations": [{"n": 1, "source": "x<y>.md", "page": 2}]}}
    metrics = summarise([record(True, False, 0.5, 5.0, **{"hit@5": 1.0, "answer_evidence_recall": 1.0})], 0.42)
    run = {"config": {"name": "hybrid"}, "metrics": metrics, "by_kind": {"fact": metrics}, "questions": [q]}
    html = render({"runs": [run], "question_files": ["q.jsonl"], "index": "ix"})
    assert "<svg" in html and "<script" not in html and "&lt;script&gt;" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "a &amp; b [1]" in html and "[1] x&lt;y&gt;.md p. 2" in html
    table = format_table([run, run])
    assert table.splitlines()[0].split() == ["metric", "hybrid", "hybrid"]
    assert "hit@5" in table and "1.000" in table


# -- end to end ------------------------------------------------------------------------------------

def test_eval_with_the_fake_embedder(tmp_path, fake_embedder, capsys):
    """The whole pipeline, fast: build with the fake embedder, evaluate, write JSON and HTML."""
    from rag.indexing import build

    settings = Settings(index_dir=str(tmp_path / "ix"))
    build([SOURCES], settings, fake_embedder)
    args = argparse.Namespace(questions=[str(SMALL)], compare="bm25,dense", json_out=str(tmp_path / "o.json"),
                              report=str(tmp_path / "r.html"), quiet=False)
    assert cli._eval(args, settings, embedder=fake_embedder) == 0
    out, err = capsys.readouterr()
    assert "[bm25] 1/5 e1: hit rank" in err and "[dense] 5/5 e5: " in err
    assert out.splitlines()[0].split() == ["metric", "bm25", "dense"]
    result = json.loads((tmp_path / "o.json").read_text())
    assert [r["config"]["mode"] for r in result["runs"]] == ["bm25", "dense"]
    assert all(r["metrics"]["integrity"] == 1.0 for r in result["runs"])
    assert "<svg" in (tmp_path / "r.html").read_text()


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, sources_index):
    tmp = tmp_path_factory.mktemp("eval")
    code = cli.main(["eval", str(SMALL), "--index", sources_index.index_dir, "--compare", "dense,bm25,hybrid",
                     "--json", str(tmp / "out.json"), "--report", str(tmp / "report.html"), "--quiet"])
    return code, tmp


@pytest.mark.e2e
def test_rag_eval_end_to_end(real_run):
    code, tmp = real_run
    assert code == 0
    result = json.loads((tmp / "out.json").read_text(encoding="utf-8"))
    assert [r["config"]["name"] for r in result["runs"]] == ["dense", "bm25", "hybrid"]
    for run in result["runs"]:
        assert set(run) >= {"config", "metrics", "questions"}
        m = run["metrics"]
        assert (m["questions"], m["answerable"], m["unanswerable"]) == (5, 4, 1)
        assert m["integrity"] == 1.0
        for key in ("hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "evidence_recall@5", "evidence_recall@10",
                    "answer_evidence_recall", "answered_rate", "abstained_rate", "balanced_accuracy"):
            assert 0.0 <= m[key] <= 1.0, key
        assert m["latency_p50_ms"] <= m["latency_p95_ms"]
        assert [q["id"] for q in run["questions"]] == ["e1", "e2", "e3", "e4", "e5"]
        for q in run["questions"]:
            assert set(q["answer"]) >= {"question", "answer", "abstained", "confidence", "citations", "retrieved",
                                        "timings_ms", "sentences", "index_id"}
            assert len(q["evidence_hit"]) == len(q["covered_in_answer"]) == len(q["evidence"])
            if q["answerable"]:
                assert all(q["evidence_in_index"]), q["id"]
    hybrid = result["runs"][2]["metrics"]
    # two short source documents and easy questions: the evidence is always in the top 10
    assert hybrid["hit@10"] == 1.0 and hybrid["evidence_recall@10"] == 1.0


@pytest.mark.e2e
def test_rag_eval_writes_a_self_contained_report(real_run):
    _, tmp = real_run
    html = (tmp / "report.html").read_text(encoding="utf-8")
    assert html.count("<svg") >= 5  # metrics, two per-kind charts, 3 confidence histograms, latency
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "e5" in html and "At what oven temperature" in html
