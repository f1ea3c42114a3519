"""Training and validation data for the reader: groups of (question, candidate sentences, which answer).

Candidates come from hrqa's own question path (hybrid passage retrieval, then the answer step's first
stage), so the reader learns on the same kind of near misses it meets at question time. Sources, all in
``../shared/qa`` (licences in its README):

* SQuAD 2.0 articles (``squad2-dev``) indexed as a corpus: answerable and adversarial unanswerable
  questions. Split by article: ``TRAIN_ARTICLES`` train, the others validate.
* XQuAD (English, SQuAD layout): answerable questions over 40 articles, indexed the same way.
* SelQA: candidate sentences of one section per question, the answering ones marked.
* QNLI: one (question, sentence) pair each, entailment or not: a group of one candidate.

"Gold removed" groups: an answerable question with every candidate that holds its answer taken out
must be answered "no answer" (how SQuAD 2.0 readers learn to abstain on near misses).
"""

from __future__ import annotations

import csv
import json
import logging
import random
import re
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from hrqa.reader import sentence_context
from hrqa.records import Span

log = logging.getLogger(__name__)

#: squad2-dev articles used for training; the other four (01, 03, 05, 07) are the validation split
TRAIN_ARTICLES = ("00_Normans.txt", "02_Huguenot.txt", "04_1973_oil_crisis.txt", "06_Packet_switching.txt")
VALIDATION_ARTICLES = (
    "01_Computational_complexity_theory.txt",
    "03_Steam_engine.txt",
    "05_European_Union_law.txt",
    "07_Harvard_University.txt",
)


@dataclass(frozen=True)
class Group:
    """One question with its candidate sentences; ``answers`` marks those that answer (none: abstain)."""

    question: str
    candidates: tuple[str, ...]
    answers: tuple[bool, ...]
    source: str
    #: whether the question has an answer in its document (the first stage may have missed it)
    answerable: bool = False
    #: each candidate's context (``reader.sentence_context``); empty where the source has none (QNLI)
    contexts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if any(self.answers) and not self.answerable:
            object.__setattr__(self, "answerable", True)
        if not self.contexts:
            object.__setattr__(self, "contexts", ("",) * len(self.candidates))

    def keep(self, positions: Iterable[int], **changes) -> Group:
        """The group with only the candidates at ``positions`` (in that order)."""
        positions = list(positions)
        fields = {
            "question": self.question,
            "candidates": tuple(self.candidates[i] for i in positions),
            "answers": tuple(self.answers[i] for i in positions),
            "source": self.source,
            "answerable": self.answerable,
            "contexts": tuple(self.contexts[i] for i in positions),
        }
        return Group(**(fields | changes))


