"""Scoring functions against hand-computed values, and the dev figures the README reports."""

from __future__ import annotations

import json
import math

import pytest

from hrqa import evaluation
from hrqa.errors import HrqaError
from tests.conftest import DATA


def test_ndcg_matches_hand_computation():
    relevant = {"d1": 1, "d3": 2}
    ranked = ["d3", "d2", "d1"]
    dcg = 2 / math.log2(2) + 1 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert evaluation.ndcg_at_k(ranked, relevant, 10) == pytest.approx(dcg / idcg)
    assert evaluation.ndcg_at_k(["x"], relevant, 10) == 0.0
    assert evaluation.ndcg_at_k(["d3", "d1"], relevant, 10) == pytest.approx(1.0)


def test_recall_at_k():
    assert evaluation.recall_at_k(["a", "b", "c"], {"a": 1, "c": 1, "z": 1}, 2) == pytest.approx(1 / 3)
    assert evaluation.recall_at_k([], {}, 100) == 0.0


def _result(answer_texts, passages, abstained=False):
    return {
        "abstained": abstained,
        "answer": [{"text": t} for t in answer_texts],
        "citations": [{"doc": d, "passage": p} for d, p in passages],
    }


def test_judge_single_document_question_folds_case_and_space():
    record = {"id": "q", "kind": "name", "doc": "a.txt", "answer": "Renee  Xia"}
    verdict = evaluation.judge(record, _result(["said\nrenee xia."], [("b.txt", "x"), ("a.txt", "said Renee Xia.")]))
    assert verdict["answer"] and verdict["hit@5"] and verdict["top1_sentence"]
    assert not verdict["top1_passage"] and not verdict["false_abstention"]


def test_judge_abstention_and_coverage():
    unanswerable = {"kind": "unanswerable"}
    assert evaluation.judge(unanswerable, _result([], [], abstained=True))["correct_abstention"]
    multi = {"kind": "perspective", "docs": ["a", "b"]}
    assert evaluation.judge(multi, _result(["x"], [("a", "x"), ("c", "y")]))["coverage"] == 0.5


def test_judge_counts_the_sources_the_answer_quotes():
    multi = {"kind": "perspective", "docs": ["a", "b"]}
    both = {"citations": [], "abstained": False, "answer": [{"doc": "a", "text": "x"}, {"doc": "b", "text": "y"}]}
    one_and_other = {**both, "answer": [{"doc": "a", "text": "x"}, {"doc": "c", "text": "z"}]}
    assert evaluation.judge(multi, both)["answer_coverage"] == 1.0
    verdict = evaluation.judge(multi, one_and_other)
    assert verdict["answer_coverage"] == 0.5 and verdict["answer_precision"] == 0.5
    abstained = evaluation.judge(multi, {**both, "abstained": True, "answer": []})
    assert abstained["answer_coverage"] == 0.0 and "answer_precision" not in abstained


def test_summarise_means_per_kind():
    verdicts = [{"kind": "name", "answer": True}, {"kind": "name", "answer": False}, {"kind": "fact", "answer": True}]
    summary = evaluation.summarise(verdicts)
    assert summary["overall"]["answer"] == pytest.approx(0.667)
    assert summary["by_kind"]["name"]["answer"] == 0.5


def test_load_questions_reports_bad_lines(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "a", "kind": "fact"}\nnot json\n', encoding="utf-8")
    with pytest.raises(HrqaError, match="q.jsonl:2"):
        evaluation.load_questions(path)


