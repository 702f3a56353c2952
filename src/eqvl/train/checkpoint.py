"""open_clip-compatible checkpoints, written atomically, with everything needed to resume exactly.

`epoch_N.pt` holds `state_dict` (what `open_clip.create_model(..., pretrained=path)` loads),
`optimizer`, `scaler`, `step`, `epoch`, RNG states, the loss state (CE's margins) and `config`.
Everything is tensors / plain Python, so `torch.load(weights_only=True)` (open_clip's default) works.
`epoch_latest.pt` is rewritten at every save; `--resume latest` reads it.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eqvl.errors import EqvlError
from eqvl.io import atomic_open
from eqvl.train.config import TrainConfig
from eqvl.train.distributed import DistInfo, barrier

LATEST = "epoch_latest.pt"


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
        "python": _py_state_to_plain(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _py_state_to_plain(st: tuple) -> list:
    version, internal, gauss = st
    return [version, list(internal), gauss]


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """torch.save into a temporary file, renamed over `path` only when complete."""
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        torch.save(payload, handle)
    return path


def find_resume(spec: str, output: str | Path) -> Path | None:
    """`latest` -> <output>/checkpoints/epoch_latest.pt (None if the run has not saved yet); else a path."""
    if spec == "latest":
        path = Path(output) / "checkpoints" / LATEST
        return path if path.is_file() else None
    path = Path(spec)
    if not path.is_file():
        raise EqvlError(f"--resume {spec}: no such checkpoint file (or use --resume latest)")
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which
        raise EqvlError(f"cannot read checkpoint {path}: {exc}") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise EqvlError(f"{path}: not an eqvl/open_clip training checkpoint (no 'state_dict')")
    return ckpt


def prepare_output(cfg: TrainConfig, info: DistInfo) -> Path | None:
    """The checkpoint to resume from (None: a fresh run); refuses to start over existing checkpoints
    without --overwrite, and drops a stale epoch_latest.pt of an overwritten run."""
    ckdir = Path(cfg.output) / "checkpoints"
    resume_path = find_resume(cfg.resume, cfg.output) if cfg.resume else None
    if resume_path is None and not cfg.overwrite and ckdir.is_dir() and any(ckdir.glob("*.pt")):
        raise EqvlError(f"{ckdir} already has checkpoints; pass --resume latest to continue or --overwrite to start over")
    if info.is_main and resume_path is None and (ckdir / LATEST).exists():
        (ckdir / LATEST).unlink()
    return resume_path


class Checkpointer:
    """Writes the run's state (rank 0) under the given names, then waits for every rank."""

    def __init__(self, ckdir: Path, cfg: TrainConfig, info: DistInfo, state: Any, model_name: str, types: list[str]):
        self.ckdir, self.cfg, self.info, self.state = ckdir, cfg, info, state
        self.model_name, self.types = model_name, types

    def payload(self, epoch: int, batch_in_epoch: int) -> dict[str, Any]:
        st = self.state
        return {"epoch": epoch, "batch_in_epoch": batch_in_epoch, "global_batch": self.cfg.batch_size * self.info.world,
                "step": st.step, "name": self.model_name,
                "state_dict": st.model.state_dict(), "optimizer": st.optimizer.state_dict(),
                "scaler": st.scaler.state_dict() if st.scaler is not None else {}, "loss_state": st.loss_fn.state_dict(),
                "rng": rng_state(), "config": self.cfg.to_dict(), "negative_types": self.types}

    def save(self, names: list[str], epoch: int, batch_in_epoch: int) -> Path:
        if self.info.is_main:
            blob = self.payload(epoch, batch_in_epoch)
            for name in names:
                save_checkpoint(self.ckdir / name, blob)
        barrier(self.info)
        return self.ckdir / names[0]
