"""The demo's settings as one dataclass; every step's cache key is derived from it.

The presets' numbers come from the design experiments in `experiments/` (see the README
there): they are chosen so the plain-ITC baseline learns attributes but not space/counts
within the CPU budget, not tuned to make any claim come out a particular way.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

#: fine-tuning variants: name -> loss spec for `eqvl train --loss`
VARIANTS: dict[str, str] = {
    "itc": "itc",
    "itc+eqsim": "itc+eqsim",
    "itc+ce": "itc+ce",
    "itc+ce+hardpos": "itc+ce+hardpos",
}


@dataclass
class PhaseConfig:
    """One training phase (pre-training or each fine-tuning run)."""

    steps: int
    batch_size: int
    lr: float
    warmup: int = 0
    weight_decay: float = 0.1


@dataclass
class DemoConfig:
    name: str
    #: keyword arguments for the synth generator (counts, subsets, distractors, resolution)
    synth: dict[str, Any]
    #: open_clip model config (embed_dim, vision_cfg, text_cfg)
    model: dict[str, Any]
    pretrain: PhaseConfig
    finetune: PhaseConfig
    variants: dict[str, str] = field(default_factory=lambda: dict(VARIANTS))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    #: extra TrainConfig fields per variant (loss hyper-parameters), by variant name
    variant_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    eval_batch_size: int = 128
    #: keep every fine-tuned checkpoint (~30 MB each) in the cache; off: only results are kept
    keep_checkpoints: bool = False
    #: the twin subsets C1 compares, by role (synth's subset names)
    c1_subsets: dict[str, str] = field(default_factory=lambda: {"attribute": "attribute", "location": "location", "counting": "counting"})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _shipped_model(name: str) -> dict[str, Any]:
    text = resources.files("eqvl.models").joinpath("configs", f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)


def preset(quick: bool = False) -> DemoConfig:
    """The default demo (<= 15 min on 2 cores) or the --quick smoke run (<= 3 min)."""
    model = _shipped_model("eqvl-tiny-rn")
    if quick:
        return DemoConfig(
            name="quick",
            synth=dict(train=1500, twins=40, size=48),
            model=_with_image_size(model, 48),
            pretrain=PhaseConfig(steps=60, batch_size=64, lr=2e-3, warmup=10),
            finetune=PhaseConfig(steps=15, batch_size=64, lr=5e-4),
            seeds=[0],
        )
    return DemoConfig(
        name="default",
        synth=dict(train=6000, twins=200, size=48),
        model=_with_image_size(model, 48),
        pretrain=PhaseConfig(steps=400, batch_size=128, lr=2e-3, warmup=50),
        finetune=PhaseConfig(steps=60, batch_size=128, lr=5e-4),
    )


def _with_image_size(model: dict[str, Any], size: int) -> dict[str, Any]:
    model = copy.deepcopy(model)
    model["vision_cfg"]["image_size"] = size
    return model
