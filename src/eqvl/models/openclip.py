"""open_clip backend: build any open_clip model (registered name, config JSON, shipped
tiny config, hf-hub:/local-dir:) and wrap it as an `Encoder`.

open_clip does the heavy lifting (configs, tags, checkpoint loading, transforms); this
module only resolves eqvl's extra spellings and turns failures into one-line errors.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import torch
from PIL import Image

from eqvl.errors import EqvlError
from eqvl.models.checkpoints import checkpoint_model_name, describe_file, describe_mismatch, state_dict_of
from eqvl.models.hub import offline_guard
from eqvl.precision import autocast, check_precision, input_dtype, weights_precision

CONFIG_DIR = Path(__file__).parent / "configs"
_SCHEMAS = ("hf-hub:", "local-dir:")
_NO_WEIGHTS = {"", "none", "random", "scratch"}


#: an open_clip CLIP / CustomTextCLIP: a torch.nn.Module with encode_image, encode_text, lock_image_tower, ...
#: open_clip ships no type information, so to the type checker its model is what it is: Any
ClipModel = Any


class ClipTokenizer(Protocol):
    """What eqvl uses of an open_clip tokenizer (SimpleTokenizer, HFTokenizer, SigLipTokenizer)."""

    context_length: int

    def __call__(self, texts: str | list[str], context_length: int | None = None) -> torch.Tensor: ...


@dataclass
class OpenClipBundle:
    """Everything `create_openclip` builds: the model, its transforms and tokenizer."""

    model: ClipModel
    preprocess_train: Callable[[Image.Image], torch.Tensor]
    preprocess_val: Callable[[Image.Image], torch.Tensor]
    tokenizer: ClipTokenizer
    model_name: str
    model_cfg: dict[str, Any] = field(default_factory=dict)
    pretrained: str = "none"


def shipped_configs() -> list[str]:
    """Names of the model configs shipped with eqvl (usable as `--model NAME`)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def register_configs():
    """Make eqvl's shipped configs (eqvl-tiny-rn, ...) known to open_clip; returns the open_clip module,
    so plain `open_clip.create_model("eqvl-tiny-rn", pretrained=ckpt)` works after it."""
    import open_clip

    if str(CONFIG_DIR) not in {str(p) for p in open_clip.factory._MODEL_CONFIG_PATHS}:
        open_clip.add_model_config(CONFIG_DIR)
    return open_clip


def resolve_model_name(model: str) -> str:
    """Map eqvl's spellings onto a name open_clip knows; unknown names list the valid ones."""
    open_clip = register_configs()
    if model.startswith(_SCHEMAS):
        return model
    path = Path(model)
    if model.endswith(".json") or path.is_file():
        return _register_config_file(path)
    if model in open_clip.list_models():
        return model
    cleaned = model.replace("/", "-")
    if cleaned in open_clip.list_models():
        return cleaned
    names = list(dict.fromkeys(shipped_configs() + open_clip.list_models()))
    close = difflib.get_close_matches(model, names, n=4, cutoff=0.5)
    hint = f" (nearest: {', '.join(close)})" if close else ""
    raise EqvlError(
        f"unknown model {model!r}{hint}; valid: an open_clip model name (e.g. ViT-B-32, RN50; all "
        f"{len(open_clip.list_models())}: python -c 'import open_clip; print(open_clip.list_models())'), "
        f"a shipped config ({', '.join(shipped_configs())}), a path to an open_clip model-config JSON, "
        "hf-hub:ORG/REPO, local-dir:DIR, or hf:DIR (transformers CLIPModel/SiglipModel)"
    )


def _register_config_file(path: Path) -> str:
    """Register a model-config JSON with open_clip under its file stem."""
    from eqvl.io import read_json

    open_clip = register_configs()
    cfg = read_json(path)
    if isinstance(cfg, dict) and "model_cfg" in cfg:
        raise EqvlError(f"{path}: this is an open_clip_config.json; use `model` local-dir:{path.parent}", params=("model",))
    missing = [k for k in ("embed_dim", "vision_cfg", "text_cfg") if not isinstance(cfg, dict) or k not in cfg]
    if missing:
        raise EqvlError(f"{path}: not an open_clip model config (missing {', '.join(missing)})")
    name = path.stem
    known = open_clip.get_model_config(name)
    if known is not None and known != cfg:
        raise EqvlError(f"{path}: open_clip already has a different model config named {name!r}; rename the file")
    if known is None:
        open_clip.add_model_config(path)
    return name


