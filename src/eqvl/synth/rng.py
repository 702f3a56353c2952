"""The work items' random generator: numpy's PCG64 `Generator` with cheaper small draws.

The sampler makes about 35 scalar `integers` draws per twin, and numpy's argument handling
costs more than the draw itself. `ItemGenerator` computes them in Python from the same
bit stream with numpy's own algorithm, so every number is the one numpy would give.
"""

from __future__ import annotations

import numpy as np

_MASK32 = 0xFFFFFFFF


class ItemGenerator(np.random.Generator):
    """A `Generator` whose scalar `integers` and `permutation` give numpy's numbers, faster.

    numpy draws a bounded integer below 2**32 with Lemire's method from 32-bit outputs,
    which PCG64 serves as the two halves of one 64-bit output (keeping the high half for
    the next call). Here the halves come from `random_raw`, which leaves numpy's own kept
    half alone; so every 32-bit draw must come through this class (`choice`, `shuffle`,
    `permuted`, `bytes` and float32 `random` would not and are not to be used).
    64-bit draws (`random`, `uniform`) mix freely with these, as in numpy.
    """

    def __init__(self, bit_generator: np.random.BitGenerator) -> None:
        super().__init__(bit_generator)
        self._raw = bit_generator.random_raw
        self._kept: int | None = None

    def _next32(self) -> int:
        kept = self._kept
        if kept is not None:
            self._kept = None
            return kept
        raw = self._raw()
        self._kept = raw >> 32
        return raw & _MASK32

    def integers(self, low: int, high: int | None = None) -> int:  # type: ignore[override]
        """A uniform int in [low, high) (or [0, low)), as `Generator.integers(low, high)`."""
        if high is None:
            low, high = 0, low
        span = high - low - 1
        if span <= 0:
            if span == 0:
                return low
            raise ValueError("high <= low")
        if span > _MASK32:  # numpy uses 64-bit outputs only, no kept half: its own call is exact
            return int(super().integers(low, high))
        bound = span + 1
        m = self._next32() * bound
        if m & _MASK32 < bound:
            threshold = (_MASK32 - span) % bound
            while m & _MASK32 < threshold:
                m = self._next32() * bound
        return low + (m >> 32)

    def permutation(self, n: int) -> np.ndarray:  # type: ignore[override]
        """`Generator.permutation(n)`: numpy's Fisher-Yates shuffle of range(n)."""
        if n > _MASK32:
            raise ValueError("too long for 32-bit draws")
        out = list(range(n))
        for i in range(n - 1, 0, -1):
            mask = i
            for shift in (1, 2, 4, 8, 16):
                mask |= mask >> shift
            j = self._next32() & mask
            while j > i:
                j = self._next32() & mask
            out[i], out[j] = out[j], out[i]
        return np.array(out)
