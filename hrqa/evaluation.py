"""Evaluation built in: question sets in the dev.jsonl format, and BEIR retrieval benchmarks.

Strings are compared after folding white space and case (documents hard-wrap sentences).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections import defaultdict
from pathlib import Path

from hrqa.errors import HrqaError

SINGLE_DOC_KINDS = {"fact", "name", "number", "paraphrase", "list"}
MULTI_DOC_KINDS = {"multi-doc", "perspective"}


def fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def load_questions(path: Path) -> list[dict]:
    if not Path(path).exists():
        raise HrqaError(f"question file {path} does not exist")
    questions = []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                record["question"], record["kind"]
            except (ValueError, KeyError, TypeError):
                raise HrqaError(f"{path}:{number} is not a question record (needs question and kind)") from None
            questions.append(record)
    return questions


def gold_spans(record: dict) -> list[tuple[int, int]]:
    """Gold answer offsets of a SQuAD-style record (``answers`` with ``start``/``end``), else none."""
    return [
        (a["start"], a["end"])
        for a in record.get("answers") or []
        if isinstance(a, dict) and isinstance(a.get("start"), int) and isinstance(a.get("end"), int)
    ]


def judge(record: dict, result: dict, k: int = 5) -> dict:
    """Score one answer (the JSON contract) against one gold record.

    SQuAD-style records (gold offsets) are right when the quoted span contains a gold span in the
    gold document; dev.jsonl records when the folded gold text is inside the quoted text.
    """
    kind = record["kind"]
    citations = result["citations"][:k]
    verdict: dict = {"id": record.get("id"), "kind": kind, "abstained": result["abstained"]}
    if kind == "unanswerable":
        verdict["correct_abstention"] = result["abstained"]
        verdict["overall"] = result["abstained"]
        return verdict
    verdict["false_abstention"] = result["abstained"]
    if kind in MULTI_DOC_KINDS:
        gold_docs = set(record.get("docs") or [])
        cited = {c["doc"] for c in citations}
        verdict["coverage"] = len(gold_docs & cited) / len(gold_docs) if gold_docs else 1.0
        # what the reader reads first: the sources the answer itself quotes
        quoted = set() if result["abstained"] else {s.get("doc") for s in result["answer"]} - {None}
        verdict["answer_coverage"] = len(gold_docs & quoted) / len(gold_docs) if gold_docs else 1.0
        # and whether the sources it quotes are ones that speak to the question
        if quoted and gold_docs:
            verdict["answer_precision"] = len(gold_docs & quoted) / len(quoted)
        # no single gold answer: hit@5, answer and top-1 are measured on single-document questions
        return verdict
    spans = gold_spans(record)
    if spans:

        def holds(item: dict) -> bool:
            return item.get("doc") == record.get("doc") and any(
                item["start"] <= s and e <= item["end"] for s, e in spans
            )

    else:
        gold = fold(record["answer"])

        def holds(item: dict) -> bool:
            text = item["passage"] if "passage" in item else item["text"]
            same_doc = "doc" not in item or not record.get("doc") or item["doc"] == record["doc"]
            return same_doc and gold in fold(text)

    verdict["hit@5"] = any(holds(c) for c in citations)
    verdict["top1_passage"] = bool(citations) and holds(citations[0])
    if spans:
        verdict["answer"] = (not result["abstained"]) and any(holds(s) for s in result["answer"])
    else:
        answer_text = fold(" ".join(s["text"] for s in result["answer"]))
        verdict["answer"] = (not result["abstained"]) and fold(record["answer"]) in answer_text
    verdict["top1_sentence"] = bool(result["answer"]) and not result["abstained"] and holds(result["answer"][0])
    verdict["overall"] = verdict["answer"]
    return verdict


def summarise(verdicts: list[dict]) -> dict:
    """Means of each measure, overall and per kind."""
    measures = [
        "hit@5",
        "answer",
        "top1_passage",
        "top1_sentence",
        "coverage",
        "answer_coverage",
        "answer_precision",
        "correct_abstention",
        "false_abstention",
        "overall",
    ]

    def means(rows: list[dict]) -> dict:
        out = {}
        for m in measures:
            values = [float(r[m]) for r in rows if m in r]
            if values:
                out[m] = round(sum(values) / len(values), 3)
                out[m + "_n"] = len(values)
        return out

    by_kind: dict[str, list[dict]] = defaultdict(list)
    for v in verdicts:
        by_kind[v["kind"]].append(v)
    return {"overall": means(verdicts), "by_kind": {k: means(v) for k, v in sorted(by_kind.items())}}


def run_questions(engine, path: Path, k: int = 5, articles: set[str] | None = None) -> dict:
    """Ask every question of a dev.jsonl-format or SQuAD-style file; figures per kind and overall,
    plus the misses. ``articles``: only questions of these articles (a validation split)."""
    questions = [q for q in load_questions(path) if not articles or q.get("article") in articles]
    verdicts, misses, latencies = [], [], []
    for record in questions:
        started = time.perf_counter()
        # a conversation's follow-up carries the questions before it ("history")
        result = engine.ask(record["question"], k, history=record.get("history") or ()).to_json()
        latencies.append((time.perf_counter() - started) * 1000)
        verdict = judge(record, result, k)
        verdicts.append(verdict)
        failed = [m for m in ("hit@5", "answer", "correct_abstention") if verdict.get(m) is False]
        if verdict.get("false_abstention"):
            failed.append("abstained")
        elif min(verdict.get(m, 1.0) for m in ("coverage", "answer_coverage", "answer_precision")) < 1.0:
            failed.append("coverage")
        if failed:
            misses.append(
                {
                    "id": record.get("id"),
                    "kind": record["kind"],
                    "failed": failed,
                    "question": record["question"],
                    "gold": record.get("answer"),
                    "got": " ".join(" ".join(s["text"].split()) for s in result["answer"])[:300],
                    "confidence": result.get("confidence"),
                }
            )
    report = summarise(verdicts)
    report["questions"] = len(questions)
    report["latency_ms_p50"] = round(statistics.median(latencies), 1) if latencies else None
    report["misses"] = misses
    return report


class RecordingReader:
    """A reader that keeps the logits it gives, per call, in the order of the sentences it was given."""

    def __init__(self, reader) -> None:
        self.reader = reader
        self.fingerprint = reader.fingerprint
        self.null_logit = reader.null_logit
        self.calls: list[list[float]] = []

    def logits(self, question, sentences, contexts=None):
        out = self.reader.logits(question, sentences, contexts)
        self.calls.append([float(x) for x in out])
        return out


#: the percentiles ``reader_logit_percentiles`` reports; the answer step uses the 99th
LOGIT_PERCENTILES = (95.0, 97.5, 99.0)


def reader_logit_percentiles(engine, path: Path, articles: set[str] | None = None) -> dict:
    """Percentiles of the reader's logit at each first-stage position, reading every candidate: what
    ``AnswerParameters.plausible_logits`` is measured on (``hrqa eval --reader-logits``). Questions that
    stand alone only (a follow-up's first-stage order is another matter)."""
    from dataclasses import replace

    import numpy as np

    questions = [
        q for q in load_questions(path) if (not articles or q.get("article") in articles) and not q.get("history")
    ]
    shipped_reader, shipped_parameters = engine.reader, engine.answer_parameters
    recording = RecordingReader(shipped_reader)
    engine.reader, engine.answer_parameters = recording, replace(shipped_parameters, plausible_logits=())
    by_position: dict[int, list[float]] = defaultdict(list)
    try:
        for record in questions:
            recording.calls.clear()
            engine.ask(record["question"], 5)
            for call in recording.calls:
                for position, logit in enumerate(call):
                    by_position[position].append(logit)
    finally:
        engine.reader, engine.answer_parameters = shipped_reader, shipped_parameters
    return {
        "questions": len(questions),
        "reader": shipped_reader.fingerprint,
        "positions": [
            {
                "position": position + 1,
                "n": len(values),
                **{f"p{pct:g}": round(float(np.percentile(values, pct)), 2) for pct in LOGIT_PERCENTILES},
            }
            for position, values in sorted(by_position.items())
        ],
    }


# ----------------------------------------------------------------------------- BEIR


def ndcg_at_k(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    """nDCG@k with graded gains rel (BEIR/pytrec_eval convention: gain = rel, discount log2(i+2))."""
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: list[str], relevant: dict[str, int], k: int = 100) -> float:
    wanted = {d for d, g in relevant.items() if g > 0}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with Path(path).open(encoding="utf-8") as handle:
        next(handle, None)  # header
        for line in handle:
            parts = line.strip().split("\t")
            if len(parts) >= 3:
                qrels[parts[0]][parts[1]] = int(parts[2])
    return dict(qrels)


def _place_corpus(source: Path, target: Path) -> None:
    """The BEIR corpus file inside the corpus folder hrqa indexes (which must not hold queries.jsonl):
    a hard link, else a copy. Not a symbolic link: the corpus stage refuses links that leave the folder."""
    import os
    import shutil

    if target.is_symlink() or (target.exists() and not os.path.samefile(source, target)):
        if not target.is_symlink() and target.stat().st_size == source.stat().st_size:
            return  # a copy made by an earlier run
        target.unlink()
    if target.exists():
        return
    try:
        os.link(source.resolve(), target)
    except OSError:  # another file system
        shutil.copyfile(source, target)


def run_beir(
    folder: Path,
    settings,
    split: str = "test",
    limit: int | None = None,
    index_dir: Path | None = None,
) -> dict:
    """Index a BEIR corpus into its own index folder and score retrieval on a qrels split, through the
    engine: the ranking is ``Engine.search`` with the engine's retrieval parameters, the configuration
    that ``Engine.ask`` retrieves with (recorded in the report and the index manifest)."""
    from dataclasses import replace

    from hrqa import retrieval
    from hrqa.embedding import load_embedder
    from hrqa.engine import Engine

    folder = Path(folder)
    for needed in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (folder / needed).exists():
            raise HrqaError(f"{folder} is not a BEIR folder: {needed} is missing")
    index_dir = Path(index_dir or f"index-beir-{folder.name}")
    corpus_view = index_dir.parent / f"{index_dir.name}-corpus"
    corpus_view.mkdir(parents=True, exist_ok=True)
    _place_corpus(folder / "corpus.jsonl", corpus_view / "corpus.jsonl")
    settings = settings.with_(corpus_dir=corpus_view, index_dir=index_dir)

    embedder = load_embedder(settings.model, settings.batch_size)
    started = time.perf_counter()
    report_build = Engine.build_index(settings, embedder=embedder, wait=True, embed_sentences=False)
    build_seconds = time.perf_counter() - started
    engine = Engine.open(settings, embedder=embedder)
    parameters = engine.retrieval_parameters
    # the documents of every passage Engine.ask ranks before its diversity step
    depth = parameters.candidates

    queries = {}
    with (folder / "queries.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            queries[str(record["_id"])] = record["text"]
    qrels = load_qrels(folder / f"qrels/{split}.tsv")
    query_ids = [q for q in qrels if q in queries][:limit]

    def ranked(query_id: str, variant=None) -> list[str]:
        hits = engine.search(queries[query_id], depth, parameters=variant)
        return [doc.split("#", 1)[1] for doc, _ in retrieval.document_ranking(hits)]

    ndcgs, recalls, latencies = [], [], []
    for query_id in query_ids:
        mark = time.perf_counter()
        documents = ranked(query_id)
        latencies.append((time.perf_counter() - mark) * 1000)
        ndcgs.append(ndcg_at_k(documents, qrels[query_id], 10))
        recalls.append(recall_at_k(documents, qrels[query_id], 100))
    latencies.sort()
    # The same index, one retriever at a time and reciprocal-rank fusion: the parts beside the whole.
    variants = {}
    for name, variant in (
        ("dense only", replace(parameters, dense_weight=1.0)),
        ("bm25 only", replace(parameters, dense_weight=0.0)),
        (f"rrf k={parameters.rrf_k}", replace(parameters, fusion=retrieval.Fusion.RRF)),
    ):
        scores = [ndcg_at_k(ranked(query_id, variant), qrels[query_id], 10) for query_id in query_ids]
        variants[name] = round(statistics.fmean(scores), 4) if scores else None
    return {
        "benchmark": folder.name,
        "split": split,
        "queries": len(query_ids),
        "ndcg@10": round(statistics.fmean(ndcgs), 4) if ndcgs else None,
        "recall@100": round(statistics.fmean(recalls), 4) if recalls else None,
        "retrieval": parameters.to_json(),
        "build_s": round(build_seconds, 1),
        "passages_embedded": report_build.passages_embedded,
        "documents": report_build.documents,
        "passages": report_build.passages,
        "query_ms_p50": round(latencies[len(latencies) // 2], 2) if latencies else None,
        "query_ms_p95": round(latencies[int(len(latencies) * 0.95)], 2) if latencies else None,
        "ndcg@10_variants": variants,
    }


def format_report(report: dict) -> str:
    """A plain-text rendering of either report."""
    if "ndcg@10" in report:
        return "\n".join(f"{key:>18}: {value}" for key, value in report.items())
    lines = [f"{report['questions']} questions, answer p50 {report['latency_ms_p50']} ms", ""]
    header = [
        "kind",
        "n",
        "hit@5",
        "answer",
        "top1_psg",
        "top1_sent",
        "abstain_ok",
        "false_abst",
        "coverage",
        "src_quoted",
        "src_prec",
        "overall",
    ]
    keys = [
        "hit@5",
        "answer",
        "top1_passage",
        "top1_sentence",
        "correct_abstention",
        "false_abstention",
        "coverage",
        "answer_coverage",
        "answer_precision",
        "overall",
    ]
    lines.append("  ".join(f"{h:>10}" for h in header))
    rows = list(report["by_kind"].items()) + [("OVERALL", report["overall"])]
    for kind, figures in rows:
        n = max((v for k, v in figures.items() if k.endswith("_n")), default=0)
        cells = [kind, str(n)] + [("" if k not in figures else f"{figures[k]:.2f}") for k in keys]
        lines.append("  ".join(f"{c:>10}" for c in cells))
    for name, figures in report.get("baselines", {}).items():
        if figures.get("questions") == 0:  # no single-answer question for a paragraph to hold
            lines.append(f"{'baseline':>10}  {0:>10}  {'':>10}  {'':>10}  {'':>10}  {name}: no question to score")
        elif "questions" in figures:
            lines.append(
                f"{'baseline':>10}  {figures['questions']:>10}  {figures['hit@5']:>10.2f}  {'':>10}  "
                f"{figures['top1_passage']:>10.2f}  {name}"
            )
        else:
            cells = ["baseline", ""] + [("" if k not in figures else f"{figures[k]:.2f}") for k in keys]
            lines.append("  ".join(f"{c:>10}" for c in cells) + f"  {name}")
    if report["misses"]:
        lines += ["", "misses:"]
        for miss in report["misses"]:
            lines.append(f"  {miss['id']} [{miss['kind']}] {','.join(miss['failed'])}: {miss['question']}")
            lines.append(f"      gold: {miss['gold']!r}  conf {miss['confidence']}")
            lines.append(f"      got:  {miss['got'][:200]!r}")
    return "\n".join(lines)
