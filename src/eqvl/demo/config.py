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

#: the row of the results table that holds the pre-trained model every variant starts from
START = "pre-trained start"

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
    #: 2: each training twin pair shares a batch (see TrainConfig.batch_groups); 1: plain shuffling
    batch_groups: int = 1
    #: hard negatives kept per row (the twin's caption comes first); fewer = fewer captions to encode
    max_hard_negatives: int = 4

    def key(self) -> dict[str, Any]:
        """The fields as a cache key; options added later are left out at their neutral value,
        so that adding one keeps every cached step valid."""
        return {k: v for k, v in asdict(self).items() if _NEUTRAL.get(k, object()) != v}


#: options added after the first release, and the value that means "as before"
_NEUTRAL: dict[str, Any] = {"batch_groups": 1, "max_hard_negatives": 4}


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
    #: the model C1 is judged on: the start was trained with plain ITC on shuffled batches only
    c1_model: str = START

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _shipped_model(name: str) -> dict[str, Any]:
    text = resources.files("eqvl.models").joinpath("configs", f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)


#: the demo's scenes (experiments/README.md, rounds 3-4): 64 px, because open_clip's ModifiedResNet
#: downsamples by 32 and 48 px leaves its attention pool a single position; no "on top of" (at 64 px
#: it looks like "behind") and at most one distractor, so location is learnable within the budget
DEMO_SCENES: dict[str, Any] = dict(size=64, relations=["left", "right", "front", "behind"], distractors=[0, 1])


#: the demo's itc+eqsim setting (TrainConfig fields), spelled out so that the demo does not change
#: when TrainConfig's defaults do
EQSIM_SETTING: dict[str, Any] = {"eqsim_alpha": 0.0, "eqsim_beta": 0.5, "eqsim_close": "topk", "eqsim_norm": "softmax"}


def preset(quick: bool = False) -> DemoConfig:
    """The default demo (<= 15 min on 2 cores) or the --quick smoke run (<= 3 min)."""
    model = _shipped_model("eqvl-tiny-rn")
    model["vision_cfg"]["width"] = 16  # half the shipped width: ~2x faster at 64 px, learns as well here
    model = _with_image_size(model, DEMO_SCENES["size"])
    if quick:
        return DemoConfig(
            name="quick",
            synth=dict(train=1500, twins=40, **DEMO_SCENES),
            model=model,
            pretrain=PhaseConfig(steps=60, batch_size=64, lr=2e-3, warmup=10),
            finetune=PhaseConfig(steps=15, batch_size=64, lr=1e-3, max_hard_negatives=3),
            seeds=[0],
            variant_options={"itc+eqsim": dict(EQSIM_SETTING)},
        )
    return DemoConfig(
        name="default",
        # half the training rows are location pairs: attributes and counts are learned in pre-training
        # already, relations only from the fine-tunes' hard negatives (experiments/README.md, round 5)
        synth=dict(train=8000, twins=200, train_mix={"location": 2, "counting": 1, "attribute": 1}, **DEMO_SCENES),
        model=model,
        pretrain=PhaseConfig(steps=350, batch_size=128, lr=2e-3, warmup=50),
        # shuffled batches, as the papers fine-tune; 3 hard negatives per row (the twin's caption first)
        # keep the hard-negative variants' text encoding affordable
        finetune=PhaseConfig(steps=150, batch_size=64, lr=1e-3, max_hard_negatives=3),
        # EqSim at the official FIBER code's defaults (margin 0, weight 0.5); experiments/eqsim_study.py
        variant_options={"itc+eqsim": dict(EQSIM_SETTING)},
    )


def _with_image_size(model: dict[str, Any], size: int) -> dict[str, Any]:
    model = copy.deepcopy(model)
    model["vision_cfg"]["image_size"] = size
    return model
