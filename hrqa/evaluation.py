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


def judge(record: dict, result: dict, k: int = 5) -> dict:
    """Score one answer (the JSON contract) against one gold record."""
    kind = record["kind"]
    citations = result["citations"][:k]
    answer_text = fold(" ".join(s["text"] for s in result["answer"]))
    verdict: dict = {"id": record.get("id"), "kind": kind, "abstained": result["abstained"]}
    if kind == "unanswerable":
        verdict["correct_abstention"] = result["abstained"]
        return verdict
    verdict["false_abstention"] = result["abstained"]
    if kind in MULTI_DOC_KINDS:
        gold_docs = set(record.get("docs") or [])
        cited = {c["doc"] for c in citations}
        verdict["coverage"] = len(gold_docs & cited) / len(gold_docs) if gold_docs else 1.0
        # no single gold answer: hit@5, answer and top-1 are measured on single-document questions
        return verdict
    gold = fold(record["answer"])
    verdict["hit@5"] = any(c["doc"] == record.get("doc", c["doc"]) and gold in fold(c["passage"]) for c in citations)
    verdict["top1_passage"] = bool(citations) and gold in fold(citations[0]["passage"])
    verdict["answer"] = (not result["abstained"]) and gold in answer_text
    verdict["top1_sentence"] = bool(result["answer"]) and gold in fold(result["answer"][0]["text"])
    return verdict


