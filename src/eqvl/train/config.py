"""TrainConfig: every option of a training run, serialised into every checkpoint and metrics file.

Each field carries its help text (`doc`) beside it; `eqvl train`'s flags are generated from the
fields. The loss terms' own options (`eqsim_beta`, ...) are not fields: each term declares them
(`eqvl.losses.spec.LossOption`), they travel in `loss_options`, and `to_dict` / `from_dict` keep
them flat (`"eqsim_beta": 0.5`) so a checkpoint reads as before."""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from eqvl.errors import EqvlError
from eqvl.losses.spec import LossSpec, all_loss_options
from eqvl.precision import check_precision
from eqvl.train.augcfg import check_aug_cfg

#: the accepted range of every numeric flag: (lowest, highest, lowest excluded); None = unbounded.
#: Floats must also be finite. Checked before anything is built.
RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    **{n: (1, None, False) for n in ("epochs", "batch_size", "accum_freq", "log_every", "eval_every_epochs",
                                     "batch_groups", "save_every_epochs", "eval_batch_size", "max_steps",
                                     "val_frequency", "close_images", "train_num_samples")},
    **{n: (0, None, False) for n in ("warmup", "save_every_steps", "workers", "max_hard_negatives",
                                     "max_hard_positives", "keep_last", "skip_nonfinite", "seed", "data_seed",
                                     "lock_image_unlocked_groups", "lock_text_unlocked_layers", "wd")},
    **{n: (0, None, True) for n in ("eps", "grad_clip_norm")},
    "beta1": (0, 1, False), "beta2": (0, 1, False),
    "lr": (0, 3.4e38, False),  # the optimiser keeps it as a float32
    "epochs_cooldown": (1, None, False), "force_patch_dropout": (0, 1, False), "lr_cooldown_end": (0, 3.4e38, False), "lr_cooldown_power": (0, None, True),
}


def doc(text: str) -> dict[str, str]:
    """Field metadata holding the option's help (the CLI shows it; the reader of the class sees it here)."""
    return {"help": text}


def check_range(name: str, value: Any, bound: tuple[float | None, float | None, bool]) -> None:
    """One-line error naming the parameter, the value and the accepted range (None: unset)."""
    if value is None or isinstance(value, bool):
        return
    lo, hi, lo_open = bound
    ok = math.isfinite(value) and (lo is None or (value > lo if lo_open else value >= lo))
    ok = ok and (hi is None or value < hi)
    if not ok:
        want = " and ".join(w for w in ((f"> {lo}" if lo_open else f">= {lo}") if lo is not None else "",
                                        f"< {hi}" if hi is not None else "") if w)
        raise EqvlError(f"{name} {value}: must be a finite number {want}", param=name)


