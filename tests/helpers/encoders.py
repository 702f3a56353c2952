"""Stub encoders for the engine tests: deterministic features from pixels / characters and countable
calls (FakeEncoder, FakePairScorer), a mean-colour encoder for the video grounding tests, and a tiny
`twins` folder over a pool of coloured images."""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

DIM = 12


def to_tensor(image: Image.Image) -> torch.Tensor:
    small = image.resize((2, 2))
    return torch.from_numpy(np.asarray(small, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


class FakeEncoder:
    """Dual encoder with countable calls; features: 2x2 RGB pixels / letter counts."""

    name = "fake"
    score_kind = "cosine"
    pretrained = "none"

    def __init__(self, fail_after_image_batches: int | None = None):
        self.preprocess = to_tensor
        self.image_rows = 0
        self.text_rows = 0
        self.image_calls = 0
        self.text_calls = 0
        self.fail_after = fail_after_image_batches
        self.seen_texts: list[str] = []

    def identity(self) -> str:
        return "fake-encoder-v1"

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        if self.fail_after is not None and self.image_calls >= self.fail_after:
            raise KeyboardInterrupt
        self.image_calls += 1
        self.image_rows += len(pixels)
        return torch.nn.functional.normalize(pixels.reshape(len(pixels), -1) + 0.01, dim=-1)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        self.text_calls += 1
        self.text_rows += len(texts)
        self.seen_texts += texts
        out = torch.zeros(len(texts), DIM)
        for n, text in enumerate(texts):
            for ch in text:
                out[n, ord(ch) % DIM] += 1.0
        return torch.nn.functional.normalize(out + 0.01, dim=-1)

    def score(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        return text_emb @ image_emb.T


class FakePairScorer:
    """ITM-style scorer: only (image, caption) pairs; counts them."""

    name = "fake-itm"
    score_kind = "probability"
    pretrained = "none"

    def __init__(self):
        self.preprocess = to_tensor
        self.pairs: list[str] = []

    def identity(self) -> str:
        return "fake-itm-v1"

    def score_pairs(self, pixels: torch.Tensor, texts: list[str]) -> torch.Tensor:
        self.pairs += texts
        red = pixels[:, 0].mean(dim=(1, 2))
        return torch.sigmoid(torch.tensor([(1.0 if "red" in t else -1.0) for t in texts]) * (red - 0.5) * 4)


COLORS = [(220, 20, 20), (20, 20, 220), (20, 200, 20), (200, 200, 20), (120, 20, 160)]


def make_twins(root, n: int = 6, shared: bool = True) -> list[dict]:
    """n twins over a small pool of colored images (so images and captions repeat across twins)."""
    rows = []
    for k, color in enumerate(COLORS):
        Image.new("RGB", (24, 16), color).save(root / f"c{k}.png")
    names = ["red", "blue", "green", "yellow", "purple"]
    for i in range(n):
        a, b = (i % 5, (i + 1) % 5) if shared else (i % 5, (i + 2) % 5)
        rows.append({"id": f"tw{i}", "subset": "even" if i % 2 == 0 else "odd",
                     "image_0": f"c{a}.png", "image_1": f"c{b}.png",
                     "caption_0": f"a {names[a]} square", "caption_1": f"a {names[b]} square"})
    (root / "twins.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return rows


TEXT = {"red": [1.0, 0.0, 0.0], "blue": [0.0, 0.0, 1.0], "green": [0.0, 1.0, 0.0]}


class MeanColourEncoder:
    """Stub encoder: an image's embedding is its mean colour, a caption's a fixed colour vector."""

    name = "mean-colour"
    pretrained = "none"
    score_kind = "cosine"

    def preprocess(self, image):
        return torch.from_numpy(np.asarray(image, dtype=np.float32).reshape(-1, 3).mean(axis=0))

    def identity(self):
        return "mean-colour"

    def encode_images(self, pixels):
        return torch.nn.functional.normalize(pixels.float(), dim=-1)

    def encode_texts(self, texts):
        return torch.nn.functional.normalize(torch.tensor([TEXT[t.split()[-1].strip(".").lower()] for t in texts]), dim=-1)

    def score(self, image_emb, text_emb):
        return text_emb @ image_emb.T
