"""Coarse-to-fine: the index's top candidates re-scored by a second, stronger model.

The second model is any eqvl `Encoder` (its own embeddings of the query and of the candidate
images, compared by its own `score`) or a `PairScorer` (an ITM head or VQAScore scoring each
(image, query) pair, through eqvl.encode's pair engine). Candidate images are read from the paths
stored in the index's metadata. The new order is (second-stage score descending, id ascending);
every hit keeps its first-stage score.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch
from PIL import Image

from eqvl.data.records import ImageRef
from eqvl.encode import EncodeConfig, encode_images, encode_texts
from eqvl.errors import EqvlError

if TYPE_CHECKING:
    from typing_extensions import TypeIs

    from eqvl.models.base import Encoder, PairScorer


def is_pair_scorer(model: object) -> TypeIs[PairScorer]:
    """An ITM head or VQAScore (`hf-itm:` / `vqascore:` models), not a dual encoder."""
    return hasattr(model, "score_pairs") and not hasattr(model, "encode_images")


def stage_name(model: Encoder | PairScorer) -> str:
    return f"rerank:{getattr(model, 'name', type(model).__name__)}"


def rerank_scores(model: Encoder | PairScorer, paths: Sequence[str], text: str | None = None, image: Image.Image | None = None,
                  batch_size: int = 32) -> np.ndarray:
    """Second-stage score of each candidate image (NaN where its image can no longer be read)."""
    if (text is None) == (image is None):
        raise EqvlError("re-ranking needs exactly one query: a text or an image")
    if is_pair_scorer(model):
        if text is None:  # an image query (exactly one query is given)
            raise EqvlError(f"{model.name} scores (image, caption) pairs; it cannot re-rank an image query")
        return _pair_scores(model, paths, text, batch_size)
    cfg = EncodeConfig(batch_size=batch_size, workers=0, cache=None, skip_bad=True, progress=False)
    cand = encode_images(model, [ImageRef(p) for p in paths], cfg)
    good = [i for i in range(len(paths)) if i not in cand.bad]
    out = np.full(len(paths), np.nan, dtype=np.float64)
    if not good:
        return out
    if text is not None:
        query = torch.from_numpy(encode_texts(model, [text], cfg).emb)
        scores = model.score(torch.from_numpy(cand.emb[good]), query)[0]
    else:
        assert image is not None  # exactly one query is given (checked above)
        pixels = model.preprocess(image.convert("RGB"))[None]
        query = model.encode_images(pixels).detach().float().cpu()
        scores = (torch.from_numpy(cand.emb[good]) @ query[0])
    out[good] = scores.detach().double().cpu().numpy().reshape(-1)
    return out


def _pair_scores(model: PairScorer, paths: Sequence[str], text: str, batch_size: int) -> np.ndarray:
    """Each candidate with the query through the pair-scoring engine (an unreadable image stays NaN)."""
    from eqvl.encode import score_pairs

    cfg = EncodeConfig(batch_size=batch_size, workers=0, cache=None, skip_bad=True, progress=False)
    refs = [ImageRef(p) for p in paths]
    got = score_pairs(model, refs, [text], [(i, 0) for i in range(len(paths))], cfg, lambda i, msg: None)
    return got.values


def reorder(ids: np.ndarray, scores: np.ndarray, k: int) -> list[int]:
    """Positions of the top-k by (score desc, id asc); unreadable candidates (NaN) go last."""
    key = np.where(np.isnan(scores), -np.inf, scores)
    return list(np.lexsort((ids, -key))[:k])
