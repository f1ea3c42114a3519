"""Seed-corpus groups for judging a reader without the engine: each single-document question's first-stage
candidates (8), marked where the folded gold answer is inside the candidate. Validation only."""

import sys
from pathlib import Path

from hrqa.candidates import candidates
from hrqa.engine import Engine
from hrqa.evaluation import fold, load_questions
from hrqa.reader_data import Group, write_groups
from hrqa.settings import Settings

engine = Engine.open(Settings(corpus_dir=Path("seeds"), index_dir=Path("index")), build="stale")
files = ["../shared/eval/dev.jsonl"] + [
    f"tests/data/{n}"
    for n in ["blind_checks.jsonl"] + [f"blind_checks_{i}.jsonl" for i in range(2, 7)] + ["team_checks.jsonl"]
]
groups = []
for f in files:
    tag = Path(f).stem
    for r in load_questions(Path(f)):
        if r["kind"] not in ("unanswerable",) and not r.get("answer"):
            continue
        if r.get("docs"):
            continue
        ret = engine.retrieve(r["question"], 5)
        found = candidates(engine.backend, r["question"], ret.query_vector, ret.hits, 8)
        if r["kind"] == "unanswerable":
            flags = [False] * len(found)
        else:
            gold = fold(r["answer"])
            flags = [(not r.get("doc") or c.doc == r["doc"]) and gold in fold(c.text) for c in found]
        groups.append(
            Group(
                r["question"],
                tuple(c.text for c in found),
                tuple(flags),
                f"seed-{tag}",
                r["kind"] != "unanswerable",
                tuple(c.context for c in found),
            )
        )
print(
    write_groups(groups, Path(sys.argv[1])),
    "groups;",
    sum(any(g.answers) for g in groups),
    "with gold among 8;",
    sum(not g.answerable for g in groups),
    "unanswerable",
)
