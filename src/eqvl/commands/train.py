"""`eqvl train`: fine-tune an open_clip model with itc / eqsim / ce / hardpos (torchrun-ready).

Flags are generated from `TrainConfig`'s fields (one source of truth): `--eqsim-beta` sets
`eqsim_beta`, booleans take `--x / --no-x`.
"""

from __future__ import annotations

import argparse
import types
import typing
from dataclasses import MISSING, fields

from eqvl.commands.common import Bounded
from eqvl.errors import EqvlError
from eqvl.losses import available_losses
from eqvl.train.config import RANGES, TrainConfig, check_range

HELP = {
    'model': 'open_clip model name (ViT-B-32), shipped eqvl config (eqvl-tiny-rn), model-config JSON, '
             'hf-hub:/local-dir: (default: the model stored in the --pretrained / --resume checkpoint)',
    'pretrained': 'open_clip pretrained tag (openai), checkpoint file to start from, or none for random weights; '
                  'required unless --resume (default: none given, which is an error)',
    'train_data': 'training pairs: open_clip CSV (tab-separated filepath, title [+ hard_negatives, hard_positives, '
                  '*_types JSON lists]), JSONL or tar shards (required, no default)',
    'loss': "terms joined by '+' (e.g. itc+eqsim+ce); registered: {losses}",
    'itc_hard_negatives': "use the batch's hard negatives as extra image->text negatives (auto: when loaded)",
    'eqsim_beta': 'EqSim weight beta (paper: 0.2/0.5/1.0)',
    'eqsim_alpha': 'EqSim hinge margin alpha on each batch mean (official code: 0; paper sweeps 0/0.04/0.1; '
                   'a margin above every batch mean switches EqSim off; scales: docs/guide/eqsim.md)',
    'eqsim_k': "size of each anchor's close set (v2 applies there)",
    'eqsim_mode': 'hybrid (v2 close + v1 distant), v1-all, v2-all, v2-close, v1-all+v2-close',
    'eqsim_close': 'close set: topk (paper) or sample (from the row softmax, official code)',
    'eqsim_norm': 'similarity normalisation: softmax per row (paper, FIBER), sigmoid (METER), none (cosine)',
    'eqsim_inactive_warn_steps': "warn once when EqSim's hinge has been off for N consecutive steps (0: never)",
    'ce_rank_weight': 'CE-CLIP cross-modal rank loss weight',
    'ce_imc_weight': 'CE-CLIP intra-modal contrast weight',
    'ce_tau_max': "upper clamp of CE's adaptive per-type margins (logit units)",
    'hardpos_margin': 'margin of s(I, c_pos) over s(I, c_neg) (cosine units)',
    'resume': "'latest' (this --output's epoch_latest.pt, else its newest readable epoch_N.pt) or a checkpoint path "
              '(default: a fresh run)',
    'eval_benchmark': 'NAME:PATH of an eqvl benchmark to evaluate periodically (repeatable) (default: none)',
    'save_every_steps': 'also checkpoint (epoch_latest.pt) every N steps (0: only per epoch)',
    'precision': 'fp32, amp (fp16 autocast + loss scaler), amp_bf16, bf16 / fp16 (16-bit weights, norms in fp32), '
                 "pure_bf16 / pure_fp16; open_clip's names. amp* autocast runs on GPU only (fp32 on CPU); bf16 runs "
                 'on CPU too',
    'data_seed': 'seed of data order and augmentation (default: --seed); fix it to compare variants',
    'max_steps': 'stop after N optimiser steps (the cosine schedule still spans --epochs) (default: all epochs)',
    'preload': 'decode all images once into memory (small datasets; also pre-tokenises captions)',
    'batch_groups': "keep blocks of N consecutive rows in one batch, shuffled as blocks (2: synth's twin pairs)",
    'workers': 'DataLoader worker processes (0: load in the training process)',
    'lock_image': "freeze the image tower (open_clip's --lock-image)",
    'lock_image_unlocked_groups': 'with --lock-image: leave the last N layer groups of the image tower trainable',
    'lock_image_freeze_bn_stats': 'with --lock-image: also freeze BatchNorm running statistics of the locked layers',
    'lock_text': "freeze the text tower (open_clip's --lock-text)",
    'lock_text_unlocked_layers': 'with --lock-text: leave the last N layers of the text tower trainable',
    'lock_text_freeze_layer_norm': 'with --lock-text: also freeze the LayerNorms of the locked layers',
    'grad_checkpointing': "recompute activations in the backward pass: less memory, ~30%% more compute (open_clip's "
                          'flag)',
    'dataset_type': 'auto (from the suffix), csv, jsonl or webdataset (tar shards: a.tar::b.tar or '
                    'shard-{000..009}.tar)',
    'csv_separator': "CSV column separator (open_clip's default: tab)",
    'csv_img_key': "CSV column holding the image path (relative to the CSV's folder)",
    'csv_caption_key': 'CSV column holding the caption',
    'max_hard_negatives': 'at most N hard negatives per row (rows are padded with masks; more are cut and counted)',
    'max_hard_positives': 'at most N hard positives per row',
    'strict_data': 'stop at the first bad row instead of counting, reporting and skipping it',
    'skip_bad': 'decode every image before the first step and skip rows whose image cannot be decoded (too large, '
                'damaged), counted as bad rows; costs one decode per image',
    'train_augment': "open_clip's training augmentation (random resized crop); --no-train-augment uses the eval "
                     'transform',
    'itc_weight': 'weight of the contrastive (CLIP) term',
    'hardpos_weight': 'weight of the hard-positive contrastive term',
    'hardpos_margin_weight': 'weight of the hard-positive margin term',
    'epochs': 'passes over the training data',
    'batch_size': 'pairs per process per micro-batch (the global batch is this x processes)',
    'lr': 'peak learning rate (AdamW; linear warmup, then cosine to 0) (default: 1e-5 when --pretrained loads '
          "weights, a fine-tuning rate; 5e-4, open_clip's from-scratch rate, with --pretrained none; a resumed run "
          'keeps its own)',
    'wd': 'AdamW weight decay (not on gains, biases, norms, logit scale)',
    'beta1': 'AdamW beta1',
    'beta2': 'AdamW beta2',
    'eps': 'AdamW epsilon',
    'warmup': 'linear warmup steps',
    'accum_freq': 'micro-batches per optimiser step (gradient accumulation; each is its own contrastive batch)',
    'grad_clip_norm': "clip the gradient's total 2-norm to this value (default: no clipping)",
    'skip_nonfinite': 'skip up to N optimiser steps whose loss or gradient is NaN/inf (the batch is consumed, the '
                      'update dropped); 0 stops at the first, naming the step and the loss term',
    'seed': "seed of the random init (--pretrained none), dropout and the loss's sampling",
    'device': 'auto (cuda:LOCAL_RANK when CUDA is available, else cpu), cpu, cuda, cuda:N',
    'output': 'run folder: checkpoints/, metrics.jsonl (locked while the run lives)',
    'overwrite': 'start over in an --output that already has checkpoints',
    'save_every_epochs': 'write epoch_N.pt every N epochs (and after the last)',
    'save_most_recent': 'also keep epoch_latest.pt (a hard link to the newest epoch_N.pt: no extra disk), which '
                        "--resume latest reads; eqvl's default is on (open_clip's is off)",
    'keep_last': 'delete all but the newest N epoch_N.pt files (0: keep all)',
    'log_every': 'log every N steps to metrics.jsonl',
    'progress': 'progress bar (--no-progress to hide it)',
    'tensorboard': 'also log to <output>/tensorboard (needs the tensorboard extra; same as --report-to tensorboard)',
    'report_to': "extra loggers, comma-separated: wandb, tensorboard (open_clip's flag; pip install 'eqvl[wandb]') "
                 '(default: none)',
    'wandb_project_name': 'wandb project for --report-to wandb',
    'val_data': 'held-out pairs in a --train-data format: the training loss on them is logged as val/loss in '
                'metrics.jsonl every --val-frequency epochs (default: none)',
    'val_frequency': 'compute the --val-data loss every N epochs (and after the last)',
    'eval_every_epochs': 'run --eval-benchmark every N epochs (and after the last)',
    'eval_batch_size': 'batch size of the periodic benchmark evaluation',
}


