"""One entry point from `--model/--pretrained` flags to an `Encoder`: picks the backend."""

from __future__ import annotations

from eqvl.errors import EqvlError
from eqvl.models.base import Encoder
from eqvl.precision import check_precision

HF_PREFIX = "hf:"


def load_encoder(
    model: str,
    pretrained: str = "none",
    *,
    device: str = "cpu",
    seed: int = 0,
    precision: str = "fp32",
) -> Encoder:
    """`hf:DIR` -> transformers CLIPModel/SiglipModel; anything else -> open_clip."""
    if not model or not model.strip():
        raise EqvlError("--model is empty")
    _check_device(device)
    precision = check_precision(precision)
    if model.startswith(HF_PREFIX):
        from eqvl.models.hf import HFEncoder

        if pretrained and pretrained.lower() not in {"none", ""}:
            raise EqvlError("--pretrained is not used with hf: models (the weights live in the directory)")
        return HFEncoder.from_dir(model[len(HF_PREFIX):], device=device, precision=precision)
    from eqvl.models.openclip import OpenClipEncoder

    return OpenClipEncoder.create(model, pretrained, seed=seed, device=device, precision=precision)


def _check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise EqvlError(f"--device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise EqvlError(f"--device {device}: CUDA is not available on this machine")
