"""open_clip-compatible checkpoints, written atomically, with everything needed to resume exactly.

`epoch_N.pt` holds `state_dict` (what `open_clip.create_model(..., pretrained=path)` loads),
`optimizer`, `scaler`, `step`, `epoch`, RNG states, the loss state (CE's margins) and `config`.
Everything is tensors / plain Python, so `torch.load(weights_only=True)` (open_clip's default) works.
`epoch_latest.pt` is rewritten at every save (at an epoch's end, a hard link to `epoch_N.pt`: no
extra disk); `--resume latest` reads it, or the newest readable `epoch_N.pt` when it is missing or
damaged. A checkpoint holding a non-finite weight is never written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eqvl.errors import EqvlError
from eqvl.io import atomic_open
from eqvl.train.guards import first_nonfinite
from eqvl.train.config import TrainConfig
from eqvl.distributed import DistInfo, barrier

log = logging.getLogger(__name__)

LATEST = "epoch_latest.pt"


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state(legacy=True)
    assert isinstance(np_state, tuple), "legacy=True gives the MT19937 state tuple"
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


def link_or_copy(src: Path, dst: Path) -> None:
    """`dst` becomes the same file as `src` (hard link, atomically replacing `dst`; a copy where links fail)."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.link.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError:
        with atomic_open(dst, "wb") as out, open(src, "rb") as inp:
            while chunk := inp.read(1 << 24):
                out.write(chunk)
        return
    os.replace(tmp, dst)


_EPOCH = re.compile(r"epoch_(\d+)\.pt")


