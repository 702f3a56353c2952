"""Learning rate as a pure function of the step: linear warmup, then open_clip's cosine (to zero),
constant, or constant with a final cooldown (`--lr-scheduler`). Stateless, so a resumed run needs nothing but the step number."""

from __future__ import annotations

import math
from typing import Any

import torch


def cosine_lr(step: int, base_lr: float, warmup: int, total: int) -> float:
    if step < warmup:
        return base_lr * (step + 1) / warmup
    span = max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(step - warmup, span) / span)) * base_lr


def const_lr(step: int, base_lr: float, warmup: int) -> float:
    return base_lr * (step + 1) / warmup if step < warmup else base_lr


def const_cooldown_lr(step: int, base_lr: float, warmup: int, total: int, cooldown: int, power: float = 1.0,
                      end_lr: float = 0.0) -> float:
    """Constant after the warmup, then (1 - progress) ** power from `base_lr` to `end_lr` over the last
    `cooldown` steps (open_clip's `const_lr_cooldown`)."""
    start = total - cooldown
    if step < warmup or step < start:
        return const_lr(step, base_lr, warmup)
    return (1 - (step - start) / max(1, total - start)) ** power * (base_lr - end_lr) + end_lr


def scheduled_lr(cfg: Any, step: int, total: int, steps_per_epoch: int) -> float:
    """The learning rate of `step` under `cfg.lr_scheduler` (cosine, const, const-cooldown), as open_clip."""
    if cfg.lr_scheduler == "const":
        return const_lr(step, cfg.lr, cfg.warmup)
    if cfg.lr_scheduler == "const-cooldown":
        return const_cooldown_lr(step, cfg.lr, cfg.warmup, total, steps_per_epoch * cfg.epochs_cooldown,
                                 cfg.lr_cooldown_power, cfg.lr_cooldown_end)
    return cosine_lr(step, cfg.lr, cfg.warmup, total)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
