#!/usr/bin/env python3
"""Train the Squint demo model (a tiny Qwen2-VL) from scratch on procedurally generated pictures.

    /root/fixenv/bin/python Scripts/demo-model/train.py            # both stages, see README.md
    /root/fixenv/bin/python Scripts/demo-model/train.py --resume   # continue after an interruption

Two stages. Stage "vision" trains only the vision tower and merger, on auxiliary per-token targets
(what colour and shape covers each vision token, whether a shape's centre lies in it, which characters
are written over it). Stage "chat" trains the whole model on the conversations (loss on the replies)
plus auxiliary targets that are dropped at export: at the vision tokens, after LLM layer AUX_LAYER,
the 3x3 cell the token lies in and what it shows; at <|vision_end|>, how many shapes (of each kind)
the picture has and the written word. Why: a tiny model trained on replies alone ignored the picture
for 1000+ steps and never learned where things are (README.md, "Second attempt"); the auxiliary
targets give the vision path and the position read-out a direct gradient from the first step.

Every batch is generated from seed (SEED, stage, step), so a resumed run sees the same data as an
uninterrupted one. Writes Scripts/demo-model/work/{tokenizer.json, ckpt.pt, train.log}.
"""

import argparse
import math
import os
import time

import torch
import torch.nn.functional as F

import common
import scenes

SEED = 20251125
N_COLOURS = len(scenes.COLOURS) + 1
N_KINDS = len(scenes.SHAPES) + 1
N_CHARS = len(scenes.CHARS) + 1
MAX_COUNT = 6  # counts 0-5


class AuxHeads(torch.nn.Module):
    """Linear read-outs for the auxiliary targets (not part of the exported model)."""

    def __init__(self, d: int):
        super().__init__()
        L = torch.nn.Linear
        self.v_colour, self.v_kind, self.v_centre, self.v_text = L(d, N_COLOURS), L(d, N_KINDS), L(d, 2), L(d, 2)
        self.v_chars = L(d, scenes.MAX_CHARS * N_CHARS)
        self.t_cell, self.t_colour, self.t_kind, self.t_centre = L(d, 9), L(d, N_COLOURS), L(d, N_KINDS), L(d, 2)
        self.e_count = L(d, MAX_COUNT)
        self.e_kind_count = L(d, len(scenes.SHAPES) * MAX_COUNT)
        self.e_word = L(d, scenes.MAX_CHARS * N_CHARS)


class QAHeads(torch.nn.Module):
    """Read-outs at the positions that predict a reply: after layer QA_ASK_LAYER what the question asks
    about (the shape kind or colour it names), after QA_FACT_LAYER the fact the reply states. They give
    the two hops of an answer (find what was asked in the question; find it among the vision tokens) a
    gradient each, instead of only the product of both through the reply's one key token."""

    def __init__(self, d: int):
        super().__init__()
        L = torch.nn.Linear
        self.asked_kind, self.asked_colour = L(d, N_KINDS), L(d, N_COLOURS)
        self.colour, self.kind, self.cell, self.count = L(d, N_COLOURS), L(d, N_KINDS), L(d, 9), L(d, MAX_COUNT)
        self.chars = L(d, scenes.MAX_CHARS * N_CHARS)


QA_ASK_LAYER, QA_FACT_LAYER = 2, 4


def qa_aux(heads, hidden_states, aux):
    ask, fact = hidden_states[QA_ASK_LAYER], hidden_states[QA_FACT_LAYER]

    def ce(layer, head, target, classes=None):
        keep = target != -100
        if not keep.any():
            return layer.sum() * 0
        logits = head(layer[keep]) if classes is None else head(layer[keep.any(-1)]).view(-1, classes)
        return F.cross_entropy(logits, target[keep] if classes is None else target[keep.any(-1)].reshape(-1))

    return {"q_asked_kind": ce(ask, heads.asked_kind, aux["qa_asked_kind"]),
            "q_asked_colour": ce(ask, heads.asked_colour, aux["qa_asked_colour"]),
            "q_colour": ce(fact, heads.colour, aux["qa_colour"]),
            "q_kind": ce(fact, heads.kind, aux["qa_kind"]),
            "q_cell": ce(fact, heads.cell, aux["qa_cell"]),
            "q_count": ce(fact, heads.count, aux["qa_count"]),
            "q_chars": ce(fact, heads.chars, aux["qa_chars"], N_CHARS)}


