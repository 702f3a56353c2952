"""The encoder protocol: the only heavy object in eqvl.

Dual encoders (CLIP-like) implement `Encoder`: images and texts are embedded
separately and scored by cosine similarity, so each unique item is encoded once.
Fusion models (ITM heads) implement `PairScorer`: they score (image, caption) pairs.
"""

from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

import torch
from PIL import Image


@runtime_checkable
class Encoder(Protocol):
    #: human-readable model name ("ViT-B-32", "hf:/path", a config path)
    name: str
    #: what the scores mean: "cosine" (dual encoders) or "probability" (sigmoid-calibrated)
    score_kind: str
    #: PIL image -> tensor [3, H, W]; runs in DataLoader workers
    preprocess: Callable[[Image.Image], torch.Tensor]

    def identity(self) -> str:
        """Stable string: model name + weights hash + preprocessing. Keys the embedding cache."""

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] -> [B, D], L2-normalised."""

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """list of B captions -> [B, D], L2-normalised."""

    def score(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """[N, D] x [M, D] -> [M, N] scores (captions x images)."""


@runtime_checkable
class PairScorer(Protocol):
    """A model that can only score (image, caption) pairs jointly (e.g. an ITM head)."""

    name: str
    score_kind: str
    preprocess: Callable[[Image.Image], torch.Tensor]

    def identity(self) -> str: ...

    def score_pairs(self, pixels: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """[B, 3, H, W] with B captions -> [B] scores, one per (image_b, text_b)."""
