"""A loss term's options, declared beside its class, and `--loss` parsed once into a `LossSpec`.

A term class lists `options = (LossOption("beta", float, 0.5, "EqSim weight", low=0), ...)`. From
that one declaration come the `eqvl train` flag (`--eqsim-beta`), its help and parse-time range
check, the config key (`eqsim_beta`, in `TrainConfig.loss_options` and in every checkpoint) and
the keyword the term is built with. Adding a term is therefore one file in `eqvl.losses`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from eqvl.errors import EqvlError, describe_range
from eqvl.losses.registry import CombinedLoss, LossTerm, available_losses, get_loss


@dataclass(frozen=True)
class LossOption:
    """One option of a loss term. `low` / `high` bound numbers (`low_open` excludes `low`);
    `choices` limit strings; `param` is the constructor keyword when it differs from `name`."""

    name: str
    type: type
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] = ()
    param: str | None = None

    def key(self, term: str) -> str:
        return f"{term}_{self.name}"

    def check(self, key: str, value: Any) -> None:
        """A one-line error naming the parameter, the value and what is accepted."""
        if self.choices:
            if value not in self.choices:
                raise EqvlError(f"{key} {value!r}: choose from {', '.join(self.choices)}", param=key)
            return
        if self.type in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise EqvlError(f"{key} {value!r}: expected a number", param=key)
            ok = math.isfinite(value) and (self.low is None or (value > self.low if self.low_open else value >= self.low))
            ok = ok and (self.high is None or value <= self.high)
            if not ok or (self.type is int and int(value) != value):
                raise EqvlError(f"{key} {value}: must be {self.describe()}", param=key)

    def describe(self) -> str:
        return describe_range(self.type, self.low, self.high, lo_open=self.low_open)


def term_options(cls: type[LossTerm]) -> tuple[LossOption, ...]:
    return tuple(getattr(cls, "options", ()))


def all_loss_options() -> dict[str, LossOption]:
    """Every registered term's options by config key (`eqsim_beta`), terms in name order."""
    return {opt.key(name): opt for name in available_losses() for opt in term_options(get_loss(name))}


def default_loss_options() -> dict[str, Any]:
    return {key: opt.default for key, opt in all_loss_options().items()}


@dataclass(frozen=True)
class LossSpec:
    """`--loss itc+eqsim` and the option values, parsed and checked once; what the trainer asks
    about the objective (which batch fields it needs, whether it uses caption types) it asks here."""

    terms: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, options: Mapping[str, Any] | None = None) -> "LossSpec":
        names = [n.strip() for n in text.split("+") if n.strip()]
        if not names:
            raise EqvlError(f"loss {text!r} names no term", param="loss")
        if len(set(names)) != len(names):
            raise EqvlError(f"loss {text!r} repeats a term", param="loss")
        for name in names:
            get_loss(name)
        known = all_loss_options()
        values = {key: opt.default for key, opt in known.items()}
        for key, value in (options or {}).items():
            if key not in known:
                raise EqvlError(f"unknown loss option {key!r}; known: {', '.join(sorted(known))}", param=key)
            known[key].check(key, value)
            values[key] = value
        for name in names:  # checks across terms' options (e.g. eqsim_k within itm_negatives)
            check = getattr(get_loss(name), "check_spec", None)
            if check is not None:
                check(names, values)
        return cls(tuple(names), values)

    def classes(self) -> list[type[LossTerm]]:
        return [get_loss(name) for name in self.terms]

    def __contains__(self, term: object) -> bool:
        return term in self.terms

    @property
    def needs_pair_scores(self) -> bool:
        """Some term needs a fusion model's ITM scores of pairs (`LossBatch.pair_logits`)."""
        return any(getattr(cls, "needs_pair_scores", False) for cls in self.classes())

    @property
    def uses_caption_types(self) -> bool:
        """Some term keeps per-type state (CE-CLIP's adaptive margins)."""
        return any(getattr(cls, "uses_caption_types", False) for cls in self.classes())

    def kwargs(self, name: str, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The constructor keywords of term `name`: its declared options, plus the run facts it
        declares in `context_args` (e.g. CE's number of caption types)."""
        cls = get_loss(name)
        out = {opt.param or opt.name: self.options[opt.key(name)] for opt in term_options(cls)}
        for arg in getattr(cls, "context_args", ()):
            if context and arg in context:
                out[arg] = context[arg]
        return out

    def build(self, **context: Any) -> CombinedLoss:
        return CombinedLoss({name: get_loss(name)(**self.kwargs(name, context)) for name in self.terms})
