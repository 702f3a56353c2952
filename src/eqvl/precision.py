"""Numeric precision for eval and train: one list of names (open_clip's), one autocast rule.

open_clip's `--precision` names, same meanings:
  fp32                    everything in float32
  amp / amp_bf16          float32 weights, autocast to float16 / bfloat16 (`amp_bfloat16` = `amp_bf16`)
  fp16 / bf16             weights cast to 16 bits except norms (open_clip's `convert_weights_to_lp`)
  pure_fp16 / pure_bf16   the whole model cast to 16 bits

Autocast (the `amp*` names) runs on CUDA only: on a CPU device they compute in float32, which is
what eqvl's evaluation has always done there (so CPU numbers do not depend on the flag). Real
16-bit compute on a CPU is `bf16` / `pure_bf16`.
"""

from __future__ import annotations

import contextlib
from typing import Callable, ContextManager

import torch

from eqvl.errors import EqvlError

PRECISIONS = ("amp", "amp_bf16", "amp_bfloat16", "bf16", "fp16", "pure_bf16", "pure_fp16", "fp32")
#: earlier eqvl spellings, still accepted
ALIASES = {"amp_fp16": "amp"}


def check_precision(precision: str, param: str = "precision") -> str:
    """The canonical name of `precision`; an unknown one is a one-line error listing the valid names."""
    name = ALIASES.get(precision, precision)
    if name not in PRECISIONS:
        raise EqvlError(f"`{param}` {precision!r}: choose from {', '.join(PRECISIONS)}", params=(param,))
    return name


def amp_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of an `amp*` precision, else None."""
    name = check_precision(precision)
    if not name.startswith("amp"):
        return None
    return torch.float16 if name == "amp" else torch.bfloat16


def autocast(precision: str, device: torch.device | str) -> Callable[[], ContextManager]:
    """A factory of autocast contexts for `precision` on `device` (a no-op outside CUDA amp)."""
    dtype = amp_dtype(precision)
    if dtype is None or torch.device(device).type != "cuda":
        return contextlib.nullcontext
    return lambda: torch.autocast("cuda", dtype=dtype)


def weights_precision(precision: str) -> str:
    """What open_clip's `create_model(precision=...)` gets: amp keeps float32 weights."""
    name = check_precision(precision)
    return "fp32" if name.startswith("amp") else name


def input_dtype(precision: str) -> torch.dtype:
    """The dtype images are fed in (open_clip's `get_input_dtype`, float32 when it says None)."""
    name = check_precision(precision)
    if name in ("bf16", "pure_bf16"):
        return torch.bfloat16
    if name in ("fp16", "pure_fp16"):
        return torch.float16
    return torch.float32


def needs_grad_scaler(precision: str, device: torch.device | str) -> bool:
    """float16 autocast on CUDA needs loss scaling; bfloat16 and float32 do not."""
    return amp_dtype(precision) == torch.float16 and torch.device(device).type == "cuda"
