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
MAX_PIXELS = scenes.SIZE * scenes.SIZE  # any picture is scaled to at most 36 vision tokens, as in training
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

KIND_WEIGHTS = {"describe": 0.12, "colour": 0.16, "shape": 0.14, "count": 0.12, "count_kind": 0.14,
                "position": 0.16, "read": 0.16}


def conversation(rng, scene, turns: int, only=None, weights=None):
    """A list of (question, answer, kind, zh) for one picture; language fixed per conversation mostly.
    only: the question kinds to draw from (default: all, with KIND_WEIGHTS)."""
    out = []
    weights = weights or KIND_WEIGHTS
    kinds = list(only or weights)
    probs = np.array([weights[k] for k in kinds])
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


TEXT_LAYERS = 5
AUX_LAYER = 3  # the LLM layer whose output at the vision tokens is given auxiliary targets (see train.py)


def build_model(vocab_size: int, ids: dict):
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration
    text = dict(vocab_size=vocab_size, hidden_size=192, intermediate_size=512, num_hidden_layers=TEXT_LAYERS,
                num_attention_heads=3, num_key_value_heads=1, rms_norm_eps=1e-6, hidden_act="silu",
                initializer_range=0.02, use_sliding_window=False, attention_dropout=0.0,
                max_window_layers=TEXT_LAYERS, max_position_embeddings=4096,
                # head_dim 64 -> 32 rotary pairs, split t/h/w like Qwen2-VL's [16, 24, 24] for head_dim 128.
                # theta 1000 (not Qwen2-VL's 1e6): the h/w pairs then turn by 0.01-0.2 rad per row or
                # column of the 6x6 vision grid, enough for the model to tell the cells apart.
                rope_parameters={"rope_type": "default", "rope_theta": 1000.0, "mrope_section": [8, 12, 12]},
                bos_token_id=ids["bos_token_id"], eos_token_id=ids["eos_token_id"], pad_token_id=ids["pad_token_id"])
    vision = dict(depth=4, embed_dim=128, num_heads=4, mlp_ratio=4, hidden_act="quick_gelu", hidden_size=192,
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


QA_TARGETS = ["asked_kind", "asked_colour", "colour", "kind", "cell", "count", "chars"]


def turn_targets(question: str, kind: str, truth) -> dict:
    """Auxiliary targets of one question turn (train.py): what the question asks about (the shape kind or
    colour it names, index + 1) and the fact the reply states (colour / kind / cell / count / the word's
    characters); -100 where it does not apply."""
    t = {k: -100 for k in QA_TARGETS}
    t["chars"] = [-100] * scenes.MAX_CHARS
    names = lambda table: [i for i, n in enumerate(table) if n in question]
    kinds = [i for i, s in enumerate(scenes.SHAPES) if s in question or qa.ZH_SHAPE[s] in question]
    colours = [i for i, c in enumerate(scenes.COLOURS) if c in question or qa.ZH_COLOUR[c] in question]
    if kind in ("colour", "position", "count_kind") and len(kinds) == 1:
        t["asked_kind"] = kinds[0] + 1
    if kind == "shape" and len(colours) == 1:
        t["asked_colour"] = colours[0] + 1
    if kind == "colour":
        t["colour"] = list(scenes.COLOURS).index(truth) + 1
    elif kind == "shape":
        t["kind"] = scenes.SHAPES.index(truth) + 1
    elif kind == "position":
        t["cell"] = scenes.POSITIONS.index(truth)
    elif kind in ("count", "count_kind"):
        t["count"] = int(truth)
    elif kind == "read":
        w = [scenes.CHARS.index(c) + 1 for c in (truth or "")][:scenes.MAX_CHARS]
        t["chars"] = w + [0] * (scenes.MAX_CHARS - len(w))
    return t


def qa_targets(turns, labels) -> dict:
    """Per-position targets: at every position whose next token is a reply token (the positions that
    predict the reply), the targets of that reply's question."""
    L = len(labels)
    out = {k: np.full((L, scenes.MAX_CHARS) if k == "chars" else L, -100, np.int64) for k in QA_TARGETS}
    turn = -1
    inside = False
    for p in range(L - 1):
        if labels[p + 1] != -100:
            if not inside:
                turn += 1
                inside = True
                t = turn_targets(turns[turn][0], turns[turn][2], turns[turn][3])
            for k in QA_TARGETS:
                out[k][p] = t[k]
        else:
            inside = False
    return out


def make_batch(tok, ids, seed: int, batch: int, max_turns: int = 5, max_shapes: int = 5, kinds=None, weights=None,
               scene_kw=None):
    """A training batch and its auxiliary targets (scenes.TokenLabels per picture, stacked, plus the
    scene-level counts and word). scene_kw: extra arguments of scenes.sample_scene."""
    rng = np.random.default_rng(seed)
    seqs, pix, labs, counts, kind_counts, words, qas = [], [], [], [], [], [], []
    for _ in range(batch):
        scene = scenes.sample_scene(rng, max_shapes, **(scene_kw or {}))
        img, tl = scenes.render(scene, rng, labels=True)
        turns = conversation(rng, scene, int(rng.integers(2, max_turns + 1)), kinds, weights)
        seqs.append(encode_conversation(tok, turns, ids))
        qas.append(qa_targets(turns, seqs[-1][1]))
        pix.append(patchify(img))
        labs.append(tl)
        counts.append(len(scene.shapes))
        kind_counts.append([sum(s.kind == k for s in scene.shapes) for k in scenes.SHAPES])
        w = [scenes.CHARS.index(c) + 1 for c in (scene.word or "")][:scenes.MAX_CHARS]
        words.append(w + [0] * (scenes.MAX_CHARS - len(w)))
    L = max(len(s[0]) for s in seqs)
    inp = torch.full((batch, L), ids["pad_token_id"], dtype=torch.long)
    lab = torch.full((batch, L), -100, dtype=torch.long)
    att = torch.zeros((batch, L), dtype=torch.long)
    for b, (s, l) in enumerate(seqs):
        inp[b, :len(s)] = torch.tensor(s)
        lab[b, :len(l)] = torch.tensor(l)
        att[b, :len(s)] = 1
    qa_t = {}
    for k in QA_TARGETS:
        full = torch.full((batch, L, scenes.MAX_CHARS) if k == "chars" else (batch, L), -100, dtype=torch.long)
        for b, q in enumerate(qas):
            full[b, :len(q[k])] = torch.from_numpy(q[k])
        qa_t["qa_" + k] = full
    g = scenes.SIZE // PATCH
    stack = lambda name: torch.from_numpy(np.concatenate([getattr(t, name) for t in labs]))
    aux = dict(colour=stack("colour"), kind=stack("kind"), centre=stack("centre"), text=stack("text"),
               chars=stack("chars"), cell=stack("cell"), count=torch.tensor(counts),
               kind_count=torch.tensor(kind_counts), word=torch.tensor(words), **qa_t)
    return dict(input_ids=inp, labels=lab, attention_mask=att,
                mm_token_type_ids=(inp == ids["image_token_id"]).long(),
                pixel_values=torch.from_numpy(np.concatenate(pix)),
                image_grid_thw=torch.tensor([[1, g, g]] * batch)), aux
