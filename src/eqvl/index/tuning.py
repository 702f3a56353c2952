"""Search parameters tuned to a recall target on the collection's own queries, and the build plan
(`--memory` / `--target-recall` / `--on-disk`) the writer runs in place of the size rule.

autofaiss tunes for a query-time limit (`max_index_query_time_ms`, its `score_index` measures
recall against exact search afterwards); eqvl tunes for a recall target, measured the same way:
queries from the collection itself — caption embeddings when the items have captions (real
text-to-image queries, across the modality gap), otherwise a sample of stored vectors held out
(masked from the index and from the exact answer) — against exact search over the stored
vectors, through eqvl's own search path (candidates + exact float64 re-scoring). nprobe (IVF) or
efSearch (HNSW) grows by doubling until recall@k reaches the target, then the smallest value
that does is found by bisection; if even every list does not reach it, the re-scoring depth
doubles (up to RESCORE_MAX). The record (target, measured recall, chosen parameters, queries,
single-query q/s) goes into the manifest; a target that cannot be reached is said so there and
logged, and the best setting found is kept.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from eqvl.errors import EqvlError
from eqvl.index import ann, budget, ondisk, search
from eqvl.index.vectors import VectorStore

if TYPE_CHECKING:
    from eqvl.models.base import Encoder

log = logging.getLogger(__name__)

#: tuning queries; 200 x k=10 gives recall to about +-0.01
TUNE_QUERIES = 200
RESCORE_MAX = 1600
EF_MAX = 4096


@dataclass
class TuneQueries:
    """Query vectors for tuning, the ids masked while they are used (held-out vectors), and their kind."""

    vectors: np.ndarray
    exclude: np.ndarray
    kind: str


QuerySource = Callable[[VectorStore, np.ndarray], TuneQueries]


def held_out_vectors(n_queries: int = TUNE_QUERIES, seed: int = 0) -> QuerySource:
    """A sample of the stored vectors, masked from the index and from the truth while tuning."""

    def source(vstore: VectorStore, ids: np.ndarray) -> TuneQueries:
        rng = np.random.default_rng(seed)
        n = min(n_queries, max(1, len(ids) // 10))
        picked = np.sort(rng.choice(ids, size=n, replace=False))
        return TuneQueries(vstore.get(picked), picked, "held-out stored vectors")

    return source


def text_queries(encoder: Encoder, captions: Sequence[str], n_queries: int = TUNE_QUERIES, seed: int = 0) -> QuerySource | None:
    """Caption embeddings of a sample of the collection's captions (None when it has none)."""
    pool = sorted({c.strip() for c in captions if c and c.strip()})
    if len(pool) < 10:
        return None

    def source(vstore: VectorStore, ids: np.ndarray) -> TuneQueries:
        from eqvl.encode import EncodeConfig, encode_texts

        rng = np.random.default_rng(seed)
        texts = [pool[i] for i in np.sort(rng.choice(len(pool), size=min(n_queries, len(pool)), replace=False))]
        emb = encode_texts(encoder, texts, EncodeConfig(progress=False)).emb
        return TuneQueries(np.asarray(emb, dtype=np.float32), np.zeros(0, np.int64), "caption embeddings")

    return source


def given_queries(vectors: np.ndarray, kind: str, n_queries: int = TUNE_QUERIES, seed: int = 0) -> QuerySource:
    """Query embeddings supplied with the input (clip-retrieval's text_emb/), a sample of them."""

    def source(vstore: VectorStore, ids: np.ndarray) -> TuneQueries:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(len(vectors), size=min(n_queries, len(vectors)), replace=False))
        q = np.asarray(vectors[rows], dtype=np.float32)
        return TuneQueries(q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12), np.zeros(0, np.int64), kind)

    return source


def _knob(index) -> tuple[str, int] | None:
    """The parameter to tune and its largest useful value (None for exact indexes)."""
    faiss = ann._faiss()
    inner = faiss.downcast_index(index.index if hasattr(index, "id_map") else index)
    if isinstance(inner, faiss.IndexIVF):
        return "nprobe", int(inner.nlist)
    if isinstance(inner, faiss.IndexHNSW):
        return "efSearch", EF_MAX
    return None


