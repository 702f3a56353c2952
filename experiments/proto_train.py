"""Design experiment runner (prototype data from proto_scenes.py, losses from eqvl.losses).

Pre-trains the tiny ModifiedResNet with ITC, then fine-tunes itc / itc+eqsim / itc+ce /
itc+ce+hardpos from the same start with the same data order; prints twin group scores per
subset and triplet orig/aug/joint accuracy. Usage:
  python experiments/proto_train.py --size 48 --n-train 12000 --pre-steps 400 --ft-steps 100
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import open_clip
import torch

sys.path.insert(0, str(Path(__file__).parent))
import proto_scenes as P  # noqa: E402

from eqvl.losses import CombinedLoss, LossBatch, LossSpec, get_loss  # noqa: E402
from eqvl.metrics import equivariance_scores, hardpos_scores, winoground_scores  # noqa: E402

TOK = lambda texts: open_clip.tokenize(texts, context_length=32)
MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)


def to_tensor(imgs: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255.0
    return (x - MEAN) / STD


def make_model(size, width, seed=0):
    cfg = json.loads(Path("src/eqvl/models/configs/eqvl-tiny-rn.json").read_text())
    cfg["vision_cfg"]["image_size"] = size
    cfg["vision_cfg"]["width"] = width
    torch.manual_seed(seed)
    return open_clip.model.CLIP(**cfg)


def encode_text(model, tok, texts):
    return torch.nn.functional.normalize(model.encode_text(tok(texts)), dim=-1)


def train(model, data, loss_spec, steps, batch, lr, seed, warmup=0, log_every=50):
    imgs, caps, negs, poss = data
    terms = {n: get_loss(n)() for n in LossSpec.parse(loss_spec).terms}
    loss_fn = CombinedLoss(terms)
    tok = TOK
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1)
    g = np.random.default_rng(seed)
    order = np.concatenate([g.permutation(len(caps)) for _ in range(steps * batch // len(caps) + 1)])
    model.train()
    hist = []
    t0 = time.time()
    for step in range(steps):
        for pg in opt.param_groups:
            pg["lr"] = lr * min(1.0, (step + 1) / max(1, warmup)) if warmup else lr * 0.5 * (1 + np.cos(np.pi * step / steps))
        idx = order[step * batch:(step + 1) * batch]
        x = to_tensor(imgs[idx])
        img = torch.nn.functional.normalize(model.encode_image(x), dim=-1)
        txt = encode_text(model, tok, [caps[i] for i in idx])
        kw = {}
        if loss_fn.needs_negatives or loss_fn.needs_positives:
            neg = encode_text(model, tok, [negs[i] for i in idx])[:, None]
            kw.update(neg=neg, neg_mask=torch.ones(len(idx), 1, dtype=torch.bool), neg_type=torch.zeros(len(idx), 1, dtype=torch.long))
        if loss_fn.needs_positives:
            pos = encode_text(model, tok, [poss[i] for i in idx])[:, None]
            kw.update(pos=pos, pos_mask=torch.ones(len(idx), 1, dtype=torch.bool))
        b = LossBatch(image=img, text=txt, logit_scale=model.logit_scale.exp().clamp(max=100), step=step, seed=seed, **kw)
        loss, parts = loss_fn(b)
        opt.zero_grad()
        loss.backward()
        opt.step()
        hist.append(float(loss))
        if (step + 1) % log_every == 0:
            print(f"    step {step+1} loss {np.mean(hist[-log_every:]):.3f} {time.time()-t0:.0f}s", flush=True)
    model.eval()
    return hist


@torch.no_grad()
def evaluate(model, tw, tr):
    tok = TOK
    out = {}
    for sub, (I, C) in tw.items():
        n = len(C)
        ie = torch.nn.functional.normalize(model.encode_image(to_tensor(I.reshape(-1, *I.shape[2:]))), dim=-1).view(n, 2, -1)
        te = encode_text(model, tok, [c for pair in C for c in pair]).view(n, 2, -1)
        s = torch.einsum("ncd,nid->nci", te, ie).numpy()
        w = winoground_scores(s)
        eq = equivariance_scores(s)
        out[f"{sub}/group"] = float(w["group"].mean())
        out[f"{sub}/text"] = float(w["text"].mean())
        out[f"{sub}/image"] = float(w["image"].mean())
        out[f"{sub}/eq_img_med"] = float(np.median(eq["image"]))
    for sub, (I, T) in tr.items():
        n = len(T)
        ie = torch.nn.functional.normalize(model.encode_image(to_tensor(I)), dim=-1)
        te = encode_text(model, tok, [c for t in T for c in t]).view(n, 3, -1)
        s = torch.einsum("ncd,nd->nc", te, ie)[:, :, None].numpy()
        h = hardpos_scores(s)
        for k in ("orig_acc", "aug_acc", "joint_acc"):
            out[f"trip_{sub}/{k}"] = float(h[k].mean())
    return out


def fmt(r):
    keys = ["location/group", "counting/group", "attribute/group", "location/eq_img_med",
            "trip_relation/orig_acc", "trip_relation/joint_acc", "trip_binding/orig_acc", "trip_binding/joint_acc"]
    return "  ".join(f"{k}={r[k]*100:.1f}" if "eq_" not in k else f"{k}={r[k]:.3f}" for k in keys)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--n-train", type=int, default=12000)
    ap.add_argument("--pre-steps", type=int, default=400)
    ap.add_argument("--ft-steps", type=int, default=100)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--pre-lr", type=float, default=2e-3)
    ap.add_argument("--ft-lr", type=float, default=5e-4)
    ap.add_argument("--distract", type=int, default=2)
    ap.add_argument("--n-twins", type=int, default=150)
    ap.add_argument("--variants", default="itc,itc+eqsim,itc+ce,itc+ce+hardpos")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--mix", default="relation,count,binding")
    args = ap.parse_args()
    torch.set_num_threads(2)
    print(vars(args), flush=True)
    t0 = time.time()
    data = P.training_set(args.n_train, args.size, 0, tuple(args.mix.split(",")), args.distract)
    tw = P.twins(args.n_twins, args.size, 1, args.distract)
    tr = P.triplets(args.n_twins, args.size, 2, args.distract)
    print(f"data {time.time()-t0:.0f}s", flush=True)
    model = make_model(args.size, args.width)
    train(model, data, "itc", args.pre_steps, args.batch, args.pre_lr, seed=0, warmup=50)
    print(f"PRE  ({time.time()-t0:.0f}s): {fmt(evaluate(model, tw, tr))}", flush=True)
    start = copy.deepcopy(model.state_dict())
    for v in args.variants.split(","):
        for seed in [int(s) for s in args.seeds.split(",")]:
            model.load_state_dict(start)
            train(model, data, v, args.ft_steps, args.batch, args.ft_lr, seed=100 + seed, log_every=args.ft_steps)
            print(f"{v:16s} s{seed} ({time.time()-t0:.0f}s): {fmt(evaluate(model, tw, tr))}", flush=True)


if __name__ == "__main__":
    main()
