"""A few training pairs kept aside to check, before each checkpoint, that the model still scores finitely.

Why: finite weights are not enough. A run whose BatchNorm running variance blew up to 1e26 has finite
weights, trains on (batch statistics) and saves, yet every score of the saved model in eval mode is NaN,
and `eqvl eval` then blames the encoder. The probe runs the model as eval will (eval mode, no grad).
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable

import torch

#: pairs kept from the run's first batch
PROBE_PAIRS = 4


class Probe:
    """Images and caption tokens of the first batch; `problem(model)` says what is non-finite, or None."""

    def __init__(self) -> None:
        self.images: torch.Tensor | None = None
        self.tokens: torch.Tensor | None = None

    def capture(self, batch: Any) -> None:
        if self.images is None:
            m = min(PROBE_PAIRS, batch.n)
            self.images, self.tokens = batch.images[:m].detach().clone(), batch.tokens[:m].detach().clone()

    def problem(self, model: torch.nn.Module, autocast: Callable = contextlib.nullcontext) -> str | None:
        if self.images is None:
            return None
        modes = [(m, m.training) for m in model.modules()]
        model.eval()
        try:
            with torch.no_grad(), autocast():
                out = model(self.images, self.tokens)
        finally:
            for module, mode in modes:
                module.training = mode
        img, txt = (out["image_features"], out["text_features"]) if isinstance(out, dict) else (out[0], out[1])
        scores = img.float() @ txt.float().T
        if bool(torch.isfinite(scores).all()):
            return None
        return (f"its scores on {len(self.images)} training pairs in eval mode are not finite"
                + _largest_buffer(model))


def _largest_buffer(model: torch.nn.Module) -> str:
    """Where the largest running statistic is, when one is absurd (the usual cause)."""
    worst, name = 0.0, ""
    for n, b in model.named_buffers():
        if b.is_floating_point() and b.numel():
            value = float(b.detach().abs().max())
            if not math.isfinite(value):
                return f" (buffer {n} is {value})"
            if value > worst:
                worst, name = value, n
    return f" (buffer {name} reaches {worst:.3g})" if worst > 1e6 else ""
