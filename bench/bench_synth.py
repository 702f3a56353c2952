"""How fast `eqvl synth` writes twins (sample + caption + render + PNG + files), at 224 and 64 px.

    .venv/bin/python bench/bench_synth.py [--workers 2] [--twins 400] [--sizes 224,64] [--breakdown]

Prints wall-clock twins/s of a full `generate` run (images, twins.jsonl, triplets.jsonl,
manifest) into a temporary folder, and twins per CPU-second (this process plus its
workers): on a shared machine the wall rate depends on the neighbours, the CPU rate much
less. Goals (issue 3): >= 100 twins/s at 224 px and >= 1,000 twins/s at 64 px on 2 cores.

Everything written goes into one temporary folder that is deleted only at the end: on an
ext4 file system without a journal, creating files right after thousands were deleted
costs up to ten times more kernel time (the inode allocator steps over recently freed
inodes), which would bill one size's clean-up to the next size's run.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

from eqvl.synth import shapes
from eqvl.synth.config import SynthConfig
from eqvl.synth.writer import generate

GOALS = {224: 100.0, 64: 1000.0}


def _cpu() -> tuple[float, float]:
    """(user, system) CPU seconds of this process and its finished workers."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + kids.ru_utime, me.ru_stime + kids.ru_stime


def bench(size: int, twins_per_subset: int, workers: int, tmp: str, seed: int = 0) -> dict[str, float]:
    shapes.warm_up(tuple(SynthConfig().categories))
    # warm-up run (sprite caches), not timed
    generate(SynthConfig(out=os.path.join(tmp, f"warm{size}"), twins=10, size=size, seed=seed + 1, workers=1, progress=False))
    cfg = SynthConfig(out=os.path.join(tmp, f"run{size}"), twins=twins_per_subset, size=size, seed=seed, workers=workers, progress=False)
    (u0, s0), t0 = _cpu(), time.perf_counter()
    manifest = generate(cfg)
    wall, (u1, s1) = time.perf_counter() - t0, _cpu()
    n = manifest["counts"]["twins_total"]
    user, sys = u1 - u0, s1 - s0
    return {
        "twins": n, "wall_s": wall, "twins_per_s": n / wall, "twins_per_cpu_s": n / (user + sys),
        "user_ms": 1000 * user / n, "sys_ms": 1000 * sys / n,
    }


def breakdown(size: int, tmp: str, n_per_subset: int = 100, seed: int = 0) -> dict[str, float]:
    """CPU ms per twin of each stage in one process (user + system): where the time goes.

    The sprite cache starts cold as in a worker of a real run (a run of 100 twins per
    subset; longer runs hit the cache more often)."""
    import numpy as np

    from eqvl.synth.render import render_twin, warm_up
    from eqvl.synth.sprites import clear_cache
    from eqvl.synth.twins import make_twin
    from eqvl.synth.writer import item_rng

    cfg = SynthConfig(size=size)
    warm_up(tuple(cfg.categories))
    keys = [(s, i) for s in cfg.subsets for i in range(n_per_subset)]
    clear_cache()
    t = time.process_time()
    twins = [make_twin(item_rng(seed, "twins", s, i), s, cfg) for s, i in keys]
    t_sample = time.process_time() - t
    t = time.process_time()
    for twin in twins:
        rng = np.random.default_rng(0)
        for k in (0, 1):
            twin.rewrites(k, rng, cfg)
    t_text = time.process_time() - t
    t = time.process_time()
    images = [r for twin in twins for r in render_twin(twin.scenes, size, masks=False)]
    t_render = time.process_time() - t
    t = time.process_time()
    pngs = [r.to_png(cfg.png_level()) for r in images]
    t_png = time.process_time() - t
    folder = os.path.join(tmp, f"files{size}")
    os.mkdir(folder)
    t = time.process_time()
    for k, data in enumerate(pngs):
        fd = os.open(f"{folder}/{k}.png", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        os.write(fd, data)
        os.close(fd)
    t_write = time.process_time() - t
    n = len(twins) / 1000.0
    return {"sample": t_sample / n, "captions": t_text / n, "render": t_render / n, "png": t_png / n, "files": t_write / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--twins", type=int, default=0, help="twins per subset (default: 200 at 224 px, 1000 at 64 px)")
    parser.add_argument("--sizes", default="224,64")
    parser.add_argument("--breakdown", action="store_true", help="also print CPU ms per twin of each stage (in memory, one process)")
    args = parser.parse_args()
    print(f"eqvl synth throughput, {args.workers} workers, {os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            report(size, args, tmp)


def report(size: int, args: argparse.Namespace, tmp: str) -> None:
    """Time one size and print its lines."""
    per_subset = args.twins or (200 if size >= 200 else 1000)
    r = bench(size, per_subset, args.workers, tmp)
    goal = GOALS.get(size)
    verdict = "" if goal is None else f"  goal {goal:.0f}/s: {'met' if r['twins_per_s'] >= goal else 'NOT met'} (ratio {r['twins_per_s'] / goal:.2f})"
    cpu_ms = r["user_ms"] + r["sys_ms"]
    print(
        f"{size:>4} px: {r['twins']} twins in {r['wall_s']:.1f} s = {r['twins_per_s']:.0f} twins/s wall, "
        f"{r['twins_per_cpu_s']:.0f} twins per CPU-second{verdict}\n"
        f"       CPU ms per twin, whole run (all processes): user {r['user_ms']:.2f} + system {r['sys_ms']:.2f} = {cpu_ms:.2f}"
        f" -> at most {args.workers * 1000 / cpu_ms:.0f} twins/s on {args.workers} idle cores"
    )
    if args.breakdown:
        b = breakdown(size, tmp)
        total = sum(b.values())
        parts = ", ".join(f"{k} {v:.2f}" for k, v in b.items())
        print(f"       CPU ms per twin by stage, one process: {parts} = {total:.2f} ms")


if __name__ == "__main__":
    main()
