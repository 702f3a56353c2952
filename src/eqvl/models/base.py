"""The encoder protocols: the only heavy objects in eqvl.

Dual encoders (CLIP-like) implement `Encoder`: images and texts are embedded
separately and scored by cosine similarity, so each unique item is encoded once.
Fusion models (ITM heads) implement `PairScorer`: they score (image, caption) pairs.

Optional abilities are protocols of their own, checked with `isinstance` (all are
`runtime_checkable`), so a caller never probes for an undeclared method:
`RowScorer` (vectorised scores of aligned rows), `OnDevice` (where it computes) and
`TextLimit` (which captions its tokenizer cuts) and `GroupedPairScorer` (a pair scorer that does an
image's work once for all its captions).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence, runtime_checkable

import torch
from PIL import Image

if TYPE_CHECKING:
    from typing_extensions import TypeIs


@runtime_checkable
class Encoder(Protocol):
    #: human-readable model name ("ViT-B-32", "hf:/path", a config path)
    name: str
    #: the weights it was loaded with ("openai", a checkpoint path, "none" for random init)
    pretrained: str
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
class RowScorer(Protocol):
    """An `Encoder` that can score aligned rows at once (the engine's vectorised gather)."""

    def score_rows(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """[P, D] x [P, D] -> [P]: the score of each (image_p, text_p) pair, as `score` would give it."""


@runtime_checkable
class OnDevice(Protocol):
    """An encoder that says where it computes (lets decode workers pin memory for CUDA)."""

    device: torch.device


@runtime_checkable
class TextLimit(Protocol):
    """An encoder whose text tower reads at most `context_length` tokens (longer captions are cut)."""

    context_length: int

    def overlong(self, texts: list[str]) -> list[bool]:
        """For each caption: is it longer than the context (so it is scored as its prefix)?"""


@runtime_checkable
class PairScorer(Protocol):
    """A model that can only score (image, caption) pairs jointly (e.g. an ITM head)."""

    name: str
    pretrained: str
    score_kind: str
    preprocess: Callable[[Image.Image], torch.Tensor]

    def identity(self) -> str: ...

    def score_pairs(self, pixels: Any, texts: list[str]) -> torch.Tensor:
        """B preprocessed images ([B, 3, H, W] stacked, or a list when `preprocess` gives PIL images of
        different sizes, as for VLM processors) with B captions -> [B] scores, one per (image_b, text_b)."""


@runtime_checkable
class GroupedPairScorer(Protocol):
    """A pair scorer that can share an image's work (vision tower) between the captions asked of it.

    `images` are the unique preprocessed images of a batch (whatever `preprocess` returns: a
    tensor, or a PIL image for processors that resize per image), pair p is
    (images[image_of[p]], texts[p]). The scores must equal `score_pairs` on the same pairs."""

    def score_grouped(self, images: Sequence[Any], image_of: Sequence[int], texts: Sequence[str]) -> torch.Tensor:
        """-> [len(texts)] scores."""


def is_pair_scorer(model: object) -> TypeIs[PairScorer]:
    """Pair scorers go through pair scoring; a model that can also embed is used as an `Encoder`.

    For the type checker, False on an `Encoder | PairScorer` leaves an `Encoder` (a model that is both
    answers False and is used as the `Encoder` it also is)."""
    return isinstance(model, PairScorer) and not isinstance(model, Encoder)
