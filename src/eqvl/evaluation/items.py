"""A benchmark's items -> their score matrices, through the encoding layer.

A benchmark is a list of small items (2x2 twins, 2x1 foils, ...) that share many images
and captions. We collect the UNIQUE images and captions, have `eqvl.encode` embed each
once, and gather just the [captions x images] scores each item needs. Pair scorers get
exactly the unique (image, caption) pairs the items need.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from eqvl.data.records import ImageRef, ScoreItem
from eqvl.encode import EncodeConfig, encode_images_and_texts, score_pairs
from eqvl.errors import DataError, EqvlError
from eqvl.models.base import RowScorer, is_pair_scorer

if TYPE_CHECKING:
    from eqvl.models.base import Encoder, PairScorer


@dataclass
class ItemScores:
    """What `score_items` returns: scores of the kept items, and the skipped ones."""

    scores: list[np.ndarray]
    kept: list[int]
    skipped: list[dict[str, str]]
    stats: dict[str, dict[str, int]]


@dataclass
class UniqueInputs:
    """The benchmark's unique images / captions and, per item, indices into them."""

    refs: list[ImageRef]
    texts: list[str]
    image_idx: list[list[int]]
    text_idx: list[list[int]]
    owners: dict[int, list[str]]  # image index -> ids of the items that use it


def collect_unique(items: Sequence[ScoreItem]) -> UniqueInputs:
    image_pos: dict[str, int] = {}
    text_pos: dict[str, int] = {}
    refs: list[ImageRef] = []
    texts: list[str] = []
    owners: dict[int, list[str]] = defaultdict(list)
    image_idx, text_idx = [], []
    for item in items:
        ii = []
        for ref in item.images:
            k = ref.key()
            if k not in image_pos:
                image_pos[k] = len(refs)
                refs.append(ref)
            ii.append(image_pos[k])
            owners[image_pos[k]].append(item.id)
        ci = []
        for text in item.captions:
            if text not in text_pos:
                text_pos[text] = len(texts)
                texts.append(text)
            ci.append(text_pos[text])
        image_idx.append(ii)
        text_idx.append(ci)
    return UniqueInputs(refs, texts, image_idx, text_idx, owners)


def _bad_image_error(owners: dict[int, list[str]], i: int, msg: str) -> DataError:
    ids = owners.get(i, [])
    who = f"record {ids[0]!r}" + (f" (and {len(ids) - 1} more)" if len(ids) > 1 else "") if ids else "an image"
    return DataError(f"{who}: {msg} (pass `skip_bad` to skip such records)", path=None, params=("skip_bad",))


def score_items(encoder: Encoder | PairScorer, items: Sequence[ScoreItem], cfg: EncodeConfig) -> ItemScores:
    """Scores [len(captions), len(images)] for every item; with skip_bad, items with a bad image are dropped."""
    uniq = collect_unique(items)

    def on_bad(i: int, msg: str) -> None:
        if not cfg.skip_bad:
            raise _bad_image_error(uniq.owners, i, msg)

    if is_pair_scorer(encoder):
        return _score_by_pairs(encoder, items, uniq, cfg, on_bad)
    images, texts = encode_images_and_texts(encoder, uniq.refs, uniq.texts, cfg, on_bad)
    kept = [n for n, ii in enumerate(uniq.image_idx) if not any(i in images.bad for i in ii)]
    scores = gather_scores(
        encoder,
        images.emb,
        texts.emb,
        [uniq.image_idx[n] for n in kept],
        [uniq.text_idx[n] for n in kept],
    )
    stats = {"images": images.stats.as_dict(), "texts": texts.stats.as_dict()}
    return ItemScores(scores, kept, _skipped(items, uniq, images.bad, kept), stats)


def _skipped(items, uniq: UniqueInputs, bad: dict[int, str], kept: list[int]) -> list[dict[str, str]]:
    keep = set(kept)
    out = []
    for n, item in enumerate(items):
        if n in keep:
            continue
        i = next(i for i in uniq.image_idx[n] if i in bad)
        out.append({"id": item.id, "path": uniq.refs[i].path, "error": bad[i]})
    return out


