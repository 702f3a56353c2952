"""Everything a run builds before its first step: loss, data pipeline, model, optimiser, resume.

Order matters for the user: cheap checks (loss flags, data file) fail before a large model loads.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from eqvl.errors import EqvlError
from eqvl.losses import CombinedLoss
from eqvl.precision import needs_grad_scaler
from eqvl.train.batching import Collate, GlobalBatchSampler, type_vocabulary
from eqvl.train.augcfg import ignored_keys
from eqvl.train.config import TrainConfig
from eqvl.train.dataset import Augmenter, PairDataset
from eqvl.train.epochs import shard_units
from eqvl.distributed import DistInfo
from eqvl.train.guards import first_nonfinite
from eqvl.train.records import DataReport, Row, data_kind, read_pairs

log = logging.getLogger(__name__)


def build_loss(cfg: TrainConfig, n_types: int = 1) -> CombinedLoss:
    """Each `+`-separated term, built from its declared options (`cfg.loss_spec`)."""
    return cfg.loss_spec.build(n_types=n_types)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def read_rows(path: str, cfg: TrainConfig) -> tuple[list[Row], DataReport, dict[str, bool]]:
    """CSV / JSONL / tar shards -> validated rows, the report, and which optional columns exist."""
    if data_kind(path, cfg.dataset_type) == "webdataset":
        from eqvl.train.shards import read_shards

        return read_shards(path, cfg)
    return read_pairs(path, cfg)


@dataclass
class DataPipeline:
    """The dataset, its collate and sampler, and the shapes the loss sees (K negatives, P positives)."""

    rows: list[Row]
    report: DataReport
    types: list[str]
    k: int
    p: int
    dataset: PairDataset
    collate: Collate
    sampler: GlobalBatchSampler

    @property
    def batches_per_epoch(self) -> int:
        return len(self.sampler)


def _hard_text_plan(cfg: TrainConfig, probe: CombinedLoss, rows: list[Row], has: dict[str, bool],
                    augmenter: Augmenter | None, source: str) -> tuple[bool, bool, int, int]:
    """Which hard texts to generate (the file lacks them) and how many slots (K, P) each row gets."""
    need_neg, need_pos = probe.needs_negatives, probe.needs_positives
    gen_neg, gen_pos = need_neg and not has["hard_negatives"], need_pos and not has["hard_positives"]
    if (gen_neg or gen_pos) and augmenter is None:
        missing = "hard_negatives" if gen_neg else "hard_positives"
        raise EqvlError(f"`loss` {cfg.loss} needs {missing.replace('_', ' ')}, {source} has no {missing!r} column, "
                        "and eqvl.augment.augment_caption is not available to generate them", params=("loss",))
    k = (cfg.max_hard_negatives if gen_neg else min(cfg.max_hard_negatives, max(len(r.pair.hard_negatives) for r in rows))) if need_neg else 0
    p = (cfg.max_hard_positives if gen_pos else min(cfg.max_hard_positives, max(len(r.pair.hard_positives) for r in rows))) if need_pos else 0
    for needed, have, what in ((need_neg, k, "hard negatives"), (need_pos, p, "hard positives")):
        if needed and not have:
            raise EqvlError(f"`loss` {cfg.loss} needs {what}, but no row of {source} has any "
                            f"(or `max`-{what.replace(' ', '-')} is 0)", params=("loss", "max"))
    return gen_neg, gen_pos, k, p


def build_data(cfg: TrainConfig, info: DistInfo, bundle: Any, probe: CombinedLoss, source: str,
               loaded: tuple[list[Row], DataReport, dict[str, bool]], augmenter: Augmenter | None,
               *, shuffle_seed: int | None = None) -> DataPipeline:
    """Rows -> dataset (+ generated hard texts), collate with fixed K / P, global-batch sampler."""
    rows, report, has = loaded
    gen_neg, gen_pos, k, p = _hard_text_plan(cfg, probe, rows, has, augmenter, source)
    report.generated_negatives, report.generated_positives = gen_neg, gen_pos
    types = type_vocabulary(rows, gen_neg)
    dataset = PairDataset(rows, bundle.preprocess_train if cfg.train_augment else bundle.preprocess_val,
                          negatives=probe.needs_negatives, positives=probe.needs_positives, generate_negatives=gen_neg,
                          generate_positives=gen_pos, seed=cfg.order_seed, preload=cfg.preload,
                          deterministic_transform=not cfg.train_augment, max_negatives=cfg.max_hard_negatives,
                          max_positives=cfg.max_hard_positives, augmenter=augmenter)
    collate = Collate(bundle.tokenizer, k, p, {t: i for i, t in enumerate(types)}, cache=cfg.preload)
    if cfg.batch_groups > 1 and report.n_bad:
        raise EqvlError(f"`batch_groups` {cfg.batch_groups} keeps consecutive rows together, but {report.n_bad} rows of "
                        f"{source} were skipped, which would shift every later group; fix or drop them first", params=("batch_groups",))
    units = shard_units([r.blob[0] if r.blob else None for r in rows]) if cfg.dataset_resampled else None
    sampler = GlobalBatchSampler(len(dataset), cfg.batch_size, info.world, info.rank,
                                 cfg.order_seed if shuffle_seed is None else shuffle_seed, cfg.batch_groups,
                                 num_samples=cfg.train_num_samples, resampled=cfg.dataset_resampled, units=units)
    if cfg.close_cache:  # ITM models: the close-set cache, built or checked before the first step
        from eqvl.train.close_negatives import attach

        attach(cfg, info, bundle, rows, dataset)
    return DataPipeline(rows, report, types, k, p, dataset, collate, sampler)


def build_model(cfg: TrainConfig, info: DistInfo, resuming: bool = False) -> Any:
    """The open_clip model + transforms + tokenizer, with open_clip's tower locks and gradient
    checkpointing applied (same flags and defaults as open_clip's trainer)."""
    from eqvl.models.openclip import create_openclip

    if str(cfg.model).startswith("hf-itm:"):
        from eqvl.train.itm_model import build_itm_model

        return build_itm_model(cfg, info)
    if cfg.loss_spec.needs_pair_scores:
        raise EqvlError(f"`loss` {cfg.loss}: itm needs a model with an image-text matching head (hf-itm:DIR of a "
                        f"BlipForImageTextRetrieval); {cfg.model} is a dual encoder (losses: itc, eqsim, ce, hardpos)",
                        params=("loss",))
    check_bn_sync(cfg, info)  # before the model is built
    weights = cfg.pretrained or "none"
    if resuming and _is_path(weights):
        weights = "none"  # the resumed checkpoint's weights replace the init file's (which may be gone)
    options = {k: v for k, v in (("force_quick_gelu", cfg.force_quick_gelu), ("force_patch_dropout", cfg.force_patch_dropout),
                                 ("image_interpolation", cfg.image_interpolation),
                                 ("image_mean", tuple(cfg.image_mean or ()) or None),
                                 ("image_std", tuple(cfg.image_std or ()) or None),
                                 ("image_resize_mode", cfg.image_resize_mode),
                                 ("aug_cfg", dict(cfg.aug_cfg) or None)) if v not in (None, False)}
    bundle = create_openclip(str(cfg.model), weights, seed=cfg.seed, device=str(info.device), precision=cfg.precision,
                             options=options)
    model = bundle.model
    ignored = ignored_keys(cfg.aug_cfg)
    if ignored and info.is_main:  # open_clip warns about these too
        log.warning("`aug_cfg` %s: not read by open_clip's %s training transform (see `aug_cfg` in the help)",
                    ", ".join(ignored), "timm" if cfg.aug_cfg.get("use_timm") else "own", extra={"params": ("aug_cfg",)})
    if weights == "none" and not resuming and info.is_main:
        log.info("`pretrained` none: %s starts from random weights (seed %d)", cfg.model, cfg.seed,
                 extra={"params": ("pretrained",)})
    if weights != "none":
        bad = first_nonfinite(model.state_dict().items())
        if bad is not None:
            raise EqvlError(f"`pretrained` {weights}: weight {bad} is not finite; training from it would give NaN", params=("pretrained",))
    if cfg.lock_image:
        try:
            model.lock_image_tower(unlocked_groups=cfg.lock_image_unlocked_groups,
                                   freeze_bn_stats=cfg.lock_image_freeze_bn_stats)
        except AssertionError as exc:  # e.g. open_clip's ModifiedResNet locks only as a whole
            raise EqvlError(f"`lock_image_unlocked_groups` {cfg.lock_image_unlocked_groups}: open_clip cannot do this "
                            f"for {cfg.model}'s image tower ({exc}); use 0", params=("lock_image_unlocked_groups",)) from None
    if cfg.lock_text:
        try:
            model.lock_text_tower(unlocked_layers=cfg.lock_text_unlocked_layers,
                                  freeze_layer_norm=cfg.lock_text_freeze_layer_norm)
        except AssertionError:  # open_clip's own text tower cannot leave its LayerNorms trainable
            model.lock_text_tower(unlocked_layers=cfg.lock_text_unlocked_layers, freeze_layer_norm=True)
            if info.is_main:
                log.info("`lock_text`: %s's text tower freezes its LayerNorms with the locked layers (open_clip "
                         "supports trainable ones only in Hugging Face text towers)", cfg.model,
                         extra={"params": ("lock_text",)})
    if cfg.grad_checkpointing:
        model.set_grad_checkpointing(True)
    model.train()
    if cfg.use_bn_sync and info.enabled:  # open_clip converts under distributed training only
        bundle.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return bundle


def check_bn_sync(cfg: TrainConfig, info: DistInfo) -> None:
    """`use_bn_sync` under torchrun needs GPU processes (torch's SyncBatchNorm has no CPU version)."""
    if cfg.use_bn_sync and info.enabled and info.device.type != "cuda":
        raise EqvlError(f"`use_bn_sync` with {info.world} CPU processes: torch's SyncBatchNorm synchronises GPU "
                        "processes only; drop it on CPU", param="use_bn_sync")


def compile_model(model: torch.nn.Module, cfg: TrainConfig, info: DistInfo) -> torch.nn.Module:
    """open_clip's --torchcompile: torch.compile the (DDP-wrapped) model the step calls; checkpoints keep
    saving the plain model (no `_orig_mod.` keys). As open_clip: DDP's dynamo optimiser off with gradient
    checkpointing under torchrun, and torch's compile loggers at WARNING."""
    import logging

    if cfg.grad_checkpointing and info.enabled:
        torch._dynamo.config.optimize_ddp = False
    prefixes = ("torch._dynamo", "torch._inductor", "torch._functorch", "torch._utils_internal", "torch.fx")
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(prefixes):
            logging.getLogger(name).setLevel(logging.WARNING)
    compiled: torch.nn.Module = torch.compile(model)  # type: ignore[assignment]  # an OptimizedModule
    return compiled


def build_teacher(cfg: TrainConfig, info: DistInfo) -> torch.nn.Module | None:
    """The frozen --distill-model (eval mode, no gradient), or None without distillation."""
    if not cfg.distill_model:
        return None
    teacher_cfg = replace(cfg, model=cfg.distill_model, pretrained=cfg.distill_pretrained or "none", lock_image=False,
                          lock_text=False, grad_checkpointing=False, use_bn_sync=False, aug_cfg={})
    teacher = build_model(teacher_cfg, info).model.eval()
    teacher.requires_grad_(False)
    return teacher


def _is_path(spec: str) -> bool:
    return os.path.exists(spec) or os.sep in spec or spec.endswith((".pt", ".pth", ".bin", ".safetensors"))


#: flags a resumed run must share with its checkpoint (the weights and the loss state depend on them)
RESUME_FIXED = ("model", "loss")
#: flags whose change on resume is not worth a note
RESUME_QUIET = {"resume", "overwrite", "progress", "workers", "device", "output", "pretrained", "log_every"}


def reconcile_resume(cfg: TrainConfig, ckpt: dict[str, Any], source: str) -> TrainConfig:
    """Take --model (and --pretrained) from the checkpoint when left out; refuse a different --model or
    --loss; list the other flags that changed (they apply from here on)."""
    config = ckpt.get("config")
    saved: dict[str, Any] = upgrade_saved_settings(config) if isinstance(config, dict) else {}
    if cfg.model is None:
        cfg = replace(cfg, model=saved.get("model") or ckpt.get("name"))
    if cfg.pretrained is None:
        cfg = replace(cfg, pretrained=saved.get("pretrained") or "none")
    for name in RESUME_FIXED:
        if saved.get(name) is not None and getattr(cfg, name) != saved[name]:
            raise EqvlError(f"`resume` {source}: that run used `{name}` {saved[name]}, this one `{name}` "
                            f"{getattr(cfg, name)}; resume with the same `{name}`, or start a new `output`",
                            params=("resume", name, "output"))
    now = cfg.to_dict()
    changed = [k for k in now if k in saved and k not in RESUME_QUIET and k not in RESUME_FIXED and now[k] != saved[k]]
    if changed:
        log.info("resuming %s with changed settings: %s", source,
                 ", ".join(f"`{k}` {'left out' if now[k] is None else now[k]} (was {saved[k]})" for k in changed),
                 extra={"params": tuple(changed)})
    return cfg


def upgrade_saved_settings(saved: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's settings from before issue 26.7 in today's names: its `skip_bad` decoded every image
    first (now `check_images`) and its `strict_data` failed at bad rows (now `skip_bad` off); without this a
    resume would report both as changed when the run is the same."""
    if "check_images" in saved or "strict_data" not in saved:
        return saved
    rest = {k: v for k, v in saved.items() if k != "strict_data"}
    return rest | {"check_images": bool(saved.get("skip_bad", False)), "skip_bad": not saved["strict_data"]}


def resolve_model(cfg: TrainConfig) -> TrainConfig:
    """--model left out: the model name stored in the --pretrained checkpoint."""
    if cfg.model:
        return cfg
    from eqvl.models.loading import resolve_model_arg

    return replace(cfg, model=resolve_model_arg(None, cfg.pretrained))


def param_groups(model: torch.nn.Module, wd: float) -> list[dict[str, Any]]:
    """open_clip's split: no weight decay on gains, biases, norms, embeddings' scale and logit_scale."""
    def exclude(n: str, p: torch.nn.Parameter) -> bool:
        return p.ndim < 2 or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in n

    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return [{"params": [p for n, p in named if exclude(n, p)], "weight_decay": 0.0},
            {"params": [p for n, p in named if not exclude(n, p)], "weight_decay": wd}]


@dataclass
class TrainState:
    """What the loop updates and a checkpoint stores."""

    model: torch.nn.Module
    ddp: torch.nn.Module  # the model, wrapped in DistributedDataParallel under torchrun
    optimizer: torch.optim.Optimizer
    scaler: Any  # torch.amp.GradScaler or None
    loss_fn: CombinedLoss
    step: int = 0
    start_epoch: int = 0
    skip: int = 0  # batches of start_epoch already consumed (mid-epoch resume)
    compiled: torch.nn.Module | None = None  # --torchcompile: the compiled `ddp`

    @property
    def runner(self) -> torch.nn.Module:
        """What a step calls: the compiled model under --torchcompile, else `ddp`."""
        return self.compiled if self.compiled is not None else self.ddp


def build_state(cfg: TrainConfig, info: DistInfo, model: torch.nn.Module, loss_fn: CombinedLoss) -> TrainState:
    """AdamW (foreach: one kernel per parameter group), the GradScaler fp16 needs, DDP under torchrun."""
    groups = param_groups(model, cfg.wd)
    own = [p for p in loss_fn.parameters() if p.requires_grad]  # a term's learnable scalars (SigLIP's bias)
    if own:
        groups.append({"params": own, "weight_decay": 0.0})
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, foreach=True)
    scaler = torch.amp.GradScaler("cuda") if needs_grad_scaler(cfg.precision, info.device) else None
    ddp = model
    if info.enabled:
        ddp = torch.nn.parallel.DistributedDataParallel(  # an ITM model's ITC projections idle without itc
            model, device_ids=[info.device.index] if info.device.type == "cuda" else None,
            find_unused_parameters=bool(getattr(model, "pair_scores", False)))
    compiled = compile_model(ddp, cfg, info) if cfg.torchcompile else None
    return TrainState(model, ddp, optimizer, scaler, loss_fn, compiled=compiled)


def restore(state: TrainState, ckpt: dict[str, Any], source: str, cfg: TrainConfig, info: DistInfo,
            types: list[str]) -> None:
    """Load a checkpoint's weights, optimiser, scaler, loss state and RNGs into `state`; a checkpoint of
    another architecture, other data or non-finite weights is one line naming what differs."""
    from eqvl.models.checkpoints import describe_mismatch, state_dict_of
    from eqvl.train.checkpoint import set_rng_state

    weights = state_dict_of(ckpt)
    try:
        state.model.load_state_dict(weights)
    except RuntimeError:
        raise EqvlError(f"`resume` {source}: does not fit `model` {cfg.model}: "
                        f"{describe_mismatch(state.model.state_dict(), weights)}", params=("resume", "model")) from None
    bad = first_nonfinite(weights.items())
    if bad is not None:
        raise EqvlError(f"`resume` {source}: weight {bad} is not finite; resume from an earlier epoch_N.pt", params=("resume",))
    saved_types = ckpt.get("negative_types")
    if saved_types is not None and list(saved_types) != list(types) and cfg.loss_spec.uses_caption_types:
        raise EqvlError(f"`resume` {source}: that run's hard-negative types were {', '.join(saved_types)}, this "
                        f"`train_data` gives {', '.join(types)}; resume on the same `train_data`", params=("resume", "train_data"))
    state.optimizer.load_state_dict(ckpt["optimizer"])
    if state.scaler is not None and ckpt.get("scaler"):
        state.scaler.load_state_dict(ckpt["scaler"])
    state.loss_fn.load_state_dict(ckpt.get("loss_state", {}), strict=False)
    set_rng_state(ckpt["rng"])
    state.step, state.start_epoch, state.skip = int(ckpt["step"]), int(ckpt["epoch"]), int(ckpt.get("batch_in_epoch", 0))
    was = ckpt.get("global_batch", cfg.batch_size * info.world)
    if state.skip and was != cfg.batch_size * info.world:
        raise EqvlError(f"`resume` {source}: it stopped mid-epoch with a global batch of {was}; resume with the same "
                        f"`batch_size` x processes (now {cfg.batch_size} x {info.world})", params=("resume", "batch_size"))
