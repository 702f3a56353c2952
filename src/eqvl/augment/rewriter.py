"""Pluggable word proposer for users with a local masked-LM or LLM (used only when asked: --rewriter).

A rewriter proposes words for one masked slot; eqvl keeps only proposals that pass the same construction
rules as the built-in lists (same word class, not a synonym for a negative), so a weak model can never
produce a broken caption: when nothing passes, the rule-based choice is used.

Specs: `mlm:/path/to/hf-dir` (a transformers masked LM saved locally; never downloaded) or
`py:package.module:factory` (any callable returning an object with `fill`).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol, runtime_checkable

from eqvl.augment import lexicon as L
from eqvl.errors import EqvlError

MASK = "<mask>"


@runtime_checkable
class Rewriter(Protocol):
    """Anything that fills one masked word: `fill("a <mask> dog on a couch", 10) -> ["brown", "small", ...]`."""

    name: str

    def fill(self, masked_text: str, k: int) -> list[str]: ...


class MaskedLMRewriter:
    """A local Hugging Face masked LM (BERT/RoBERTa-style directory). Loaded with local_files_only=True."""

    def __init__(self, path: str | Path, device: str = "cpu"):
        path = Path(path)
        if not path.is_dir():
            raise EqvlError(f"`rewriter` mlm:{path}: no such directory (a locally saved masked LM is required)", params=("rewriter",))
        try:
            import torch
            from transformers import AutoModelForMaskedLM, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - transformers is in the [hf] extra
            raise EqvlError("`rewriter` mlm: needs transformers (pip install 'eqvl[hf]')", params=("rewriter",)) from exc
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModelForMaskedLM.from_pretrained(str(path), local_files_only=True).to(device).eval()
        except (OSError, ValueError) as exc:
            raise EqvlError(f"`rewriter` mlm:{path}: cannot load a masked LM from it: {exc}", params=("rewriter",)) from None
        if self.tokenizer.mask_token is None:
            raise EqvlError(f"`rewriter` mlm:{path}: the tokenizer has no mask token", params=("rewriter",))
        self._torch = torch
        self.device = device
        self.name = f"mlm:{path.name}"

    def fill(self, masked_text: str, k: int) -> list[str]:
        text = masked_text.replace(MASK, self.tokenizer.mask_token)
        enc = self.tokenizer(text, return_tensors="pt").to(self.device)
        positions = (enc["input_ids"][0] == self.tokenizer.mask_token_id).nonzero()
        if len(positions) != 1:
            return []
        with self._torch.no_grad():
            logits = self.model(**enc).logits[0, positions[0, 0]]
        top = logits.topk(min(k * 4, logits.shape[-1])).indices.tolist()
        words = []
        for tid in top:
            piece = self.tokenizer.decode([tid])  # one id: one string
            w = piece.strip() if isinstance(piece, str) else ""
            if w and w.isalpha() and w.lower() not in words:
                words.append(w.lower())
            if len(words) >= k:
                break
        return words


def load_rewriter(spec: str | None) -> Rewriter | None:
    """Build a rewriter from its CLI spec, or None for the rule-based path."""
    if not spec:
        return None
    kind, _, rest = spec.partition(":")
    if kind == "mlm" and rest:
        return MaskedLMRewriter(rest)
    if kind == "py" and rest:
        module, _, attr = rest.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise EqvlError(f"`rewriter` {spec}: cannot import {rest}: {exc}", params=("rewriter",)) from None
        obj = factory()
        if not isinstance(obj, Rewriter):
            raise EqvlError(f"`rewriter` {spec}: {rest}() has no name/fill(masked_text, k)", params=("rewriter",))
        return obj
    raise EqvlError(f"`rewriter` {spec!r}: expected 'mlm:/path/to/model-dir' or 'py:module:factory'", params=("rewriter",))


def _acceptable(kind: str, old: str, new: str, parse, index: int) -> bool:
    from eqvl.augment.nlp import NOUN, VERB, is_plural_noun, word_categories

    if not new.isalpha() or new == old or new in L.SYNONYMS.get(old, ()) or old in L.SYNONYMS.get(new, ()):
        return False
    if kind == "attribute":
        return L.ATTRIBUTE_CLASS.get(new) == L.ATTRIBUTE_CLASS.get(old)
    if kind == "object":
        return NOUN in word_categories(new) and is_plural_noun(new) == is_plural_noun(old) and new not in L.NEGATORS
    if kind == "verb":
        return new.endswith("ing") and VERB in word_categories(new)
    return False


def propose_negative(rewriter: Rewriter, words: list[str], index: int, kind: str, parse) -> str | None:
    """The first model proposal for words[index] that passes the replace rules, else None."""
    masked = " ".join(words[:index] + [MASK] + words[index + 1:])
    old = words[index].lower()
    for cand in rewriter.fill(masked, 10):
        if _acceptable(kind, old, cand.lower(), parse, index):
            return cand.lower()
    return None
