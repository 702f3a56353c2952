"""Nearest neighbours by inner product: FAISS candidates, exact re-scoring, deterministic ties.

Every answer is ordered by (score descending, id ascending) where the score is recomputed in
float64 from the stored float16 vectors — the same numbers whichever index found the
candidates. For the exact (`Flat`) index a tie group cut by the candidate list is completed
with a range search, so exact search equals a brute-force top-k, ties included.
Filters (`--where`) are applied before the cut: a small allowed set is searched exactly, a
large one through FAISS's ID selector, and an approximate search that comes back short falls
back to exact search over the allowed ids.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from eqvl.index import ann
from eqvl.index.vectors import VectorStore

#: filtered sets up to this size are searched exactly (fast, and FAISS graphs lose recall on tiny subsets)
EXACT_SUBSET_MAX = 20_000
#: float32 index scores that close to the k-th may hide a tie: completed by a range search
TIE_EPS = 1e-5

Ranked = list[tuple[int, float]]


def rank(ids: np.ndarray, scores: np.ndarray, k: int) -> Ranked:
    order = np.lexsort((ids, -scores))[:k]
    return [(int(ids[i]), float(scores[i])) for i in order]


def rescore(vstore: VectorStore, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Exact float64 inner products of one query with the stored vectors of `ids`."""
    if len(ids) == 0:
        return np.zeros(0, dtype=np.float64)
    return vstore.get(ids).astype(np.float64) @ query.astype(np.float64)


def exact_topk(vstore: VectorStore, queries: np.ndarray, ids: np.ndarray, k: int, chunk: int = 65536) -> list[Ranked]:
    """Brute force over the stored vectors of `ids` (chunked, so memory stays bounded)."""
    q = queries.astype(np.float64)
    best_ids = [np.zeros(0, np.int64) for _ in range(len(q))]
    best_scores = [np.zeros(0, np.float64) for _ in range(len(q))]
    for part, rows in vstore.chunks(ids, size=chunk):
        scores = q @ rows.astype(np.float64).T
        for n in range(len(q)):
            all_ids = np.concatenate([best_ids[n], part])
            all_scores = np.concatenate([best_scores[n], scores[n]])
            keep = np.lexsort((all_ids, -all_scores))[:k]
            best_ids[n], best_scores[n] = all_ids[keep], all_scores[keep]
    return [rank(best_ids[n], best_scores[n], k) for n in range(len(q))]


def candidates_for(spec: ann.IndexSpec, k: int) -> int:
    """How many FAISS candidates to re-score: a margin for ties (exact), else the spec's `rescore`
    (default RESCORE_MIN) but at least RESCORE_FACTOR * k."""
    if spec.exact:
        return k + max(k, 16)
    return max(int(spec.params.get("rescore", ann.RESCORE_MIN)), ann.RESCORE_FACTOR * k)


def search(index, spec: ann.IndexSpec, vstore: VectorStore, queries: np.ndarray, k: int, live_count: int,
           deleted: np.ndarray, allowed: np.ndarray | None = None,
           live_ids: "Callable[[], np.ndarray] | None" = None, stages: list[str] | None = None) -> list[Ranked]:
    """Top-k (id, score) per query; `allowed` restricts to those ids (a --where filter).
    `live_ids()` gives every indexed id for the rare exact fallback of an unfiltered search.
    `stages`, when given, receives per query how the hits were found: "exact" (brute force over the
    stored vectors, or a Flat index) or "<kind>+exact-rescore" (approximate candidates, re-scored)."""
    stages = stages if stages is not None else []
    if allowed is not None and (len(allowed) <= EXACT_SUBSET_MAX or not ann.supports_selector(index)):
        stages.extend(["exact"] * len(queries))
        return exact_topk(vstore, queries, allowed, k)
    n_cand = candidates_for(spec, k)
    excluded = deleted if allowed is None else None
    scores, labels = ann.search(index, queries, n_cand, spec.params, allowed=allowed, excluded=excluded)
    available = len(allowed) if allowed is not None else live_count
    out: list[Ranked] = []
    for n, query in enumerate(queries):
        cand = labels[n][labels[n] >= 0]
        if spec.exact and len(cand) >= k and len(cand) == n_cand and scores[n][-1] >= scores[n][k - 1] - TIE_EPS:
            more = ann.range_ids(index, query, float(scores[n][k - 1]) - TIE_EPS, excluded=excluded)
            if allowed is not None:
                more = more[np.isin(more, allowed)]
            cand = np.union1d(cand, more)
        ranked = rank(cand, rescore(vstore, query, cand), k)
        stage = "exact" if spec.exact else f"{spec.kind}+exact-rescore"
        if len(ranked) < min(k, available):  # an approximate search came back short
            pool = allowed if allowed is not None else (live_ids() if live_ids else vstore.ids)
            ranked, stage = exact_topk(vstore, query[None], pool, k)[0], "exact"
        stages.append(stage)
        out.append(ranked)
    return out


def recall_at(found: Sequence[Ranked], truth: Sequence[Ranked], k: int) -> float:
    """Mean share of the true top-k ids that the search returned in its top-k."""
    hits = [len({i for i, _ in f[:k]} & {i for i, _ in t[:k]}) / max(1, min(k, len(t))) for f, t in zip(found, truth)]
    return float(np.mean(hits)) if hits else 1.0
