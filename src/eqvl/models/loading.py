"""One entry point from `--model/--pretrained` flags to an `Encoder`: picks the backend."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any, Mapping

from eqvl.errors import EqvlError
from eqvl.models.base import Encoder
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


def describe_file(path: str | os.PathLike) -> str:
    """What a file that failed to load as a checkpoint actually is, for the error message."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if size == 0:
        return "an empty file (0 bytes; was its write killed?)"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            return f"a truncated or damaged torch.save / zip file ({size:,} bytes)"
        if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
            return f"a torch.save file ({size:,} bytes)"
        return f"a zip archive ({len(names)} members), not a torch.save file"
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if len(head) > 262 and head[257:262] == b"ustar":
        return "a tar archive"
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < size:
        return "a safetensors file"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"binary data of unknown type ({size:,} bytes)"
    first = text.strip().splitlines()[0][:40] if text.strip() else ""
    kind = "a JSON text file" if first[:1] in "{[" and first else "a text file"
    return f"{kind} (starts {first!r})"


_MAGIC = ((b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
          (b"RIFF", "a RIFF file (WebP image / WAV audio)"), (b"\x1f\x8b", "a gzip file"), (b"BZh", "a bzip2 file"),
          (b"\x80\x02", "a legacy (pre-zip) pickle / torch.save file"), (b"%PDF", "a PDF document"),
          (b"\x93NUMPY", "a numpy .npy array"))


def state_dict_of(checkpoint: Any) -> dict[str, Any]:
    """The weights in a checkpoint: its `state_dict` (open_clip / eqvl epoch_N.pt) or the dict itself,
    with DDP's `module.` prefix removed."""
    sd = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else {}
    if not isinstance(sd, dict):
        return {}
    if sd and all(str(k).startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def describe_mismatch(expected: Mapping[str, Any], got: Mapping[str, Any], limit: int = 3) -> str:
    """One line listing the first missing / unexpected / differently shaped keys, with shapes."""
    def shape(t: Any) -> str:
        return "x".join(map(str, getattr(t, "shape", ()))) or "scalar"

    got = state_dict_of(dict(got))
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    resized = [k for k in expected if k in got and tuple(getattr(expected[k], "shape", ())) != tuple(getattr(got[k], "shape", ()))]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys (" + ", ".join(f"{k} [{shape(expected[k])}]" for k in missing[:limit])
                     + (", ..." if len(missing) > limit else "") + ")")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys (" + ", ".join(f"{k} [{shape(got[k])}]" for k in unexpected[:limit])
                     + (", ..." if len(unexpected) > limit else "") + ")")
    if resized:
        parts.append(f"{len(resized)} keys of another shape (" + ", ".join(
            f"{k}: checkpoint [{shape(got[k])}], model [{shape(expected[k])}]" for k in resized[:limit])
            + (", ..." if len(resized) > limit else "") + ")")
    return "; ".join(parts) or "keys and shapes match"


def checkpoint_model_name(path: str | os.PathLike) -> str | None:
    """The `--model` a checkpoint was trained with (eqvl's `config.model`, else open_clip's `name`),
    or None for a raw state dict, a file that is not a checkpoint, or one that cannot be read."""
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - any unreadable file simply has no stored name
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001
            return None
    if not isinstance(ckpt, dict):
        return None
    config = ckpt.get("config")
    name = config.get("model") if isinstance(config, dict) else None
    name = name or ckpt.get("name")
    return name if isinstance(name, str) and name else None
