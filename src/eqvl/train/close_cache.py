"""The close-set cache of ITM training (`--close-cache`), coarse to fine as the EqSim paper's METER recipe
(appendix C): for each training *image*, its `--close-images` most similar other images by the vision
encoder's features (BLIP's normalised ITC image embedding; exact cosine top-k), then the ITM probability
of the image with every caption of those images (paper: 128 images x 5 captions), scored once with the
starting weights.

Rows are (image, caption) pairs; rows sharing an image path are one image (their captions are its
positives, never its neighbours). Stored as .npz: `image_of` [N] (each row's image id), `neighbours`
[U, R] (row ids of the neighbour images' captions, most similar image first, -1 padding), `scores`
[U, R] (P(match), NaN padding) and `identity` (JSON of the model — spec and weights hash — the data —
a hash of every row's image and caption — C and the format); written aside then renamed; reused when
the identity matches, refused naming both otherwise (or rebuilt with `overwrite_cache`). How training
uses it: `eqvl.train.close_negatives`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eqvl.errors import EqvlError

log = logging.getLogger(__name__)
#: 2: image-level neighbours (rows sharing an image are one image); 1 was row-level
FORMAT = 2


@dataclass
class CloseCache:
    image_of: np.ndarray  # [N] int32
    neighbours: np.ndarray  # [U, R] int32, -1 = padding
    scores: np.ndarray  # [U, R] float32, NaN = padding

    def candidates(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """(row ids, cached probabilities) of a row's close captions, most similar image first."""
        u = int(self.image_of[row])
        keep = self.neighbours[u] >= 0
        return self.neighbours[u][keep], self.scores[u][keep]


def data_hash(rows: list[Any]) -> str:
    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps([r.pair.image, r.pair.caption]).encode())
    return h.hexdigest()[:16]


def identity(bundle: Any, rows: list[Any], close_images: int) -> dict[str, Any]:
    from eqvl.models.openclip import weights_hash

    return {"model": bundle.model_name, "weights": weights_hash(bundle.model.blip), "data": data_hash(rows),
            "rows": len(rows), "close_images": close_images, "format": FORMAT}


def image_groups(rows: list[Any]) -> tuple[np.ndarray, list[list[int]]]:
    """(image id of every row, the rows of every image): one image per path (and tar shard)."""
    ids: dict[tuple[str, str | None], int] = {}
    image_of = np.empty(len(rows), dtype=np.int32)
    members: list[list[int]] = []
    for i, r in enumerate(rows):
        key = (r.pair.image, r.blob[0] if r.blob is not None else None)
        if key not in ids:
            ids[key] = len(members)
            members.append([])
        image_of[i] = ids[key]
        members[ids[key]].append(i)
    return image_of, members


def _vision(bundle: Any, rows: list[Any], dev: torch.device) -> torch.Tensor:
    from eqvl.train.dataset import load_row_image

    px = torch.stack([bundle.preprocess_val(load_row_image(r)) for r in rows]).to(dev)
    return bundle.model.blip.vision_model(pixel_values=px).last_hidden_state


def embeddings(bundle: Any, rows: list[Any], members: list[list[int]], batch: int) -> torch.Tensor:
    """[U, D] normalised ITC image embeddings (one per image, from its first row)."""
    model, dev = bundle.model, next(bundle.model.parameters()).device
    out = []
    for s in range(0, len(members), batch):
        vis = _vision(bundle, [rows[m[0]] for m in members[s:s + batch]], dev)
        out.append(torch.nn.functional.normalize(model.blip.vision_proj(vis[:, 0, :]), dim=-1).cpu())
    return torch.cat(out)


def score_chunk(bundle: Any, rows: list[Any], members: list[list[int]], emb: torch.Tensor, caps: torch.Tensor,
                lo: int, hi: int, close_images: int, batch: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Images [lo, hi): each one's neighbour captions (top-C other images by cosine, their rows in order)
    and the ITM P(match) of the image with each, scored `batch` pairs at a time."""
    model, dev = bundle.model, next(bundle.model.parameters()).device
    c = min(close_images, len(members) - 1)
    sim = emb[lo:hi] @ emb.T
    sim[torch.arange(hi - lo), torch.arange(lo, hi)] = float("-inf")
    top = sim.topk(c, dim=1).indices  # ties: torch's order, the same every run
    vis = _vision(bundle, [rows[members[u][0]] for u in range(lo, hi)], dev)
    out = []
    for j in range(hi - lo):
        nb = torch.tensor([r for v in top[j].tolist() for r in members[v]], dtype=torch.long)
        probs = []
        for s in range(0, len(nb), batch):
            ids = caps[nb[s:s + batch]].to(dev)
            logits = model.match_logits(vis[j].expand(len(ids), *vis[j].shape), ids, (ids != model.pad_id).long())
            probs.append(torch.sigmoid(logits).cpu())
        out.append((nb.numpy().astype(np.int32), torch.cat(probs).numpy().astype(np.float32)))
    return out


def pad(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(nb) for nb, _ in parts)
    nbr = np.full((len(parts), width), -1, dtype=np.int32)
    scores = np.full((len(parts), width), np.nan, dtype=np.float32)
    for u, (nb, sc) in enumerate(parts):
        nbr[u, :len(nb)], scores[u, :len(sc)] = nb, sc
    return nbr, scores


@torch.no_grad()
def build(bundle: Any, rows: list[Any], close_images: int, batch: int = 32, progress: bool = True,
          chunk: int = 64) -> CloseCache:
    """Embed every image, then score images `chunk` at a time (their top-C images' captions)."""
    image_of, members = image_groups(rows)
    if len(members) < 2:
        raise EqvlError(f"`close_cache` needs at least 2 distinct images; the data has {len(members)}", param="close_cache")
    model = bundle.model
    was = model.training
    model.eval()
    try:
        caps = bundle.tokenizer([r.pair.caption for r in rows])
        emb = embeddings(bundle, rows, members, batch)
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        for lo in range(0, len(members), chunk):
            parts += score_chunk(bundle, rows, members, emb, caps, lo, min(lo + chunk, len(members)),
                                 close_images, batch)
    finally:
        model.train(was)
    nbr, scores = pad(parts)
    return CloseCache(image_of, nbr, scores)


def read(p: Path, want: dict[str, Any]) -> CloseCache:
    try:
        with np.load(p) as z:
            have = json.loads(str(z["identity"]))
            cache = CloseCache(z["image_of"], z["neighbours"], z["scores"]) if have == want else None
    except (OSError, ValueError, KeyError) as exc:
        raise EqvlError(f"close_cache {p}: not a readable close cache ({exc}); remove it or set overwrite_cache",
                        param="close_cache") from None
    if cache is None:
        raise EqvlError(f"close_cache {p} was built for {json.dumps(have, sort_keys=True)}, this run is "
                        f"{json.dumps(want, sort_keys=True)}; give another path or set overwrite_cache",
                        param="close_cache")
    return cache


def load_or_build(path: str, bundle: Any, rows: list[Any], close_images: int, overwrite: bool, progress: bool
                  ) -> CloseCache:
    """The cache at `path` when it is this model's and data's; otherwise build and write it."""
    want = identity(bundle, rows, close_images)
    p = Path(path)
    if p.exists() and not overwrite:
        cache = read(p, want)
        log.info("close cache %s reused", p)
        return cache
    cache = build(bundle, rows, close_images, progress=progress)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp.npz")
    np.savez(tmp, image_of=cache.image_of, neighbours=cache.neighbours, scores=cache.scores,
             identity=np.array(json.dumps(want, sort_keys=True)))
    os.replace(tmp, p)
    return cache
