"""One entry point from `--model/--pretrained` flags to an `Encoder`: picks the backend."""

from __future__ import annotations

import os

from eqvl.errors import EqvlError
from eqvl.models.base import Encoder
from eqvl.models.checkpoints import checkpoint_model_name
from eqvl.precision import check_precision

HF_PREFIX = "hf:"


#: model specs whose weights come with them (no --pretrained needed)
SELF_CONTAINED = (HF_PREFIX, "hf-hub:", "local-dir:")
NO_PRETRAINED = ("no --pretrained given: pass an open_clip pretrained tag (e.g. openai), a checkpoint file, "
                 "or --pretrained none to use randomly initialised weights on purpose")


def load_encoder(
    model: str | None,
    pretrained: str | None = None,
    *,
    device: str = "cpu",
    seed: int = 0,
    precision: str = "fp32",
) -> Encoder:
    """`hf:DIR` -> transformers CLIPModel/SiglipModel; anything else -> open_clip.

    Random weights are never a silent default: `pretrained=None` is refused unless the model
    spec carries its own weights; pass "none" to ask for them. `model=None` takes the model name
    stored in the `pretrained` checkpoint (eqvl and open_clip training checkpoints store it).
    """
    model = resolve_model_arg(model, pretrained)
    _check_device(device)
    precision = check_precision(precision)
    if model.startswith(HF_PREFIX):
        from eqvl.models.hf import HFEncoder

        if pretrained and pretrained.lower() not in {"none", ""}:
            raise EqvlError("--pretrained is not used with hf: models (the weights live in the directory)")
        return HFEncoder.from_dir(model[len(HF_PREFIX):], device=device, precision=precision)
    from eqvl.models.openclip import OpenClipEncoder, resolve_model_name

    if pretrained is None and not model.startswith(SELF_CONTAINED):
        resolve_model_name(model)  # a misspelt name is the first thing to report
        raise EqvlError(NO_PRETRAINED)
    return OpenClipEncoder.create(model, pretrained or "none", seed=seed, device=device, precision=precision)


def resolve_model_arg(model: str | None, pretrained: str | None) -> str:
    """`--model`, or when it is left out, the model name stored in the `--pretrained` checkpoint."""
    if model and model.strip():
        return model
    if pretrained and os.path.isfile(pretrained):
        stored = checkpoint_model_name(pretrained)
        if stored:
            return stored
        raise EqvlError(f"--model is required: {pretrained} does not store its model name")
    raise EqvlError("--model is required (or pass --pretrained CHECKPOINT of an eqvl / open_clip training run, "
                    "which stores it)")


def _check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise EqvlError(f"--device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise EqvlError(f"--device {device}: CUDA is not available on this machine")
