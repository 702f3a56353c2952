"""Recall@K for image-text retrieval, computed in chunks.

COCO's 5k test images x 25k captions would be a 125M-entry similarity matrix; here
only a [chunk, other side] block exists at a time, so memory stays at
chunk x max(N, M) floats whatever the split size.

Ranks are strict: a positive is at rank r when r negatives score >= it, so a tie with
a negative counts against the model (a constant scorer gets recall 0, not chance).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from eqvl.metrics import recall_at_k


def _as_tensor(x: "torch.Tensor | np.ndarray") -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    return t.float()


def image_retrieval_ranks(image_emb, text_emb, text_to_image: Sequence[int], chunk: int = 1024) -> np.ndarray:
    """For each caption (query), how many images other than its own score >= its own image."""
    img, txt = _as_tensor(image_emb), _as_tensor(text_emb)
    gt = torch.as_tensor(np.asarray(text_to_image, dtype=np.int64))
    ranks = np.empty(txt.shape[0], dtype=np.int64)
    for start in range(0, txt.shape[0], chunk):
        sims = txt[start : start + chunk] @ img.T  # [c, N]
        idx = gt[start : start + chunk]
        pos = sims.gather(1, idx[:, None])  # [c, 1]
        ge = (sims >= pos).sum(dim=1) - 1  # the positive itself is >= itself
        ranks[start : start + chunk] = ge.numpy()
    return ranks


def text_retrieval_ranks(image_emb, text_emb, text_to_image: Sequence[int], chunk: int = 256) -> np.ndarray:
    """For each image (query), how many non-matching captions score >= its best matching caption."""
    img, txt = _as_tensor(image_emb), _as_tensor(text_emb)
    owner = torch.as_tensor(np.asarray(text_to_image, dtype=np.int64))
    ranks = np.empty(img.shape[0], dtype=np.int64)
    for start in range(0, img.shape[0], chunk):
        sims = img[start : start + chunk] @ txt.T  # [c, M]
        rows = torch.arange(start, start + sims.shape[0])
        is_pos = owner[None, :] == rows[:, None]  # [c, M]
        best = torch.where(is_pos, sims, torch.full_like(sims, -torch.inf)).max(dim=1).values  # [c]
        neg_ge = ((sims >= best[:, None]) & ~is_pos).sum(dim=1)
        # an image without any caption can never be retrieved correctly
        neg_ge = torch.where(is_pos.any(dim=1), neg_ge, torch.full_like(neg_ge, txt.shape[0]))
        ranks[start : start + sims.shape[0]] = neg_ge.numpy()
    return ranks


def retrieval_recalls(image_emb, text_emb, text_to_image: Sequence[int], ks: tuple[int, ...] = (1, 5, 10),
                      chunk: int = 1024) -> dict[str, float]:
    """CLIP_benchmark-style keys: image_retrieval_recall@K (text -> image) and text_retrieval_recall@K (image -> text)."""
    img_ranks = image_retrieval_ranks(image_emb, text_emb, text_to_image, chunk=chunk)
    txt_ranks = text_retrieval_ranks(image_emb, text_emb, text_to_image, chunk=max(1, chunk // 4))
    out = {f"image_retrieval_recall@{k}": v for k, v in recall_at_k(img_ranks, ks).items()}
    out.update({f"text_retrieval_recall@{k}": v for k, v in recall_at_k(txt_ranks, ks).items()})
    return out
