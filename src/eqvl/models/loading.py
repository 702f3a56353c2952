"""One entry point from `--model/--pretrained` flags to an `Encoder`: picks the backend."""

from __future__ import annotations

import os

from eqvl.errors import EqvlError
from eqvl.models.base import Encoder, PairScorer
from eqvl.models.checkpoints import checkpoint_model_name
from eqvl.precision import check_precision

HF_PREFIX = "hf:"
ITM_PREFIX = "hf-itm:"
VQA_PREFIX = "vqascore:"
#: transformers directories: the weights live in the directory, so --pretrained is not used
DIR_PREFIXES = (HF_PREFIX, ITM_PREFIX, VQA_PREFIX)
#: options of the model (`--option KEY=VALUE`), not of the benchmark reader
MODEL_OPTIONS = ("question", "answer", "itm_score")
#: which prefix takes which model option
_OPTIONS_OF = {"vqascore:": ("question", "answer"), "hf-itm:": ("itm_score",)}


#: model specs whose weights come with them (no --pretrained needed)
SELF_CONTAINED = (*DIR_PREFIXES, "hf-hub:", "local-dir:")
NO_PRETRAINED = ("no `pretrained` given: pass an open_clip pretrained tag (e.g. openai), a checkpoint file, "
                 "or `pretrained` none to use randomly initialised weights on purpose")


def load_encoder(
    model: str | None,
    pretrained: str | None = None,
    *,
    device: str = "cpu",
    seed: int = 0,
    precision: str = "fp32",
    options: dict[str, str] | None = None,
) -> Encoder | PairScorer:
    """`hf:DIR` -> transformers CLIPModel / SiglipModel / BLIP's ITC head (dual encoders);
    `hf-itm:DIR` -> a BLIP / BLIP-2 ITM head, `vqascore:DIR` -> VQAScore of a vision-language model
    (pair scorers); anything else -> open_clip. `options`: the model's `--option`s (question=, answer=).

    Random weights are never a silent default: `pretrained=None` is refused unless the model
    spec carries its own weights; pass "none" to ask for them. `model=None` takes the model name
    stored in the `pretrained` checkpoint (eqvl and open_clip training checkpoints store it).
    """
    model = resolve_model_arg(model, pretrained)
    _check_device(device)
    precision = check_precision(precision)
    options = dict(options or {})
    if model.startswith(DIR_PREFIXES):
        return _load_dir(model, pretrained, device, precision, options)
    if options:
        raise EqvlError(f"`option` {', '.join(options)}: only vqascore: (question, answer) and hf-itm: (itm_score) "
                        "models take these options", params=("option",))
    from eqvl.models.openclip import OpenClipEncoder, resolve_model_name

    if pretrained is None and not model.startswith(SELF_CONTAINED):
        resolve_model_name(model)  # a misspelt name is the first thing to report
        raise EqvlError(NO_PRETRAINED, params=("pretrained",))
    return OpenClipEncoder.create(model, pretrained or "none", seed=seed, device=device, precision=precision)


def _load_dir(model: str, pretrained: str | None, device: str, precision: str, options: dict[str, str]):
    """The transformers backends: the prefix picks the family, the directory's config.json the class."""
    prefix = next(p for p in DIR_PREFIXES if model.startswith(p))
    directory = model[len(prefix):]
    if pretrained and pretrained.lower() not in {"none", ""}:
        raise EqvlError(f"`pretrained` is not used with {prefix} models (the weights live in the directory); "
                        "leave it out or pass none", params=("pretrained",))
    wrong = [k for k in options if k not in _OPTIONS_OF.get(prefix, ())]
    if wrong:
        takers = "; ".join(f"{p} takes {', '.join(o)}" for p, o in _OPTIONS_OF.items())
        raise EqvlError(f"`option` {', '.join(wrong)}: not an option of {prefix} models ({takers})", params=("option",))
    if prefix == VQA_PREFIX:
        from eqvl.models.vqascore import VqaScorer

        return VqaScorer.from_dir(directory, device=device, precision=precision, **options)
    if prefix == ITM_PREFIX:
        from eqvl.models.itm import ItmScorer

        return ItmScorer.from_dir(directory, device=device, precision=precision, **options)
    from eqvl.models.hf import HFEncoder, blip_arch

    arch = blip_arch(directory)
    if arch:
        from eqvl.models.itm import BlipItcEncoder, Blip2ItcEncoder

        itc = BlipItcEncoder if arch == "BlipForImageTextRetrieval" else Blip2ItcEncoder
        return itc.from_dir(directory, device=device, precision=precision)
    return HFEncoder.from_dir(directory, device=device, precision=precision)


def resolve_model_arg(model: str | None, pretrained: str | None) -> str:
    """`--model`, or when it is left out, the model name stored in the `--pretrained` checkpoint."""
    if model and model.strip():
        return model
    if pretrained and os.path.isfile(pretrained):
        stored = checkpoint_model_name(pretrained)
        if stored:
            return stored
        raise EqvlError(f"`model` is required: {pretrained} does not store its model name", params=("model",))
    if pretrained and (os.sep in pretrained or pretrained.endswith((".pt", ".pth", ".bin", ".safetensors"))):
        raise EqvlError(f"`pretrained` {pretrained}: no such file", params=("pretrained",))  # a mistyped path, not a missing --model
    raise EqvlError("`model` is required (or pass `pretrained` CHECKPOINT of an eqvl / open_clip training run, "
                    "which stores it)", params=("model", "pretrained"))


def _check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise EqvlError(f"`device` {device!r}: {exc}", params=("device",)) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise EqvlError(f"`device` {device}: CUDA is not available on this machine", params=("device",))
