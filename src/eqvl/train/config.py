"""TrainConfig: every flag of `eqvl train`, serialised into every checkpoint and metrics file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from eqvl.errors import EqvlError
from eqvl.precision import check_precision


@dataclass
class TrainConfig:
    # model
    model: str = "eqvl-tiny-rn"
    #: open_clip tag, checkpoint path (the init checkpoint several variants fine-tune from) or "none"
    pretrained: str = "none"
    lock_image: bool = False
    lock_text: bool = False
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
    eqsim_alpha: float = 0.04
    eqsim_k: int = 8
    eqsim_mode: str = "hybrid"
    eqsim_close: str = "topk"
    eqsim_norm: str = "softmax"
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
    precision: str = "fp32"
    seed: int = 0
    #: seeds the data order and augmentation; defaults to `seed` (fix it to compare loss variants on one order)
    data_seed: int | None = None
    device: str = "auto"
    # output
    output: str = "runs/train"
    overwrite: bool = False
    save_every_steps: int = 0
    save_every_epochs: int = 1
    resume: str | None = None
    log_every: int = 10
    progress: bool = True
    tensorboard: bool = False
    #: "name:path" eqvl benchmarks evaluated every `eval_every_epochs` and at the end
    eval_benchmark: list[str] = field(default_factory=list)
    eval_every_epochs: int = 1
    eval_batch_size: int = 64
    #: stop after this many optimiser steps (the schedule still spans all epochs)
    max_steps: int | None = None

    def validate(self) -> None:
        """Check values that are cheap to check before anything heavy is built."""
        if not self.train_data:
            raise EqvlError("--train-data is required")
        check_precision(self.precision)
        for name in ("epochs", "batch_size", "accum_freq", "log_every", "eval_every_epochs", "batch_groups"):
            if getattr(self, name) < 1:
                raise EqvlError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup", "save_every_steps", "save_every_epochs", "workers", "max_hard_negatives", "max_hard_positives"):
            if getattr(self, name) < 0:
                raise EqvlError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.batch_size % self.batch_groups:
            raise EqvlError(f"--batch-size {self.batch_size} must be a multiple of --batch-groups {self.batch_groups}")
        if self.itc_hard_negatives not in ("auto", "on", "off"):
            raise EqvlError(f"--itc-hard-negatives {self.itc_hard_negatives!r}: choose auto, on or off")
        for spec in self.eval_benchmark:
            if ":" not in spec:
                raise EqvlError(f"--eval-benchmark {spec!r}: expected NAME:PATH (e.g. winoground:/data/wino)")

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
