"""Defaults that depend on other flags: the learning rate of a run that did not give `--lr`.

Why: open_clip's trainer defaults to `--lr 5e-4`, a rate for training from scratch. Fine-tuning
pre-trained weights at that rate wrecks them; the papers eqvl follows fine-tune ViT-B-32 (openai) at
5e-6 (CE-CLIP's official scripts/run_all.sh, github.com/lezhang7/Enhance-FineGrained) to 2e-5
(the EqSim example in docs/guide/train.md). eqvl takes 1e-5, inside that range, whenever
`--pretrained` loads weights and `--lr` is left out (`lr=None`); a resumed run keeps its own.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from eqvl.train.config import TrainConfig

#: open_clip's default, for randomly initialised weights (--pretrained none)
SCRATCH_LR = 5e-4
#: eqvl's default when --pretrained loads weights (see the module docstring for the sources)
FINETUNE_LR = 1e-5


def loads_weights(pretrained: str | None) -> bool:
    return pretrained is not None and pretrained.strip().lower() not in ("", "none")


def resolve_lr(cfg: TrainConfig, ckpt: dict[str, Any] | None) -> tuple[TrainConfig, str | None]:
    """`cfg` with `lr` filled in when it is None, and the line that says which rate was taken (or None)."""
    if cfg.lr is not None:
        return cfg, None
    saved = ckpt.get("config") if ckpt is not None and isinstance(ckpt.get("config"), dict) else {}
    if saved.get("lr") is not None:
        return replace(cfg, lr=float(saved["lr"])), None  # a resumed run goes on at its own rate, silently
    pretrained = cfg.pretrained if cfg.pretrained is not None else saved.get("pretrained")
    if str(cfg.model).startswith("hf-itm:"):  # a transformers directory: its weights are always loaded
        return replace(cfg, lr=FINETUNE_LR), f"`lr` not given: {FINETUNE_LR:g}, a fine-tuning rate for {cfg.model}"
    if loads_weights(pretrained):
        return replace(cfg, lr=FINETUNE_LR), (
            f"`lr` not given: {FINETUNE_LR:g}, a fine-tuning rate, because `pretrained` {pretrained} loads weights "
            f"(open_clip's {SCRATCH_LR:g} is for training from scratch; docs/guide/train.md)")
    return replace(cfg, lr=SCRATCH_LR), None
