"""The notebook surface: `eqvl.load_model`, `Model.score`, `eqvl.evaluate`, `eqvl.train_model`.

Thin wrappers over the library (no CLI involved) so that a notebook needs three lines:

    model = eqvl.load_model("eqvl-tiny-rn", pretrained="none")
    sims = model.score(["a.png", pil_image], ["a dog on a sofa", "a sofa on a dog"])   # [images, captions]
    res = eqvl.evaluate(model, "twins", "data/eqsynth");  res.metrics, res.to_json()
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np
import torch
from PIL import Image

from eqvl.data.images import load_image, to_rgb
from eqvl.data.records import ImageRef
from eqvl.errors import EqvlError
from eqvl.models.base import Encoder, PairScorer

ImageLike = Union[str, Path, Image.Image]


@dataclass
class Model:
    """A loaded encoder with numpy-in / numpy-out helpers (a pair scorer such as `hf-itm:` is evaluated,
    never embedded: it has no separate image and text vectors)."""

    encoder: Encoder | PairScorer

    @property
    def name(self) -> str:
        return self.encoder.name

    def embed_images(self, images: Sequence[ImageLike], batch_size: int = 64) -> np.ndarray:
        """PIL images or paths -> [N, D] float32, L2-normalised rows."""
        encoder = self._dual()
        rows = []
        for start in range(0, len(images), batch_size):
            pixels = torch.stack([encoder.preprocess(_as_pil(x)) for x in images[start:start + batch_size]])
            with torch.no_grad():
                rows.append(encoder.encode_images(pixels).float().cpu().numpy())
        return np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)

    def embed_texts(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Captions -> [M, D] float32, L2-normalised rows."""
        encoder = self._dual()
        rows = []
        for start in range(0, len(texts), batch_size):
            with torch.no_grad():
                rows.append(encoder.encode_texts(list(texts[start:start + batch_size])).float().cpu().numpy())
        return np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)

    def score(self, images: Sequence[ImageLike], captions: Sequence[str]) -> np.ndarray:
        """[len(images), len(captions)] similarity matrix, as the model scores pairs (cosine for CLIP)."""
        encoder = self._dual()
        img = torch.from_numpy(self.embed_images(images))
        txt = torch.from_numpy(self.embed_texts(captions))
        with torch.no_grad():
            return encoder.score(img, txt).float().cpu().numpy().T  # encoder.score is [captions, images]

    def _dual(self) -> Encoder:
        if not isinstance(self.encoder, Encoder):
            raise EqvlError(f"model {self.name!r} scores (image, caption) pairs jointly and has no embeddings; "
                            "evaluate it with eqvl.evaluate")
        return self.encoder


@dataclass
class Results:
    """A benchmark run: `metrics` (fractions in [0, 1]), `subsets`, the full results dict, and the score arrays."""

    results: dict[str, Any]
    scores: list[np.ndarray] = field(default_factory=list, repr=False)

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.results.get("metrics", {}))

    @property
    def subsets(self) -> dict[str, dict[str, float]]:
        return dict(self.results.get("subsets", {}))

    def to_json(self, path: str | Path | None = None) -> str:
        """The CLIP_benchmark-compatible JSON `eqvl eval --output` writes; written atomically if `path` is given."""
        from eqvl.io import write_json_atomic

        text = json.dumps(self.results, indent=2, default=str)
        if path is not None:
            write_json_atomic(path, self.results, overwrite=False)
        return text


def load_model(model: str, pretrained: str, *, device: str = "cpu", precision: str = "fp32",
               seed: int = 0) -> Model:
    """Same names as `eqvl eval --model/--pretrained`: open_clip names or configs, checkpoints, `hf:DIR`.

    `pretrained` has no default on purpose: random weights are asked for with `pretrained="none"`.
    """
    from eqvl.models import load_encoder

    return Model(load_encoder(model, pretrained, device=device, precision=precision, seed=seed))


def evaluate(model: Model | Encoder | PairScorer, benchmark: str, data: str | Path, *, cache: bool | str | Path = True,
             options: dict[str, Any] | None = None, batch_size: int = 64, progress: bool = False) -> Results:
    """Run one benchmark (`eqvl benchmarks` lists them); the embedding cache is on by default, as in the CLI."""
    from eqvl.encode import default_cache_dir
    from eqvl.evaluation import evaluate as run_benchmark

    encoder = model.encoder if isinstance(model, Model) else model
    cache_dir = (default_cache_dir() if cache is True else None) if isinstance(cache, bool) else Path(cache)
    out = run_benchmark(encoder, benchmark, data, batch_size=batch_size, cache_dir=cache_dir,
                        options=options, progress=progress)
    return Results(out.results, out.scores)


def train_model(**config: Any):
    """`eqvl train` from Python: keyword arguments are `TrainConfig` fields and the loss terms' options
    (the CLI flags with underscores: `loss="itc+eqsim", eqsim_beta=0.5`)."""
    from eqvl.train import TrainConfig, train as run_training

    config.setdefault("lr", None)  # as the CLI: a fine-tuning rate when `pretrained` loads weights
    return run_training(TrainConfig.from_dict(config, strict=True))  # loss options flat: eqsim_beta=0.5


def _as_pil(image: ImageLike) -> Image.Image:
    if isinstance(image, Image.Image):
        return to_rgb(image, "image")  # the file decoder's rules (16-bit, alpha, CMYK, EXIF) for in-memory images too
    return load_image(ImageRef(str(image)))
