#!/usr/bin/env python3
"""A Qwen2-VL checkpoint with random weights whose vision tower has Qwen2-VL-2B-Instruct's shape, for
timing image encoding (compare-llamacpp.py --vl). Run with /root/fixenv/bin/python (torch, transformers).

    /root/fixenv/bin/python Scripts/bench/make_vl_bench_model.py OUT_DIR

The vision tower is Qwen2-VL-2B's (depth 32, embed_dim 1280, 16 heads, mlp_ratio 4, patch 14, merge 2,
quick_gelu) and so is the merger's output width (1536, the text hidden size); the text model has 2 layers
of Qwen2-VL-2B's width, enough for llama.cpp to load and decode, small enough to convert quickly. The
tokenizer, chat template and special token ids are the tiny Qwen2-VL test fixture's. Weights are N(0, 0.02)
(transformers' init): values do not change the work, only the shapes do. Stored as F16.
"""

import json
import shutil
import sys
from pathlib import Path

import torch
from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "Tests" / "Fixtures" / "vl" / "qwen2-vl-v4"

# Qwen/Qwen2-VL-2B-Instruct's config.json.
VISION = dict(depth=32, embed_dim=1280, num_heads=16, mlp_ratio=4, hidden_act="quick_gelu", in_channels=3,
              patch_size=14, spatial_merge_size=2, temporal_patch_size=2, hidden_size=1536)
TEXT = dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=2, num_attention_heads=12,
            num_key_value_heads=2, rms_norm_eps=1e-6, hidden_act="silu", use_sliding_window=False,
            max_position_embeddings=32768, max_window_layers=2,
            rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [16, 24, 24]})
# Qwen2-VL-2B's processor limits (the fixture's are tiny).
MIN_PIXELS, MAX_PIXELS = 56 * 56, 28 * 28 * 16384


def main():
    out = Path(sys.argv[1])
    fixture = json.loads((FIXTURE / "config.json").read_text())
    ids = {k: fixture[k] for k in ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")}
    text = dict(TEXT, vocab_size=fixture["vocab_size"], bos_token_id=fixture["bos_token_id"],
                eos_token_id=fixture["eos_token_id"])
    cfg = Qwen2VLConfig(text_config=text, vision_config=VISION, tie_word_embeddings=True, **ids)
    torch.manual_seed(0)
    model = Qwen2VLForConditionalGeneration._from_config(cfg, attn_implementation="eager").to(torch.float16)
    n = sum(p.numel() for p in model.model.visual.parameters())
    print(f"vision tower + merger: {n / 1e6:.0f}M parameters")
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.json",
                 "generation_config.json"):
        shutil.copy(FIXTURE / name, out / name)
    pre = json.loads((FIXTURE / "preprocessor_config.json").read_text())
    pre.update(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    (out / "preprocessor_config.json").write_text(json.dumps(pre, indent=2) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
