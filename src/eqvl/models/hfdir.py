"""Reading a transformers `save_pretrained` directory: its architecture, its weights, its
tokenizer / processor files, each failure one line naming the directory and the missing file.

Shared by the `hf:`, `hf-itm:` and `vqascore:` backends, so the three report bad input the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import torch

from eqvl.errors import EqvlError

#: files any one of which holds a tokenizer
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer.model", "vocab.json")
#: files any one of which holds an image processor
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


def read_architecture(directory: Path, spec: str, supported: Sequence[str]) -> str:
    """`config.json`'s first architecture; refuses (one line) a missing config or an unsupported class."""
    cfg = directory / "config.json"
    if not cfg.is_file():
        raise EqvlError(f"`model` {spec}: no config.json in {directory} (expected a save_pretrained directory)", params=("model",))
    try:
        raw = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EqvlError(f"`model` {spec}: cannot read {cfg}: {exc}", params=("model",)) from None
    archs = raw.get("architectures") or []
    arch = archs[0] if archs else f"(none; model_type {raw.get('model_type')!r})"
    if arch not in supported:
        raise EqvlError(f"`model` {spec}: {cfg} names architecture {arch}; supported: {', '.join(supported)}", params=("model",))
    return arch


def require_files(directory: Path, spec: str, what: str, names: Sequence[str]) -> None:
    """One line naming the file a tokenizer / processor needs when none of `names` is there."""
    if not any((directory / n).is_file() for n in names):
        raise EqvlError(f"`model` {spec}: no {what} in {directory}: expected {' or '.join(names)} "
                        "(save it with the processor's / tokenizer's save_pretrained)", params=("model",))


def load_parts(directory: Path, spec: str, model_cls: Any, precision: str, parts: Sequence[str]) -> dict[str, Any]:
    """The model (`model_cls.from_pretrained`) and the named parts ("tokenizer", "image_processor",
    "processor") from local files only; a loading failure is one line."""
    try:
        import transformers
    except ImportError:
        raise EqvlError(f"{spec.split(':')[0]}: models need transformers: pip install 'eqvl[hf]'") from None
    low = {"fp16": torch.float16, "bf16": torch.bfloat16, "pure_fp16": torch.float16, "pure_bf16": torch.bfloat16}
    kwargs = {"dtype": low[precision]} if precision in low else {}
    loaders: dict[str, Any] = {"tokenizer": transformers.AutoTokenizer, "image_processor": transformers.AutoImageProcessor,
               "processor": transformers.AutoProcessor}
    out: dict[str, Any] = {}
    try:
        for part in parts:
            out[part] = loaders[part].from_pretrained(directory, local_files_only=True)
        out["model"] = getattr(transformers, model_cls).from_pretrained(directory, local_files_only=True, **kwargs)
    except (OSError, ValueError, KeyError, ImportError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EqvlError(f"`model` {spec}: cannot load: {first}", params=("model",)) from None
    return out


class WeightsHash:
    """The weights hash, computed once (hashing a 7B model takes seconds; identity() is asked often)."""

    def __init__(self) -> None:
        self._hash: str | None = None

    def of(self, model: torch.nn.Module) -> str:
        if self._hash is None:
            from eqvl.models.openclip import weights_hash

            self._hash = weights_hash(model)
        return self._hash
