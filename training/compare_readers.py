"""Readers compared end to end with the no-answer threshold replayed: each question asked once per reader with
abstention by P(no answer) off (every candidate read), P(no answer) recorded, thresholds applied after.
usage: python training/compare_readers.py name=folder,... [--squad] FILES  ("shipped" for the packaged reader;
--squad: the squad2-dev validation articles over an index of all 8, SQUAD_INDEX, default index-squad/)"""

import dataclasses
import os
import sys
from pathlib import Path

from hrqa import answer as A
from hrqa.engine import Engine
from hrqa.evaluation import judge, load_questions, summarise
from hrqa.reader import load_reader
from hrqa.settings import Settings

THRESHOLDS = [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.01]
args = sys.argv[1:]
spec = dict(x.split("=") for x in args.pop(0).split(","))
settings = Settings.from_env()
arts = None
if args[0] == "--squad":
    args.pop(0)
    settings = dataclasses.replace(
        settings,
        corpus_dir=Path("../shared/qa/squad2-dev/corpus"),
        index_dir=Path(os.environ.get("SQUAD_INDEX", "index-squad")),
    )
    from hrqa.reader_data import VALIDATION_ARTICLES

    arts = set(VALIDATION_ARTICLES)
e = Engine.open(settings)
e.answer_parameters = dataclasses.replace(A.DEFAULT_PARAMETERS, plausible_logits=(), abstain_at=1.01)
seen = {}
original = A.softmax_with_null


def recording(logits, null):
    s = original(logits, null)
    seen["p"] = float(s.no_answer)
    return s


A.softmax_with_null = recording
readers = {n: (load_reader(threads=2) if f == "shipped" else load_reader(Path(f), threads=2)) for n, f in spec.items()}
for f in args:
    qs = [q for q in load_questions(Path(f)) if not arts or q.get("article") in arts]
    rows = {n: [] for n in readers}
    for rec in qs:
        for n, r in readers.items():
            e._reader = r
            seen["p"] = 0.0
            a = e.ask(rec["question"], 5, history=rec.get("history") or ()).to_json()
            rows[n].append((rec, a, seen["p"]))
    print("==", f, len(qs), flush=True)
    for n in readers:
        for t in THRESHOLDS:
            vs = []
            for rec, a, p in rows[n]:
                if p >= t and not a["abstained"]:
                    a = {**a, "abstained": True, "answer": []}
                vs.append(judge(rec, a, 5))
            s = summarise(vs)["overall"]
            print(
                f"  {n:8} t={t:<5} "
                + " ".join(
                    f"{k}={s.get(k)}"
                    for k in ("answer", "top1_sentence", "correct_abstention", "false_abstention", "overall")
                ),
                flush=True,
            )
