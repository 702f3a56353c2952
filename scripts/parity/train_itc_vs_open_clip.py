#!/usr/bin/env python3
"""`eqvl train --loss itc` beside open_clip's own trainer (open_clip_train.train.train_one_epoch):
the same tiny model from the same init, the same batches in the same order, AdamW with open_clip's
parameter groups and cosine schedule — the final weights are compared bit for bit.

What is shared, and why that is fair: eqvl's data pipeline produces the batches (open_clip's
trainer reads whatever (images, texts) loader it is handed), the initial weights are eqvl's
seeded init copied into both models, and the optimizer / scheduler / ClipLoss / clamp are built
the way open_clip_train.main builds them. Everything that makes a training step — forward,
loss, backward, AdamW, logit-scale clamp — runs in each trainer's own code.

Run:  .venv/bin/python scripts/parity/train_itc_vs_open_clip.py [--steps 6] [--batch-size 8]
Exit status 0 when every tensor is bit-identical.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from eqvl.distributed import DistInfo  # noqa: E402
from eqvl.train import TrainConfig, train  # noqa: E402
from eqvl.train.setup import build_data, build_model, param_groups, read_rows, seed_everything  # noqa: E402

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]


def make_data(root: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    lines = ["filepath\ttitle"]
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(root / f"{i}.png")
        lines.append(f"{i}.png\ta {COLOURS[i % 8]} square number {i}")
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    return root / "train.csv"


class Loader:
    """The batches eqvl's pipeline makes, as the (images, texts) pairs open_clip's loop reads."""

    def __init__(self, batches: list[tuple[torch.Tensor, torch.Tensor]], batch_size: int):
        self.batches, self.num_batches, self.num_samples = batches, len(batches), len(batches) * batch_size

    def __iter__(self):
        return iter(self.batches)


def eqvl_batches(cfg: TrainConfig) -> list[tuple[torch.Tensor, torch.Tensor]]:
    from torch.utils.data import DataLoader

    info = DistInfo()
    bundle = build_model(cfg, info)
    probe = cfg.loss_spec.build()
    data = build_data(cfg, info, bundle, probe, cfg.train_data, read_rows(cfg.train_data, cfg), None)
    data.sampler.set_epoch(0, 0)
    loader = DataLoader(data.dataset, batch_sampler=data.sampler, collate_fn=data.collate, num_workers=0)
    return [(b.images, b.tokens) for b in loader]


def open_clip_run(cfg: TrainConfig, init: dict, batches: list, steps: int) -> dict:
    from open_clip.loss import ClipLoss
    from open_clip_train.scheduler import cosine_lr
    from open_clip_train.train import train_one_epoch

    info = DistInfo()
    seed_everything(cfg.seed)
    model = build_model(cfg, info).model
    model.load_state_dict(init)
    model.output_dict = True  # as open_clip_train.main creates it (output_dict=True)
    groups = param_groups(model, cfg.wd)  # open_clip_train.main's exclude rule, re-checked below
    named = dict(model.named_parameters())
    exclude = lambda n, p: p.ndim < 2 or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in n  # noqa: E731
    assert {id(p) for p in groups[0]["params"]} == {id(p) for n, p in named.items() if exclude(n, p)}
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)
    scheduler = cosine_lr(optimizer, cfg.lr, cfg.warmup, steps)
    args = SimpleNamespace(device="cpu", precision="fp32", distill=False, accum_freq=1, skip_scheduler=False,
                           horovod=False, grad_clip_norm=None, log_every_n_steps=10**9, world_size=1, rank=0,
                           local_rank=0, batch_size=cfg.batch_size, wandb=False, save_logs=False)
    data = {"train": SimpleNamespace(dataloader=Loader(batches, cfg.batch_size), set_epoch=lambda e: None)}
    train_one_epoch(model, data, ClipLoss(), 0, optimizer, None, scheduler, None, args)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        csv = make_data(root, args.steps * args.batch_size)
        cfg = TrainConfig(model="eqvl-tiny-rn", pretrained="none", train_data=str(csv), loss="itc", epochs=1,
                          batch_size=args.batch_size, lr=1e-3, warmup=2, wd=0.2, precision="fp32", preload=True,
                          train_augment=False, progress=False, seed=0, output=str(root / "run"), log_every=1)
        cfg.validate()
        seed_everything(cfg.seed)
        init = copy.deepcopy(build_model(cfg, DistInfo()).model.state_dict())
        batches = eqvl_batches(cfg)
        assert len(batches) == args.steps, (len(batches), args.steps)
        reference = open_clip_run(cfg, init, batches, args.steps)
        result = train(cfg)
        ours = torch.load(result.final_checkpoint, map_location="cpu", weights_only=False)["state_dict"]
        ours = {k.removeprefix("module."): v for k, v in ours.items()}
        assert all(torch.equal(init[k], v) for k, v in build_model(cfg, DistInfo()).model.state_dict().items())
    differ = [k for k in reference if not torch.equal(reference[k], ours[k])]
    moved = sum(not torch.equal(init[k], reference[k]) for k in reference)
    worst = max((float((reference[k] - ours[k]).abs().max()) for k in differ), default=0.0)
    print(f"{args.steps} steps, batch {args.batch_size}, eqvl-tiny-rn, fp32, 1 thread: {len(reference)} tensors, "
          f"{moved} changed by training; {len(reference) - len(differ)} bit-identical between eqvl train --loss itc "
          f"and open_clip_train.train_one_epoch" + (f"; {len(differ)} differ (max |diff| {worst:.3g})" if differ else ""))
    print(f"logit scale: open_clip {math.exp(float(reference['logit_scale'])):.6f}, eqvl {math.exp(float(ours['logit_scale'])):.6f}")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
