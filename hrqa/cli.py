"""The ``hrqa`` command: a thin layer over hrqa.engine. Heavy imports happen inside each handler,
so ``hrqa --help`` does not load torch."""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import textwrap
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from hrqa.errors import HrqaError, printable
from hrqa.records import lookalike_note, unsure_note
from hrqa.settings import settings_from_args

#: characters of a mention's line shown on each side of it by ``hrqa find`` (a line can be megabytes)
FIND_CONTEXT_CHARS = 120
#: questions ``hrqa ask --json`` answers at once from stdin. One question alone leaves a core idle much of
#: the time: the reader's pairs are small matrices, so 2 intra-op threads make a pair only 1.1-1.4x faster
#: than 1 thread (10.1 against 7.1-9.2 ms p50, 60 dev.jsonl pairs), while two pairs at once on one thread
#: each cost 6.2 ms a pair (measured 2026-11-25, 2-core AMD EPYC). Two at a time, one thread per model call
#: (``Settings.threads``), fill both cores; the answers still come out in the order asked.
STREAM_WORKERS = min(2, os.cpu_count() or 1)


def cmd_index(args: argparse.Namespace) -> int:
    from hrqa.engine import Engine
    from hrqa.progress import ConsoleProgress

    progress = ConsoleProgress(prefix="")
    try:
        report = Engine.build_index(settings_from_args(args), progress=progress, wait=args.wait)
    finally:
        progress.close()
    for warning in report.warnings:
        print(f"warning: {printable(warning)}", file=sys.stderr)
    print(printable(report.summary()))
    if report.changed or report.added:
        print(f"re-embedded documents: {printable(', '.join(report.added + report.changed))}")
    return 0


def _open_engine(args: argparse.Namespace):
    from hrqa.engine import Engine

    return Engine.open(settings_from_args(args), build="never")


def format_answer(answer, index=None) -> str:
    """Answer sentences with [n] markers, then the numbered sources with the quote marked »…«.
    With the ``index`` the answer came from, a quote cut at max_sentence_chars ends in "[cut]"."""

    def cut(doc, span) -> str:
        return " [cut]" if index is not None and index.is_cut(doc, span) else ""

    lines: list[str] = []
    if answer.abstained:
        # why, as the chat says it: the reader's doubt, a number the corpus never mentions, a date question
        # whose closest sentence states no date ...
        reason = f" ({printable(answer.abstain_reason)})" if answer.abstain_reason else ""
        lines.append(f"The corpus does not answer this question{reason}. Closest passages:")
    else:
        for sentence in answer.sentences:
            text = printable(" ".join(sentence.text.split()))
            lines.append(f"{text}{cut(sentence.doc, sentence.span)} [{sentence.citation}]")
        note = unsure_note(answer.confidence)
        if note:
            lines.append(f"({note})")
    lines.append("")
    lines.append("Sources")
    for c in answer.citations:
        meta = " · ".join(x for x in (c.date or "no date", c.publisher or "publisher unknown", c.kind) if x)
        lines.append(printable(f"[{c.n}] {c.title} — {meta} ({c.doc}, relevance {c.score:.2f})") + cut(c.doc, c.span))
        passage = c.passage
        for h in sorted(c.highlights, key=lambda s: -s.start):
            a, b = h.start - c.span.start, h.end - c.span.start
            passage = passage[:a] + "»" + passage[a:b] + "«" + passage[b:]
        lines.extend(
            textwrap.wrap(printable(" ".join(passage.split())), 100, initial_indent="    ", subsequent_indent="    ")
        )
    if any(line.endswith("[cut]") or "[cut] [" in line for line in lines):
        lines.append("[cut]: the quote is a piece of a sentence longer than max_sentence_chars characters")
    return "\n".join(lines)


def cmd_ask(args: argparse.Namespace) -> int:
    engine = _open_engine(args)
    if args.question:
        questions = [" ".join(args.question)]
    elif args.json:
        questions = None  # stream from stdin
    else:
        raise HrqaError('no question given; usage: hrqa ask "your question"')
    if questions is None:

        def answer(question: str) -> dict:
            try:
                return engine.index.mark_cut(engine.ask(question, args.k).to_json())
            except HrqaError as error:
                return {"question": question, "error": str(error)}

        failures = 0
        for result in answer_lines(sys.stdin, answer, args.workers):
            failures += "error" in result
            print(json.dumps(result, ensure_ascii=False), flush=True)
        return 1 if failures else 0
    index = engine.index
    answer = engine.ask(questions[0], args.k, docs=args.doc or None, kinds=args.kind or None)
    if args.json:
        print(json.dumps(index.mark_cut(answer.to_json()), ensure_ascii=False, indent=1))
    else:
        print(format_answer(answer, index))
    return 0