def epoch_files(ckdir: Path) -> list[Path]:
    """epoch_N.pt files, newest (highest N) first."""
    found = [(int(m.group(1)), p) for p in ckdir.glob("epoch_*.pt") if (m := _EPOCH.fullmatch(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def find_resume(spec: str, output: str | Path) -> Path | None:
    """`latest` -> <output>/checkpoints/epoch_latest.pt, or the newest readable epoch_N.pt when that
    is missing or unreadable (said on stderr); None if the run has not saved yet. Else a path."""
    if spec != "latest":
        path = Path(spec)
        if not path.is_file():
            raise EqvlError(f"`resume` {spec}: no such checkpoint file (or use `resume` latest)", params=("resume",))
        return path
    ckdir = Path(output) / "checkpoints"
    latest = ckdir / LATEST
    problem = "missing" if not latest.is_file() else _unreadable(latest)
    if problem is None:
        return latest
    for candidate in epoch_files(ckdir):
        why = _unreadable(candidate)
        if why is None:
            log.warning("%s is %s; resuming from %s, the newest readable epoch checkpoint", latest, problem,
                        candidate.name)
            return candidate
        log.warning("skipping %s: %s", candidate, why)
    if problem != "missing":
        raise EqvlError(f"`resume` latest: {latest} is {problem}, and no readable epoch_N.pt is beside it", params=("resume",))
    return None


def _unreadable(path: Path) -> str | None:
    """None when torch can open the checkpoint, else what is wrong with it."""
    from eqvl.models.checkpoints import describe_file

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - the file's description says more than torch's error
        return f"unreadable: {describe_file(path)}"
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        return "not an eqvl / open_clip training checkpoint (no 'state_dict')"
    return None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint (weights_only); a file that is not one is named for what it is."""
    from eqvl.models.checkpoints import describe_file

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a truncated or foreign file: say what it is
        raise EqvlError(f"cannot read checkpoint {path}: it is {describe_file(path)}") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise EqvlError(f"{path}: not an eqvl/open_clip training checkpoint (no 'state_dict')")
    return ckpt


def clean_temporaries(out: Path) -> None:
    """Remove what killed writes left (atomic_open's `.NAME.*.tmp`), beside checkpoints and logs.
    Only called while this run holds the output lock, so no live writer owns them."""
    removed, size = 0, 0
    for folder in (out, out / "checkpoints"):
        for tmp in folder.glob(".*.tmp") if folder.is_dir() else ():
            if tmp.name.startswith(".eqvl.lock"):
                continue  # another run's lock being published: the lock's own code handles it
            with contextlib.suppress(OSError):
                size += tmp.stat().st_size
                tmp.unlink()
                removed += 1
    if removed:
        log.info("removed %d temporary file(s) of interrupted writes (%.1f MB) in %s", removed, size / 1e6, out)


def prepare_output(cfg: TrainConfig, info: DistInfo) -> Path | None:
    """The checkpoint to resume from (None: a fresh run); refuses to start over existing checkpoints
    without --overwrite, and drops a stale epoch_latest.pt of an overwritten run."""
    ckdir = Path(cfg.output) / "checkpoints"
    if info.is_main:
        clean_temporaries(Path(cfg.output))
    resume_path = find_resume(cfg.resume, cfg.output) if cfg.resume else None
    if cfg.resume == "latest" and resume_path is None and info.is_main:
        log.info("`resume` latest: %s has no checkpoint yet; starting a fresh run", ckdir, extra={"params": ("resume",)})
    if resume_path is None and not cfg.overwrite and ckdir.is_dir() and any(ckdir.glob("*.pt")):
        raise EqvlError(f"{ckdir} already has checkpoints; pass `resume` latest to continue or `overwrite` to start over", params=("resume", "overwrite"))
    if info.is_main and resume_path is None and (ckdir / LATEST).exists():
        (ckdir / LATEST).unlink()
    return resume_path


class Checkpointer:
    """Writes the run's state (rank 0) under the given names, then waits for every rank."""

    def __init__(self, ckdir: Path, cfg: TrainConfig, info: DistInfo, state: Any, model_name: str, types: list[str]):
        self.ckdir, self.cfg, self.info, self.state = ckdir, cfg, info, state
        self.model_name, self.types = model_name, types
        #: eqvl.train.probe.Probe checked before each write (None: no check); autocast for its forward
        self.probe: Any = None
        self.autocast: Any = contextlib.nullcontext
        #: export(folder_of_checkpoints, epoch_N.pt name): the model in its own format beside it (hf-itm: models)
        self.export: Any = None

    def payload(self, epoch: int, batch_in_epoch: int, rng: dict[str, Any] | None = None) -> dict[str, Any]:
        st = self.state
        return {"epoch": epoch, "batch_in_epoch": batch_in_epoch, "global_batch": self.cfg.batch_size * self.info.world,
                "step": st.step, "name": self.model_name,
                "state_dict": st.model.state_dict(), "optimizer": st.optimizer.state_dict(),
                "scaler": st.scaler.state_dict() if st.scaler is not None else {}, "loss_state": st.loss_fn.state_dict(),
                "rng": rng if rng is not None else rng_state(), "config": self.cfg.to_dict(), "negative_types": self.types}

    def save(self, names: list[str], epoch: int, batch_in_epoch: int, rng: dict[str, Any] | None = None) -> Path:
        """Write names[0], link the others to it; refuses non-finite weights; prunes to --keep-last."""
        if self.info.is_main:
            blob = self.payload(epoch, batch_in_epoch, rng)
            bad = first_nonfinite(blob["state_dict"].items())
            if bad is not None:
                raise EqvlError(f"step {self.state.step}: weight {bad} is not finite; not writing "
                                f"{', '.join(names)} (the checkpoints on disk are untouched)")
            problem = self.probe.problem(self.state.model, self.autocast) if self.probe is not None else None
            if problem is not None:
                raise EqvlError(f"step {self.state.step}: the model is broken: {problem}; not writing "
                                f"{', '.join(names)} (the checkpoints on disk are untouched). Lower `lr`, set "
                                "`grad_clip_norm`, or resume from an earlier epoch_N.pt", params=("lr", "grad_clip_norm"))
            if self.export is not None and names[0].startswith("epoch_") and names[0] != LATEST:
                self.export(self.ckdir, names[0])  # first: a kill before the .pt below redoes this epoch and its dir
            first = save_checkpoint(self.ckdir / names[0], blob)
            for name in names[1:]:
                link_or_copy(first, self.ckdir / name)
            if self.cfg.keep_last:
                for old in epoch_files(self.ckdir)[self.cfg.keep_last:]:
                    old.unlink()
        barrier(self.info)
        return self.ckdir / names[0]
