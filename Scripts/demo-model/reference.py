#!/usr/bin/env python3
"""Sample pictures (Assets/samples/) and the demo model's greedy replies from transformers
(Tests/Fixtures/demo/reference.json), so Squint can be checked against them.

    /root/fixenv/bin/python Scripts/demo-model/reference.py

Reference: Qwen2VLForConditionalGeneration.from_pretrained(Assets/demo-model, dtype=float32) -- the
stored bfloat16 weights widened to float32 --, AutoProcessor (PIL backend), generate() greedy until
<|im_end|> (included in greedy_new_ids) or 64 new tokens.
"""

import json

import numpy as np
import torch

import common
import evaluate
import scenes

SAMPLES = common.REPO / "Assets" / "samples"
FIXTURE = common.REPO / "Tests" / "Fixtures" / "demo" / "reference.json"
SAMPLE_SEED = 31337
# (sample file, question): one per kind of question, both languages.
CASES = [("shapes-1.png", "Describe the picture."), ("shapes-2.png", "What colour is the star?"),
         ("shapes-3.png", "图中有几个形状？"), ("shapes-4.png", "What is written in the picture?")]


def make_samples():
    """Four pictures from a seed never used in training, chosen to suit the questions above."""
    rng = np.random.default_rng(SAMPLE_SEED)
    want = [lambda s: len(s.shapes) >= 3 and s.word is not None,
            lambda s: [x.kind for x in s.shapes].count("star") == 1 and len(s.shapes) >= 2,
            lambda s: len(s.shapes) == 4,
            lambda s: s.word is not None and s.word.isalpha() and len(s.shapes) >= 2]
    SAMPLES.mkdir(parents=True, exist_ok=True)
    truths = {}
    for i, ok in enumerate(want):
        while True:
            scene = scenes.sample_scene(rng)
            img = scenes.render(scene, rng)
            if ok(scene):
                break
        name = f"shapes-{i + 1}.png"
        img.save(SAMPLES / name, optimize=True)
        truths[name] = {"shapes": [vars(s) for s in scene.shapes], "background": scene.background,
                        "word": scene.word}
    return truths


def margins(model, inputs, new):
    """Smallest top-1 minus top-2 logit over the greedy steps (how robust the reply is to rounding)."""
    ids = torch.cat([inputs["input_ids"], torch.tensor([new[:-1]])], dim=1) if len(new) > 1 else inputs["input_ids"]
    kw = dict(inputs)
    kw["input_ids"] = ids
    kw["attention_mask"] = torch.ones_like(ids)
    kw["mm_token_type_ids"] = torch.cat([inputs["mm_token_type_ids"],
                                         torch.zeros((1, ids.shape[1] - inputs["input_ids"].shape[1]),
                                                     dtype=torch.long)], dim=1)
    model.model.rope_deltas = None
    with torch.no_grad():
        logits = model(**kw).logits[0, inputs["input_ids"].shape[1] - 1:]
    top = logits.topk(2, dim=-1).values
    if logits.argmax(-1).tolist() != new:
        raise RuntimeError("full forward disagrees with generate()")
    return float((top[:, 0] - top[:, 1]).min())


def main():
    torch.set_num_threads(1)
    from PIL import Image
    truths = make_samples()
    model, processor = evaluate.load(common.ASSET_DIR)
    cases = []
    for name, question in CASES:
        img = Image.open(SAMPLES / name).convert("RGB")
        reply, input_ids, new = evaluate.ask(model, processor, img, question, max_new=64)
        cases.append({"image": f"Assets/samples/{name}", "question": question,
                      "messages": [{"role": "user", "content": [{"type": "image", "image": f"Assets/samples/{name}"},
                                                                {"type": "text", "text": question}]}],
                      "input_ids": input_ids, "greedy_new_ids": new, "greedy_text": reply,
                      "min_top1_margin": margins(model, processor(text=[processor.apply_chat_template(
                          [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}],
                          tokenize=False, add_generation_prompt=True)], images=[img], return_tensors="pt"), new),
                      "truth": truths[name]})
        print(name, question, "->", reply)
    doc = {"generator": "Scripts/demo-model/reference.py", "model": "Assets/demo-model",
           "reference": "transformers Qwen2VLForConditionalGeneration, bf16 weights widened to float32, "
                        "greedy generate() until <|im_end|> (kept) or 64 new tokens",
           "eos_token_id": processor.tokenizer.convert_tokens_to_ids("<|im_end|>"), "cases": cases}
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n")


if __name__ == "__main__":
    main()
