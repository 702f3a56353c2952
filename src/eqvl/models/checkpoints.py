"""Checkpoint files as eval and train meet them: what a file is when it is not a checkpoint, the
weights inside one, how its keys differ from a model's, and the model name it stores.
No model backend is imported here, so every backend and the trainer can use it."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any, Mapping


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