def vision_aux(heads, feats, aux):
    """Losses of the per-token vision targets on the merger output feats (N*36, d)."""
    chars = heads.v_chars(feats).view(-1, scenes.MAX_CHARS, N_CHARS)
    on_text = aux["text"].bool()
    char_loss = (F.cross_entropy(chars[on_text].reshape(-1, N_CHARS), aux["chars"][on_text].reshape(-1))
                 if on_text.any() else feats.sum() * 0)
    return {"v_colour": F.cross_entropy(heads.v_colour(feats), aux["colour"]),
            "v_kind": F.cross_entropy(heads.v_kind(feats), aux["kind"]),
            "v_centre": F.cross_entropy(heads.v_centre(feats), aux["centre"]),
            "v_text": F.cross_entropy(heads.v_text(feats), aux["text"]),
            "v_chars": char_loss}


def text_aux(heads, hidden, batch, aux, ids):
    """Losses of the targets at the vision tokens and at <|vision_end|> after LLM layer AUX_LAYER.
    Only the first image of each conversation exists, so the image tokens come in picture order."""
    inp = batch["input_ids"]
    img = hidden[inp == ids["image_token_id"]]  # (N*36, d), row-major per picture
    end = hidden[inp == ids["vision_end_token_id"]]  # (N, d)
    kc = heads.e_kind_count(end).view(-1, MAX_COUNT)
    word = heads.e_word(end).view(-1, N_CHARS)
    return {"t_cell": F.cross_entropy(heads.t_cell(img), aux["cell"]),
            "t_colour": F.cross_entropy(heads.t_colour(img), aux["colour"]),
            "t_kind": F.cross_entropy(heads.t_kind(img), aux["kind"]),
            "t_centre": F.cross_entropy(heads.t_centre(img), aux["centre"]),
            "e_count": F.cross_entropy(heads.e_count(end), aux["count"]),
            "e_kind_count": F.cross_entropy(kc, aux["kind_count"].reshape(-1)),
            "e_word": F.cross_entropy(word, aux["word"].reshape(-1))}


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vision-steps", type=int, default=400)
    ap.add_argument("--steps", type=int, default=3000, help="chat-stage steps")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--vision-batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--vision-lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--aux-weight", type=float, default=0.3)
    ap.add_argument("--qa-aux-from", type=int, default=0, help="chat step from which the QAHeads targets count")
    ap.add_argument("--focus-from", type=int, default=10**9,
                    help="chat step from which reading and how-many-X questions are asked twice as often")
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--stop-at", type=int, default=0, help="stop (after checkpointing) at this chat step")
    ap.add_argument("--bench", type=int, default=0, help="time this many steps of each stage and exit")
    # One thread: on a 2-core machine shared with other work, two OpenMP threads spend most of their
    # time waiting for each other (measured 3x slower per step than one thread under load).
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    common.WORK.mkdir(exist_ok=True)
    tok_path = common.WORK / "tokenizer.json"
    if tok_path.exists():
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(str(tok_path))
    else:
        tok = common.train_tokenizer(SEED)
        tok.save(str(tok_path), pretty=True)
    ids = common.token_ids(tok)
    model = common.build_model(tok.get_vocab_size(), ids)
    d = model.config.text_config.hidden_size
    heads = AuxHeads(d)
    params = list(model.named_parameters()) + [("aux." + n, p) for n, p in heads.named_parameters()]
    decay = [p for n, p in params if p.ndim >= 2]
    no_decay = [p for n, p in params if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-8)
    # Made after everything else (same torch RNG draws before it, with or without these heads) and in a
    # parameter group of its own; until --qa-aux-from they get no gradient, which AdamW skips entirely.
    qa_heads = QAHeads(d)
    qa_group = {"params": list(qa_heads.parameters()), "weight_decay": 0.0}
    stage, step = "vision", 0
    ckpt_path = common.WORK / "ckpt.pt"
    if args.resume and ckpt_path.exists():
        state = torch.load(ckpt_path, weights_only=False)
        model.load_state_dict(state["model"])
        heads.load_state_dict(state["heads"])
        if "opt" in state:  # written before the QA heads existed: two parameter groups
            opt.load_state_dict(state["opt"])
        if "qa_heads" in state:
            qa_heads.load_state_dict(state["qa_heads"])
        stage, step = state["stage"], state["step"]
    if len(opt.param_groups) == 2:
        opt.add_param_group(qa_group)
    if args.resume and ckpt_path.exists() and "qa_opt" in state:
        opt.load_state_dict(state["qa_opt"])
    log = open(common.WORK / "train.log", "a")
    visual = model.model.visual
    captured = {}
    visual.register_forward_hook(lambda m, i, o: captured.__setitem__("feats", o.pooler_output))
    t0 = time.time()
    ema = None

    def save():
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "heads": heads.state_dict(), "qa_heads": qa_heads.state_dict(),
                    "qa_opt": opt.state_dict(), "stage": stage, "step": step, "args": vars(args)}, tmp)
        os.replace(tmp, ckpt_path)

    def report(loss, parts, lr):
        nonlocal ema
        ema = loss if ema is None else 0.95 * ema + 0.05 * loss
        detail = " ".join(f"{k} {v:.3f}" for k, v in parts.items())
        line = f"{stage} step {step} loss {loss:.4f} ema {ema:.4f} lr {lr:.2e} elapsed {time.time() - t0:.0f}s | {detail}"
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    model.train()
    if stage == "vision":
        end = args.bench or args.vision_steps
        while step < end:
            batch, aux = common.make_batch(tok, ids, SEED * 1000 + 500_000 + step, args.vision_batch)
            lr = lr_at(step, args.vision_steps, args.vision_lr, 50)
            for g in opt.param_groups:
                g["lr"] = lr
            feats = visual(batch["pixel_values"], grid_thw=batch["image_grid_thw"]).pooler_output
            parts = vision_aux(heads, feats, aux)
            loss = sum(parts.values())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(model.parameters()) + list(heads.parameters()), 1.0)
            opt.step()
            step += 1
            if step % 10 == 0 or args.bench:
                report(loss.item(), {k: v.item() for k, v in parts.items()}, lr)
            if not args.bench and step % args.ckpt_every == 0:
                save()
        stage, step = "chat", 0
        opt.state.clear()  # fresh moments for the whole model
        if not args.bench:
            save()
    end = args.bench or args.stop_at or args.steps
    while step < end:
        weights = (dict(common.KIND_WEIGHTS, read=2 * common.KIND_WEIGHTS["read"],
                        count_kind=2 * common.KIND_WEIGHTS["count_kind"]) if step >= args.focus_from else None)
        batch, aux = common.make_batch(tok, ids, SEED * 1000 + step, args.batch, weights=weights)
        lr = lr_at(step, args.steps, args.lr, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        out = model(**batch, output_hidden_states=True)
        parts = vision_aux(heads, captured["feats"], aux)
        parts.update(text_aux(heads, out.hidden_states[common.AUX_LAYER], batch, aux, ids))
        if step >= args.qa_aux_from:
            parts.update(qa_aux(qa_heads, out.hidden_states, aux))
        aux_loss = sum(parts.values())
        loss = out.loss + args.aux_weight * aux_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(model.parameters()) + list(heads.parameters())
                                       + list(qa_heads.parameters()), 1.0)
        opt.step()
        step += 1
        if step % 10 == 0 or args.bench:
            report(loss.item(), {"lm": out.loss.item(), **{k: v.item() for k, v in parts.items()}}, lr)
        if not args.bench and (step % args.ckpt_every == 0 or step == end):
            save()


if __name__ == "__main__":
    main()
