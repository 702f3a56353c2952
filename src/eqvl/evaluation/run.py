"""Evaluate one encoder on one benchmark: reader -> encoding layer -> score arrays -> metric -> results dict.

The results dict is CLIP_benchmark-compatible (dataset, model, pretrained, task,
metrics as fractions) plus eqvl's subsets, config, encoding stats and eqvl_version,
so every number can be traced back to how it was made.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eqvl.version import __version__
from eqvl.benchmarks import Benchmark, BenchmarkData, get_benchmark
from eqvl.encode import EncodeConfig, encode_texts, open_cache
from eqvl.errors import EqvlError
from eqvl.evaluation.coarse import Coarse, pair_retrieval
from eqvl.evaluation.items import embed_all, score_items
from eqvl.evaluation.provenance import items_hash, provenance
from eqvl.models.base import TextLimit, is_pair_scorer

if TYPE_CHECKING:
    from eqvl.models.base import Encoder, PairScorer

#: at most this many skipped records are listed by name in the results JSON
SKIP_EXAMPLES = 20


@dataclass
class EvalResult:
    """`results`: the JSON dict; `scores`: one [n_captions, n_images] array per (kept) item."""

    results: dict[str, Any]
    scores: list[np.ndarray]
    data: BenchmarkData


def evaluate(
    encoder: Encoder | PairScorer,
    benchmark: str | Benchmark,
    data_dir: str | Path,
    *,
    batch_size: int = 64,
    workers: int = 0,
    cache_dir: str | Path | None = None,
    skip_bad: bool = False,
    options: dict[str, Any] | None = None,
    progress: bool = True,
    config: dict[str, Any] | None = None,
    coarse: Coarse | None = None,
) -> EvalResult:
    """Run `encoder` on `benchmark` read from `data_dir`; `config` adds caller facts (seed, device) to results.
    `coarse`: the first stage of coarse-to-fine retrieval when `encoder` is a pair scorer."""
    if batch_size < 1:
        raise EqvlError(f"`batch_size` must be >= 1, got {batch_size}", params=("batch_size",))
    if workers < 0:
        raise EqvlError(f"`workers` must be >= 0, got {workers}", params=("workers",))
    bench = benchmark if isinstance(benchmark, Benchmark) else get_benchmark(benchmark)
    options = dict(options or {})
    reader_options = dict(options)
    subset = None if bench.reads_subsets else reader_options.pop("subset", None)
    data = bench.load(Path(data_dir), **reader_options)
    if subset is not None:
        data = select_subsets(bench, data, subset)
    data.score_kind = encoder.score_kind
    data_hash = items_hash(data.items, data.meta.get("images", ()), data.meta.get("captions", ()))
    truncated = _truncated_captions(encoder, data)
    cache = open_cache(cache_dir, encoder.identity())
    cfg = EncodeConfig(batch_size=batch_size, workers=workers, cache=cache, skip_bad=skip_bad, progress=progress)
    if coarse is not None and not (bench.full_matrix and is_pair_scorer(encoder)):
        raise EqvlError("`coarse_model` is for retrieval (full-matrix) benchmarks scored by a pair scorer "
                        "(hf-itm:, vqascore:); item benchmarks score only the pairs each item needs", params=("coarse_model",))
    try:
        if bench.full_matrix:
            out, stats = _full_matrix(bench, encoder, data, cfg, coarse)
            scores, skipped, n_items = [], [], len(data.meta["images"])
        else:
            out, stats, scores, skipped, data = _per_item(bench, encoder, data, cfg, str(data_dir))
            n_items = len(data.items)
    finally:
        if cache is not None:
            cache.flush()  # the last rows go to the background writer; nobody waits for them here
    results = _results(bench, encoder, out, n_items, stats)
    results["config"] = {
        "benchmark": bench.name,
        "data": str(data_dir),
        "options": options,
        "batch_size": batch_size,
        "workers": workers,
        "cache": str(cache.dir) if cache else None,
        "skip_bad": skip_bad,
        "score_kind": encoder.score_kind,
        **(config or {}),
    }
    results["provenance"] = provenance(bench.name, str(Path(data_dir).resolve()), data_hash, encoder, n_items)
    if truncated is not None:
        results["truncated_captions"] = truncated
    if skip_bad:
        results["skipped"] = {"n": len(skipped), "examples": skipped[:SKIP_EXAMPLES]}
    return EvalResult(results, scores, data)


def _full_matrix(bench: Benchmark, encoder: Encoder | PairScorer, data: BenchmarkData, cfg: EncodeConfig, coarse: Coarse | None):
    """Retrieval-style: embed every listed image / caption once, the benchmark ranks them; a pair
    scorer goes coarse-to-fine (eqvl.evaluation.coarse)."""
    for key in ("images", "captions"):
        if key not in data.meta:
            raise EqvlError(f"benchmark {bench.name}: full-matrix reader did not set data.meta[{key!r}]")
    if is_pair_scorer(encoder):
        out, stats, n_pairs = pair_retrieval(bench, encoder, data, cfg, coarse)
        n_img, n_txt = len(data.meta["images"]), len(data.meta["captions"])
        out["coarse_to_fine"] = {
            "coarse_model": coarse.encoder.name if coarse else None,
            "coarse_pretrained": coarse.encoder.pretrained if coarse else None,
            "coarse_k": coarse.k if coarse else None,
            "pairs_scored": n_pairs, "pairs_full_matrix": n_img * n_txt}
        return out, stats
    image_emb, text_emb, stats = embed_all(encoder, data.meta["images"], data.meta["captions"], cfg)
    return bench.evaluate_embeddings(data, image_emb, text_emb), stats


def _per_item(bench: Benchmark, encoder: Encoder | PairScorer, data: BenchmarkData, cfg: EncodeConfig, where: str):
    """Score every item's [captions x images]; skipped items leave `data` (a copy keeps their ids)."""
    if not data.items:
        raise EqvlError(f"benchmark {bench.name}: no items in {where}")
    scored = score_items(encoder, data.items, cfg)
    if scored.skipped:
        if not scored.kept:
            first = scored.skipped[0]
            raise EqvlError(f"all {len(data.items)} records were skipped; first: record {first['id']!r}: {first['error']}")
        data = dataclasses.replace(data, items=[data.items[n] for n in scored.kept], meta=dict(data.meta))
        data.meta["skipped_ids"] = [s["id"] for s in scored.skipped]
    _check_finite(scored.scores, data)
    if bench.text_similarity and not is_pair_scorer(encoder):
        data.meta["text_emb"] = _text_embeddings(encoder, data, cfg)
    return bench.evaluate(data, scored.scores), scored.stats, scored.scores, scored.skipped, data