def answer_lines(lines: Iterable[str], answer: Callable[[str], dict], workers: int) -> Iterator[dict]:
    """``answer`` of each non-blank line (without its line end), in the order of the lines, with up to
    ``workers`` lines answered at once.

    The lines are read on a thread of their own, so an answer comes out as soon as it and those before it
    are ready, even while the next line has not been typed yet; at most ``2 * workers`` lines are read ahead.
    """
    if workers < 1:
        raise HrqaError(f"--workers must be at least 1, got {workers}")
    if workers == 1:
        yield from (answer(line.rstrip("\n")) for line in lines if line.strip())
        return
    waiting: queue.Queue[Future | None] = queue.Queue(maxsize=2 * workers)
    failed: list[OSError | ValueError] = []
    stopped = threading.Event()  # the caller stopped reading answers (Ctrl-C, a closed pipe)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hrqa-ask")

    def hand_over(item: Future | None) -> bool:
        """Queue ``item`` for the caller unless the caller has stopped (then never block)."""
        while not stopped.is_set():
            try:
                waiting.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def feed() -> None:
        try:
            for line in lines:
                if stopped.is_set():
                    return
                if line.strip() and not hand_over(pool.submit(answer, line.rstrip("\n"))):
                    return
        except (OSError, ValueError) as error:  # stdin unreadable or not UTF-8: raised after the answers before it
            failed.append(error)
        except RuntimeError:  # the pool was shut down under a line just read: the caller has stopped
            return
        finally:
            hand_over(None)

    try:
        threading.Thread(target=feed, name="hrqa-ask-stdin", daemon=True).start()
        while (future := waiting.get()) is not None:
            yield future.result()
    finally:
        stopped.set()
        # questions read ahead but not started are dropped; those being answered finish
        pool.shutdown(wait=True, cancel_futures=True)
    if failed:
        raise failed[0]


def cmd_find(args: argparse.Namespace) -> int:
    engine = _open_engine(args)
    result = engine.find(" ".join(args.term))
    if args.json:
        index = engine.index
        print(json.dumps(result.to_json(lambda m: index.text(m.doc, _around(m))), ensure_ascii=False, indent=1))
        return 0
    note = lookalike_note(result.term, result.lookalikes)
    if not result.mentions:
        print(printable(f"searched {result.documents_searched} documents, no match for {result.term!r}{note}"))
        return 0
    print(
        f"{len(result.mentions)} mentions of {printable(repr(result.term))} in {len(result.counts)} of "
        f"{result.documents_searched} documents{printable(note)}"
    )
    for doc, count in sorted(result.counts.items(), key=lambda kv: -kv[1]):
        print(f"  {count:4d}  {printable(doc)}  {printable(engine.document(doc).title)}")
    print()
    for m in result.mentions[: args.limit]:
        around = _around(m)
        context = " ".join(engine.index.text(m.doc, around).split())
        context = ("…" if around.start > m.context.start else "") + context
        context += "…" if around.end < m.context.end else ""
        print(f"{printable(m.doc)}:{m.span.start}  {printable(context)}")
    if len(result.mentions) > args.limit:
        print(f"... {len(result.mentions) - args.limit} more (use --limit)")
    return 0


def _around(mention):
    """The part of a mention's line within FIND_CONTEXT_CHARS of it."""
    from hrqa.records import Span

    return Span(
        max(mention.context.start, mention.span.start - FIND_CONTEXT_CHARS),
        min(mention.context.end, mention.span.end + FIND_CONTEXT_CHARS),
    )


