"""Loss registry and the `+` combiner.

A loss *term* is an ``nn.Module`` whose ``forward(batch: LossBatch)`` returns a list of
``(part_name, raw_value, weight)``. Keeping raw value and weight apart lets the trainer log
every part unweighted while optimising ``sum(weight * raw)``. Adding a loss = one file in
`eqvl.losses` with ``@register_loss("name")`` and its `options` declared on the class
(`eqvl.losses.spec.LossOption`): flags, help, ranges and config keys are generated from them,
and the registry finds the module itself (`LOSSES` discovers the package's modules).
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

import torch
from torch import nn

from eqvl.errors import EqvlError
from eqvl.losses.batch import LossBatch
from eqvl.registry import Registry

Part = tuple[str, torch.Tensor, float]


class LossTerm(nn.Module):
    """Base class: one named term of the training objective."""

    #: the `--loss` name, set by `@register_loss`
    loss_name: ClassVar[str]
    #: the batch must carry hard-negative captions for this term
    needs_negatives: bool = False
    #: the batch must carry hard-positive captions for this term
    needs_positives: bool = False
    #: the term's options (`eqvl.losses.spec.LossOption`), each a `--<term>-<name>` train flag
    options: ClassVar[tuple[Any, ...]] = ()
    #: facts of the run (not flags) the constructor takes, passed by the trainer when it knows them
    context_args: ClassVar[tuple[str, ...]] = ()
    #: the term keeps per caption-type state (CE-CLIP's adaptive margins): typed data matters
    uses_caption_types: ClassVar[bool] = False

    def forward(self, batch: LossBatch) -> list[Part]:  # pragma: no cover - abstract
        raise NotImplementedError


#: the modules of `eqvl.losses` that are not terms; every other module registers terms with `@register_loss`
INFRASTRUCTURE = ("batch", "registry", "spec")
#: the loss terms: every module of `eqvl.losses` but the infrastructure, found on first lookup
LOSSES: Registry[type[LossTerm]] = Registry("loss", "eqvl.losses", None, skip=INFRASTRUCTURE)


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
