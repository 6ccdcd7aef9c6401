"""Shared pieces of the demo-model scripts: tokenizer training, the model config, the chat layout and
the pixel patchifier used while training (checked against transformers' processor in check.py)."""

import json
import re
from pathlib import Path

import numpy as np
import torch
from tokenizers import AddedToken, Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

import qa
import scenes

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
WORK = HERE / "work"  # checkpoints and logs (git-ignored)
ASSET_DIR = REPO / "Assets" / "demo-model"

SYSTEM = "You are a helpful assistant."
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
            "<|image_pad|>", "<|video_pad|>"]
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
BPE_VOCAB = 1500
PATCH = 14
MERGE = 2
N_IMAGE_TOKENS = (scenes.SIZE // PATCH) ** 2 // MERGE ** 2
MIN_PIXELS = 56 * 56
MAX_PIXELS = scenes.SIZE * scenes.SIZE  # any picture is scaled to at most 25 vision tokens, as in training
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

KIND_WEIGHTS = {"describe": 0.12, "colour": 0.16, "shape": 0.14, "count": 0.12, "count_kind": 0.14,
                "position": 0.16, "read": 0.16}


def conversation(rng, scene, turns: int):
    """A list of (question, answer, kind, zh) for one picture; language fixed per conversation mostly."""
    out = []
    kinds = list(KIND_WEIGHTS)
    probs = np.array([KIND_WEIGHTS[k] for k in kinds])
    zh = rng.random() < 0.4
    tries = 0
    while len(out) < turns and tries < 20:
        tries += 1
        kind = kinds[int(rng.choice(len(kinds), p=probs / probs.sum()))]
        if kind == "read" and scene.word is None and rng.random() < 0.6:
            continue
        got = qa.make_qa(scene, kind, zh if rng.random() < 0.85 else not zh, rng)
        if got is None:
            continue
        out.append((got[0], got[1], kind, got[2]))
    return out


def prompt_text(question: str, first: bool) -> str:
    """The Qwen2-VL chat template's text for one user turn (first turn: system prompt and the image)."""
    head = f"<|im_start|>system\n{SYSTEM}<|im_end|>\n" if first else ""
    image = "<|vision_start|><|image_pad|><|vision_end|>" if first else ""
    return f"{head}<|im_start|>user\n{image}{question}<|im_end|>\n<|im_start|>assistant\n"


def corpus(n: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        scene = scenes.sample_scene(rng)
        for i, (q, a, _, _) in enumerate(conversation(rng, scene, int(rng.integers(1, 4)))):
            yield prompt_text(q, i == 0) + a + "<|im_end|>\n"


def train_tokenizer(seed: int) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    # Special tokens are stripped from the training text: they are added after the learned vocabulary.
    # Chinese has no spaces, so the pre-tokenizer keeps a whole clause as one word and BPE on this
    # template-made corpus would learn tokens like "三角形在右边中间" (shape and position in one
    # token, each combination to be learned apart). A newline between Chinese characters in the
    # training text (never at inference) keeps every merge inside one character.
    texts = []
    for t in corpus(30000, seed):
        for s in SPECIALS:
            t = t.replace(s, "\n")
        texts.append(re.sub(r"(?<=[\u4e00-\u9fff])(?=[\u4e00-\u9fff])", "\n", t))
    tok.train_from_iterator(texts, trainer=trainer)
    spec = json.loads(tok.to_str())
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    spec["post_processor"] = dict(byte_level)
    spec["decoder"] = dict(byte_level)
    model = spec["model"]
    model.update({"dropout": None, "unk_token": None, "fuse_unk": False, "byte_fallback": False,
                  "continuing_subword_prefix": "", "end_of_word_suffix": "", "ignore_merges": False})
    tok = Tokenizer.from_str(json.dumps(spec))
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    return tok


def token_ids(tok: Tokenizer) -> dict:
    i = tok.token_to_id
    return dict(image_token_id=i("<|image_pad|>"), video_token_id=i("<|video_pad|>"),
                vision_start_token_id=i("<|vision_start|>"), vision_end_token_id=i("<|vision_end|>"),
                bos_token_id=i("<|endoftext|>"), eos_token_id=i("<|im_end|>"), pad_token_id=i("<|endoftext|>"))


def build_model(vocab_size: int, ids: dict):
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration
    text = dict(vocab_size=vocab_size, hidden_size=192, intermediate_size=512, num_hidden_layers=4,
                num_attention_heads=3, num_key_value_heads=1, rms_norm_eps=1e-6, hidden_act="silu",
                initializer_range=0.02, use_sliding_window=False, attention_dropout=0.0, max_window_layers=4,
                max_position_embeddings=4096,
                # head_dim 64 -> 32 rotary pairs, split t/h/w like Qwen2-VL's [16, 24, 24] for head_dim 128
                rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [8, 12, 12]},
                bos_token_id=ids["bos_token_id"], eos_token_id=ids["eos_token_id"], pad_token_id=ids["pad_token_id"])
    vision = dict(depth=4, embed_dim=96, num_heads=3, mlp_ratio=4, hidden_act="quick_gelu", hidden_size=192,
                  patch_size=PATCH, spatial_merge_size=MERGE, temporal_patch_size=2, in_channels=3)
    tokens = {k: ids[k] for k in ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")}
    cfg = Qwen2VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True, **tokens)
    return Qwen2VLForConditionalGeneration._from_config(cfg, attn_implementation="sdpa")


def patchify(img) -> np.ndarray:
    """pixel_values of a SIZE x SIZE RGB picture exactly as Qwen2VLImageProcessorPil computes them
    (no resize needed: SIZE is a multiple of 28 inside the pixel limits)."""
    x = (np.asarray(img, dtype=np.uint8) * np.float64(1 / 255)).astype(np.float32)
    x = (x - np.array(CLIP_MEAN, dtype=np.float32)) / np.array(CLIP_STD, dtype=np.float32)
    g = scenes.SIZE // PATCH
    x = x.transpose(2, 0, 1)  # C H W
    x = np.stack([x, x], axis=1)  # C T H W (two identical frames)
    x = x.reshape(3, 2, g // MERGE, MERGE, PATCH, g // MERGE, MERGE, PATCH)
    # -> bh bw mh mw C T ph pw
    x = x.transpose(2, 5, 3, 6, 0, 1, 4, 7)
    return np.ascontiguousarray(x.reshape(g * g, 3 * 2 * PATCH * PATCH))


def encode_conversation(tok: Tokenizer, turns, ids: dict):
    """input ids (image pads expanded) and labels (-100 outside the assistant replies)."""
    input_ids, labels = [], []
    for i, (q, a, _, _) in enumerate(turns):
        p = tok.encode(prompt_text(q, i == 0)).ids
        if i == 0:
            at = p.index(ids["image_token_id"])
            p = p[:at] + [ids["image_token_id"]] * N_IMAGE_TOKENS + p[at + 1:]
        r = tok.encode(a + "<|im_end|>").ids
        nl = tok.encode("\n").ids
        input_ids += p + r + nl
        labels += [-100] * len(p) + r + [-100] * len(nl)
    return input_ids, labels


def max_shapes_at(step: int) -> int:
    """Curriculum: pictures with one or two shapes first, so the vision path is learned on questions
    answerable by looking at a single object; then up to five (from step 900 on)."""
    return min(5, 2 + step // 300)


def make_batch(tok, ids, seed: int, batch: int, max_turns: int = 5, max_shapes: int = 5):
    rng = np.random.default_rng(seed)
    seqs, pix = [], []
    for _ in range(batch):
        scene = scenes.sample_scene(rng, max_shapes)
        img = scenes.render(scene, rng)
        turns = conversation(rng, scene, int(rng.integers(2, max_turns + 1)))
        seqs.append(encode_conversation(tok, turns, ids))
        pix.append(patchify(img))
    L = max(len(s[0]) for s in seqs)
    inp = torch.full((batch, L), ids["pad_token_id"], dtype=torch.long)
    lab = torch.full((batch, L), -100, dtype=torch.long)
    att = torch.zeros((batch, L), dtype=torch.long)
    for b, (s, l) in enumerate(seqs):
        inp[b, :len(s)] = torch.tensor(s)
        lab[b, :len(l)] = torch.tensor(l)
        att[b, :len(s)] = 1
    g = scenes.SIZE // PATCH
    return dict(input_ids=inp, labels=lab, attention_mask=att,
                mm_token_type_ids=(inp == ids["image_token_id"]).long(),
                pixel_values=torch.from_numpy(np.concatenate(pix)),
                image_grid_thw=torch.tensor([[1, g, g]] * batch))
