"""Export a reader trained on the GPU machine: the packaged base weights (exact), the warm start's if any,
then the trained float16 weights over them; then hrqa's own export (ONNX, int8 when it keeps 99%).
python training/gpu_finish.py SUMMARY.json NAME PARTS_DIR OUT WORK  (SUMMARY.json and the NAME.part*.pt files come back
from gpu_sweep.py; WORK holds validation.jsonl)"""

import json
import sys
from pathlib import Path

import torch

import hrqa.reader_training as rt
from hrqa.reader_export import export

summary, name, parts, out, work = sys.argv[1:6]
settings = json.loads(Path(summary).read_text())[name]["settings"]
config = rt.TrainingConfig(device="cpu", **settings)
model = rt.build_model(config.base)
if config.init:
    model.load_state_dict(rt.initial_weights(config.init), strict=False)
trained = {}
for p in sorted(Path(parts).glob(f"{name}.part*.pt")):
    trained.update(torch.load(p))
missing = [n for n, _ in model.named_parameters() if n not in trained]
print("trained tensors", len(trained), "kept from base/init", len(missing))
state = model.state_dict()
for k, v in trained.items():
    assert k in state, k
    state[k] = v.float()
model.load_state_dict(state)
result = export(model, config, Path(out), Path(work))
print(json.dumps(result))