def _text_embeddings(encoder: Encoder, data: BenchmarkData, cfg: EncodeConfig) -> dict[str, np.ndarray]:
    """{caption: L2-normalised embedding} for text-text metrics (with the cache on, read back, not re-encoded)."""
    texts = list(dict.fromkeys(c for it in data.items for c in it.captions))
    emb = np.asarray(encode_texts(encoder, texts, cfg).emb, dtype=np.float64)
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    return dict(zip(texts, emb))


def _results(bench: Benchmark, encoder: Encoder | PairScorer, out: dict[str, Any], n_items: int, stats: dict) -> dict[str, Any]:
    if "metrics" not in out:
        raise EqvlError(f"benchmark {bench.name}: evaluate() returned no 'metrics'")
    results: dict[str, Any] = {
        "dataset": bench.name,
        "model": encoder.name,
        "pretrained": encoder.pretrained,
        "task": bench.task,
        "metrics": out["metrics"],
        "subsets": out.get("subsets", {}),
        "n_items": n_items,
        "encoding": stats,
        "eqvl_version": __version__,
    }
    for key, value in out.items():
        results.setdefault(key, value)
    return results


def select_subsets(bench: Benchmark, data: BenchmarkData, wanted: str) -> BenchmarkData:
    """`--option subset=a,b` for readers that do not pick files by subset: keep those items."""
    names = [n.strip() for n in str(wanted).split(",") if n.strip()]
    have = list(dict.fromkeys(it.subset for it in data.items))
    unknown = [n for n in names if n not in have]
    if bench.full_matrix or not names or unknown:
        valid = ", ".join(have) if have and not bench.full_matrix else "(this benchmark has no subsets)"
        raise EqvlError(f"`option` subset={wanted}: {bench.name} has no subset {', '.join(unknown) or repr(wanted)}; valid: {valid}", params=("option",))
    return dataclasses.replace(data, items=[it for it in data.items if it.subset in names])


def _truncated_captions(encoder: Encoder | PairScorer, data: BenchmarkData) -> dict[str, Any] | None:
    """Captions longer than the text tower's context are scored as their prefix: two that differ
    only past it tie. Count them (None when the encoder cannot say)."""
    if not isinstance(encoder, TextLimit):
        return None
    texts = list(dict.fromkeys([c for it in data.items for c in it.captions] + list(data.meta.get("captions", ()))))
    flags = encoder.overlong(texts)
    cut = [t for t, f in zip(texts, flags) if f]
    return {"n": len(cut), "of": len(texts), "context_length": encoder.context_length, "examples": cut[:3]}


def _check_finite(scores: list[np.ndarray], data: BenchmarkData) -> None:
    """A NaN score would turn into a silently wrong accuracy (NaN > x is False)."""
    for item, s in zip(data.items, scores):
        if not np.all(np.isfinite(s)):
            raise EqvlError(f"record {item.id!r}: the encoder produced non-finite scores {s.tolist()}")