def cmd_eval(args: argparse.Namespace) -> int:
    from hrqa import evaluation

    settings = settings_from_args(args)
    if args.beir:
        report = evaluation.run_beir(
            Path(args.beir),
            settings,
            split=args.split,
            limit=args.limit,
            index_dir=Path(args.beir_index) if args.beir_index else None,
        )
    else:
        if not args.questions:
            raise HrqaError("give a questions file (dev.jsonl format) or --beir DIR")
        from hrqa.engine import Engine

        engine = Engine.open(settings, build="stale")
        articles = set(args.articles.split(",")) if args.articles else None
        if args.validation:
            from hrqa.reader_data import VALIDATION_ARTICLES

            articles = set(VALIDATION_ARTICLES)
        if args.reader_logits:
            report = evaluation.reader_logit_percentiles(engine, Path(args.questions), articles=articles)
            print(json.dumps(report, indent=1, ensure_ascii=False))
            return 0
        report = evaluation.run_questions(engine, Path(args.questions), articles=articles)
        if args.baselines:
            questions = evaluation.load_questions(Path(args.questions))
            if any(evaluation.gold_spans(q) for q in questions):
                from hrqa.baselines.sentences import run_sentence_baselines

                report["baselines"] = run_sentence_baselines(engine, Path(args.questions), articles=articles)
            else:
                from hrqa.baselines.paragraphs import run_paragraph_baselines

                report["baselines"] = run_paragraph_baselines(engine, Path(args.questions))
    print(json.dumps(report, indent=1, ensure_ascii=False) if args.json else evaluation.format_report(report))
    return 0


def cmd_train_reader(args: argparse.Namespace) -> int:
    """Build the reader's data (once) and train it; see hrqa/reader_training.py and MODEL_CARD.md."""
    import logging

    from hrqa import reader_data, reader_training
    from hrqa.reader import READER_DIR

    logging.getLogger("hrqa").setLevel(logging.INFO)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    qa = Path(args.qa)
    if not (work / "train.jsonl").exists():
        if not qa.is_dir():
            raise HrqaError(f"no QA data folder {qa}; give --qa DIR (the shared/qa folder)")
        counts = reader_data.build_training_data(
            qa, work, args.candidates, args.seed, args.gold_removed_share, args.swapped_share
        )
        print(f"hrqa: training data in {work}: {json.dumps(counts)}", file=sys.stderr)
    config = reader_training.TrainingConfig(
        base=args.base,
        epochs=args.epochs,
        seed=args.seed,
        threads=args.threads,
        group_size=args.group_size,
        frozen_layers=args.frozen_layers,
        layers=args.layers,
        learning_rate=args.learning_rate,
        max_length=args.max_length,
        context=not args.no_context,
        init=args.init,
        device=args.device,
    )
    result = reader_training.train(work, Path(args.out) if args.out else READER_DIR, config, max_steps=args.max_steps)
    print(json.dumps(result, indent=1))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from hrqa import bench

    return bench.main(args, settings_from_args(args))


