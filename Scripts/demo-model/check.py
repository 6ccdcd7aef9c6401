#!/usr/bin/env python3
"""Checks that training feeds the model exactly what transformers' processor produces at inference:
the same pixel_values (training patchifies pictures itself, for speed) and the same token ids (training
lays out the chat by hand; the processor uses the Qwen2-VL chat template)."""

import numpy as np
import torch

import common
import export
import scenes


def main():
    tok, raw = export.load_tokenizer()
    processor = export.make_processor(tok)
    ids = common.token_ids(raw)
    rng = np.random.default_rng(99)
    for n in range(40):
        scene = scenes.sample_scene(rng)
        img = scenes.render(scene, rng)
        turns = common.conversation(rng, scene, int(rng.integers(1, 4)))
        mine, labels = common.encode_conversation(raw, turns, ids)
        messages = []
        for i, (q, a, _, _) in enumerate(turns):
            content = ([{"type": "image"}] if i == 0 else []) + [{"type": "text", "text": q}]
            messages += [{"role": "user", "content": content},
                         {"role": "assistant", "content": [{"type": "text", "text": a}]}]
        text = processor.apply_chat_template(messages, tokenize=False)
        out = processor(text=[text], images=[img], return_tensors="pt")
        theirs = out["input_ids"][0].tolist()
        if mine != theirs:
            raise SystemExit(f"token ids differ for {text!r}:\n{mine}\n{theirs}")
        pix = torch.from_numpy(common.patchify(img))
        if not torch.equal(pix, out["pixel_values"]):
            raise SystemExit(f"pixel_values differ: max {(pix - out['pixel_values']).abs().max()}")
        if out["image_grid_thw"].tolist() != [[1, scenes.SIZE // 14, scenes.SIZE // 14]]:
            raise SystemExit(f"grid {out['image_grid_thw'].tolist()}")
        # The replies (and their <|im_end|>) are exactly the labelled tokens.
        said = raw.decode([t for t, l in zip(mine, labels) if l != -100], skip_special_tokens=False)
        if said != "".join(a + "<|im_end|>" for _, a, _, _ in turns):
            raise SystemExit(f"labels cover {said!r}")
    print("ok: 40 conversations, ids, labels and pixel_values match transformers' processor")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
