#!/usr/bin/env python3
"""Accuracy of the demo model per question kind on fresh pictures (a seed never used in training),
greedy decoding through transformers, loading the hub directory as saved (bfloat16 weights, float32
compute).

    /root/fixenv/bin/python Scripts/demo-model/evaluate.py [--model Assets/demo-model] [--per-kind 100]

Each question is asked alone (one turn, the picture first), half in English and half in Chinese.
A reply is right when the fact it states (colour, shape, number, cell of the 3x3 grid, the quoted
text) equals the truth; a reply naming two candidates counts as wrong. Writes
Scripts/demo-model/eval.json unless --no-write.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import common
import qa
import scenes

EVAL_SEED = 424242  # training draws its batches from seeds SEED*1000 + step; this one is never used
SCORED = ["colour", "shape", "count", "count_kind", "position", "read"]


def load(model_dir: Path):
    from transformers import AutoProcessor, Qwen2VLForConditionalGeneration
    sys.path.insert(0, str(common.REPO / "Scripts" / "fixtures"))
    import vl_hub
    vl_hub.install_processor_shim()
    processor = AutoProcessor.from_pretrained(model_dir, backend="pil")
    # The stored bfloat16 weights, computed in float32 (as Squint does: it widens bf16 weights).
    model = Qwen2VLForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32).eval()
    return model, processor


def ask(model, processor, img, question: str, max_new: int = 48):
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = processor(text=[prompt], images=[img], return_tensors="pt")
    model.model.rope_deltas = None
    with torch.no_grad():
        out = model.generate(**inputs, do_sample=False, max_new_tokens=max_new, top_k=None, top_p=None,
                             temperature=None)
    new = out[0, inputs["input_ids"].shape[1]:].tolist()
    return processor.tokenizer.decode(new, skip_special_tokens=True), inputs["input_ids"][0].tolist(), new


def questions(per_kind: int, seed: int, kinds=SCORED):
    """per_kind questions of each kind (default: every scored kind), each on its own fresh picture."""
    rng = np.random.default_rng(seed)
    for kind in kinds:
        made = 0
        while made < per_kind:
            scene = scenes.sample_scene(rng)
            if kind == "read" and scene.word is None:
                continue
            img = scenes.render(scene, rng)
            got = qa.make_qa(scene, kind, made % 2 == 1, rng)
            if got is None:
                continue
            made += 1
            yield kind, made % 2 == 0, img, scene, got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=common.ASSET_DIR)
    ap.add_argument("--per-kind", type=int, default=100)
    ap.add_argument("--seed", type=int, default=EVAL_SEED)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--show", type=int, default=2, help="print this many replies per kind")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, processor = load(a.model)
    stats = {k: {"en": [0, 0], "zh": [0, 0]} for k in SCORED}
    shown = {k: 0 for k in SCORED}
    t0 = time.time()
    for kind, zh, img, scene, (q, ref, truth) in questions(a.per_kind, a.seed):
        reply, _, _ = ask(model, processor, img, q)
        got = qa.extract(kind, reply, zh)
        ok = got == truth
        lang = "zh" if zh else "en"
        stats[kind][lang][0] += int(ok)
        stats[kind][lang][1] += 1
        if shown[kind] < a.show or (not ok and shown[kind] < a.show + 2):
            shown[kind] += 1
            print(f"[{kind}/{lang}] {q} -> {reply!r} (truth {truth}, read {got}) {'OK' if ok else 'WRONG'}")
    print(f"{time.time() - t0:.0f}s")
    table = {}
    for k, v in stats.items():
        right = v["en"][0] + v["zh"][0]
        total = v["en"][1] + v["zh"][1]
        table[k] = {"accuracy": right / total, "en": v["en"][0] / max(1, v["en"][1]),
                    "zh": v["zh"][0] / max(1, v["zh"][1]), "n": total}
        print(f"{k:11s} {right / total:6.1%}  en {table[k]['en']:6.1%}  zh {table[k]['zh']:6.1%}  n={total}")
    if not a.no_write:
        (common.HERE / "eval.json").write_text(json.dumps({"model": str(a.model), "seed": a.seed, "per_kind": a.per_kind, "table": table},
                                                      indent=1) + "\n")


if __name__ == "__main__":
    main()