def test_run_beir_on_a_tiny_benchmark(tmp_path, fake_embedder, monkeypatch):
    folder = tmp_path / "tiny"
    (folder / "qrels").mkdir(parents=True)
    docs = [
        {"_id": "d1", "title": "Owls", "text": "Owls hunt at night."},
        {"_id": "d2", "title": "Larks", "text": "Larks sing at dawn."},
    ]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs), encoding="utf-8")
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "when do larks sing"}), encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\n", encoding="utf-8")
    # import the engine before the patch: a first import under it would bind the fake loader into
    # hrqa.engine for the rest of the session (the real-model tests after this one then ran on it)
    import hrqa.engine  # noqa: F401
    from hrqa.settings import Settings

    monkeypatch.setattr("hrqa.embedding.load_embedder", lambda *a, **k: fake_embedder)

    report = evaluation.run_beir(folder, Settings(), index_dir=tmp_path / "index-tiny")
    assert report["queries"] == 1 and report["documents"] == 2
    assert report["ndcg@10"] == pytest.approx(1.0) and report["recall@100"] == 1.0


def test_beir_searches_with_the_configuration_ask_retrieves_with(tmp_path, fake_embedder, monkeypatch):
    """``hrqa eval --beir`` asked each retriever for 300 candidates while ``Engine.ask`` asks for 100: the
    figure measured a configuration the question path does not serve. Both now use the engine's one
    retrieval configuration, which the report and the index manifest record."""
    from hrqa import retrieval
    from hrqa.backends.local import LocalBackend
    from hrqa.engine import Engine
    from hrqa.settings import Settings

    folder = tmp_path / "tiny"
    (folder / "qrels").mkdir(parents=True)
    docs = [{"_id": f"d{n}", "title": f"Doc {n}", "text": f"Birds number {n} sing at dawn."} for n in range(3)]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs), encoding="utf-8")
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "which birds sing"}), encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\n", encoding="utf-8")
    monkeypatch.setattr("hrqa.embedding.load_embedder", lambda *a, **k: fake_embedder)
    asked: list[tuple[str, int]] = []
    dense, lexical = LocalBackend.dense_candidates, LocalBackend.lexical_candidates
    monkeypatch.setattr(
        LocalBackend,
        "dense_candidates",
        lambda self, v, k, scope=None: asked.append(("dense", k)) or dense(self, v, k, scope),
    )
    monkeypatch.setattr(
        LocalBackend,
        "lexical_candidates",
        lambda self, t, k, scope=None: asked.append(("lexical", k)) or lexical(self, t, k, scope),
    )

    report = evaluation.run_beir(folder, Settings(), index_dir=tmp_path / "index-tiny")
    beir = asked[:2]  # the first query's search (the ablations follow it)
    asked.clear()
    settings = Settings(corpus_dir=tmp_path / "index-tiny-corpus", index_dir=tmp_path / "index-tiny")
    engine = Engine.open(settings, embedder=fake_embedder)
    engine.retrieve("which birds sing", 5)  # the retrieval of Engine.ask
    candidates = retrieval.DEFAULT_PARAMETERS.candidates
    assert beir == asked == [("dense", candidates), ("lexical", candidates)]
    assert report["retrieval"] == engine.retrieval_parameters.to_json() == retrieval.DEFAULT_PARAMETERS.to_json()
    assert engine.index.manifest["retrieval"] == report["retrieval"]
    assert set(report["ndcg@10_variants"]) == {"dense only", "bm25 only", "rrf k=60"}


@pytest.mark.slow
def test_dev_questions_meet_the_answer_quality_targets(real_engine):
    """dev.jsonl through the trained reader: a floor at the figures measured when it shipped (answer
    0.70, first sentence 0.56, unanswerable abstained 0.25, false abstention 0.04, hit@5 0.96), so a
    regression fails; unanswerable abstained 0.50 since the date and who rules (2026-11-25). With the 7-bit
    reader and ``abstain_at`` 0.95 (2026-11-25): answer 0.91, first sentence 0.87, false abstention 0.00,
    abstained 0.50: issue 10's answer target (>= 0.90) is met, its abstention target (>= 0.75) is not.
    With the rank prior following the first stage's word match (``answer.prior_strength``, 2026-11-25):
    abstained 0.25 (dev-27 is answered with a dated sentence of its document, so the date rule no longer
    abstains), answer and first sentence the same (dev-15 gained, dev-19 lost). With the money rule
    (``AnswerParameters.money_needs_amount``, session 14): abstained 0.50 (dev-30)."""
    report = evaluation.run_questions(real_engine, DATA / "dev.jsonl")
    overall = report["overall"]
    assert overall["hit@5"] >= 0.95
    assert overall["answer"] >= 0.85
    assert overall["top1_sentence"] >= 0.80
    assert overall["correct_abstention"] >= 0.5
    assert overall["false_abstention"] <= 0.05
    assert overall["coverage"] >= 0.9


