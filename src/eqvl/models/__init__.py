"""Encoders: one protocol (`eqvl.models.base`), several backends.

`load_encoder("ViT-B-32", "openai")` -> open_clip; `load_encoder("hf:/dir")` -> transformers.
"""

from eqvl.models.base import Encoder, PairScorer
from eqvl.models.loading import load_encoder

__all__ = ["Encoder", "PairScorer", "load_encoder"]
