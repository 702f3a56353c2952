"""Cost of augment's agreement check (eqvl.augment.checks), side by side in one run: the test captions x 4 seeds
with the check replaced by a no-op, then with it (its cache cleared). Run: .venv/bin/python bench/bench_augment_check.py"""
import time
from pathlib import Path
import eqvl.augment.base as base
from eqvl.augment import NEGATIVE_TYPES, POSITIVE_TYPES, augment_caption
caps = []
for f in ("tests/data/captions_quality.txt", "tests/data/captions_test.txt", "tests/data/captions_finite_verbs.txt"):
    caps += [l.strip() for l in Path(f).read_text().splitlines() if l.strip() and not l.startswith("#")]
def run():
    t = time.process_time()
    for seed in range(4):
        for c in caps:
            augment_caption(c, negatives=NEGATIVE_TYPES, positives=POSITIVE_TYPES, seed=seed, per_type=1)
    return time.process_time() - t
real = base.breaks_agreement
for rnd in range(4):
    base.breaks_agreement = lambda a, b: False; off = run()
    import eqvl.augment.checks as ck; ck.agreement_problems.cache_clear(); base.breaks_agreement = real; on = run()
    print(f"round {rnd}: {len(caps)*4} captions: without check {off:.2f} s CPU, with {on:.2f} s CPU: {on/off:.2f}x")