@pytest.mark.slow
def test_questions_written_blind_keep_their_figures(real_engine):
    """24 seed questions a helper wrote without seeing the answer step or the other question sets
    (``blind_checks.jsonl``): measured 2026-11-25, answer 0.60, first sentence 0.50, hit@5 0.85, false
    abstention 0.10; with the quantity rule (``AnswerParameters.quantity_needs_number``) answer 0.70, first
    sentence 0.60; with the date and who rules (``date_needs_date``, ``who_needs_name``) unanswerable
    abstained 0.25 -> 0.75; with the named-count preference answer 0.75, first sentence 0.65. With the
    7-bit reader and ``abstain_at`` 0.95: answer 0.75, first sentence 0.70, abstained 0.50, false
    abstention 0.00. Well below dev.jsonl's figures: this is what unseen questions get. Floors a little
    below, so a regression fails."""
    overall = evaluation.run_questions(real_engine, DATA / "blind_checks.jsonl")["overall"]
    assert overall["answer"] >= 0.6
    assert overall["correct_abstention"] >= 0.5
    assert overall["hit@5"] >= 0.8
    assert overall["false_abstention"] <= 0.15


def check_blind_set(engine, checks: str, conversations: str, floors: dict, follow_up_floors: dict) -> None:
    """A blind question set and its conversations keep their figures: ``floors`` and ``follow_up_floors``
    give a minimum for each figure, except false abstention, whose value is a maximum."""
    for name, limits in ((checks, floors), (conversations, follow_up_floors)):
        if name is None:
            continue
        overall = evaluation.run_questions(engine, DATA / name)["overall"]
        for figure, limit in limits.items():
            if figure == "false_abstention":
                assert overall[figure] <= limit, (name, figure, overall[figure])
            else:
                assert overall[figure] >= limit, (name, figure, overall[figure])


