"""What an evaluation writes besides its results JSON: the per-item score file (`--scores-out`)
and a benchmark's official submission layout (`--export-official-scores`).

The score file is eqvl's own format and is read back here too (`read_score_file`), so
the demo and the report never need to know how it is laid out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Sequence, TypeGuard, runtime_checkable

import numpy as np

from eqvl.errors import DataError, EqvlError
from eqvl.evaluation.provenance import check_same_run
from eqvl.io import atomic_open
from eqvl.metrics import equivariance_scores

if TYPE_CHECKING:
    from eqvl.benchmarks import BenchmarkData
    from eqvl.evaluation.run import EvalResult


@runtime_checkable
class OfficialScores(Protocol):
    """A benchmark with an official score layout (e.g. the EqBen leaderboard's .npy)."""

    def export_official_scores(self, data: "BenchmarkData", scores: Sequence[np.ndarray]) -> Any: ...


def has_official_layout(bench: object) -> TypeGuard[OfficialScores]:
    return isinstance(bench, OfficialScores)


def scores_arrays(result: "EvalResult") -> dict[str, np.ndarray]:
    """Per-sample scores for `--scores-out`: ids, subsets, scores [N, C, I] (or flat + shapes
    when items differ in shape), EqSim's equivariance gaps for 2x2 twins, and `provenance`
    (JSON text: benchmark, data path + hash, model + weights hash) naming the run."""
    items = result.data.items
    arrays: dict[str, np.ndarray] = {
        "ids": np.asarray([it.id for it in items], dtype=str),
        "subsets": np.asarray([it.subset for it in items], dtype=str),
    }
    if "provenance" in result.results:
        arrays["provenance"] = np.asarray(json.dumps(result.results["provenance"], sort_keys=True))
    shapes = {s.shape for s in result.scores}
    if len(shapes) == 1:
        arrays["scores"] = np.stack(result.scores)
        if shapes == {(2, 2)}:
            eq = equivariance_scores(arrays["scores"])
            arrays["equivariance_text"], arrays["equivariance_image"] = eq["text"], eq["image"]
    elif result.scores:
        arrays["scores_flat"] = np.concatenate([s.reshape(-1) for s in result.scores])
        arrays["shapes"] = np.asarray([s.shape for s in result.scores], dtype=np.int64)
    return arrays


def write_score_file(path: str | Path, result: "EvalResult") -> Path:
    """Write `scores_arrays(result)` as an .npz, atomically (callers check overwriting first)."""
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        arrays: dict[str, Any] = scores_arrays(result)  # typed loosely: numpy's stub reads a key as allow_pickle
        np.savez(handle, **arrays)
    return path


def official_scores(bench: object, result: "EvalResult") -> np.ndarray:
    """The benchmark's official submission array for this run; every record must be present."""
    if not has_official_layout(bench):
        raise EqvlError(f"`export_official_scores`: benchmark {result.results.get('dataset')} has no official score layout", params=("export_official_scores",))
    if result.results.get("skipped", {}).get("n"):
        raise EqvlError("`export_official_scores` needs every record; some were skipped (`skip_bad`)", params=("export_official_scores", "skip_bad"))
    return np.asarray(bench.export_official_scores(result.data, result.scores))


def write_official_scores(path: str | Path, bench: object, result: "EvalResult") -> Path:
    path = Path(path)
    array = official_scores(bench, result)
    with atomic_open(path, "wb") as handle:
        np.save(handle, array)
    return path


@dataclass
class ScoreFile:
    """A score file read back: `arrays` as stored, plus the twins' equivariance gaps when it has them."""

    arrays: dict[str, np.ndarray]

    @property
    def provenance(self) -> dict[str, Any] | None:
        """What made these scores (None for files written before eqvl recorded it)."""
        if "provenance" not in self.arrays:
            return None
        return json.loads(str(self.arrays["provenance"]))

    @property
    def equivariance(self) -> dict[str, np.ndarray]:
        """{"text": gaps, "image": gaps} for 2x2 twins, as written with the scores (computed for
        older files that stored only `scores`); {} for other shapes."""
        if "equivariance_text" in self.arrays and "equivariance_image" in self.arrays:
            return {"text": self.arrays["equivariance_text"], "image": self.arrays["equivariance_image"]}
        scores = self.arrays.get("scores")
        if scores is None or scores.ndim != 3 or scores.shape[1:] != (2, 2):
            return {}
        return equivariance_scores(scores)


def check_scores_match(scores_path: str | Path, n_rows: int, results: dict[str, Any], results_path: str | Path) -> None:
    """Refuse a score file (n_rows items) that was not made by the run behind `results` (eqvl report)."""
    meta = read_score_file(scores_path).provenance if Path(scores_path).suffix == ".npz" else None
    check_same_run(meta, n_rows, results, str(scores_path), str(results_path))


def read_score_file(path: str | Path) -> ScoreFile:
    """Load a `--scores-out` .npz; a file numpy cannot read is a DataError naming it."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return ScoreFile({k: data[k] for k in data.files})
    except FileNotFoundError:
        raise DataError("file not found", path=str(path)) from None
    except Exception as exc:  # numpy raises several types for a bad file
        raise DataError(f"not an eqvl score file (.npz): {exc}", path=str(path)) from None
