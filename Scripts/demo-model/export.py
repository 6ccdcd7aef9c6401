#!/usr/bin/env python3
"""Write the trained checkpoint as a Hugging Face hub directory (transformers 5.x layout) into
Assets/demo-model/: config.json, generation_config.json, model.safetensors (bfloat16),
tokenizer.json, tokenizer_config.json, processor_config.json, chat_template.jinja.

    /root/fixenv/bin/python Scripts/demo-model/export.py [--ckpt Scripts/demo-model/work/ckpt.pt] [--out DIR]
"""

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from tokenizers import Tokenizer

import common

sys.path.insert(0, str(common.REPO / "Scripts" / "fixtures"))
import vl_hub  # noqa: E402

# Greedy by default, as Qwen2-VL-2B-Instruct's generation_config.json (top_k 1) but with the eos list.
GEN = dict(do_sample=True, temperature=0.01, top_p=0.001, top_k=1, repetition_penalty=1.0)


def load_tokenizer():
    from transformers import AutoTokenizer, PreTrainedTokenizerFast
    raw = Tokenizer.from_file(str(common.WORK / "tokenizer.json"))
    fast = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token=None, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", unk_token=None, model_max_length=4096,
                                   clean_up_tokenization_spaces=False, errors="replace", split_special_tokens=False,
                                   add_prefix_space=False)
    tmp = Path(tempfile.mkdtemp())
    fast.save_pretrained(tmp)
    raw.save(str(tmp / "tokenizer.json"), pretty=True)
    cfg = json.loads((tmp / "tokenizer_config.json").read_text())
    cfg["tokenizer_class"] = "Qwen2Tokenizer"
    (tmp / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")
    return AutoTokenizer.from_pretrained(tmp), raw


def make_processor(tok):
    from transformers import Qwen2VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    vl_hub.install_processor_shim()
    ip = Qwen2VLImageProcessorPil(min_pixels=common.MIN_PIXELS, max_pixels=common.MAX_PIXELS)
    return Qwen2VLProcessor(image_processor=ip, tokenizer=tok, video_processor=None,
                            chat_template=vl_hub.QWEN2_VL_TEMPLATE)


def load_trained(ckpt: Path):
    raw = Tokenizer.from_file(str(common.WORK / "tokenizer.json"))
    ids = common.token_ids(raw)
    model = common.build_model(raw.get_vocab_size(), ids)
    state = torch.load(ckpt, weights_only=False)
    model.load_state_dict(state["model"])
    return model.eval(), ids, state["step"]


def export(ckpt: Path, out: Path) -> int:
    from transformers import GenerationConfig
    tok, raw = load_tokenizer()
    processor = make_processor(tok)
    model, ids, step = load_trained(ckpt)
    if out.exists():  # start clean, but keep the model card (README.md), which is written by hand
        for f in out.iterdir():
            if f.name != "README.md":
                shutil.rmtree(f) if f.is_dir() else f.unlink()
    model.generation_config = GenerationConfig(bos_token_id=ids["bos_token_id"], pad_token_id=ids["pad_token_id"],
                                               eos_token_id=[ids["eos_token_id"], ids["bos_token_id"]], **GEN)
    model.to(torch.bfloat16).save_pretrained(out)
    vl_hub.save_processor(processor, out)
    vl_hub.clean_v5(out)
    raw.save(str(out / "tokenizer.json"), pretty=True)  # the trained backend exactly as built
    return step


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", type=Path, default=common.WORK / "ckpt.pt")
    ap.add_argument("--out", type=Path, default=common.ASSET_DIR)
    a = ap.parse_args()
    torch.set_num_threads(1)
    step = export(a.ckpt, a.out)
    print(f"exported step {step} to {a.out}")
    for f in sorted(a.out.iterdir()):
        print(f"  {f.name} {f.stat().st_size}")