#: The blind sets with conversations, each written by a helper who saw only ``seeds/``, and the floors
#: they keep (a little below their figures, so a regression fails; false abstention is a maximum). Their
#: history, answer / first sentence / hit@5 / unanswerable abstained / false abstention:
BLIND_SETS = [
    # 30 questions and 14 conversations. First run (2026-11-25): 0.56 / 0.52 / 0.92 / 0.00 / 0.04,
    # follow-ups 0.71 (false abstention 0.14). Its misses led to the quantity, date, who, antecedent and
    # named-count rules; with them and the 7-bit reader at ``abstain_at`` 0.95: 0.76 / 0.64 / 0.92 / 0.60 /
    # 0.00, follow-ups 0.86.
    pytest.param(
        "blind_checks_2.jsonl",
        "blind_conversations.jsonl",
        {"answer": 0.6, "top1_sentence": 0.5, "hit@5": 0.85, "false_abstention": 0.1, "correct_abstention": 0.4},
        {"answer": 0.6, "false_abstention": 0.2},
        id="second",
    ),
    # 30 and 12 (5 number, 5 name, 4 list, 8 paraphrase, 3 fact, 5 unanswerable). First run, 8-bit reader:
    # 0.68 / 0.68 / 0.88 / 0.60 / 0.08, follow-ups 1.00. With the 7-bit reader, 0.95 and the sentence that
    # goes on (chosen on other data): 0.76 / 0.60; with session 12's prior and datelines: 0.84 / 0.76.
    pytest.param(
        "blind_checks_3.jsonl",
        "blind_conversations_3.jsonl",
        {"answer": 0.65, "top1_sentence": 0.5, "hit@5": 0.85, "false_abstention": 0.1, "correct_abstention": 0.4},
        {"answer": 0.9, "false_abstention": 0.1},
        id="third",
    ),
    # 30 and 12, drawn from deeper in each document. First run = session 11's shipped code: 0.68 / 0.60 /
    # 0.84 / 0.80 / 0.04 (paraphrase answer 0.12), follow-ups 0.92; with session 12's prior: answer 0.76.
    pytest.param(
        "blind_checks_4.jsonl",
        "blind_conversations_4.jsonl",
        {"answer": 0.6, "top1_sentence": 0.5, "hit@5": 0.8, "false_abstention": 0.1, "correct_abstention": 0.6},
        {"answer": 0.8, "false_abstention": 0.1},
        id="fourth",
    ),
    # 30 and 12, no document's opening lines, every unanswerable question a near miss; kept unseen until
    # the rank prior that follows the word match (``answer.prior_strength``) was chosen, then run with and
    # without it: 0.68 against 0.64 / 0.60 both / 0.92 / 0.60 / 0.00, follow-ups 0.92; with datelines
    # read last, first sentence 0.64.
    pytest.param(
        "blind_checks_5.jsonl",
        "blind_conversations_5.jsonl",
        {"answer": 0.6, "top1_sentence": 0.5, "hit@5": 0.85, "false_abstention": 0.1, "correct_abstention": 0.4},
        {"answer": 0.8, "false_abstention": 0.1},
        id="fifth",
    ),
    # 30 and 12, favouring the second half of each document. First run = session 12's shipped code:
    # 0.60 / 0.44 / 0.92 / 0.20 / 0.00 (paraphrase answer 0.12), follow-ups 1.00 (first sentence 0.92);
    # with framed questions read without their frame too (``AnswerParameters.read_focus``): 0.72 / 0.56;
    # with the money rule, unanswerable abstained 0.40 (b6-17).
    pytest.param(
        "blind_checks_6.jsonl",
        "blind_conversations_6.jsonl",
        {"answer": 0.6, "top1_sentence": 0.45, "hit@5": 0.85, "false_abstention": 0.1, "correct_abstention": 0.4},
        {"answer": 0.9, "false_abstention": 0.1},
        id="sixth",
    ),
    # 30, no conversations, written while the frame rule (``AnswerParameters.read_focus``) was built and first
    # run after it was chosen, with and without it: 0.60 / 0.44 against 0.60 / 0.36 / 0.88 / 0.00 / 0.00.
    # Every unanswerable question was answered (near misses the reader cannot tell: README, answer quality);
    # with the money rule, chosen after that run, 1 of 5 is abstained on (b7-16).
    pytest.param(
        "blind_checks_7.jsonl",
        None,
        {"answer": 0.5, "top1_sentence": 0.35, "hit@5": 0.8, "false_abstention": 0.1, "correct_abstention": 0.2},
        {},
        id="seventh",
    ),
    # 30 and 12, written after both of session 14's rules were chosen; first run = shipped: 0.76 / 0.60 /
    # 0.96 / 0.40 / 0.00 (paraphrase answer 0.50, first sentence 0.00), follow-ups 0.92; without the two
    # rules 0.72 / 0.56 (b8-01, b8-28).
    pytest.param(
        "blind_checks_8.jsonl",
        "blind_conversations_8.jsonl",
        {"answer": 0.65, "top1_sentence": 0.5, "hit@5": 0.85, "false_abstention": 0.1, "correct_abstention": 0.2},
        {"answer": 0.8, "false_abstention": 0.1},
        id="eighth",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize("checks, conversations, floors, follow_up_floors", BLIND_SETS)
def test_a_set_written_blind_keeps_its_figures(real_engine, checks, conversations, floors, follow_up_floors):
    """Questions nobody tuned anything on before their first run: what unseen questions get."""
    check_blind_set(real_engine, checks, conversations, floors, follow_up_floors)


@pytest.mark.slow
def test_questions_across_sources_quote_each_source(real_engine):
    """The 12 across-sources checks (``across_checks.jsonl``): measured 2026-11-25, the answer quotes 0.87
    of the sources that speak to the question, and 0.94 of the sources it quotes are such sources; with the
    7-bit reader on a CPU with VNNI (the machine of the figures before is gone) 0.80 and 0.94. A floor a
    little below, so a regression fails."""
    overall = evaluation.run_questions(real_engine, DATA / "across_checks.jsonl")["overall"]
    assert overall["answer_coverage"] >= 0.75
    assert overall["answer_precision"] >= 0.85


# ----------------------------------------------------------------------------- the baselines measured beside hrqa


def test_paragraphs_split_on_blank_lines_and_fold_white_space():
    from hrqa.baselines.paragraphs import paragraphs

    text = "Title\n\nFirst para\nwraps here.\n\n\n  Second  para.\r\n\r\nThird.\n"
    assert paragraphs(text) == ["Title", "First para wraps here.", "Second para.", "Third."]
    assert paragraphs("\n\n  \n") == []


def test_the_tutorial_pipeline_returns_the_nearest_paragraph(fake_embedder):
    from hrqa.baselines.paragraphs import ParagraphBaseline
    from hrqa.records import Document

    documents = [
        Document("a.txt", "Owls hunt at night.\n\nLarks sing\nat dawn.", "0", "A"),
        Document("b.txt", "Rivers flow to the sea.", "1", "B"),
    ]
    baseline = ParagraphBaseline.build(documents, fake_embedder)
    assert baseline.paragraphs == ["Owls hunt at night.", "Larks sing at dawn.", "Rivers flow to the sea."]
    assert baseline.vectors.shape == (3, fake_embedder.dimension)
    assert baseline.answer("larks sing at dawn") == "Larks sing at dawn."
    assert baseline.search("rivers flow to the sea", 3)[0] == 2
    assert sorted(baseline.search("owls", 3)) == [0, 1, 2]


def _write_questions(path, records: list[dict]):
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


def test_paragraph_baselines_score_the_single_answer_questions(tiny_settings, fake_embedder, tmp_path):
    from hrqa.baselines.paragraphs import run_paragraph_baselines
    from hrqa.engine import Engine

    engine = Engine.open(tiny_settings, embedder=fake_embedder, build="missing")
    path = _write_questions(
        tmp_path / "q.jsonl",
        [
            {"question": "Where was the river festival held?", "kind": "fact", "answer": "Lyon"},
            {"question": "When do larks sing?", "kind": "fact", "answer": "at dawn"},
            {"question": "Who founded the festival?", "kind": "unanswerable"},
        ],
    )
    figures = run_paragraph_baselines(engine, path)
    assert set(figures) == {"dense FAISS over paragraphs", "bm25s over paragraphs"}
    assert figures["bm25s over paragraphs"] == {"hit@5": 1.0, "top1_passage": 1.0, "questions": 2}
    assert figures["dense FAISS over paragraphs"]["questions"] == 2


def test_sentence_baselines_and_the_heuristic_answer_step(tiny_settings, tiny_corpus, fake_embedder, tmp_path):
    from hrqa.baselines.sentences import run_sentence_baselines
    from hrqa.engine import Engine

    engine = Engine.open(tiny_settings, embedder=fake_embedder, build="missing")
    text = (tiny_corpus / "a.txt").read_text(encoding="utf-8")
    start = text.index("Lyon")
    record = {
        "question": "Where was the river festival held?",
        "kind": "fact",
        "doc": "a.txt",
        "answer": "Lyon",
        "answers": [{"text": "Lyon", "start": start, "end": start + 4}],
    }
    figures = run_sentence_baselines(engine, _write_questions(tmp_path / "q.jsonl", [record]))
    assert set(figures) == {
        "bm25s over sentences",
        "MiniLM over sentences",
        "RRF of the two",
        "previous heuristic answer step",
    }
    assert figures["bm25s over sentences"]["answer"] == 1.0 and figures["bm25s over sentences"]["hit@5"] == 1.0
    heuristic = figures["previous heuristic answer step"]
    assert heuristic["answer"] == 1.0 and heuristic["false_abstention"] == 0.0


def test_reader_logit_percentiles_read_every_candidate_and_leave_the_engine_as_it_was(
    tiny_settings, fake_embedder, tmp_path
):
    from hrqa.engine import Engine
    from tests.test_answer import FakeReader

    engine = Engine.open(tiny_settings, embedder=fake_embedder, build="missing")
    # a reader sure of its first candidate would settle after one; the measurement must read them all
    fake = FakeReader({"The river festival was held in Lyon.": 9.0})
    engine.reader, shipped = fake, engine.answer_parameters
    path = _write_questions(
        tmp_path / "q.jsonl",
        [
            {"question": "Where was the river festival held?", "kind": "fact", "answer": "Lyon"},
            {"question": "Who opened it?", "kind": "fact", "answer": "mayor", "history": ["The festival?"]},
        ],
    )
    report = evaluation.reader_logit_percentiles(engine, path)
    assert report["questions"] == 1 and report["reader"] == "fake-reader-0001"
    read = fake.seen[-1][1]
    assert read[0] == "The river festival was held in Lyon."  # first: it would have settled there
    assert len(read) > 1 and [p["n"] for p in report["positions"]] == [1] * len(read)
    expected = [9.0 if s == "The river festival was held in Lyon." else -5.0 for s in read]
    assert [p["p99"] for p in report["positions"]] == expected
    assert engine.reader is fake and engine.answer_parameters is shipped


def test_a_baseline_with_no_question_to_score_prints_no_figures():
    report = {
        "questions": 1,
        "latency_ms_p50": 1.0,
        "overall": {"coverage": 1.0},
        "by_kind": {"perspective": {"coverage": 1.0, "coverage_n": 1}},
        "misses": [],
        "baselines": {
            "dense FAISS over paragraphs": {"questions": 0, "hit@5": float("nan"), "top1_passage": float("nan")}
        },
    }
    text = evaluation.format_report(report)
    assert "nan" not in text and "dense FAISS over paragraphs: no question to score" in text


@pytest.mark.parametrize(
    "name",
    [
        "dev.jsonl",
        "team_checks.jsonl",
        "blind_checks.jsonl",
        "blind_checks_2.jsonl",
        "dev_conversations.jsonl",
        "blind_conversations.jsonl",
        "blind_checks_3.jsonl",
        "blind_conversations_3.jsonl",
        "blind_checks_4.jsonl",
        "blind_conversations_4.jsonl",
        "blind_checks_5.jsonl",
        "blind_conversations_5.jsonl",
        "blind_checks_6.jsonl",
        "blind_conversations_6.jsonl",
        "blind_checks_7.jsonl",
        "blind_checks_8.jsonl",
        "blind_conversations_8.jsonl",
    ],
)
def test_seed_question_sets_quote_their_gold_answers_verbatim(name):
    """A gold answer that is not in its document could never be scored right: every answerable record's
    answer (and evidence, where given) is in its seed document, whatever the case and spacing."""
    seeds = DATA.parent.parent / "seeds"
    for record in evaluation.load_questions(DATA / name):
        if record["kind"] == "unanswerable" or not record.get("doc"):
            continue
        text = evaluation.fold((seeds / record["doc"]).read_text(encoding="utf-8"))
        assert evaluation.fold(record["answer"]) in text, record["id"]
        if record.get("evidence"):
            assert evaluation.fold(record["evidence"]) in text, record["id"]
