"""Caption augmentation: hard negatives (meaning changed) and hard positives (meaning kept), offline and seeded.

    from eqvl.augment import augment_caption
    r = augment_caption("a brown dog chasing a white cat on the grass", seed=0)
    [(x.type, x.text) for x in r.negatives]

Generator names (negatives): swap, attribute_swap, replace, negate, count; asking for "swap" also runs
attribute_swap. Positives: replace, swap, inverse, passive; asking for "swap" also runs inverse and passive
(all three exchange arguments while keeping the meaning).
"""

from __future__ import annotations

import functools
from typing import Iterable

from eqvl.augment.base import AugmentResult, Rewrite, caption_rng
from eqvl.augment.negatives import NEGATIVE_GENERATORS
from eqvl.augment.nlp import parse
from eqvl.augment.positives import POSITIVE_GENERATORS
from eqvl.errors import EqvlError

__all__ = ["augment_caption", "AugmentResult", "Rewrite", "NEGATIVE_TYPES", "POSITIVE_TYPES", "expand_types",
           "DEFAULT_NEGATIVES", "DEFAULT_POSITIVES"]

NEGATIVE_TYPES = tuple(NEGATIVE_GENERATORS)
POSITIVE_TYPES = tuple(POSITIVE_GENERATORS)
DEFAULT_NEGATIVES = ("swap", "replace", "negate", "count")
DEFAULT_POSITIVES = ("replace", "swap")
_NEG_ALIASES = {"swap": ("swap", "attribute_swap")}
_POS_ALIASES = {"swap": ("swap", "inverse", "passive")}


def expand_types(names: Iterable[str], kind: str) -> tuple[str, ...]:
    """Validate generator names and expand the 'swap' family; order follows the generator table."""
    return _expand(tuple(names), kind)


@functools.lru_cache(maxsize=64)
def _expand(names: tuple[str, ...], kind: str) -> tuple[str, ...]:
    known, aliases = (NEGATIVE_TYPES, _NEG_ALIASES) if kind == "negatives" else (POSITIVE_TYPES, _POS_ALIASES)
    wanted: set[str] = set()
    for name in names:
        name = name.strip()
        if not name:
            continue
        if name not in known:
            raise EqvlError(f"unknown {kind} type {name!r}; choose from {', '.join(known)}")
        wanted.update(aliases.get(name, (name,)))
    return tuple(t for t in known if t in wanted)


def augment_caption(text: str, *, negatives: Iterable[str] = DEFAULT_NEGATIVES,
                    positives: Iterable[str] = DEFAULT_POSITIVES, seed: int = 0, per_type: int = 1,
                    rewriter=None, shuffle: bool = True) -> AugmentResult:
    """Hard negatives and hard positives of one caption; at most `per_type` rewrites of each type.

    The lists come in a seeded random order (`shuffle=False`: generator order), so keeping the first N
    samples the types evenly.
    Deterministic: the result depends only on (text, seed, requested types, per_type, rewriter).
    A caption with nothing eligible for a type simply yields no rewrite of that type.
    """
    result = AugmentResult(text=text)
    if not text or not text.strip():
        return result
    neg_types = expand_types(negatives, "negatives")
    pos_types = expand_types(positives, "positives")
    p = parse(text)
    original = " ".join(text.split())
    seen = {original.lower()}
    for kind, types, table, sink in (("neg", neg_types, NEGATIVE_GENERATORS, result.negatives),
                                     ("pos", pos_types, POSITIVE_GENERATORS, result.positives)):
        for name in types:
            rng = caption_rng(seed, original, f"{kind}:{name}")
            for rw in table[name](p, original, rng, per_type, rewriter=rewriter):
                key = rw.text.lower()
                if key in seen:  # generators already rejected degenerate text (make_rewrite)
                    continue
                seen.add(key)
                sink.append(rw)
    if shuffle:
        # a consumer that keeps only the first N (the trainer's --max-hard-negatives) then gets a fair mix of types
        order = caption_rng(seed, original, "order")
        order.shuffle(result.negatives)
        order.shuffle(result.positives)
    return result
