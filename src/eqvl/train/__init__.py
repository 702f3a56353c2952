"""Training: `TrainConfig` + `train(cfg) -> TrainResult` (library), `eqvl train` (CLI), torchrun-ready.

Layout: `config` (flags) -> `records` / `shards` (rows) -> `dataset` / `batching` (tensors) ->
`setup` (model, optimiser, resume) -> `loop` (steps) -> `checkpoint` (files); `periodic` evaluates.
"""

from eqvl.train.config import TrainConfig
from eqvl.train.dataset import Augmenter, default_augmenter
from eqvl.train.loop import TrainResult, forward_loss, train
from eqvl.train.setup import build_loss

__all__ = ["TrainConfig", "TrainResult", "train", "build_loss", "forward_loss", "Augmenter", "default_augmenter"]