def gather_scores(
    encoder: Encoder,
    image_emb: np.ndarray,
    text_emb: np.ndarray,
    image_idx: Sequence[Sequence[int]],
    text_idx: Sequence[Sequence[int]],
) -> list[np.ndarray]:
    """Only the pair scores each item needs, vectorised over items of the same shape (a `RowScorer`)."""
    out: dict[int, np.ndarray] = {}  # every item is in one shape group below
    img_t, txt_t = torch.from_numpy(image_emb), torch.from_numpy(text_emb)
    by_shape: dict[tuple[int, int], list[int]] = defaultdict(list)
    for n, (ii, ci) in enumerate(zip(image_idx, text_idx)):
        by_shape[(len(ci), len(ii))].append(n)
    for (nc, ni), members in by_shape.items():
        if not isinstance(encoder, RowScorer):
            for n in members:
                one = encoder.score(img_t[list(image_idx[n])], txt_t[list(text_idx[n])])
                out[n] = one.detach().float().cpu().numpy().astype(np.float64)
            continue
        ii_t = torch.tensor([image_idx[n] for n in members], dtype=torch.long)  # [K, ni]
        ci_t = torch.tensor([text_idx[n] for n in members], dtype=torch.long)  # [K, nc]
        ci_grid = ci_t[:, :, None].expand(-1, nc, ni).reshape(-1)
        ii_grid = ii_t[:, None, :].expand(-1, nc, ni).reshape(-1)
        s = encoder.score_rows(img_t[ii_grid], txt_t[ci_grid]).detach().float().cpu().numpy().astype(np.float64)
        s = s.reshape(len(members), nc, ni)
        for k, n in enumerate(members):
            out[n] = s[k]
    return [out[n] for n in range(len(image_idx))]


def _score_by_pairs(scorer: PairScorer, items, uniq: UniqueInputs, cfg: EncodeConfig, on_bad) -> ItemScores:
    """Every item's [captions x images] from the unique pairs' scores."""
    pair_pos: dict[tuple[int, int], int] = {}
    for ii, ci in zip(uniq.image_idx, uniq.text_idx):
        for c in ci:
            for i in ii:
                pair_pos.setdefault((i, c), len(pair_pos))
    got = score_pairs(scorer, uniq.refs, uniq.texts, list(pair_pos), cfg, on_bad)
    kept = [n for n, ii in enumerate(uniq.image_idx) if not any(i in got.bad for i in ii)]
    scores = []
    for n in kept:
        ii, ci = uniq.image_idx[n], uniq.text_idx[n]
        scores.append(np.array([[got.values[pair_pos[(i, c)]] for i in ii] for c in ci], dtype=np.float64))
    return ItemScores(scores, kept, _skipped(items, uniq, got.bad, kept), {"pairs": got.stats.as_dict()})


def embed_all(encoder: Encoder | PairScorer, refs: Sequence[ImageRef], texts: Sequence[str], cfg: EncodeConfig):
    """Embeddings of every listed image and caption (retrieval); a bad image is always an error."""
    if is_pair_scorer(encoder):
        raise EqvlError(f"{encoder.name} is a pair scorer; full-matrix (retrieval) benchmarks need a dual encoder")

    def on_bad(i: int, msg: str) -> None:
        raise DataError(f"{msg} (retrieval needs every image; `skip_bad` cannot drop it)", path=None, params=("skip_bad",))

    uniq_text: dict[str, int] = {}
    for t in texts:
        uniq_text.setdefault(t, len(uniq_text))
    uniq_image: dict[str, int] = {}
    image_refs: list[ImageRef] = []
    for ref in refs:
        if uniq_image.setdefault(ref.key(), len(image_refs)) == len(image_refs):
            image_refs.append(ref)
    image_enc, text_enc = encode_images_and_texts(encoder, image_refs, list(uniq_text), cfg, on_bad)
    text_emb = text_enc.emb[[uniq_text[t] for t in texts]]
    image_emb = image_enc.emb[[uniq_image[r.key()] for r in refs]]
    for what, emb in (("image", image_emb), ("text", text_emb)):
        if emb.size == 0 or not np.isfinite(emb).all():
            raise EqvlError(f"the encoder produced empty or non-finite {what} embeddings; refusing to rank them")
    stats = {"images": image_enc.stats.as_dict(), "texts": text_enc.stats.as_dict()}
    return torch.from_numpy(image_emb), torch.from_numpy(text_emb), stats
