"""`eqvl train`: fine-tune an open_clip model with itc / eqsim / ce / hardpos (torchrun-ready).

Flags are generated from `TrainConfig`'s fields (one source of truth): `--eqsim-beta` sets
`eqsim_beta`, booleans take `--x / --no-x`.
"""

from __future__ import annotations

import argparse
import types
import typing
from dataclasses import MISSING, fields

from eqvl.losses import available_losses
from eqvl.train.config import TrainConfig

HELP = {
    "model": "open_clip model name, shipped eqvl config (eqvl-tiny-rn) or model-config JSON",
    "pretrained": "open_clip pretrained tag, checkpoint path to start from, or none",
    "train_data": "training pairs: open_clip CSV (tab-separated filepath, title [+ hard_negatives, "
                  "hard_positives, *_types JSON lists]) or JSONL",
    "loss": "terms joined by '+' (e.g. itc+eqsim+ce); registered: {losses}",
    "itc_hard_negatives": "use the batch's hard negatives as extra image->text negatives (auto: when loaded)",
    "eqsim_beta": "EqSim weight beta (paper: 0.2/0.5/1.0)",
    "eqsim_alpha": "EqSim hinge margin alpha on each mean squared error (paper: 0/0.04/0.1)",
    "eqsim_k": "size of each anchor's close set (v2 applies there)",
    "eqsim_mode": "hybrid (v2 close + v1 distant), v1-all, v2-all, v2-close, v1-all+v2-close",
    "eqsim_close": "close set: topk (paper) or sample (from the row softmax, official code)",
    "eqsim_norm": "similarity normalisation: softmax per row (paper, FIBER), sigmoid (METER), none (cosine)",
    "ce_rank_weight": "CE-CLIP cross-modal rank loss weight", "ce_imc_weight": "CE-CLIP intra-modal contrast weight",
    "ce_tau_max": "upper clamp of CE's adaptive per-type margins (logit units)",
    "hardpos_margin": "margin of s(I, c_pos) over s(I, c_neg) (cosine units)",
    "resume": "'latest' (this --output's epoch_latest.pt) or a checkpoint path",
    "eval_benchmark": "NAME:PATH of an eqvl benchmark to evaluate periodically (repeatable)",
    "save_every_steps": "also checkpoint (epoch_latest.pt) every N steps (0: only per epoch)",
    "precision": "fp32, amp (fp16 autocast + scaler), amp_bf16, amp_fp16 (GPU only for amp*)",
    "data_seed": "seed of data order and augmentation (default: --seed); fix it to compare variants",
    "max_steps": "stop after N optimiser steps (the cosine schedule still spans --epochs)",
    "preload": "decode all images once into memory (small datasets)",
    "batch_groups": "keep blocks of N consecutive rows in one batch, shuffled as blocks (2: synth's twin pairs)",
    "workers": "DataLoader worker processes",
}


def _base_type(tp: typing.Any) -> typing.Any:
    """`X | None` -> X; anything else (list[str] included) as it is."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if args else tp
    return tp


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="fine-tune a model with equivariance / compositional losses",
                              description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    hints = typing.get_type_hints(TrainConfig)
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        tp = _base_type(hints[f.name])
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        h = HELP.get(f.name, " ").replace("{losses}", ", ".join(available_losses()))
        if tp is bool:
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default, help=h)
        elif typing.get_origin(tp) is list:
            p.add_argument(flag, dest=f.name, action="append", default=None, help=h)
        else:
            p.add_argument(flag, dest=f.name, type=tp, default=default, help=h,
                           required=f.name == "train_data")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eqvl.train import train

    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig)}
    values["eval_benchmark"] = values["eval_benchmark"] or []
    result = train(TrainConfig(**values))
    if result.final_checkpoint is not None and result.output_dir:
        last = next((r for r in reversed(result.metrics) if "loss" in r), None)
        tail = f", last loss {last['loss']:.4f}" if last else ""
        print(f"trained {result.steps} steps{tail}; checkpoint: {result.final_checkpoint}; "
              f"metrics: {result.output_dir / 'metrics.jsonl'}")
    return 0
