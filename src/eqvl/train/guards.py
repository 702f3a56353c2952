"""Never train on, or save, a non-finite number.

Every step's loss terms and gradient norm are checked before the optimiser update; a bad step
stops the run with one line naming the step and the term, or, with `--skip-nonfinite N`, is
skipped (gradients dropped, the batch consumed) up to N times, as large-scale trainers do.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch

from eqvl.errors import EqvlError


def first_nonfinite(named: Iterable[tuple[str, torch.Tensor]]) -> str | None:
    """The name of the first floating tensor holding a NaN or infinity, else None."""
    for name, t in named:
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return name
    return None


def grad_norm(params: list[torch.nn.Parameter], clip: float | None) -> torch.Tensor:
    """Total gradient 2-norm (clipped to `clip` when set, as open_clip's --grad-clip-norm)."""
    if clip:
        return torch.nn.utils.clip_grad_norm_(params, clip)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


class NonFiniteGuard:
    """Counts skipped steps against --skip-nonfinite and words the error when the budget is spent."""

    def __init__(self, limit: int):
        self.limit, self.skipped = limit, 0

    def problem(self, parts: dict[str, torch.Tensor], norm: torch.Tensor | None) -> str | None:
        """What is non-finite in this step on this rank (a loss term, else the gradient); None if nothing.
        One device sync in the common case; callers agree across ranks (`distributed.any_rank`)."""
        values = [v.detach().float().reshape(()) if isinstance(v, torch.Tensor) else torch.tensor(float(v))
                  for v in parts.values()]
        if norm is not None:
            values.append(norm.detach().float().reshape(()).to(values[0].device))
        if bool(torch.isfinite(torch.stack(values)).all()):
            return None
        terms = [n for n in parts if n != "loss"] + ["loss"]
        bad = next((n for n in terms if not math.isfinite(float(parts[n]))), None)
        if bad is not None:
            return f"loss term {bad} = {float(parts[bad])}" + (f" (loss {float(parts['loss'])})" if bad != "loss" else "")
        assert norm is not None, "every term is finite, so the non-finite value was the gradient norm"
        return f"gradient norm = {float(norm)} (loss {float(parts['loss']):.4g})"

    def allow(self, step: int, what: str) -> None:
        """Count a skipped step, or stop the run when the budget of `skip_nonfinite` is spent."""
        if self.skipped < self.limit:
            self.skipped += 1
            return
        already = f"; {self.skipped} earlier step(s) were skipped (`skip_nonfinite` {self.limit})" if self.limit else ""
        raise EqvlError(f"step {step}: non-finite {what}; stopped before the update, no checkpoint holds it{already}. "
                        "Lower `lr`, set `grad_clip_norm`, check the data, or pass `skip_nonfinite` N to skip "
                        "up to N such steps", params=("lr", "grad_clip_norm", "skip_nonfinite"))


class BufferSnapshot:
    """The model's buffers (BatchNorm running statistics and counters) before a step's forward passes.

    Why: a skipped step (--skip-nonfinite) drops its gradients, but its forward passes already moved the
    BatchNorm running statistics towards the bad batch; restored here, a skipped step changes nothing."""

    def __init__(self, model: torch.nn.Module):
        self.saved = [(b, b.detach().clone()) for b in model.buffers()]

    def restore(self) -> None:
        with torch.no_grad():
            for live, saved in self.saved:
                live.copy_(saved)
