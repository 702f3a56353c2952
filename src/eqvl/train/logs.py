"""metrics.jsonl (one JSON object per logged step / event), plus tensorboard and wandb when asked
(`--report-to wandb,tensorboard`, open_clip's flag; both are optional extras)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from eqvl.errors import EqvlError
from eqvl.io import atomic_open


def check_loggers(names: list[str]) -> None:
    """Import the packages --report-to / --tensorboard need now, before a model is built or a step is run:
    a missing extra costs one line, not a wasted model load."""
    if "tensorboard" in names:
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        except ImportError:
            raise EqvlError("`tensorboard` / `report_to` tensorboard needs the tensorboard package: "
                            "pip install 'eqvl[tensorboard]'", params=("tensorboard", "report_to")) from None
    if "wandb" in names:
        try:
            import wandb  # noqa: F401
        except ImportError:
            raise EqvlError("`report_to` wandb needs the wandb package: pip install 'eqvl[wandb]'", params=("report_to",)) from None


class MetricsLog:
    def __init__(self, path: str | Path, tensorboard_dir: str | Path | None = None, resume_step: int | None = None,
                 wandb: dict[str, Any] | None = None):
        """`wandb`: keyword arguments for `wandb.init` (project, name, config, dir), or None for no wandb."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.is_file():
            self._truncate_after(resume_step)
        elif resume_step is None and self.path.exists():
            self.path.unlink()
        self._fh = open(self.path, "a", encoding="utf-8")
        self.records: list[dict[str, Any]] = []
        self.tb = None
        if tensorboard_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise EqvlError("`tensorboard` needs the tensorboard package: pip install 'eqvl[tensorboard]'", params=("tensorboard",)) from None
            self.tb = SummaryWriter(str(tensorboard_dir))
        self.wandb = _start_wandb(wandb) if wandb is not None else None

    def _truncate_after(self, step: int) -> None:
        """A resumed run rewrites history from its checkpoint on: drop records logged after it."""
        keep = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by the kill
            if rec.get("step", 0) <= step:
                keep.append(line)
        with atomic_open(self.path, "w", encoding="utf-8") as fh:
            fh.write("".join(k + "\n" for k in keep))

    def log(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()
        if self.tb is not None and "step" in record:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k not in ("step", "epoch"):
                    self.tb.add_scalar(k, v, record["step"])
        if self.wandb is not None and "step" in record:
            values = {k: v for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                      and k != "step"}
            if values:
                self.wandb.log(values, step=record["step"])

    def close(self) -> None:
        self._fh.close()
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()


def _start_wandb(kwargs: dict[str, Any]) -> Any:
    """wandb.init with an id derived from the output folder, so --resume continues the same wandb run."""
    try:
        import wandb
    except ImportError:
        raise EqvlError("`report_to` wandb needs the wandb package: pip install 'eqvl[wandb]'", params=("report_to",)) from None
    run_id = "eqvl-" + hashlib.blake2b(str(kwargs.get("dir", "")).encode(), digest_size=8).hexdigest()
    return wandb.init(id=run_id, resume="allow", **kwargs)
