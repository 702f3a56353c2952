"""TrainConfig: every flag of `eqvl train`, serialised into every checkpoint and metrics file."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from eqvl.errors import EqvlError
from eqvl.precision import check_precision

#: the accepted range of every numeric flag: (lowest, highest, lowest excluded); None = unbounded.
#: Floats must also be finite. Checked before anything is built.
RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    **{n: (1, None, False) for n in ("epochs", "batch_size", "accum_freq", "log_every", "eval_every_epochs",
                                     "batch_groups", "save_every_epochs", "eval_batch_size", "max_steps",
                                     "val_frequency", "eqsim_k")},
    **{n: (0, None, False) for n in ("warmup", "save_every_steps", "workers", "max_hard_negatives",
                                     "max_hard_positives", "keep_last", "skip_nonfinite", "seed", "data_seed",
                                     "lock_image_unlocked_groups", "lock_text_unlocked_layers",
                                     "eqsim_inactive_warn_steps", "wd", "itc_weight", "eqsim_beta",
                                     "eqsim_alpha", "ce_rank_weight", "ce_imc_weight", "ce_tau_max", "hardpos_weight",
                                     "hardpos_margin", "hardpos_margin_weight")},
    **{n: (0, None, True) for n in ("eps", "grad_clip_norm")},
    "beta1": (0, 1, False), "beta2": (0, 1, False),
    "lr": (0, 3.4e38, False),  # the optimiser keeps it as a float32
}


def check_range(name: str, value: Any, bound: tuple[float | None, float | None, bool]) -> None:
    """One-line error naming the flag, the value and the accepted range (None values are unset flags)."""
    if value is None or isinstance(value, bool):
        return
    lo, hi, lo_open = bound
    ok = math.isfinite(value) and (lo is None or (value > lo if lo_open else value >= lo))
    ok = ok and (hi is None or value < hi)
    if not ok:
        want = " and ".join(w for w in ((f"> {lo}" if lo_open else f">= {lo}") if lo is not None else "",
                                        f"< {hi}" if hi is not None else "") if w)
        raise EqvlError(f"--{name.replace('_', '-')} {value}: must be a finite number {want}")


@dataclass
class TrainConfig:
    # model (None: taken from the --pretrained / --resume checkpoint, which stores it)
    model: str | None = None
    #: open_clip tag, checkpoint path (the init checkpoint several variants fine-tune from) or "none";
    #: required (random weights must be asked for), except with --resume
    pretrained: str | None = None
    # open_clip's tower locks and memory saver, same names and defaults as open_clip's trainer
    lock_image: bool = False
    lock_image_unlocked_groups: int = 0
    lock_image_freeze_bn_stats: bool = False
    lock_text: bool = False
    lock_text_unlocked_layers: int = 0
    lock_text_freeze_layer_norm: bool = False
    grad_checkpointing: bool = False
    # data
    train_data: str = ""
    #: "auto" (from the suffix), "csv", "jsonl" or "webdataset" (tar shards: a.tar::b.tar or shard-{000..009}.tar)
    dataset_type: str = "auto"
    csv_separator: str = "\t"
    csv_img_key: str = "filepath"
    csv_caption_key: str = "title"
    #: at most this many hard negatives / positives per row (padded with masks up to it)
    max_hard_negatives: int = 4
    max_hard_positives: int = 2
    #: fail on the first bad row instead of counting, reporting and skipping it
    strict_data: bool = False
    #: decode every image before the first step; rows whose image cannot be decoded are skipped as bad
    skip_bad: bool = False
    #: decode every image once and keep it in memory (small datasets; also pre-tokenises captions)
    preload: bool = False
    #: open_clip's training augmentation (preprocess_train); False = preprocess_val
    train_augment: bool = True
    workers: int = 0
    #: shuffle blocks of this many consecutive rows and keep each block in one batch (2: the twin
    #: pairs `eqvl synth` writes on adjacent rows meet in the batch, as hard negatives of each other)
    batch_groups: int = 1
    # loss
    loss: str = "itc"
    itc_weight: float = 1.0
    #: use the batch's hard negatives as extra image->text negatives: auto/on/off
    itc_hard_negatives: str = "auto"
    eqsim_beta: float = 0.5
    #: the official FIBER code's margin (0: the term always acts; see eqvl.losses.eqsim)
    eqsim_alpha: float = 0.0
    eqsim_k: int = 8
    eqsim_mode: str = "hybrid"
    eqsim_close: str = "topk"
    eqsim_norm: str = "softmax"
    #: warn once when EqSim's hinge has been off (loss and gradient 0) for this many steps; 0: never
    eqsim_inactive_warn_steps: int = 50
    ce_rank_weight: float = 0.2
    ce_imc_weight: float = 0.3
    ce_tau_max: float = 5.0
    hardpos_weight: float = 1.0
    hardpos_margin: float = 0.05
    hardpos_margin_weight: float = 1.0
    # optimisation
    epochs: int = 1
    batch_size: int = 64
    lr: float = 5e-4
    wd: float = 0.2
    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1e-6
    warmup: int = 0
    accum_freq: int = 1
    grad_clip_norm: float | None = None
    precision: str = "amp"
    #: skip up to this many optimiser steps whose loss or gradient is not finite (0: stop at the first)
    skip_nonfinite: int = 0
    seed: int = 0
    #: seeds the data order and augmentation; defaults to `seed` (fix it to compare loss variants on one order)
    data_seed: int | None = None
    device: str = "auto"
    # output
    output: str = "runs/train"
    overwrite: bool = False
    save_every_steps: int = 0
    save_every_epochs: int = 1
    #: also write epoch_latest.pt (a hard link to the epoch's file, no extra disk); --resume latest reads it
    save_most_recent: bool = True
    #: keep only the newest N epoch_N.pt files (0: keep all)
    keep_last: int = 0
    resume: str | None = None
    log_every: int = 10
    progress: bool = True
    tensorboard: bool = False
    #: extra loggers, comma-separated: wandb, tensorboard (open_clip's --report-to)
    report_to: str = ""
    wandb_project_name: str = "eqvl"
    #: held-out pairs (same formats as --train-data): validation loss every --val-frequency epochs
    val_data: str | None = None
    val_frequency: int = 1
    #: "name:path" eqvl benchmarks evaluated every `eval_every_epochs` and at the end
    eval_benchmark: list[str] = field(default_factory=list)
    eval_every_epochs: int = 1
    eval_batch_size: int = 64
    #: stop after this many optimiser steps (the schedule still spans all epochs)
    max_steps: int | None = None

    def validate(self) -> None:
        """Check values that are cheap to check before anything heavy is built (one-line errors)."""
        if not self.train_data:
            raise EqvlError("--train-data is required")
        if self.pretrained is None and not self.resume:
            raise EqvlError("--pretrained is required: an open_clip pretrained tag (e.g. openai), a checkpoint file, "
                            "or none to train from randomly initialised weights")
        check_precision(self.precision)
        for name, bound in RANGES.items():
            check_range(name, getattr(self, name), bound)
        if self.batch_size % self.batch_groups:
            raise EqvlError(f"--batch-size {self.batch_size} must be a multiple of --batch-groups {self.batch_groups}")
        if self.itc_hard_negatives not in ("auto", "on", "off"):
            raise EqvlError(f"--itc-hard-negatives {self.itc_hard_negatives!r}: choose auto, on or off")
        for spec in self.eval_benchmark:
            if ":" not in spec:
                raise EqvlError(f"--eval-benchmark {spec!r}: expected NAME:PATH (e.g. winoground:/data/wino)")
        unknown = set(self.loggers) - {"wandb", "tensorboard"}
        if unknown:
            raise EqvlError(f"--report-to {self.report_to!r}: choose from wandb, tensorboard (comma-separated)")

    @property
    def loggers(self) -> list[str]:
        """--report-to as a list, --tensorboard included."""
        names = [n.strip() for n in self.report_to.split(",") if n.strip()]
        return names + (["tensorboard"] if self.tensorboard and "tensorboard" not in names else [])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """Rebuild from a checkpoint's `config`; unknown keys (newer versions) are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def order_seed(self) -> int:
        return self.seed if self.data_seed is None else self.data_seed
