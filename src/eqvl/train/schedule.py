"""Learning rate as a pure function of the step: linear warmup then cosine to zero (open_clip's
`cosine_lr`). Stateless, so a resumed run needs nothing but the step number."""

from __future__ import annotations

import math

import torch


def cosine_lr(step: int, base_lr: float, warmup: int, total: int) -> float:
    if step < warmup:
        return base_lr * (step + 1) / warmup
    span = max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(step - warmup, span) / span)) * base_lr


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