@dataclass
class TrainConfig:
    # model (None: taken from the --pretrained / --resume checkpoint, which stores it)
    model: str | None = field(default=None, metadata=doc(
        'open_clip model name (ViT-B-32), shipped eqvl config (eqvl-tiny-rn), model-config JSON, hf-hub:/local-dir: '
        '(default: the model stored in the --pretrained / --resume checkpoint)'))
    pretrained: str | None = field(default=None, metadata=doc(
        'open_clip pretrained tag (openai), checkpoint file to start from, or none for random weights; required '
        'unless --resume (default: none given, which is an error)'))
    force_quick_gelu: bool = field(default=False, metadata=doc(
        "open_clip's --force-quick-gelu: QuickGELU activations, as OpenAI's weights were trained with"))
    force_patch_dropout: float | None = field(default=None, metadata=doc(
        "open_clip's --force-patch-dropout: patch dropout rate of a ViT (0 turns it off) (default: the model's)"))
    image_mean: list[float] | None = field(default=None, metadata=doc(
        "open_clip's --image-mean: per-channel mean of the input normalisation, e.g. 0.5 0.5 0.5 (default: the "
        "model's)"))
    image_std: list[float] | None = field(default=None, metadata=doc(
        "open_clip's --image-std: per-channel std of the input normalisation (default: the model's)"))
    image_interpolation: str | None = field(default=None, metadata=doc(
        "open_clip's --image-interpolation: bicubic, bilinear or random (default: the model's)"))
    image_resize_mode: str | None = field(default=None, metadata=doc(
        "open_clip's --image-resize-mode: shortest, longest or squash (default: the model's)"))
    aug_cfg: dict[str, Any] = field(default_factory=dict, metadata=doc(
        "open_clip's --aug-cfg KEY=VALUE ...: the training augmentation, passed to open_clip's image_transform as "
        "open_clip's trainer does; keys scale, ratio, color_jitter, color_jitter_prob, gray_scale_prob, re_prob, "
        "re_count, use_timm (values as Python literals: scale='(0.5, 1.0)' use_timm=True; ratio, re_prob and "
        "re_count need use_timm=True) (default: open_clip's, random resized crop at scale (0.9, 1.0))"))
    torchcompile: bool = field(default=False, metadata=doc(
        "open_clip's --torchcompile: torch.compile the model (torch's default backend, inductor: the first steps "
        "compile, and on CPU it needs a C++ compiler); checkpoints hold the plain model's weights"))
    use_bn_sync: bool = field(default=False, metadata=doc(
        "open_clip's --use-bn-sync: under torchrun on GPUs, BatchNorm layers share their batch statistics across "
        "processes (SyncBatchNorm); one process has nothing to share and keeps its BatchNorm, as in open_clip"))
    distill_model: str | None = field(default=None, metadata=doc(
        "open_clip's --distill-model: a frozen teacher (model name or config) fed the same images and tokens, "
        "whose similarities the distill term follows; needs --loss ...+distill (default: none)"))
    distill_pretrained: str | None = field(default=None, metadata=doc(
        "open_clip's --distill-pretrained: the teacher's weights, as --pretrained (default: none given)"))
    # open_clip's tower locks and memory saver, same names and defaults as open_clip's trainer
    lock_image: bool = field(default=False, metadata=doc("freeze the image tower (open_clip's --lock-image)"))
    lock_image_unlocked_groups: int = field(default=0, metadata=doc(
        'with --lock-image: leave the last N layer groups of the image tower trainable'))
    lock_image_freeze_bn_stats: bool = field(default=False, metadata=doc(
        'with --lock-image: also freeze BatchNorm running statistics of the locked layers'))
    lock_text: bool = field(default=False, metadata=doc("freeze the text tower (open_clip's --lock-text)"))
    lock_text_unlocked_layers: int = field(default=0, metadata=doc(
        'with --lock-text: leave the last N layers of the text tower trainable'))
    lock_text_freeze_layer_norm: bool = field(default=False, metadata=doc(
        'with --lock-text: also freeze the LayerNorms of the locked layers'))
    grad_checkpointing: bool = field(default=False, metadata=doc(
        "recompute activations in the backward pass: less memory, ~30% more compute (open_clip's flag)"))
    # data
    train_data: str = field(default="", metadata=doc(
        'training pairs: open_clip CSV (tab-separated filepath, title [+ hard_negatives, hard_positives, *_types JSON'
        ' lists]), JSONL or tar shards (required, no default)'))
    dataset_type: str = field(default="auto", metadata=doc(
        'auto (from the suffix), csv, jsonl or webdataset (tar shards: a.tar::b.tar or shard-{000..009}.tar)'))
    csv_separator: str = field(default="\t", metadata=doc("CSV column separator (default: tab, as open_clip)"))
    csv_img_key: str = field(default="filepath", metadata=doc(
        "CSV column holding the image path (relative to the CSV's folder)"))
    csv_caption_key: str = field(default="title", metadata=doc('CSV column holding the caption'))
    max_hard_negatives: int = field(default=6, metadata=doc(
        'at most N hard negatives per row (rows are padded with masks; more are cut and counted) (default: 6, the '
        'most eqvl synth writes per row: the twin caption + 5 rewrites; eqvl augment makes at most 5 by default)'))
    max_hard_positives: int = field(default=3, metadata=doc(
        'at most N hard positives per row (default: 3, the most eqvl synth writes per row)'))
    train_num_samples: int | None = field(default=None, metadata=doc(
        "open_clip's --train-num-samples N: samples per epoch, ceil(N / global batch) steps, walking on through "
        "reshuffled passes when N exceeds the data (default: one pass over the usable rows, the last partial "
        "batch dropped)"))
    dataset_resampled: bool = field(default=False, metadata=doc(
        "open_clip's --dataset-resampled: each epoch draws with replacement - tar shards (all of a drawn shard's "
        "samples, shuffled), or rows of a CSV / JSONL - seeded by the data seed and the epoch; an epoch is "
        "--train-num-samples samples, or as many as there are usable rows"))
    skip_bad: bool = field(default=True, metadata=doc(
        'skip (and count) bad rows - missing image, empty caption or path, and with --check-images an image that '
        'does not decode - instead of failing; --no-skip-bad stops at the first one, naming it. On by default in '
        'train (a few broken rows of a large training set should not stop a run: open_clip\'s webdataset loader '
        'skips them too); eval, index, augment and build fail unless given it'))
    check_images: bool = field(default=False, metadata=doc(
        'decode every image before the first step, so a damaged or too large image is found (skipped and counted '
        'under --skip-bad, named under --no-skip-bad) before training instead of stopping the run mid-way; costs one '
        'decode per image'))
    preload: bool = field(default=False, metadata=doc(
        'decode all images once into memory (small datasets; also pre-tokenises captions)'))
    train_augment: bool = field(default=True, metadata=doc(
        "open_clip's training augmentation (random resized crop); --no-train-augment uses the eval transform"))
    workers: int = field(default=0, metadata=doc(
        'DataLoader worker processes, 0 = in this process (default: 0; open_clip defaults to 4: raise it when '
        'decoding images from disk keeps a GPU waiting)'))
    batch_groups: int = field(default=1, metadata=doc(
        "keep blocks of N consecutive rows in one batch, shuffled as blocks (2: synth's twin pairs)"))
    # ITM models (hf-itm:DIR): the coarse-to-fine close-set cache (EqSim paper, METER)
    close_cache: str | None = field(default=None, metadata=doc(
        'hf-itm: models: .npz of each image\'s --close-images nearest images (vision features) and the ITM scores of '
        'their captions, built once and reused for the same model and data; each anchor\'s --itm-negatives are drawn '
        'from it and EqSim\'s close set is their top --eqsim-k by it (default: none)'))
    close_images: int = field(default=128, metadata=doc(
        'images per image in --close-cache, all their captions scored (paper: 128, x 5 captions)'))
    overwrite_cache: bool = field(default=False, metadata=doc('rebuild a --close-cache built for another model or data'))
    itm_in_batch: bool = field(default=False, metadata=doc(
        'with --close-cache: draw ITM negatives from the batch (--itm-sampling), the cache only ranking EqSim\'s close '
        'set where it holds the pair (default: each anchor\'s negatives are drawn from its cached close captions)'))
    # loss
    loss: str = field(default="itc", metadata=doc("terms joined by '+' (e.g. itc+eqsim+ce); registered: {losses}"))
    #: each term's declared options by key (`eqsim_beta`); left out: the declared default
    loss_options: dict[str, Any] = field(default_factory=dict, metadata=doc("set through the terms' own flags"))
    # optimisation
    epochs: int = field(default=1, metadata=doc('passes over the training data'))
    batch_size: int = field(default=64, metadata=doc(
        'pairs per process per micro-batch (the global batch is this x processes)'))
    lr: float = field(default=5e-4, metadata=doc(
        'peak learning rate (AdamW; linear warmup, then cosine to 0) (default: 1e-5 when --pretrained loads weights, '
        "a fine-tuning rate; 5e-4, open_clip's from-scratch rate, with --pretrained none; a resumed run keeps its "
        'own)'))
    wd: float = field(default=0.2, metadata=doc('AdamW weight decay (not on gains, biases, norms, logit scale)'))
    beta1: float = field(default=0.9, metadata=doc('AdamW beta1'))
    beta2: float = field(default=0.98, metadata=doc('AdamW beta2'))
    eps: float = field(default=1e-6, metadata=doc('AdamW epsilon'))
    warmup: int = field(default=0, metadata=doc('linear warmup steps'))
    lr_scheduler: str = field(default="cosine", metadata=doc(
        "open_clip's schedules after the warmup: cosine (to 0), const, const-cooldown (constant, then a decay over "
        "the last --epochs-cooldown epochs to --lr-cooldown-end)"))
    epochs_cooldown: int | None = field(default=None, metadata=doc(
        'with --lr-scheduler const-cooldown: epochs of the final decay (default: none; required by const-cooldown)'))
    lr_cooldown_end: float = field(default=0.0, metadata=doc('learning rate at the end of the cooldown'))
    lr_cooldown_power: float = field(default=1.0, metadata=doc('cooldown decay power (1: linear)'))
    accum_freq: int = field(default=1, metadata=doc(
        'micro-batches per optimiser step (gradient accumulation; each is its own contrastive batch)'))
    grad_clip_norm: float | None = field(default=None, metadata=doc(
        "clip the gradient's total 2-norm to this value (default: no clipping)"))
    precision: str = field(default="amp", metadata=doc(
        'fp32, amp (fp16 autocast + loss scaler), amp_bf16, bf16 / fp16 (16-bit weights, norms in fp32), pure_bf16 / '
        "pure_fp16; open_clip's names. amp* autocast runs on GPU only (fp32 on CPU); bf16 runs on CPU too"))
    skip_nonfinite: int = field(default=0, metadata=doc(
        'skip up to N optimiser steps whose loss or gradient is NaN/inf (the batch is consumed, the update dropped); '
        '0 stops at the first, naming the step and the loss term'))
    seed: int = field(default=0, metadata=doc(
        "seed of the random init (--pretrained none), dropout and the loss's sampling"))
    data_seed: int | None = field(default=None, metadata=doc(
        'seed of data order and augmentation (default: --seed); fix it to compare variants'))
    device: str = field(default="auto", metadata=doc(
        'auto (cuda when available, else cpu; under torchrun cuda:LOCAL_RANK), cpu, cuda, cuda:N'))
    # output
    output: str = field(default="runs/train", metadata=doc(
        'run folder: checkpoints/, metrics.jsonl (locked while the run lives)'))
    overwrite: bool = field(default=False, metadata=doc('start over in an --output that already has checkpoints'))
    save_every_steps: int = field(default=0, metadata=doc(
        'also checkpoint (epoch_latest.pt) every N steps (0: only per epoch)'))
    save_every_epochs: int = field(default=1, metadata=doc('write epoch_N.pt every N epochs (and after the last)'))
    save_most_recent: bool = field(default=True, metadata=doc(
        'also keep epoch_latest.pt (a hard link to the newest epoch_N.pt: no extra disk), which --resume latest '
        "reads; eqvl's default is on (open_clip's is off)"))
    keep_last: int = field(default=0, metadata=doc('delete all but the newest N epoch_N.pt files (0: keep all)'))
    resume: str | None = field(default=None, metadata=doc(
        "'latest' (this --output's epoch_latest.pt, else its newest readable epoch_N.pt) or a checkpoint path "
        '(default: a fresh run)'))
    log_every: int = field(default=10, metadata=doc('log every N steps to metrics.jsonl'))
    progress: bool = field(default=True, metadata=doc('progress bar (--no-progress to hide it)'))
    tensorboard: bool = field(default=False, metadata=doc(
        'also log to <output>/tensorboard (needs the tensorboard extra; same as --report-to tensorboard)'))
    report_to: str = field(default="", metadata=doc(
        "extra loggers, comma-separated: wandb, tensorboard (open_clip's flag; pip install 'eqvl[wandb]') (default: "
        'none)'))
    wandb_project_name: str = field(default="eqvl", metadata=doc('wandb project for --report-to wandb'))
    val_data: str | None = field(default=None, metadata=doc(
        'held-out pairs in a --train-data format: the training loss on them is logged as val/loss in metrics.jsonl '
        'every --val-frequency epochs (default: none)'))
    val_frequency: int = field(default=1, metadata=doc(
        'compute the --val-data loss every N epochs (and after the last)'))
    eval_benchmark: list[str] = field(default_factory=list, metadata=doc(
        'NAME:PATH of an eqvl benchmark to evaluate periodically (repeatable) (default: none)'))
    eval_every_epochs: int = field(default=1, metadata=doc('run --eval-benchmark every N epochs (and after the last)'))
    eval_batch_size: int = field(default=64, metadata=doc('batch size of the periodic benchmark evaluation'))
    max_steps: int | None = field(default=None, metadata=doc(
        'stop after N optimiser steps (the cosine schedule still spans --epochs) (default: all epochs)'))

    def validate(self) -> None:
        """Check values that are cheap to check before anything heavy is built (one-line errors naming
        the parameter, which the CLI shows as its flag)."""
        if not self.train_data:
            raise EqvlError("train_data is required", param="train_data")
        if self.pretrained is None and not self.resume and not str(self.model).startswith("hf-itm:"):
            raise EqvlError("pretrained is required: an open_clip pretrained tag (e.g. openai), a checkpoint file, "
                            "or none to train from randomly initialised weights", param="pretrained")
        check_precision(self.precision)
        for name, bound in RANGES.items():
            check_range(name, getattr(self, name), bound)
        if self.batch_size % self.batch_groups:
            raise EqvlError(f"batch_size {self.batch_size} must be a multiple of batch_groups {self.batch_groups}",
                            param="batch_size")
        self.loss_spec  # parses the loss and checks every option against its term's declaration
        if self.lr_scheduler not in ("cosine", "const", "const-cooldown"):
            raise EqvlError(f"lr_scheduler {self.lr_scheduler!r}: choose cosine, const or const-cooldown",
                            param="lr_scheduler")
        if self.lr_scheduler == "const-cooldown" and self.epochs_cooldown is None:
            raise EqvlError("lr_scheduler const-cooldown needs epochs_cooldown (the epochs of the final decay)",
                            param="epochs_cooldown")
        if ("distill" in self.loss_spec.terms) != bool(self.distill_model):
            raise EqvlError("distillation needs both: `loss` ...+distill and `distill_model` (with "
                            "`distill_pretrained`)", params=("distill_model", "loss", "distill_pretrained"))
        check_aug_cfg(self.aug_cfg)
        if self.aug_cfg and not self.train_augment:
            raise EqvlError("aug_cfg configures the training augmentation, which train_augment off replaces by the "
                            "evaluation transform; drop one of them", params=("aug_cfg", "train_augment"))
        for spec in self.eval_benchmark:
            if ":" not in spec:
                raise EqvlError(f"eval_benchmark {spec!r}: expected NAME:PATH (e.g. winoground:/data/wino)",
                                param="eval_benchmark")
        unknown = set(self.loggers) - {"wandb", "tensorboard"}
        if unknown:
            raise EqvlError(f"report_to {self.report_to!r}: choose from wandb, tensorboard (comma-separated)",
                            param="report_to")

    @functools.cached_property
    def loss_spec(self) -> LossSpec:
        """`loss` and `loss_options`, parsed and checked once; the trainer asks this, not the string."""
        return LossSpec.parse(self.loss, self.loss_options)

    @property
    def loggers(self) -> list[str]:
        """--report-to as a list, --tensorboard included."""
        names = [n.strip() for n in self.report_to.split(",") if n.strip()]
        return names + (["tensorboard"] if self.tensorboard and "tensorboard" not in names else [])

    def to_dict(self) -> dict[str, Any]:
        """Flat: the loss options appear as top-level keys (`"eqsim_beta": 0.5`), every declared one."""
        d = asdict(self) | {}
        options = d.pop("loss_options")
        return d | dict(self.loss_spec.options) | options

    @classmethod
    def from_dict(cls, d: dict[str, Any], strict: bool = False) -> "TrainConfig":
        """Rebuild from a checkpoint's `config` (or flat keyword values). Keys that are neither a field
        nor a declared loss option (a newer or older version's) are ignored, or refused when `strict`."""
        names = {f.name for f in fields(cls)}
        if "strict_data" in d:  # the name before issue 26.7: strict_data=True is skip_bad=False
            d = {k: v for k, v in d.items() if k != "strict_data"} | {"skip_bad": not d["strict_data"]}
        known = all_loss_options()
        unknown = sorted(set(d) - names - set(known))
        if strict and unknown:
            raise EqvlError(f"unknown training option {unknown[0]!r}: neither a TrainConfig field nor a loss term's "
                            f"option ({', '.join(sorted(known))})", param=unknown[0])
        options = {k: v for k, v in d.items() if k in known}
        options.update(d.get("loss_options") or {})
        return cls(**{k: v for k, v in d.items() if k in names and k != "loss_options"}, loss_options=options)

    @property
    def order_seed(self) -> int:
        return self.seed if self.data_seed is None else self.data_seed
