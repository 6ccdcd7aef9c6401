#!/usr/bin/env python3
"""The accuracy test set Squint's own test runs (Tests/Fixtures/demo/eval/): fresh pictures from a seed
the training never uses, one question each, the true fact, and transformers' greedy reply with the
fact the reference checker (qa.extract) reads from it.

    /root/fixenv/bin/python Scripts/demo-model/make_eval_set.py [--per-kind 30]

The Swift test (DemoAccuracyTests) asks every question through Squint's engine, reads the fact from
Squint's reply with its port of qa.extract -- checked against the Python checker on transformers'
replies recorded here -- and reports the accuracy per kind.
"""

import argparse
import json
import shutil
from pathlib import Path

import torch

import common
import evaluate
import qa

OUT = common.REPO / "Tests" / "Fixtures" / "demo" / "eval"
EVAL_SEED = 8080808  # never a training seed (training uses SEED * 1000 + step), nor evaluate.py's


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-kind", type=int, default=30)
    ap.add_argument("--seed", type=int, default=EVAL_SEED)
    ap.add_argument("--model", type=Path, default=common.ASSET_DIR)
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    out = a.out
    torch.set_num_threads(1)
    model, processor = evaluate.load(a.model)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    cases = []
    for i, (kind, zh, img, scene, (q, _, truth)) in enumerate(evaluate.questions(a.per_kind, a.seed)):
        name = f"{i:03d}.png"
        img.save(out / name, optimize=True)
        reply, _, _ = evaluate.ask(model, processor, img, q)
        cases.append({"image": name, "kind": kind, "zh": zh, "question": q, "truth": truth,
                      "transformers_reply": reply, "transformers_read": qa.extract(kind, reply, zh)})
    (out / "cases.json").write_text(json.dumps({
        "generator": "Scripts/demo-model/make_eval_set.py", "seed": a.seed, "per_kind": a.per_kind,
        "goals": {"colour": 0.9, "shape": 0.9, "count": 0.9, "count_kind": 0.9, "position": 0.75, "read": 0.75},
        "cases": cases}, ensure_ascii=False, indent=1) + "\n")
    for kind in evaluate.SCORED:
        ks = [c for c in cases if c["kind"] == kind]
        print(f"{kind:11s} transformers {sum(c['transformers_read'] == c['truth'] for c in ks) / len(ks):.0%}")


if __name__ == "__main__":
    main()
