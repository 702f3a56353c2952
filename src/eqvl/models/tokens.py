"""How many tokens a caption takes, per tokenizer family: a caption longer than the text
tower's context is cut, so two captions that differ only past the cut score the same."""

from __future__ import annotations

from typing import Any, Sequence


def overlong_open_clip(tokenizer: Any, texts: Sequence[str]) -> list[bool]:
    """open_clip tokenizers: SimpleTokenizer (CLIP BPE, plus start/end tokens) or the
    HFTokenizer / SigLipTokenizer wrappers around a transformers tokenizer."""
    from open_clip.tokenizer import SimpleTokenizer

    ctx = int(tokenizer.context_length)
    if isinstance(tokenizer, SimpleTokenizer):
        return [len(tokenizer.encode(text)) + 2 > ctx for text in texts]
    return overlong_transformers(tokenizer.tokenizer, ctx, texts)


def overlong_transformers(tokenizer: Any, max_length: int, texts: Sequence[str]) -> list[bool]:
    """A transformers tokenizer: the full id list (special tokens included) against `max_length`."""
    if not texts:
        return []
    ids = tokenizer(list(texts), truncation=False)["input_ids"]
    return [len(row) > max_length for row in ids]
