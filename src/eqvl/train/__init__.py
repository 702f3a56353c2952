"""Training: `TrainConfig` + `train(cfg) -> TrainResult` (library), `eqvl train` (CLI), torchrun-ready."""

from eqvl.train.config import TrainConfig
from eqvl.train.loop import TrainResult, build_loss, train

__all__ = ["TrainConfig", "TrainResult", "train", "build_loss"]
