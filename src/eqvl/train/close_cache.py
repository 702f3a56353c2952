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
the identity matches, refused naming both otherwise (or rebuilt with `overwrite_cache`). The build is
resumable: embeddings and each chunk of scored images are kept in `<cache>.partial/` until the cache is
written, and a killed build picks up there (same cache, bit for bit). How training uses it:
`eqvl.train.close_negatives`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from eqvl.errors import EqvlError
from eqvl.progress import progress_bar

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
          chunk: int = 64, partial: Path | None = None, on_chunk: Callable[[int], None] | None = None) -> CloseCache:
    """Embed every image, then score images `chunk` at a time (their top-C images' captions). With
    `partial` (a folder), the embeddings and every finished chunk are kept there (each written aside, then
    renamed), so a killed build resumes at its first missing chunk and gives the same cache bit for bit."""
    image_of, members = image_groups(rows)
    if len(members) < 2:
        raise EqvlError(f"`close_cache` needs at least 2 distinct images; the data has {len(members)}", param="close_cache")
    model = bundle.model
    was = model.training
    model.eval()
    starts = list(range(0, len(members), chunk))
    try:
        caps = bundle.tokenizer([r.pair.caption for r in rows])
        emb = _stored(partial, "embeddings.npy", lambda: embeddings(bundle, rows, members, batch).numpy())
        done = sum(min(lo + chunk, len(members)) - lo for lo in starts
                   if partial is not None and (partial / _chunk_name(lo)).exists())
        if done:
            log.info("close cache: resuming, %d of %d images already scored", done, len(members))
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        with progress_bar(total=len(members), desc="close cache", unit="image", disable=not progress,
                          initial=done) as bar:
            for i, lo in enumerate(starts):
                hi = min(lo + chunk, len(members))
                before = partial is not None and (partial / _chunk_name(lo)).exists()
                parts += _chunk(partial, lo, lambda: score_chunk(bundle, rows, members, torch.from_numpy(emb), caps,
                                                                 lo, hi, close_images, batch))
                if not before:
                    bar.update(hi - lo)
                    if on_chunk is not None:
                        on_chunk(i)
    finally:
        model.train(was)
    nbr, scores = pad(parts)
    return CloseCache(image_of, nbr, scores)


def _chunk_name(lo: int) -> str:
    return f"chunk_{lo:09d}.npz"


def _stored(partial: Path | None, name: str, make: Callable[[], np.ndarray]) -> np.ndarray:
    """`make()`, kept in `partial/name` (written aside, renamed) and read back from there when present."""
    if partial is None:
        return make()
    path = partial / name
    if path.exists():
        return np.load(path)
    value = make()
    tmp = partial / f".{name}.tmp.npy"
    np.save(tmp, value)
    os.replace(tmp, path)
    return value


def _chunk(partial: Path | None, lo: int, make: Callable[[], list[tuple[np.ndarray, np.ndarray]]]
           ) -> list[tuple[np.ndarray, np.ndarray]]:
    """One chunk's (neighbours, scores) per image, kept in `partial` as flat arrays with their lengths."""
    if partial is None:
        return make()
    path = partial / _chunk_name(lo)
    if path.exists():
        with np.load(path) as z:
            ends = np.cumsum(z["lengths"])
            return [(nb, sc) for nb, sc in zip(np.split(z["neighbours"], ends[:-1]), np.split(z["scores"], ends[:-1]))]
    parts = make()
    tmp = partial / f".{path.name}.tmp.npz"
    np.savez(tmp, neighbours=np.concatenate([nb for nb, _ in parts]), scores=np.concatenate([sc for _, sc in parts]),
             lengths=np.array([len(nb) for nb, _ in parts], dtype=np.int64))
    os.replace(tmp, path)
    return parts


def partial_dir(p: Path, want: dict[str, Any], chunk: int) -> Path:
    """`<cache>.partial/`: a killed build's embeddings and chunks, kept when they are this build's (same
    identity and chunk size), otherwise cleared."""
    folder = p.with_name(p.name + ".partial")
    stamp = json.dumps({"identity": want, "chunk": chunk}, sort_keys=True)
    mark = folder / "build.json"
    if folder.exists() and (not mark.exists() or mark.read_text(encoding="utf-8") != stamp):
        log.info("close cache: %s is another build's progress; starting over", folder)
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not mark.exists():
        tmp = folder / ".build.json.tmp"
        tmp.write_text(stamp, encoding="utf-8")
        os.replace(tmp, mark)
    return folder


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


def load_or_build(path: str, bundle: Any, rows: list[Any], close_images: int, overwrite: bool, progress: bool,
                  chunk: int = 64, on_chunk: Callable[[int], None] | None = None) -> CloseCache:
    """The cache at `path` when it is this model's and data's; otherwise build it (resuming a killed build's
    chunks in `<path>.partial/`) and write it."""
    want = identity(bundle, rows, close_images)
    p = Path(path)
    if p.exists() and not overwrite:
        cache = read(p, want)
        log.info("close cache %s reused", p)
        return cache
    p.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_dir(p, want, chunk)
    cache = build(bundle, rows, close_images, progress=progress, chunk=chunk, partial=partial, on_chunk=on_chunk)
    tmp = p.with_name(p.name + ".tmp.npz")
    np.savez(tmp, image_of=cache.image_of, neighbours=cache.neighbours, scores=cache.scores,
             identity=np.array(json.dumps(want, sort_keys=True)))
    os.replace(tmp, p)
    shutil.rmtree(partial)
    return cache