def cmd_serve(args: argparse.Namespace) -> int:
    """``hrqa serve`` and ``python app.py``: the web app with the settings of the flags."""
    import logging

    settings = settings_from_args(args)  # bad flags fail here, before gradio and torch are imported
    # the web app prints no build report, so the corpus stage's warnings (skipped files) go to the log
    logging.getLogger("hrqa.corpus").setLevel(logging.NOTSET)
    from hrqa import ui

    return ui.serve(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hrqa", description="Cited, extractive answers from a document corpus.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--corpus", help="corpus folder (default: seeds/, or HRQA_CORPUS_DIR)")
        p.add_argument("--index-dir", help="index folder (default: index/, or HRQA_INDEX_DIR)")
        p.add_argument("--model", help="embedding model: all-MiniLM-L6-v2 or a local folder (HRQA_MODEL)")

    p = sub.add_parser("index", help="build or incrementally update the index")
    common(p)
    p.add_argument("--wait", action="store_true", help="wait for a running rebuild instead of refusing")
    p.set_defaults(handler=cmd_index)

    p = sub.add_parser("ask", help="answer a question (or, with --json and no question, one per stdin line)")
    common(p)
    p.add_argument("question", nargs="*")
    p.add_argument("-k", type=int, default=None, help="number of sources (default 5)")
    p.add_argument("--json", action="store_true", help="print the JSON contract")
    p.add_argument("--doc", action="append", help="only this document (repeatable)")
    p.add_argument("--kind", action="append", help="only this kind of source (repeatable)")
    p.add_argument(
        "--workers",
        type=int,
        default=STREAM_WORKERS,
        help=f"stdin questions answered at once, answers in the order asked (default {STREAM_WORKERS})",
    )
    p.set_defaults(handler=cmd_ask)

    p = sub.add_parser("find", help="list every passage that mentions a term or phrase")
    common(p)
    p.add_argument("term", nargs="+")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_find)

    p = sub.add_parser("eval", help="score a question set (dev.jsonl format) or a BEIR folder")
    common(p)
    p.add_argument("questions", nargs="?")
    p.add_argument("--beir", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    p.add_argument("--split", default="test", help="qrels split for --beir (test or train)")
    p.add_argument("--limit", type=int, default=None, help="only the first N queries")
    p.add_argument("--beir-index", help="index folder for the BEIR corpus (default: index-beir-<name>)")
    p.add_argument(
        "--baselines",
        action="store_true",
        help="also measure, on the same questions: paragraphs by dense FAISS and bm25s (dev.jsonl format); "
        "sentences by bm25s, MiniLM, their RRF, and the previous heuristic answer step (SQuAD-style files)",
    )
    p.add_argument("--articles", help="only questions of these articles (comma-separated file names)")
    p.add_argument(
        "--validation",
        action="store_true",
        help="only the squad2-dev articles the reader was not trained on (its validation split)",
    )
    p.add_argument(
        "--reader-logits",
        action="store_true",
        help="instead of scoring: percentiles of the reader's logit at each first-stage position, reading "
        "every candidate (what AnswerParameters.plausible_logits is measured on)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_eval)

    p = sub.add_parser("bench", help="benchmarks: build, query latency, cold start, memory, scale")
    common(p)
    p.add_argument("--size", choices=["small", "full"], default="small")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    p.add_argument("--beir", help="BEIR folder for the SciFact figures (default: ../shared/beir/scifact if present)")
    p.set_defaults(handler=cmd_bench)

    p = sub.add_parser("train-reader", help="train the answer step's reader (about 90 minutes on 2 cores)")
    p.add_argument("--qa", default="../shared/qa", help="public QA data folder (default ../shared/qa)")
    p.add_argument("--work", default="reader-work", help="data, checkpoint and log folder (resumes from it)")
    p.add_argument("--out", help="where the trained reader goes (default: inside the package)")
    p.add_argument("--base", default="all-MiniLM-L6-v2", help='base BERT folder, or "tiny" for a smoke test')
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many optimiser steps")
    p.add_argument("--candidates", type=int, default=12, help="first-stage candidates per question in the data")
    p.add_argument("--group-size", type=int, default=6, help="candidates per training group")
    p.add_argument("--gold-removed-share", type=float, default=0.3)
    p.add_argument("--swapped-share", type=float, default=0.7, help="share of entity-swapped no-answer groups")
    p.add_argument(
        "--init",
        help="checkpoint.pt of an earlier run to start from (a warm start), or an exported reader's model.onnx "
        "(its weights recovered to float, e.g. hrqa/models/reader/model.onnx)",
    )
    p.add_argument("--frozen-layers", type=int, default=2, help="lower encoder layers left as the base has them")
    p.add_argument("--layers", type=int, default=None, help="keep only the lowest N encoder layers (a faster reader)")
    p.add_argument("--learning-rate", type=float, default=4e-5, help="encoder learning rate (the head's is 1e-3)")
    p.add_argument("--max-length", type=int, default=128, help="tokens of question + candidate + context")
    p.add_argument("--no-context", action="store_true", help="read candidates without their title and sentence before")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="where to train (auto: a GPU when torch sees one)",
    )
    p.set_defaults(handler=cmd_train_reader)

    p = sub.add_parser("serve", help="start the web app (as python app.py)")
    common(p)
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1, or HRQA_HOST)")
    p.add_argument("--port", type=int, default=None, help="port (default 7860, or HRQA_PORT)")
    p.add_argument(
        "--insecure",
        action="store_true",
        default=None,  # not given: HRQA_INSECURE or the default decides
        help="allow binding beyond loopback without HRQA_AUTH credentials (prints a warning)",
    )
    p.set_defaults(handler=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    import logging

    # warnings of the library reach the terminal once, as "hrqa: ..." (the CLI prints corpus
    # warnings itself from the build report, so the corpus logger stays quiet here)
    logging.basicConfig(level=logging.WARNING, format="hrqa: %(message)s")
    logging.getLogger("hrqa.corpus").setLevel(logging.ERROR)
    logging.getLogger("bm25s").setLevel(logging.ERROR)
    args = build_parser().parse_args(argv)
    try:
        code = args.handler(args)
        sys.stdout.flush()  # a reader that went away (| head) is noticed here, not at exit
        return code
    except HrqaError as error:
        print(f"hrqa: error: {printable(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hrqa: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of stdout closed it (hrqa find ... | head -3): stop quietly, as other tools do;
        # stdout goes to /dev/null so the interpreter's final flush cannot raise again
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command stopped by a closed pipe


if __name__ == "__main__":
    sys.exit(main())