def create_openclip(
    model: str,
    pretrained: str = "none",
    *,
    seed: int = 0,
    device: str = "cpu",
    precision: str = "fp32",
    options: dict[str, Any] | None = None,
) -> OpenClipBundle:
    """Build an open_clip model + transforms + tokenizer.

    `pretrained`: an open_clip tag, a checkpoint file (raw state dict, or a dict with
    `state_dict`, keys optionally `module.`-prefixed, as open_clip's `epoch_N.pt`), or
    `none` for random init seeded by `seed` (so two runs build the same model). `options`: more keywords of
    `open_clip.create_model_and_transforms` (force_quick_gelu, force_patch_dropout, image_interpolation, ...).
    """
    open_clip = register_configs()
    precision = check_precision(precision)
    name = resolve_model_name(model)
    pretrained = (pretrained or "none").strip()
    if name.startswith(_SCHEMAS):
        weights = None  # open_clip loads the weights that live with the config
    elif pretrained.lower() in _NO_WEIGHTS:
        weights = None
    elif os.path.exists(pretrained):
        if not os.path.isfile(pretrained):
            raise EqvlError(f"`pretrained` {pretrained}: not a checkpoint file", params=("pretrained",))
        weights = pretrained
    else:
        tags = open_clip.list_pretrained_tags_by_model(name)
        if pretrained not in tags:
            raise EqvlError(
                f"`pretrained` {pretrained!r}: not a file and not a pretrained tag of {name}; "
                f"valid tags: {', '.join(tags) or '(none)'}, a checkpoint path, or none"
            , params=("pretrained",))
        weights = pretrained
    if weights and os.path.isfile(weights):
        _check_checkpoint_file(weights)
    try:
        with torch.random.fork_rng(devices=[]), _quiet_open_clip(), offline_guard(name, weights):
            torch.manual_seed(seed)
            net, pre_train, pre_val = open_clip.create_model_and_transforms(
                name, pretrained=weights, precision=weights_precision(precision), device=device, **(options or {})
            )
    except FileNotFoundError as exc:
        raise EqvlError(f"model {model!r}: {exc}") from None
    except RuntimeError as exc:
        if weights and os.path.isfile(weights):
            raise EqvlError(f"`pretrained` {weights}: does not fit `model` {model}: {_mismatch(name, weights)}", params=("pretrained", "model")) from None
        raise EqvlError(f"model {model!r} (pretrained {pretrained!r}): {_first_line(exc)}") from None
    except (KeyError, ValueError, OSError) as exc:
        raise EqvlError(f"model {model!r} (pretrained {pretrained!r}): {_first_line(exc)}") from None
    net.eval()
    tokenizer = open_clip.get_tokenizer(name)
    cfg = open_clip.get_model_config(name) or {}
    return OpenClipBundle(net, pre_train, pre_val, tokenizer, name, cfg, pretrained if weights else "none")


def _check_checkpoint_file(path: str) -> None:
    """A --pretrained file torch cannot read is named for what it is (empty, text, an image...)."""
    if path.endswith(".safetensors"):
        return
    try:
        torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - whatever torch says, the useful fact is what the file is
        raise EqvlError(f"`pretrained` {path}: not a model checkpoint: it is {describe_file(path)}", params=("pretrained",)) from None


def _mismatch(name: str, path: str) -> str:
    """Which keys of the checkpoint do not fit a fresh `name` model (and what the checkpoint says it is)."""
    open_clip = register_configs()
    with torch.random.fork_rng(devices=[]), _quiet_open_clip():
        fresh = open_clip.create_model(name, pretrained=None)
    got = state_dict_of(torch.load(path, map_location="cpu", weights_only=True, mmap=True))
    stored = checkpoint_model_name(path)
    hint = f"; the checkpoint was trained with `model` {stored}" if stored else ""
    return describe_mismatch(fresh.state_dict(), got) + hint


