"""--val-data: the training loss on held-out pairs (open_clip's `val_loss`), every --val-frequency epochs.

The held-out rows go through the training pipeline (same hard-negative slots K / P, same negative
types, generated hard texts seeded by row) with the evaluation transform, in file order, in
batches of --batch-size (a last batch of one pair is left out: it has no negatives); the loss is the mean over batches weighted by their size, computed with
the model in eval mode and a copy of the loss (so CE's margins and EqSim's counters stay untouched).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

import torch
from eqvl.processes import data_loader

from eqvl.errors import EqvlError
from eqvl.losses import CombinedLoss
from eqvl.train.batching import Collate
from eqvl.train.config import TrainConfig
from eqvl.train.dataset import Augmenter, PairDataset
from eqvl.distributed import DistInfo
from eqvl.train.setup import DataPipeline, read_rows

log = logging.getLogger(__name__)


@dataclass
class Validation:
    dataset: PairDataset
    collate: Collate
    batch_size: int
    k: int
    p: int


def build_validation(cfg: TrainConfig, bundle: Any, probe: CombinedLoss, train: DataPipeline,
                     augmenter: Augmenter | None) -> Validation:
    """Read --val-data (bad rows counted as for training) into a fixed-order dataset."""
    rows, report, has = read_rows(str(cfg.val_data), cfg)
    gen_neg = probe.needs_negatives and not has["hard_negatives"]
    gen_pos = probe.needs_positives and not has["hard_positives"]
    if (gen_neg or gen_pos) and augmenter is None:
        raise EqvlError(f"`val_data` {cfg.val_data}: `loss` {cfg.loss} needs hard negatives / positives the file "
                        "does not have, and eqvl.augment is not available to generate them", params=("val_data", "loss"))
    dataset = PairDataset(rows, bundle.preprocess_val, negatives=probe.needs_negatives,
                          positives=probe.needs_positives, generate_negatives=gen_neg, generate_positives=gen_pos,
                          seed=cfg.order_seed, deterministic_transform=True, max_negatives=cfg.max_hard_negatives,
                          max_positives=cfg.max_hard_positives, augmenter=augmenter)
    collate = Collate(bundle.tokenizer, train.k, train.p, {t: i for i, t in enumerate(train.types)})
    log.info("validation %s", report.summary())
    return Validation(dataset, collate, min(cfg.batch_size, len(rows)), train.k, train.p)


def validation_loss(val: Validation, model: torch.nn.Module, loss_fn: CombinedLoss, cfg: TrainConfig,
                    device: torch.device, step: int, autocast: Any, image_dtype: torch.dtype) -> dict[str, float]:
    """Mean loss parts over the held-out set (`val/loss`, `val/itc`, ...); the model is left as it was."""
    from eqvl.train.forward import forward_loss

    loader = data_loader(val.dataset, batch_size=val.batch_size, shuffle=False, drop_last=False,
                         collate_fn=val.collate, num_workers=cfg.workers)
    frozen = copy.deepcopy(loss_fn).eval()
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    seen = 0
    try:
        with torch.no_grad():
            for batch in loader:
                if batch.n < 2:  # a one-pair batch has no negatives: its contrastive loss is 0 by definition
                    continue
                batch = batch.to(device)
                batch.images = batch.images.to(image_dtype)
                total, parts = forward_loss(model, frozen, batch, DistInfo(device=device), k=val.k, p=val.p,
                                            step=step, seed=cfg.seed, autocast=autocast)
                for name, value in {"loss": total, **parts}.items():
                    sums[name] = sums.get(name, 0.0) + float(value) * batch.n
                seen += batch.n
    finally:
        model.train(was_training)
    return {f"val/{name}": value / seen for name, value in sums.items()} | {"val_rows": seen}
