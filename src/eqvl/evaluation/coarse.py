"""Retrieval with a pair scorer (ITM head, VQAScore): coarse-to-fine, never the full matrix.

A dual encoder (the coarse model) ranks every image for every caption and every caption for
every image; the pair scorer re-scores the top `k` of each query (the union of those pairs, each
scored once, cache first), as BLIP / ALBEF's retrieval and the EqSim paper's METER inference do.
The final ranking of a query is its top `k` by the pair score, then the rest in the coarse order.
With no coarse model, small sets are scored brute force (every pair); larger ones are refused
with their cost. With `k` >= the number of candidates, coarse-to-fine equals brute force.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from eqvl.data.records import ImageRef
from eqvl.encode import EncodeConfig, open_cache, score_pairs
from eqvl.errors import DataError, EqvlError
from eqvl.evaluation.items import embed_all

if TYPE_CHECKING:
    from eqvl.models.base import Encoder, PairScorer

#: brute-force pair scoring of a retrieval set is allowed up to this many (image, caption) pairs
MAX_BRUTE_PAIRS = 4096


@dataclass
class Coarse:
    """The first stage: a dual encoder, how many candidates per query it hands on, its cache folder."""

    encoder: Encoder
    k: int = 16
    cache_dir: Any = None


def check_brute_force(name: str, n_images: int, n_captions: int, coarse: Coarse | None) -> None:
    """Refuse (one line with the cost and the flag) a full pair matrix over MAX_BRUTE_PAIRS."""
    total = n_images * n_captions
    if coarse is None and total > MAX_BRUTE_PAIRS:
        raise EqvlError(
            f"retrieval with the pair scorer {name} would score every pair: {n_images} images x {n_captions} captions "
            f"= {total} forward passes (over {MAX_BRUTE_PAIRS}); add `coarse_model` MODEL `coarse_pretrained` TAG "
            f"`coarse_k` K: a dual encoder ranks all, {name} re-scores the top K of each query "
            f"(at most K x {n_images + n_captions} pairs)", params=("coarse_model", "coarse_pretrained", "coarse_k"))


def pair_retrieval(bench: Any, scorer: PairScorer, data: Any, cfg: EncodeConfig, coarse: Coarse | None):
    """(bench results, encoding stats) of a full-matrix benchmark scored by a pair scorer."""
    refs, captions = list(data.meta["images"]), list(data.meta["captions"])
    n_img, n_txt = len(refs), len(captions)
    check_brute_force(scorer.name, n_img, n_txt, coarse)
    stats: dict[str, Any] = {}
    if coarse is None:
        coarse_scores = np.zeros((n_txt, n_img), dtype=np.float32)
        k_t2i, k_i2t = n_img, n_txt
    else:
        if coarse.k < 1:
            raise EqvlError(f"`coarse_k` must be >= 1, got {coarse.k}", params=("coarse_k",))
        ccache = open_cache(coarse.cache_dir, coarse.encoder.identity())
        ccfg = EncodeConfig(batch_size=cfg.batch_size, workers=cfg.workers, cache=ccache, progress=cfg.progress)
        try:
            img, txt, cstats = embed_all(coarse.encoder, refs, captions, ccfg)
        finally:
            if ccache is not None:
                ccache.flush()
        coarse_scores = coarse.encoder.score(img, txt).detach().float().cpu().numpy()  # float32: COCO 5k is 25k x 5k
        stats["coarse"] = cstats
        k_t2i, k_i2t = min(coarse.k, n_img), min(coarse.k, n_txt)
    top_t2i = _top(coarse_scores, k_t2i)  # [n_txt, k]: image candidates of each caption
    top_i2t = _top(coarse_scores.T, k_i2t)  # [n_img, k]: caption candidates of each image
    pairs = sorted({(int(i), c) for c in range(n_txt) for i in top_t2i[c]}
                   | {(i, int(c)) for i in range(n_img) for c in top_i2t[i]})
    got = score_pairs(scorer, refs, captions, pairs, cfg, _never_bad)
    fine = dict(zip(pairs, got.values))
    t2i = _final(coarse_scores, top_t2i, lambda q, cand: fine[(cand, q)])
    i2t = _final(coarse_scores.T, top_i2t, lambda q, cand: fine[(q, cand)])
    eye = torch.eye(n_img)
    by_text = bench.evaluate_embeddings(data, eye, torch.from_numpy(t2i))
    del t2i
    by_image = bench.evaluate_embeddings(data, eye, torch.from_numpy(np.ascontiguousarray(i2t.T)))
    stats["pairs"] = got.stats.as_dict()
    return _merge(by_text, by_image), stats, len(pairs)


def _never_bad(i: int, msg: str) -> None:
    raise DataError(f"{msg} (retrieval needs every image; `skip_bad` cannot drop it)", path=None, params=("skip_bad",))


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row, the k best columns (ties: lower index first), as a stable sort gives them."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def _final(coarse: np.ndarray, top: np.ndarray, fine) -> np.ndarray:
    """Rows of queries: the top-k candidates carry their pair score, every other candidate sits below
    all of them in its coarse order (coarse score shifted under the smallest pair score)."""
    out = np.empty_like(coarse)
    picked = np.zeros_like(coarse, dtype=bool)
    rows = np.arange(coarse.shape[0])[:, None]
    picked[rows, top] = True
    values = np.array([[fine(q, int(c)) for c in top[q]] for q in range(coarse.shape[0])], dtype=np.float32)
    if not np.isfinite(values).all():
        raise EqvlError("the pair scorer produced non-finite scores; refusing to rank them")
    floor = values.min() if values.size else 0.0
    shift = floor - 1.0 - (coarse.max() if coarse.size else 0.0)
    out[:] = coarse + shift
    out[rows, top] = values
    return out


def _merge(by_text: dict[str, Any], by_image: dict[str, Any]) -> dict[str, Any]:
    """text_retrieval_* (image queries) from the i2t matrix's results, everything else from the t2i one's."""
    def mix(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        return {**{k: v for k, v in a.items() if not k.startswith("text_retrieval")},
                **{k: v for k, v in b.items() if k.startswith("text_retrieval")}}

    out = dict(by_text)
    for key in ("metrics", "ties"):
        if key in by_text:
            out[key] = mix(by_text[key], by_image.get(key, {}))
    subsets = by_text.get("subsets", {})
    out["subsets"] = {name: mix(row, by_image.get("subsets", {}).get(name, {})) for name, row in subsets.items()}
    return out
