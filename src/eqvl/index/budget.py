"""Which FAISS index fits a memory budget: bytes per factory, and the best-fidelity one that fits.

The counterpart of autofaiss's `max_index_memory_usage` (its `get_optimal_index_keys_v2`), with
eqvl's own candidates: eqvl re-scores every approximate candidate exactly from the stored float16
vectors, so the index only has to put the true top-k among the first `rescore` candidates; the
candidates are therefore the size rule's kinds, best fidelity first:
  * `Flat` while n <= ann.FLAT_MAX (brute force is fast enough there and exact);
  * `IVF<2 sqrt n>,SQ8` (d + 16 bytes a vector with the id map);
  * `IVF<2 sqrt n>,PQ<m>x8` for m = d/2, d/4, ... (m + 16 bytes a vector);
the first whose estimated size fits is built. HNSW is not a candidate: at 1M vectors its graph
took 687 s to build on 2 cores against 32 s for IVF-SQ8 (docs/guide/index.md).
Sizes: K, M, G, T are powers of 1024, as autofaiss's `cast_memory_to_bytes` reads them.
"""

from __future__ import annotations

import math
import re

from eqvl.errors import EqvlError
from eqvl.index import ann

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
#: int64 id per vector in the IVF lists, and again in the IndexIDMap eqvl wraps every index in
ID_BYTES = 16
#: serialised headers (factory, metric, quantiser parameters); an upper bound, measured ~1-2 KB
HEADER_BYTES = 4096


def parse_memory(text: str | int) -> int:
    """'2GB', '500M', '1.5GiB', '300000' -> bytes (K/M/G/T = powers of 1024)."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(?:I?B)?\s*", str(text).upper())
    if not m or float(m.group(1)) <= 0:
        raise EqvlError(f"`memory` {text!r}: expected a size like 2GB, 500MB, 1.5G or a number of bytes", params=("memory",))
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _nlist(n: int) -> int:
    return ann.ivf_lists(n, 2.0)


def estimate_bytes(factory: str, n: int, dim: int) -> int:
    """The serialised size of `factory` holding n vectors of dim (what `ann.memory_bytes` measures)."""
    if factory == "Flat":
        return n * (4 * dim + 8)
    m = re.fullmatch(r"IVF(\d+),(SQ8|PQ(\d+)(?:x(\d+))?)", factory)
    if not m:
        raise EqvlError(f"no size estimate for {factory!r}")
    nlist = int(m.group(1))
    quantiser = nlist * (dim * 4 + 16) + HEADER_BYTES  # centroids, list sizes/offsets, headers
    if m.group(2) == "SQ8":
        return quantiser + 2 * dim * 4 + n * (dim + ID_BYTES)
    pq_m, bits = int(m.group(3)), int(m.group(4) or 8)
    return quantiser + (2**bits) * dim * 4 + n * (math.ceil(pq_m * bits / 8) + ID_BYTES)


def candidates(n: int, dim: int) -> list[tuple[str, str]]:
    """(kind, factory) best fidelity first (see the module docstring)."""
    out = [("flat", "Flat")] if n <= ann.FLAT_MAX else []
    nlist = _nlist(n)
    out.append(("ivf", f"IVF{nlist},SQ8"))
    nbits = 8 if n >= 256 * 39 else max(1, min(8, int(math.log2(max(n // 39, 2)))))
    m = dim // 2
    while m >= 1:
        if dim % m == 0:
            out.append(("ivfpq", f"IVF{nlist},PQ{m}x{nbits}"))
        m //= 2
    return out


def choose(n: int, dim: int, memory: int) -> ann.IndexSpec:
    """The best-fidelity candidate whose estimated size fits `memory` bytes; an error names the smallest."""
    options = candidates(n, dim)
    for kind, factory in options:
        size = estimate_bytes(factory, n, dim)
        if size <= memory:
            params = {} if kind == "flat" else {"nprobe": ann.DEFAULT_NPROBE}
            return ann.IndexSpec(kind, factory, params, {
                "trained_on": int(n), "chosen_by": "budget",
                "budget": {"memory_bytes": int(memory), "estimated_bytes": int(size)}})
    kind, factory = options[-1]
    raise EqvlError(f"`memory` {human(memory)} is too small for {n:,} vectors of dimension {dim}: the smallest "
                    f"candidate, {factory}, needs about {human(estimate_bytes(factory, n, dim))}", params=("memory",))
