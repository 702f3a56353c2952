"""Shared pieces of the generators: the Rewrite record, per-caption seeding and word-list edits.

Why one place: every generator must obey the same guarantees (never the input, never degenerate,
deterministic per caption), so they all finish through `make_rewrite`.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field

from eqvl.augment import lexicon as L
from eqvl.augment.checks import breaks_agreement
from eqvl.augment.nlp import Parse, detokenize

MASK_MARKERS = ("[mask]", "<mask>", "<unk>", "[unk]", "{mask}", "___")


@dataclass(frozen=True)
class Rewrite:
    """One rewritten caption. `valid` is False when the rewrite breaks subject-verb agreement that the
    caption kept (eqvl.augment.checks), or a verb we could not repair; `detail` says what changed."""

    text: str
    type: str
    valid: bool = True
    detail: str = ""


@dataclass
class AugmentResult:
    text: str
    negatives: list[Rewrite] = field(default_factory=list)
    positives: list[Rewrite] = field(default_factory=list)


class CaptionRandom:
    """A tiny splitmix64 generator with the few random.Random methods the generators use.

    Why not random.Random: seeding a Mersenne Twister costs more than augmenting a typical caption,
    and every (caption, generator) pair needs its own seed."""

    __slots__ = ("_state",)
    _MASK = (1 << 64) - 1

    def __init__(self, seed: int):
        self._state = seed & self._MASK

    def _next(self) -> int:
        self._state = (self._state + 0x9E3779B97F4A7C15) & self._MASK
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self._MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self._MASK
        return z ^ (z >> 31)

    def randbelow(self, n: int) -> int:
        return self._next() % n  # modulo bias is ~n/2**64: irrelevant here

    def random(self) -> float:
        return (self._next() >> 11) / float(1 << 53)

    def choice(self, seq):
        if not seq:
            raise IndexError("choice from an empty sequence")
        return seq[self.randbelow(len(seq))]

    def shuffle(self, items: list) -> None:
        for i in range(len(items) - 1, 0, -1):
            j = self.randbelow(i + 1)
            items[i], items[j] = items[j], items[i]

    def sample(self, seq, k: int) -> list:
        pool = list(seq)
        self.shuffle(pool)
        return pool[:k]


def caption_rng(seed: int, text: str, generator: str) -> CaptionRandom:
    """A generator's RNG for one caption: depends on seed, caption text and generator name only,
    so results do not depend on row order, worker count or which other generators run."""
    digest = hashlib.blake2b(f"{seed}\x00{generator}\x00{text}".encode(), digest_size=8).digest()
    return CaptionRandom(int.from_bytes(digest, "little"))


@functools.lru_cache(maxsize=1024)
def normalize(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def degenerate_reason(text: str, original: str) -> str | None:
    """Why `text` is not an acceptable rewrite of `original`, or None."""
    if not text or not text.strip():
        return "empty"
    norm = normalize(text)
    if norm == normalize(original):
        return "identical to the input"
    low = text.lower()
    if any(m in low for m in MASK_MARKERS):
        return "contains a mask token"
    words = norm.split()
    if len(words) < 2:
        return "fewer than two words"
    for a, b in zip(words, words[1:]):
        if a == b and a not in ("very", "bye", "ha"):
            return f"repeated word {a!r}"
    return None


def make_rewrite(parse: Parse, words: list[str], original: str, type_: str, valid: bool = True,
                 detail: str = "") -> Rewrite | None:
    text = detokenize(words, parse.capitalized)
    if degenerate_reason(text, original) is not None:
        return None
    return Rewrite(text, type_, valid and not breaks_agreement(original, text), detail)


def swap_spans(words: list[str], a: tuple[int, int], b: tuple[int, int]) -> list[str]:
    """Exchange two non-overlapping token spans a=[s,e) < b=[s,e)."""
    (s1, e1), (s2, e2) = a, b
    return words[:s1] + words[s2:e2] + words[e1:s2] + words[s1:e1] + words[e2:]


def agree_aux(word: str, plural: bool) -> str:
    """'is'/'are', 'has'/'have', 'was'/'were' for a subject of the given number."""
    low = word.lower()
    table = {"is": ("is", "are"), "are": ("is", "are"), "was": ("was", "were"), "were": ("was", "were"),
             "has": ("has", "have"), "have": ("has", "have")}
    if low not in table:
        return word
    return table[low][1 if plural else 0]


def agree_verb(word: str, plural: bool) -> str | None:
    """A finite lexicon verb ('sits'/'sit') for a subject of the given number; None if unknown."""
    entry = L.VERB_FORMS.get(word.lower())
    if entry is None or word.lower() not in (entry[0], entry[1]):
        return None
    return entry[0] if plural else entry[1]


def pick(rng: CaptionRandom, items: list, k: int) -> list:
    """Up to k distinct items, in a seed-determined order."""
    if len(items) <= 1:
        return list(items)
    return rng.sample(items, k)
