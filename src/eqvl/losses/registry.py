"""Loss registry and the `+` combiner.

A loss *term* is an ``nn.Module`` whose ``forward(batch: LossBatch)`` returns a list of
``(part_name, raw_value, weight)``. Keeping raw value and weight apart lets the trainer log
every part unweighted while optimising ``sum(weight * raw)``. Adding a loss = one file with
``@register_loss("name")`` plus its module name in ``LOSSES`` (see `eqvl.registry`).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from eqvl.errors import EqvlError
from eqvl.losses.batch import LossBatch
from eqvl.registry import Registry

Part = tuple[str, torch.Tensor, float]


class LossTerm(nn.Module):
    """Base class: one named term of the training objective."""

    #: the batch must carry hard-negative captions for this term
    needs_negatives: bool = False
    #: the batch must carry hard-positive captions for this term
    needs_positives: bool = False

    def forward(self, batch: LossBatch) -> list[Part]:  # pragma: no cover - abstract
        raise NotImplementedError


#: the loss modules, in `eqvl.losses`; each registers its terms with `@register_loss`
LOSSES: Registry[type[LossTerm]] = Registry("loss", "eqvl.losses", ["itc", "eqsim", "ce", "hardpos"])


def register_loss(name: str) -> Callable[[type[LossTerm]], type[LossTerm]]:
    """Class decorator: make a term available as ``--loss name``."""

    def wrap(cls: type[LossTerm]) -> type[LossTerm]:
        cls.loss_name = name
        return LOSSES.register(name)(cls)

    return wrap


def available_losses() -> list[str]:
    return list(LOSSES.classes())


def get_loss(name: str) -> type[LossTerm]:
    return LOSSES.get(name)


def parse_loss_spec(spec: str) -> list[str]:
    """``"itc+eqsim"`` -> ``["itc", "eqsim"]``; unknown or repeated names are errors."""
    names = [n.strip() for n in spec.split("+") if n.strip()]
    if not names:
        raise EqvlError(f"--loss {spec!r} names no loss")
    if len(set(names)) != len(names):
        raise EqvlError(f"--loss {spec!r} repeats a term")
    for n in names:
        get_loss(n)
    return names


class CombinedLoss(nn.Module):
    """Sum of several terms; returns the total and each part's raw value for logging."""

    def __init__(self, terms: dict[str, LossTerm]):
        super().__init__()
        self.terms = nn.ModuleDict(terms)

    @property
    def needs_negatives(self) -> bool:
        return any(t.needs_negatives for t in self.terms.values())

    @property
    def needs_positives(self) -> bool:
        return any(t.needs_positives for t in self.terms.values())

    def forward(self, batch: LossBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        total = batch.image.new_zeros(())
        parts: dict[str, torch.Tensor] = {}
        for term in self.terms.values():
            for name, raw, weight in term(batch):
                parts[name] = raw
                if weight:
                    total = total + weight * raw
        return total, parts