def write_groups(groups: Iterable[Group], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as handle:
        for g in groups:
            handle.write(json.dumps(asdict(g), ensure_ascii=False) + "\n")
            n += 1
    return n


def read_groups(path: Path) -> list[Group]:
    with Path(path).open(encoding="utf-8") as handle:
        return [
            Group(
                r["question"],
                tuple(r["candidates"]),
                tuple(r["answers"]),
                r["source"],
                r.get("answerable", False),
                tuple(r.get("contexts", ())),
            )
            for r in map(json.loads, handle)
        ]


def gold_removed(group: Group) -> Group | None:
    """The group without its answering candidates, to be answered "no answer"."""
    rest = [i for i, a in enumerate(group.answers) if not a]
    if not group.answerable or len(rest) < 2:
        return None
    return group.keep(rest, source=group.source + "-gold-removed", answerable=False)


#: names (capitalised word runs) and numbers: what SQuAD 2.0's adversarial writers most often swap
_SWAPPABLE = re.compile(r"\b(?:\d[\d,.]*\d|\d|[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*)\b")


def entity_swapped(group: Group, rng: random.Random) -> Group | None:
    """An answerable question with one name or number replaced by another that only the near-miss
    candidates mention ("Who did Rollo sign the treaty with?" -> "Who did Charles sign ..."): the
    answering sentence no longer answers, so the group is to be answered "no answer"."""
    if not group.answerable:
        return None
    gold_text = " ".join(c for c, a in zip(group.candidates, group.answers) if a)
    slots = [m for m in _SWAPPABLE.finditer(group.question) if m.start() > 0]
    if not slots:
        return None
    slot = rng.choice(slots)
    numeric = slot.group(0)[0].isdigit()
    pool = {
        m.group(0)
        for c, a in zip(group.candidates, group.answers)
        if not a
        for m in _SWAPPABLE.finditer(c)
        if m.start() > 0 and m.group(0)[0].isdigit() == numeric
    }
    pool = sorted(x for x in pool if x not in gold_text and x not in group.question)
    if not pool:
        return None
    question = group.question[: slot.start()] + rng.choice(pool) + group.question[slot.end() :]
    return replace(
        group,
        question=question,
        answers=(False,) * len(group.candidates),
        source=group.source + "-swapped",
        answerable=False,
    )


def augmented(groups: list[Group], rng: random.Random, gold_removed_share: float, swapped_share: float) -> list[Group]:
    """Extra "no answer" groups made from answerable ones: gold removed, and entity swapped."""
    answerable = [g for g in groups if g.answerable]
    removed = [g for g in map(gold_removed, answerable) if g is not None]
    removed = rng.sample(removed, int(gold_removed_share * len(removed)))
    swapped = [g for g in (entity_swapped(g, rng) for g in answerable) if g is not None]
    swapped = rng.sample(swapped, int(swapped_share * len(swapped)))
    return removed + swapped


def selqa_groups(path: Path, size: int, rng: random.Random) -> list[Group]:
    """SelQA: the answering sentences and up to ``size`` - 1 others of the same section."""
    groups = []
    for record in json.loads(Path(path).read_text(encoding="utf-8")):
        answers = set(record["answers"])
        sentences = record["candidates"]
        gold = [i for i in range(len(sentences)) if i in answers]
        others = [i for i in range(len(sentences)) if i not in answers and sentences[i].strip()]
        if not gold:
            continue
        rng.shuffle(others)
        chosen = gold[:1] + others[: size - 1]
        rng.shuffle(chosen)
        # the candidates are the section's sentences in order: the one before is each one's context
        title = f"{record.get('article', '')}: {record.get('section', '')}".strip(": ")
        groups.append(
            Group(
                record["question"],
                tuple(sentences[i] for i in chosen),
                tuple(i in answers for i in chosen),
                "selqa",
                contexts=tuple(sentence_context(title, sentences[i - 1] if i else "") for i in chosen),
            )
        )
    return groups


def qnli_groups(path: Path) -> list[Group]:
    """QNLI: a group of one candidate; "not_entailment" is to be answered "no answer"."""
    groups = []
    with Path(path).open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            if row.get("question") and row.get("sentence") and row.get("label") in {"entailment", "not_entailment"}:
                groups.append(Group(row["question"], (row["sentence"],), (row["label"] == "entailment",), "qnli"))
    return groups


def xquad_corpus(path: Path, folder: Path) -> list[dict]:
    """Write XQuAD's articles as a corpus folder (title, blank line, paragraphs) and return its
    questions in the squad2-dev ``questions.jsonl`` layout with offsets into those files."""
    folder.mkdir(parents=True, exist_ok=True)
    questions = []
    for number, article in enumerate(json.loads(Path(path).read_text(encoding="utf-8"))["data"]):
        name = f"x{number:02d}.txt"
        text = article["title"]
        for paragraph in article["paragraphs"]:
            text += "\n\n"
            offset = len(text)
            text += paragraph["context"]
            for qa in paragraph["qas"]:
                answers = [
                    {
                        "text": a["text"],
                        "start": offset + a["answer_start"],
                        "end": offset + a["answer_start"] + len(a["text"]),
                    }
                    for a in qa["answers"]
                ]
                for a in answers:
                    assert text[a["start"] : a["end"]] == a["text"], "XQuAD offsets disagree with the text"
                questions.append(
                    {"id": qa["id"], "question": qa["question"], "kind": "fact", "doc": name, "answers": answers}
                )
        (folder / name).write_text(text + "\n", encoding="utf-8")
    return questions


def squad_corpus(source: Path, folder: Path, articles: Iterable[str]) -> None:
    """Copy chosen squad2-dev articles (and the catalog) into a corpus folder of their own."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in articles:
        shutil.copyfile(source / name, folder / name)
    if (source / "catalog.toml").exists():
        shutil.copyfile(source / "catalog.toml", folder / "catalog.toml")


def gold_spans(record: dict) -> list[Span]:
    return [Span(a["start"], a["end"]) for a in record.get("answers") or []]


def engine_groups(engine, questions: list[dict], size: int, source: str, add_missing_gold: bool = True) -> list[Group]:
    """Groups from hrqa's own question path: retrieval, then the answer step's first stage.

    A candidate answers when its span contains a gold answer span. For training
    (``add_missing_gold``), an answerable question whose gold sentence the first stage missed gets
    it in place of its last candidate.
    """
    from hrqa.candidates import candidates, context_of

    backend = engine.backend
    groups = []
    for record in questions:
        retrieved = engine.retrieve(record["question"], 5)
        found = candidates(backend, record["question"], retrieved.query_vector, retrieved.hits, size)
        spans = gold_spans(record)
        texts = [c.text for c in found]
        contexts = [c.context for c in found]
        flags = [c.doc == record.get("doc") and any(c.span.contains(g) for g in spans) for c in found]
        if spans and not any(flags) and add_missing_gold:
            row = _sentence_holding(backend, record["doc"], spans[0])
            if row is None:
                continue
            if len(texts) >= size:
                texts, flags, contexts = texts[:-1], flags[:-1], contexts[:-1]
            texts.append(backend.text(record["doc"], backend.sentence_at(row).span))
            contexts.append(context_of(backend, row))
            flags.append(True)
        if texts:
            groups.append(Group(record["question"], tuple(texts), tuple(flags), source, bool(spans), tuple(contexts)))
    return groups


def _sentence_holding(backend, doc: str, span: Span) -> int | None:
    for row in backend.sentence_rows_of(doc):
        if backend.sentence_at(row).span.contains(span):
            return row
    return None


def build_training_data(
    shared_qa: Path, work: Path, size: int, seed: int, gold_removed_share: float, swapped_share: float = 0.5
) -> dict:
    """Every training and validation group, written to ``work`` as JSON lines; returns the counts."""
    from hrqa.engine import Engine
    from hrqa.evaluation import load_questions
    from hrqa.settings import Settings

    rng = random.Random(seed)
    counts: dict[str, int] = {}
    squad = shared_qa / "squad2-dev"
    all_questions = load_questions(squad / "questions.jsonl")

    def engine_for(name: str, corpus: Path):
        settings = Settings(corpus_dir=corpus, index_dir=work / f"index-{name}")
        return Engine.open(settings, build="stale")

    squad_corpus(squad / "corpus", work / "corpus-squad-train", TRAIN_ARTICLES)
    squad_corpus(squad / "corpus", work / "corpus-squad-validation", VALIDATION_ARTICLES)
    xquad_questions = xquad_corpus(shared_qa / "train" / "xquad-en.json", work / "corpus-xquad")

    train: list[Group] = []
    squad_train = [q for q in all_questions if q.get("article") in TRAIN_ARTICLES]
    groups = engine_groups(engine_for("squad-train", work / "corpus-squad-train"), squad_train, size, "squad2")
    train += groups
    counts["squad2-train"] = len(groups)
    groups = engine_groups(engine_for("xquad", work / "corpus-xquad"), xquad_questions, size, "xquad")
    train += groups
    counts["xquad"] = len(groups)
    for part in ("dev", "test"):
        groups = selqa_groups(shared_qa / "train" / f"selqa-ass-{part}.json", size, rng)
        train += groups
        counts[f"selqa-{part}"] = len(groups)
    extra = augmented(train, rng, gold_removed_share, swapped_share)
    train += extra
    counts["gold-removed"] = sum(g.source.endswith("-gold-removed") for g in extra)
    counts["entity-swapped"] = sum(g.source.endswith("-swapped") for g in extra)
    groups = qnli_groups(shared_qa / "train" / "qnli-dev.tsv")
    train += groups
    counts["qnli"] = len(groups)
    rng.shuffle(train)
    counts["train"] = write_groups(train, work / "train.jsonl")

    validation = [q for q in all_questions if q.get("article") in VALIDATION_ARTICLES]
    groups = engine_groups(
        engine_for("squad-validation", work / "corpus-squad-validation"), validation, size, "squad2-val", False
    )
    counts["validation"] = write_groups(groups, work / "validation.jsonl")
    (work / "data.json").write_text(json.dumps(counts, indent=2), encoding="utf-8")
    return counts
