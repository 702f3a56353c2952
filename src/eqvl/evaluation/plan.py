"""Several models x several benchmarks in one `eqvl eval`: which runs, and where each writes.

With one model and one benchmark, `--output` (and `--scores-out`, `--export-official-scores`)
are plain file names. With more, they are templates that must tell the runs apart, as in
CLIP_benchmark: `{benchmark}`, `{model}` and `{pretrained}` (file-name-safe versions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, overload

from eqvl.errors import EqvlError

FIELDS = ("benchmark", "model", "pretrained")


@dataclass(frozen=True)
class PlannedRun:
    model: str | None  # None: the model name stored in the checkpoint
    pretrained: str | None  # None: not given (the model loader decides whether that is allowed)
    benchmark: str
    data: str
    output: Path
    scores_out: Path | None = None
    official_out: Path | None = None

    def outputs(self) -> list[Path]:
        return [p for p in (self.output, self.scores_out, self.official_out) if p is not None]


def slug(text: str) -> str:
    """A file-name-safe version of a model name, tag or checkpoint path."""
    text = Path(text).name if ("/" in text or "\\" in text) and not text.startswith("hf-hub:") else text
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_") or "x"


def plan_runs(models: Sequence[str | None], pretrained: Sequence[str | None], benchmarks: Sequence[str], data: Sequence[str],
              output: str, scores_out: str | None = None, official_out: str | None = None) -> list[PlannedRun]:
    """Every (model, benchmark) run in order (models outer, so each model is built once)."""
    if len(pretrained) not in (1, len(models)):
        raise EqvlError(f"`pretrained`: give one value for all models or one per `model` ({len(models)}), got {len(pretrained)}", params=("pretrained", "model"))
    if len(data) != len(benchmarks):
        raise EqvlError(f"`data`: give one folder per `benchmark` ({len(benchmarks)}, same order), got {len(data)}", params=("data", "benchmark"))
    weights = list(pretrained) * len(models) if len(pretrained) == 1 else list(pretrained)
    runs = []
    for model, tag in zip(models, weights):
        for bench, folder in zip(benchmarks, data):
            names = {"benchmark": slug(bench), "model": slug(model or Path(tag or "model").stem), "pretrained": slug(tag or "none")}
            runs.append(PlannedRun(model, tag, bench, folder, _fill("output", output, names),
                                   _fill("scores_out", scores_out, names), _fill("export_official_scores", official_out, names)))
    for param, paths in (("output", [r.output for r in runs]), ("scores_out", [r.scores_out for r in runs]),
                         ("export_official_scores", [r.official_out for r in runs])):
        if paths[0] is not None and len(set(paths)) != len(paths):
            raise EqvlError(f"`{param}`: {len(runs)} runs would share one file; put {{benchmark}} and {{model}} "
                            "(or {pretrained}) in the name, e.g. results/{benchmark}_{model}.json", params=(param,))
    everything = [p.resolve() for r in runs for p in r.outputs()]
    if len(set(everything)) != len(everything):
        raise EqvlError("`output`, `scores_out` and `export_official_scores` must be different files", params=("output", "scores_out", "export_official_scores"))
    return runs


@overload
def _fill(flag: str, template: str, names: dict[str, str]) -> Path: ...
@overload
def _fill(flag: str, template: None, names: dict[str, str]) -> None: ...
@overload
def _fill(flag: str, template: str | None, names: dict[str, str]) -> Path | None: ...
def _fill(flag: str, template: str | None, names: dict[str, str]) -> Path | None:
    if template is None:
        return None
    try:
        return Path(template.format(**names))
    except (KeyError, IndexError, ValueError) as exc:
        raise EqvlError(f"{flag} {template!r}: unknown placeholder {exc}; valid: "
                        + ", ".join("{" + f + "}" for f in FIELDS)) from None
