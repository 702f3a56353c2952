"""The benchmark protocol and its registry.

A benchmark = a reader (official files -> `ScoreItem`s) + a metric (score matrices ->
results). Adding a benchmark means adding one file with a `@register_benchmark` class and
its module name to `READERS` below (see `eqvl.registry` for why the list is explicit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from eqvl.data.records import ScoreItem
from eqvl.registry import Registry

if TYPE_CHECKING:
    import torch


@dataclass
class BenchmarkData:
    """What a reader returns: the items plus anything the metric needs (e.g. official order)."""

    items: list[ScoreItem]
    meta: dict[str, Any] = field(default_factory=dict)
    #: what the scores handed to `evaluate` mean ("cosine", "probability"); set by the evaluation
    score_kind: str | None = None


class Benchmark:
    """Base class. Subclasses set `name`, `layout` (a human description of the expected
    files, shown by `eqvl benchmarks` and in layout errors) and `task`, and implement
    `load` and `evaluate`.

    `evaluate(data, scores)` receives one array per item, shaped
    [len(item.captions), len(item.images)], and returns
    {"metrics": {name: fraction}, "subsets": {subset: {metric: value, "n": count}}}.
    Set `needs_probabilities = True` for metrics that are meaningless for cosine scores.
    """

    name: str = ""
    layout: str = ""
    task: str = "compositionality"
    needs_probabilities: bool = False
    #: True for benchmarks that need every image x every caption (retrieval). The engine
    #: then encodes data.meta["images"] (list[ImageRef]) and data.meta["captions"]
    #: (list[str]) once each and calls `evaluate_embeddings` instead of `evaluate`.
    full_matrix: bool = False
    #: True when `load` takes a `subset` option itself (it picks files by it); for the others
    #: the evaluation applies `--option subset=a,b` by keeping the items whose `subset` is listed.
    reads_subsets: bool = False
    #: True when the metric also compares captions with each other (SugarCrepe++'s text-only task): the
    #: engine then puts a dual encoder's L2-normalised caption embeddings in data.meta["text_emb"]
    #: ({caption: vector}); a pair scorer has none, and the reader leaves those metrics out
    text_similarity: bool = False
    #: the metric a one-number summary (`--benchmark suite`) reports; "" = the first in `metrics`
    headline: str = ""

    @classmethod
    def detect(cls, folder: Path) -> bool:
        """True when `folder` is laid out as this benchmark's release (cheap checks only): lets a
        reader pointed at the wrong folder say which benchmark it looks like."""
        return False

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        raise NotImplementedError

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        raise NotImplementedError

    def evaluate_embeddings(self, data: BenchmarkData, image_emb: "torch.Tensor", text_emb: "torch.Tensor") -> dict[str, Any]:
        """Only for `full_matrix` benchmarks: L2-normalised embeddings in meta order."""
        raise NotImplementedError


#: the reader modules, in `eqvl.benchmarks`; each registers its class with `@register_benchmark`
READERS: Registry[type[Benchmark]] = Registry("benchmark", "eqvl.benchmarks", [
    "aro", "eqben", "foils", "gebc_grounding", "hardpos", "retrieval", "sugarcrepe", "triplets", "twins", "valse", "winoground",
    # compositional suites (VL-CheckList, SugarCrepe++, What'sUp, MMVP-VLM, CREPE, SVO-Probes)
    "vl_checklist", "sugarcrepe_pp", "whatsup", "mmvp", "crepe", "svo_probes",
    # Hub-released twins and multiple choice (ColorSwap, BiVLC, SPEC, NaturalBench, VisMin, COLA)
    "bivlc", "cola", "colorswap", "imagecode", "naturalbench", "spec", "vismin",
])


def register_benchmark(name: str) -> Callable[[type[Benchmark]], type[Benchmark]]:
    """Class decorator: make a reader available as ``--benchmark name``."""

    def decorator(cls: type[Benchmark]) -> type[Benchmark]:
        cls.name = name
        return READERS.register(name)(cls)

    return decorator


def get_benchmark(name: str) -> Benchmark:
    """A fresh instance of the benchmark registered as `name`."""
    return READERS.get(name)()


def list_benchmarks() -> dict[str, type[Benchmark]]:
    return READERS.classes()


def looks_like(folder: str | Path, exclude: str = "") -> list[str]:
    """The benchmarks (other than `exclude`) whose `detect` recognises `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [name for name, cls in list_benchmarks().items() if name != exclude and cls.detect(folder)]