def _base_type(tp: typing.Any) -> typing.Any:
    """`X | None` -> X; anything else (list[str] included) as it is."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if args else tp
    return tp


class _Ranged(Bounded):
    """A numeric TrainConfig field checked at parse time against its `RANGES` entry (the one table),
    with the same one-line message as `TrainConfig.validate`."""

    def __init__(self, name: str, kind: type) -> None:
        lo, hi, lo_open = RANGES[name]
        super().__init__(kind, lo, hi, lo_open=lo_open, hi_open=hi is not None)
        self.name = name

    def __call__(self, text: str) -> typing.Any:
        value = self.parse(text)
        try:
            check_range(self.name, value, RANGES[self.name])
        except EqvlError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value


#: open_clip trainer's spellings of eqvl flags, accepted as they are (shown in --help beside eqvl's)
OPEN_CLIP_NAMES = {"save_every_epochs": ["--save-frequency"], "log_every": ["--log-every-n-steps"]}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="fine-tune a model with equivariance / compositional losses",
                              description=__doc__)
    hints = typing.get_type_hints(TrainConfig)
    for f in fields(TrainConfig):
        flags = ["--" + f.name.replace("_", "-"), *OPEN_CLIP_NAMES.get(f.name, [])]
        tp = _base_type(hints[f.name])
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        h = HELP[f.name].replace("{losses}", ", ".join(available_losses()))
        if tp is bool:
            h = f"{h} (default: {'on' if default else 'off'})"
            p.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction, default=default, help=h)
        elif typing.get_origin(tp) is list:
            p.add_argument(*flags, dest=f.name, action="append", default=None, help=h)
        else:
            kind = _Ranged(f.name, tp) if f.name in RANGES else tp  # every number has a declared range
            p.add_argument(*flags, dest=f.name, type=kind, default=default, help=h,
                           required=f.name == "train_data")
    # open_clip's --delete-previous-checkpoint is --keep-last 1
    p.add_argument("--delete-previous-checkpoint", dest="keep_last", action="store_const", const=1,
                   default=argparse.SUPPRESS, help="open_clip's spelling of --keep-last 1 (default: off)")
    p.set_defaults(func=run, lr=None)  # None: eqvl.train.defaults picks a fine-tuning or a from-scratch rate


def run(args: argparse.Namespace) -> int:
    from eqvl.train import train

    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig)}
    values["eval_benchmark"] = values["eval_benchmark"] or []
    cfg = TrainConfig(**values)
    cfg.validate()  # every flag's range, before anything is built
    result = train(cfg)
    if result.final_checkpoint is not None and result.output_dir:
        last = next((r for r in reversed(result.metrics) if "loss" in r), None)
        tail = f", last loss {last['loss']:.4f}" if last else ""
        skipped = (f" ({result.skipped} skipped as non-finite, {result.steps - result.skipped} applied)"
                   if result.skipped else "")
        print(f"trained {result.steps} steps{skipped}{tail}; checkpoint: {result.final_checkpoint}; "
              f"metrics: {result.output_dir / 'metrics.jsonl'}")
    return 0
