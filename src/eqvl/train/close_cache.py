"""The close-set cache of ITM training (`--close-cache`), coarse to fine as the EqSim paper's METER recipe:
for each training row, its `--close-images` most similar other rows by the vision encoder's features
(BLIP's normalised ITC image embedding; exact cosine top-k), then the ITM probability of the row's
image with each of those rows' captions, scored once with the starting weights.

Stored as .npz (`neighbours` [N, C] row ids, `scores` [N, C] probabilities, `identity` JSON of the
model — its spec and weights hash — the data — a hash of every row's image path and caption — and C);
written aside then renamed; reused when the identity matches, refused naming both otherwise (or rebuilt
with `--overwrite-cache`). During training, EqSim's close set of an anchor is the top `--eqsim-k` of
its scored in-batch negatives ranked by the cached score where the cache holds the pair, else by the
current ITM probability (`lookup`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from eqvl.errors import EqvlError

log = logging.getLogger(__name__)


def data_hash(rows: list[Any]) -> str:
    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps([r.pair.image, r.pair.caption]).encode())
    return h.hexdigest()[:16]


def identity(bundle: Any, rows: list[Any], close_images: int) -> dict[str, Any]:
    from eqvl.models.openclip import weights_hash

    return {"model": bundle.model_name, "weights": weights_hash(bundle.model.blip), "data": data_hash(rows),
            "rows": len(rows), "close_images": close_images}


@torch.no_grad()
def build(bundle: Any, rows: list[Any], close_images: int, batch: int = 32, progress: bool = True
          ) -> tuple[np.ndarray, np.ndarray]:
    """(neighbours [N, C], scores [N, C]): top-C other rows by image-embedding cosine, then ITM P(match)."""
    from eqvl.train.dataset import load_row_image

    model, dev = bundle.model, next(bundle.model.parameters()).device
    was = model.training
    model.eval()
    try:
        caps = bundle.tokenizer([r.pair.caption for r in rows]).to(dev)
        feats, embs = [], []
        for s in tqdm(range(0, len(rows), batch), desc="close cache: images", disable=not progress, leave=False):
            px = torch.stack([bundle.preprocess_val(load_row_image(r)) for r in rows[s:s + batch]]).to(dev)
            vis = model.blip.vision_model(pixel_values=px).last_hidden_state
            feats.append(vis.cpu())
            embs.append(torch.nn.functional.normalize(model.blip.vision_proj(vis[:, 0, :]), dim=-1).cpu())
        emb = torch.cat(embs)
        c = min(close_images, len(rows) - 1)
        sim = (emb @ emb.T).fill_diagonal_(float("-inf"))
        nbr = sim.topk(c, dim=1).indices  # ties: torch's order, the same every run
        scores = torch.empty(len(rows), c)
        for i in tqdm(range(len(rows)), desc="close cache: ITM pairs", disable=not progress, leave=False):
            vis = feats[i // batch][i % batch].to(dev)
            ids = caps[nbr[i]]
            logits = model.match_logits(vis.expand(c, *vis.shape), ids, (ids != model.pad_id).long())
            scores[i] = torch.sigmoid(logits).cpu()
    finally:
        model.train(was)
    return nbr.numpy(), scores.numpy()


def load_or_build(path: str, bundle: Any, rows: list[Any], close_images: int, overwrite: bool, progress: bool
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The cache at `path` when it is this model's and data's; otherwise build and write it."""
    want = identity(bundle, rows, close_images)
    p = Path(path)
    if p.exists() and not overwrite:
        try:
            with np.load(p) as z:
                have = json.loads(str(z["identity"]))
                nbr, scores = z["neighbours"], z["scores"]
        except (OSError, ValueError, KeyError) as exc:
            raise EqvlError(f"close_cache {p}: not a readable close cache ({exc}); remove it or set overwrite_cache",
                            param="close_cache") from None
        if have != want:
            raise EqvlError(f"close_cache {p} was built for {json.dumps(have, sort_keys=True)}, this run is "
                            f"{json.dumps(want, sort_keys=True)}; give another path or set overwrite_cache",
                            param="close_cache")
        log.info("close cache %s reused", p)
        return nbr, scores
    nbr, scores = build(bundle, rows, close_images, progress=progress)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp.npz")
    np.savez(tmp, neighbours=nbr, scores=scores, identity=np.array(json.dumps(want, sort_keys=True)))
    os.replace(tmp, p)
    return nbr, scores


class CloseLookup:
    """Cached scores of a global batch's pairs: [N, N], NaN where the cache does not hold (row a, row b)."""

    def __init__(self, neighbours: np.ndarray, scores: np.ndarray):
        self.neighbours, self.scores = torch.from_numpy(neighbours), torch.from_numpy(scores).float()

    def __call__(self, rows: torch.Tensor) -> torch.Tensor:
        rows = rows.cpu()
        nb, sc = self.neighbours[rows], self.scores[rows]  # [N, C]
        hit = nb[:, :, None] == rows[None, None, :]  # [N, C, N]
        val = (sc[:, :, None] * hit).sum(1)
        return torch.where(hit.any(1), val, torch.full_like(val, float("nan")))


def attach(cfg: Any, info: Any, bundle: Any, rows: list[Any]) -> None:
    """--close-cache: rank 0 builds or checks the cache, every rank loads it into the model wrapper."""
    from eqvl.distributed import barrier

    if not str(cfg.model).startswith("hf-itm:"):
        raise EqvlError(f"close_cache is for ITM models (hf-itm:DIR); {cfg.model} has no ITM head", param="close_cache")
    if info.is_main:
        load_or_build(cfg.close_cache, bundle, rows, cfg.close_images, cfg.overwrite_cache, cfg.progress)
    barrier(info)
    nbr, scores = load_or_build(cfg.close_cache, bundle, rows, cfg.close_images, False, False)
    bundle.model.close_lookup = CloseLookup(nbr, scores)