@contextlib.contextmanager
def _quiet_open_clip():
    """open_clip logs a WARNING for every random init; for --pretrained none that is intended."""
    root = logging.getLogger()
    old = root.level
    root.setLevel(max(old, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(old)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:500] if text else type(exc).__name__


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module):
    """Encode in eval mode, then give a training model back in train mode (trainer's periodic eval)."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def weights_hash(model: torch.nn.Module) -> str:
    """Hash of every parameter and buffer: the cache must never mix two different weights."""
    digest = hashlib.blake2b(digest_size=16)
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        t = tensor.detach().cpu().contiguous()
        digest.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


class OpenClipEncoder:
    """An open_clip dual encoder behind eqvl's `Encoder` protocol (cosine scores)."""

    score_kind = "cosine"

    def __init__(
        self,
        model: ClipModel,
        preprocess: Callable[[Image.Image], torch.Tensor],
        tokenizer: ClipTokenizer,
        *,
        name: str,
        pretrained: str = "none",
        precision: str = "fp32",
    ):
        self.model = model
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.name = name
        self.pretrained = pretrained
        self.precision = precision

    @classmethod
    def from_model(
        cls,
        model: ClipModel,
        preprocess: Callable[[Image.Image], torch.Tensor],
        tokenizer: ClipTokenizer,
        name: str = "in-memory",
        *,
        pretrained: str = "in-memory",
        precision: str = "fp32",
    ) -> "OpenClipEncoder":
        """Wrap a live model (trainer's periodic eval, demo) without writing a checkpoint.
        A DDP/DataParallel wrapper is unwrapped; the model's train/eval mode is restored after each call."""
        model = getattr(model, "module", model)
        return cls(model, preprocess, tokenizer, name=name, pretrained=pretrained, precision=precision)

    @classmethod
    def create(cls, model: str, pretrained: str = "none", **kwargs: Any) -> "OpenClipEncoder":
        bundle = create_openclip(model, pretrained, **kwargs)
        return cls(
            bundle.model,
            bundle.preprocess_val,
            bundle.tokenizer,
            name=model,
            pretrained=bundle.pretrained,
            precision=kwargs.get("precision", "fp32"),
        )

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def identity(self) -> str:
        """Model name + weights hash + preprocessing + tokenizer context: keys the embedding cache."""
        ctx = getattr(self.tokenizer, "context_length", None)
        return json.dumps(
            {
                "backend": "open_clip",
                "name": self.name,
                "weights": weights_hash(self.model),
                "preprocess": repr(self.preprocess),
                "tokenizer": f"{type(self.tokenizer).__name__}:{ctx}",
                "precision": self.precision,
            },
            sort_keys=True,
        )

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        dtype = input_dtype(self.precision)  # as open_clip's own eval feeds pixels
        with eval_mode(self.model), torch.inference_mode(), autocast(self.precision, self.device)():
            out = self.model.encode_image(pixels.to(self.device, dtype=dtype, non_blocking=True), normalize=True)
        return out.float()

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(list(texts)).to(self.device)
        with eval_mode(self.model), torch.inference_mode(), autocast(self.precision, self.device)():
            out = self.model.encode_text(tokens, normalize=True)
        return out.float()

    def score(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        return text_emb.float() @ image_emb.float().T

    @property
    def context_length(self) -> int:
        """Text tokens the model reads; longer captions are cut (see `overlong`)."""
        return int(self.tokenizer.context_length)

    def overlong(self, texts: list[str]) -> list[bool]:
        """Which captions are longer than `context_length` (counted and warned about by evaluation)."""
        from eqvl.models.tokens import overlong_open_clip

        return overlong_open_clip(self.tokenizer, texts)

    def score_rows(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """Row-wise scores of aligned [P, D] pairs (the engine's vectorised gather)."""
        return (text_emb.float() * image_emb.float()).sum(-1)