def tune(index, spec: ann.IndexSpec, vstore: VectorStore, ids: np.ndarray, queries: TuneQueries,
         target: float, k: int = 10) -> ann.IndexSpec:
    """`spec` with tuned search parameters and a `tuning` record (see the module docstring)."""
    if not 0 < target <= 1:
        raise EqvlError(f"`target_recall` must be in (0, 1], got {target}", params=("target_recall",))
    keep = ids[~np.isin(ids, queries.exclude)] if len(queries.exclude) else ids
    truth = search.exact_topk(vstore, queries.vectors, keep, k)
    params = dict(spec.params)

    def recall(p: dict[str, int]) -> float:
        found = search.search(index, ann.IndexSpec(spec.kind, spec.factory, p), vstore, queries.vectors, k,
                              len(keep), queries.exclude)
        return search.recall_at(found, truth, k)

    knob = _knob(index)
    tried: list[dict[str, Any]] = []
    best = (recall(params), dict(params))
    if knob is not None:
        best = _search_knob(recall, params, knob, target, k, tried)
    reached = best[0] >= target
    qps = _qps(index, spec, best[1], vstore, queries.vectors, k, len(keep), queries.exclude)
    record = {"target_recall": target, "k": k, "recall": round(best[0], 4), "reached": reached,
              "queries": len(queries.vectors), "query_kind": queries.kind, "qps_single": round(qps, 1),
              "tried": tried}
    if not reached:
        log.warning("%s cannot reach recall@%d %.3f on %s: best %.3f (%s)", spec.factory, k, target, queries.kind,
                    best[0], best[1])
    return ann.IndexSpec(spec.kind, spec.factory, best[1], {**spec.facts, "tuning": record})


def _search_knob(recall: Callable[[dict[str, int]], float], params: dict[str, int], knob: tuple[str, int],
                 target: float, k: int, tried: list[dict[str, Any]]) -> tuple[float, dict[str, int]]:
    """Doubling then bisection on the knob, re-scoring depth doubled when the knob runs out."""
    name, top = knob
    rescore = max(int(params.get("rescore", ann.RESCORE_MIN)), ann.RESCORE_FACTOR * k)
    best: tuple[float, dict[str, int]] = (-1.0, dict(params))

    def measure(value: int) -> float:
        nonlocal best
        p = {**params, name: value, "rescore": rescore}
        r = recall(p)
        tried.append({**p, "recall": round(r, 4)})
        if r > best[0] + 1e-9 or (r >= target and best[0] >= target and p[name] < best[1][name]):
            best = (r, p)
        return r

    while True:
        lo, value = 0, 1 if name == "nprobe" else max(16, k)
        while value < top and measure(value) < target:
            lo, value = value, value * 2
        if value >= top and measure(top) < target:
            if rescore * 2 > RESCORE_MAX:
                return best
            rescore *= 2
            continue
        hi = min(value, top)
        while hi - lo > 1 and hi > 1:  # smallest value in (lo, hi] that reaches the target
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if measure(mid) >= target else (mid, hi)
        within = [t for t in tried if t["recall"] >= target and t["rescore"] == rescore]
        pick = min(within, key=lambda t: t[name])
        return pick["recall"], {key: int(v) for key, v in pick.items() if key != "recall"}


def _qps(index, spec, params, vstore, queries, k, live, exclude, seconds: float = 1.0) -> float:
    tuned = ann.IndexSpec(spec.kind, spec.factory, params)
    started, done = time.perf_counter(), 0
    for q in queries:
        search.search(index, tuned, vstore, q[None], k, live, exclude)
        done += 1
        if time.perf_counter() - started > seconds:
            break
    return done / max(time.perf_counter() - started, 1e-9)


@dataclass
class IndexPlan:
    """What `index build` / `rebuild` passes instead of an --index string when a budget, a recall
    target or on-disk lists are asked for; the writer calls `build(vstore, ids, folder)`."""

    kind: str = "auto"
    memory: int | None = None
    target_recall: float | None = None
    on_disk: bool = False
    queries: QuerySource | None = None
    k: int = 10

    def spec_for(self, n: int, dim: int) -> ann.IndexSpec:
        if self.memory is not None:
            return budget.choose(n, dim, self.memory)
        return ann.choose_spec(self.kind, n, dim)

    def build(self, vstore: VectorStore, ids: np.ndarray, folder: Path) -> tuple[ann.IndexSpec, Any]:
        """Choose, train, fill (lists on disk in `folder` if asked), then tune when a target is set."""
        from eqvl.index.writer import TRAIN_MAX

        spec = self.spec_for(len(ids), vstore.dim)
        rng = np.random.default_rng(0)
        sample = np.sort(rng.choice(ids, size=min(len(ids), TRAIN_MAX), replace=False)) if len(ids) else ids
        if self.on_disk:
            index = ondisk.build_on_disk(spec.factory, vstore.dim, lambda: vstore.get(sample), vstore.chunks(ids),
                                         folder / "index.faiss", ann.KMEANS_ITERATIONS)
            spec.facts["on_disk"] = True
        else:
            index = ann.build(spec, vstore.dim, lambda: vstore.get(sample), vstore.chunks(ids))
        if self.target_recall is not None:
            source = self.queries or held_out_vectors()
            spec = tune(index, spec, vstore, ids, source(vstore, ids), self.target_recall, self.k)
        return spec, index