def summarise(verdicts: list[dict]) -> dict:
    """Means of each measure, overall and per kind."""
    measures = [
        "hit@5",
        "answer",
        "top1_passage",
        "top1_sentence",
        "coverage",
        "correct_abstention",
        "false_abstention",
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


def run_questions(engine, path: Path, k: int = 5) -> dict:
    """Ask every question of a dev.jsonl-format file; figures per kind and overall, plus the misses."""
    questions = load_questions(path)
    verdicts, misses, latencies = [], [], []
    for record in questions:
        started = time.perf_counter()
        result = engine.ask(record["question"], k).to_json()
        latencies.append((time.perf_counter() - started) * 1000)
        verdict = judge(record, result, k)
        verdicts.append(verdict)
        failed = [m for m in ("hit@5", "answer", "correct_abstention") if verdict.get(m) is False]
        if verdict.get("false_abstention") or verdict.get("coverage", 1.0) < 1.0:
            failed.append("abstained" if verdict.get("false_abstention") else "coverage")
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


def run_baselines(engine, path: Path, k: int = 5) -> dict:
    """The usual pipelines on the same documents, measured in the same run: paragraphs (blank-line
    blocks) ranked by MiniLM + FAISS inner product, or by bm25s; hit@5 and top paragraph holds the
    answer, on the single-answer questions."""
    import bm25s
    import faiss
    import numpy as np

    paragraphs = [
        (doc.id, block)
        for doc in engine.index.documents.values()
        for block in (b.strip() for b in doc.text.split("\n\n"))
        if block
    ]
    texts = [text for _, text in paragraphs]
    vectors = engine.embedder.embed(texts)
    dense = faiss.IndexFlatIP(vectors.shape[1])
    dense.add(vectors)
    lexical = bm25s.BM25()
    lexical.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    questions = [q for q in load_questions(path) if q["kind"] in SINGLE_DOC_KINDS]
    figures = {}
    for name in ("dense FAISS over paragraphs", "bm25s over paragraphs"):
        hit, top = [], []
        for record in questions:
            if name.startswith("dense"):
                _, ids = dense.search(engine.embedder.embed_query(record["question"]).reshape(1, -1), k)
                ranked = [int(i) for i in ids[0] if i >= 0]
            else:
                ids, _ = lexical.retrieve(
                    bm25s.tokenize([record["question"]], stopwords="en", show_progress=False),
                    k=min(k, len(texts)),
                    show_progress=False,
                )
                ranked = [int(i) for i in ids[0]]
            gold = fold(record["answer"])
            found = [gold in fold(texts[i]) for i in ranked]
            hit.append(any(found))
            top.append(bool(found) and found[0])
        figures[name] = {
            "hit@5": round(float(np.mean(hit)), 3),
            "top1_passage": round(float(np.mean(top)), 3),
            "questions": len(questions),
        }
    return figures


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


def run_beir(
    folder: Path,
    settings,
    split: str = "test",
    limit: int | None = None,
    index_dir: Path | None = None,
    candidates: int = 300,
    **search_options,
) -> dict:
    """Index a BEIR corpus into its own index folder and score retrieval on a qrels split."""
    from hrqa import retrieval
    from hrqa.engine import Engine
    from hrqa.store import build_index

    folder = Path(folder)
    for needed in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (folder / needed).exists():
            raise HrqaError(f"{folder} is not a BEIR folder: {needed} is missing")
    index_dir = Path(index_dir or f"index-beir-{folder.name}")
    corpus_view = index_dir.parent / f"{index_dir.name}-corpus"
    corpus_view.mkdir(parents=True, exist_ok=True)
    link = corpus_view / "corpus.jsonl"
    if not link.exists():
        link.symlink_to((folder / "corpus.jsonl").resolve())
    settings = settings.with_(corpus_dir=corpus_view, index_dir=index_dir)

    from hrqa.embedding import load_embedder

    embedder = load_embedder(settings.model, settings.batch_size)
    started = time.perf_counter()
    report_build = build_index(settings, embedder, embed_sentences=False, wait_for_lock=True)
    build_seconds = time.perf_counter() - started
    engine = Engine.open(settings, embedder=embedder)

    queries = {}
    with (folder / "queries.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            queries[str(record["_id"])] = record["text"]
    qrels = load_qrels(folder / f"qrels/{split}.tsv")
    query_ids = [q for q in qrels if q in queries][:limit]
    ndcgs, recalls, latencies = [], [], []
    vectors = {}
    for query_id in query_ids:
        mark = time.perf_counter()
        vectors[query_id] = engine.embedder.embed_query(queries[query_id])
        hits = retrieval.search(
            engine.index, vectors[query_id], queries[query_id], candidates, candidates=candidates, **search_options
        )
        ranked = [doc.split("#", 1)[1] for doc, _ in retrieval.document_ranking(hits)]
        latencies.append((time.perf_counter() - mark) * 1000)
        ndcgs.append(ndcg_at_k(ranked, qrels[query_id], 10))
        recalls.append(recall_at_k(ranked, qrels[query_id], 100))
    latencies.sort()
    # The same index, one retriever at a time and reciprocal-rank fusion: the parts beside the whole.
    variants = {}
    for name, options in (
        ("dense only", {"dense_weight": 1.0}),
        ("bm25 only", {"dense_weight": 0.0}),
        ("rrf k=60", {"method": retrieval.Fusion.RRF}),
    ):
        scores = []
        for query_id in query_ids:
            hits = retrieval.search(
                engine.index, vectors[query_id], queries[query_id], candidates, candidates=candidates, **options
            )
            ranked = [doc.split("#", 1)[1] for doc, _ in retrieval.document_ranking(hits)]
            scores.append(ndcg_at_k(ranked, qrels[query_id], 10))
        variants[name] = round(statistics.fmean(scores), 4) if scores else None
    return {
        "benchmark": folder.name,
        "split": split,
        "queries": len(query_ids),
        "ndcg@10": round(statistics.fmean(ndcgs), 4) if ndcgs else None,
        "recall@100": round(statistics.fmean(recalls), 4) if recalls else None,
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
    header = ["kind", "n", "hit@5", "answer", "top1_psg", "top1_sent", "abstain_ok", "false_abst", "coverage"]
    keys = ["hit@5", "answer", "top1_passage", "top1_sentence", "correct_abstention", "false_abstention", "coverage"]
    lines.append("  ".join(f"{h:>10}" for h in header))
    rows = list(report["by_kind"].items()) + [("OVERALL", report["overall"])]
    for kind, figures in rows:
        n = max((v for k, v in figures.items() if k.endswith("_n")), default=0)
        cells = [kind, str(n)] + [("" if k not in figures else f"{figures[k]:.2f}") for k in keys]
        lines.append("  ".join(f"{c:>10}" for c in cells))
    for name, figures in report.get("baselines", {}).items():
        lines.append(
            f"{'baseline':>10}  {figures['questions']:>10}  {figures['hit@5']:>10.2f}  {'':>10}  "
            f"{figures['top1_passage']:>10.2f}  {name}"
        )
    if report["misses"]:
        lines += ["", "misses:"]
        for miss in report["misses"]:
            lines.append(f"  {miss['id']} [{miss['kind']}] {','.join(miss['failed'])}: {miss['question']}")
            lines.append(f"      gold: {miss['gold']!r}  conf {miss['confidence']}")
            lines.append(f"      got:  {miss['got'][:200]!r}")
    return "\n".join(lines)
