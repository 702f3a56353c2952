"""How ITM training uses the close cache (`--close-cache`), as the EqSim paper's METER recipe (app. C):
"we follow the original METER to sample 15 captions as negatives and additionally sample their
counterpart images for EqSim. Furthermore, 8 of 15 items (k = 8) are selected as hard negative
(semantically close) samples based on the pre-computed similarity matrix."

The cache holds scores only for each image's top-C images' captions (128 x 5 of Flickr30K's 145k
captions), so 8 of 15 negatives can be ranked "based on the pre-computed matrix" only if the 15 are
drawn from those cached neighbours (15 drawn from the whole set would hit the cache ~0.07 times per
image): with a cache, each anchor's `itm_negatives` negatives are drawn uniformly without replacement
from its cached close captions (`CloseNegatives`, seeded by data seed, epoch and row: the same draw on a
resumed run and under torchrun), loaded with their own images, and EqSim's close set is the
`eqsim_k` of them with the highest cached score (`close_grid`); the rest get v1. `itm_in_batch` keeps
the batch's own rows as negatives (`--itm-sampling`) and ranks the close set by the cache where it holds
the pair (`CloseLookup`), else by the current ITM probability.

Grid layout (`close_grid`): each process holds m = n (1 + K) entries, its n anchors then their K
negatives each (anchor b's at n + b K + k); the global grid concatenates the processes' blocks. Scored:
every anchor with its caption, each anchor's image with its negatives' captions and their images with its
caption, and (for EqSim's v2, `diag`) each negative with its own caption.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from eqvl.errors import EqvlError
from eqvl.train.close_cache import CloseCache, load_or_build
from eqvl.train.dataset import seed_of

log = logging.getLogger(__name__)


class CloseNegatives:
    """Draws each anchor row's K negatives among its cached close captions (K fixed for every row)."""

    def __init__(self, cache: CloseCache, k: int, seed: int):
        self.cache, self.seed = cache, seed
        counts = (cache.neighbours >= 0).sum(1)
        self.k = int(min(k, counts.min()))
        if self.k < 1:
            raise EqvlError("`close_cache` holds no neighbour for some image; raise `close_images`",
                           params=("close_cache", "close_images"))
        if self.k < k:
            log.warning("itm_negatives %d: the close cache holds only %d captions for some image, so every anchor "
                        "gets %d negatives (raise close_images for more)", k, self.k, self.k,
                        extra={"params": ("itm_negatives", "close_images")})

    def draw(self, row: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(K row ids, their cached probabilities) for `row` in `epoch`."""
        rows, scores = self.cache.candidates(row)
        gen = torch.Generator().manual_seed(seed_of(self.seed, epoch, row, 11))
        pick = torch.randperm(len(rows), generator=gen)[:self.k].numpy()
        return rows[pick], scores[pick]


def close_grid(n: int, k: int, world: int, diag: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """([G, G] bool pairs to score, [G] bool anchors) for `world` blocks of n anchors + n K negatives."""
    m = n * (1 + k)
    local = torch.zeros(m, m, dtype=torch.bool)
    a = torch.arange(n)
    local[a, a] = True
    neg = n + a[:, None] * k + torch.arange(k)[None, :]  # [n, K]
    local[a[:, None], neg] = True
    local[neg, a[:, None]] = True
    if diag:
        local[neg.reshape(-1), neg.reshape(-1)] = True
    anchor = torch.zeros(m, dtype=torch.bool)
    anchor[:n] = True
    return torch.block_diag(*[local] * world), anchor.repeat(world)


def close_scores(scores: torch.Tensor, n: int, k: int) -> torch.Tensor:
    """[G, G] cached probabilities at (anchor, its negative), NaN elsewhere, from gathered [W n, K] scores."""
    world = scores.shape[0] // n
    m = n * (1 + k)
    out = torch.full((world * m, world * m), float("nan"))
    for r in range(world):
        a = r * m + torch.arange(n)
        neg = r * m + n + torch.arange(n)[:, None] * k + torch.arange(k)[None, :]
        out[a[:, None], neg] = scores[r * n:(r + 1) * n].float().cpu()
    return out


class CloseLookup:
    """`itm_in_batch`: cached scores of a global batch's pairs [N, N], NaN where the cache does not hold
    (row a, row b)."""

    def __init__(self, cache: CloseCache):
        self.image_of = torch.from_numpy(cache.image_of.astype(np.int64))
        self.neighbours = torch.from_numpy(cache.neighbours.astype(np.int64))
        self.scores = torch.from_numpy(cache.scores).float()

    def __call__(self, rows: torch.Tensor) -> torch.Tensor:
        rows = rows.cpu()
        u = self.image_of[rows]
        nb, sc = self.neighbours[u], self.scores[u]  # [N, R]
        hit = nb[:, :, None] == rows[None, None, :]  # [N, R, N]
        val = torch.nan_to_num(sc)[:, :, None].mul(hit).sum(1)
        return torch.where(hit.any(1), val, torch.full_like(val, float("nan")))


def attach(cfg: Any, info: Any, bundle: Any, rows: list[Any], dataset: Any) -> None:
    """--close-cache: rank 0 builds or checks the cache, every rank loads it; the dataset draws each
    anchor's negatives from it (or, with `itm_in_batch`, the model ranks in-batch pairs by it)."""
    from eqvl.distributed import barrier

    if not str(cfg.model).startswith("hf-itm:"):
        raise EqvlError(f"`close_cache` is for ITM models (hf-itm:DIR); {cfg.model} has no ITM head", param="close_cache")
    sampling = cfg.loss_spec.options.get("itm_sampling", "random")
    if sampling != "random" and not cfg.itm_in_batch:
        raise EqvlError(f"`itm_sampling` {sampling} draws negatives from the batch; with `close_cache` they come from "
                        "the cache: set `itm_in_batch` to draw them from the batch",
                        params=("itm_sampling", "close_cache", "itm_in_batch"))
    if info.is_main:
        load_or_build(cfg.close_cache, bundle, rows, cfg.close_images, cfg.overwrite_cache, cfg.progress)
    barrier(info)
    cache = load_or_build(cfg.close_cache, bundle, rows, cfg.close_images, False, False)
    if cfg.itm_in_batch:
        bundle.model.close_lookup = CloseLookup(cache)
        return
    if "itm" not in cfg.loss_spec.terms and "eqsim" not in cfg.loss_spec.terms:
        return  # no term scores ITM pairs (itc alone)
    negatives = int(cfg.loss_spec.options.get("itm_negatives", 15))
    dataset.close = CloseNegatives(cache, negatives, cfg.order_seed)
