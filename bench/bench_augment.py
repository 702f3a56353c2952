"""Captions per second of the rule-based augment path (`eqvl augment`), 1 process and N worker processes.

Run: .venv/bin/python bench/bench_augment.py [--n 20000] [--workers 2]
Captions: the 200 COCO-like captions of tests/data/captions_quality.txt, repeated to --n (captions are parsed
every time: there is no caption-level cache, only word-level lookups are cached, as on a real corpus).
Goal (issue 5): >= 2,000 captions/s on 2 cores with all generators on.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from eqvl.augment import NEGATIVE_TYPES, POSITIVE_TYPES  # noqa: E402
from eqvl.augment.io import augment_many  # noqa: E402
from eqvl.augment.wordnet import get_wordnet  # noqa: E402


def load_captions(n: int) -> list[str]:
    path = ROOT / "tests" / "data" / "captions_quality.txt"
    base = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return [base[i % len(base)] for i in range(n)]


def measure(captions: list[str], workers: int) -> tuple[float, float]:
    """(captions per wall-clock second, captions per CPU-second summed over all processes)."""
    cpu0 = _cpu()
    start = time.perf_counter()
    n = sum(1 for _ in augment_many(captions, negatives=NEGATIVE_TYPES, positives=POSITIVE_TYPES, seed=0,
                                    per_type=1, workers=workers))
    wall = time.perf_counter() - start
    return n / wall, n / max(_cpu() - cpu0, 1e-9)


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    captions = load_captions(args.n)
    t0 = time.perf_counter()
    wn = get_wordnet()
    if wn is not None:
        wn.preload()
    print(f"WordNet {'loaded' if wn else 'not installed'} in {time.perf_counter() - t0:.2f}s (one-off, per process)")
    measure(captions[:500], 1)  # warm the word-level caches, as any long run does
    single, single_cpu = measure(captions, 1)
    multi, multi_cpu = measure(captions, args.workers)
    print(f"cpu cores visible: {os.cpu_count()}; load average now: {os.getloadavg()[0]:.1f} "
          "(other processes share the cores: wall-clock rates below are lower bounds)")
    print(f"1 process  : {single:8.0f} captions/s wall  ({single_cpu:.0f} captions per CPU-second)")
    print(f"{args.workers} workers  : {multi:8.0f} captions/s wall  ({multi_cpu:.0f} captions per CPU-second; "
          f"ratio to 1 process {multi / single:.2f}x)")
    best = max(single, multi)
    print(f"goal >= 2,000 captions/s on 2 cores: {'met' if best >= 2000 else 'not met'} on the wall clock here "
          f"(best {best:.0f}/s); {multi_cpu:.0f} captions per CPU-second means ~{2 * multi_cpu:.0f}/s when "
          f"{args.workers} workers each get a whole core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
