"""Rewrites a model cannot tell from their caption: a long caption changed only past the text context.

Why: CLIP-style tokenizers keep 77 tokens (75 of text, between the start and end tokens) and cut the
rest, so a rewrite of a 10,000-character caption that changes character 3,776 is, to the model, the
caption itself: a "hard negative" labelled different from an identical input. `eqvl train` knows its
tokenizer and drops such rewrites; `eqvl augment` does not, so it counts and names them using words as
a lower bound on tokens (every word is at least one token), which never flags a rewrite the model can
see but may miss some it cannot.
"""

from __future__ import annotations

#: text tokens of CLIP's 77-token context (open_clip's default context_length, minus start and end)
CLIP_TEXT_TOKENS = 75


def same_within_context(caption: str, rewrite: str, text_tokens: int = CLIP_TEXT_TOKENS) -> bool:
    """True when `rewrite` first differs from `caption` after `text_tokens` words (so after as many tokens)."""
    a, b = caption.split(), rewrite.split()
    if len(a) <= text_tokens or len(b) <= text_tokens:
        return False
    return a[:text_tokens] == b[:text_tokens]


def count_same_within_context(captions: list[str], results: list[tuple[list, list]],
                              lines: list[int]) -> tuple[int, list[int]]:
    """(rewrites identical to their caption within the context, the input lines of their captions)."""
    total, where = 0, []
    for caption, line, (neg, pos) in zip(captions, lines, results):
        if len(caption.split()) <= CLIP_TEXT_TOKENS:
            continue  # the common case costs one split
        same = sum(same_within_context(caption, text) for text, _ in [*neg, *pos])
        if same:
            total += same
            where.append(line)
    return total, where
