#!/usr/bin/env python3
"""Train the Squint demo model (a tiny Qwen2-VL) from scratch on procedurally generated pictures.

    /root/fixenv/bin/python Scripts/demo-model/train.py            # ~75 min on 2 CPU cores
    /root/fixenv/bin/python Scripts/demo-model/train.py --resume   # continue after an interruption

Every batch is generated from seed (SEED, step), so a resumed run sees the same data as an
uninterrupted one. Writes Scripts/demo-model/work/{tokenizer.json, ckpt.pt, train.log}.
"""

import argparse
import math
import os
import time

import torch

import common

SEED = 20251125


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2200)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--stop-at", type=int, default=0, help="stop (after checkpointing) at this step")
    ap.add_argument("--bench", type=int, default=0, help="time this many steps and exit")
    ap.add_argument("--bf16", action="store_true", help="bfloat16 autocast for the matmuls")
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
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-8)
    step = 0
    ckpt_path = common.WORK / "ckpt.pt"
    if args.resume and ckpt_path.exists():
        state = torch.load(ckpt_path, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
    log = open(common.WORK / "train.log", "a")
    model.train()
    t0 = time.time()
    ema = None
    end = args.bench if args.bench else (args.stop_at or args.steps)
    while step < end:
        batch = common.make_batch(tok, ids, SEED * 1000 + step, args.batch, max_shapes=common.max_shapes_at(step))
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr, args.warmup)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            out = model(**batch)
        loss = out.loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % 10 == 0 or args.bench:
            line = f"step {step} loss {loss.item():.4f} ema {ema:.4f} lr {opt.param_groups[0]['lr']:.2e} " \
                   f"elapsed {time.time() - t0:.0f}s"
            print(line, flush=True)
            log.write(line + "\n")
            log.flush()
        if not args.bench and (step % args.ckpt_every == 0 or step == end):
            tmp = ckpt_path.with_suffix(".tmp")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "args": vars(args)}, tmp)
            os.replace(tmp, ckpt_path)


if __name__ == "__main__":
    main()
