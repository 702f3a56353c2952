"""How much does `eqvl eval` cost over bare encoding, and what does unique-item batching buy?

On a tiny model and N synthetic twins (images drawn on the fly in a temp dir) it times:
  raw    - encode the benchmark's unique images + captions directly (same DataLoader, batch size, workers)
  eval   - eqvl.evaluation.evaluate end to end (read, dedupe, encode, gather, metrics), no cache
  eval+cache cold / warm - the same with a fresh, then a filled embedding cache
  naive  - the official EqBen example's loop: for every twin, encode each (image, caption) pair separately
and prints the ratios (goals: eval throughput >= 0.9x raw, >= 0.95x with a cold cache, whose
shards are written by a background thread; eval >= 2x faster than naive).

    .venv/bin/python bench/bench_eval.py --n 2000 --model eqvl-tiny-vit
Timings on shared CPUs are noisy: the variants run interleaved and each figure is the best of
--repeats rounds. The naive loop is timed on --naive-n twins and scaled linearly (it is slow).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw
from torch.utils.data import DataLoader, Dataset

from eqvl.data.images import load_image
from eqvl.data.records import ImageRef
from eqvl.evaluation import evaluate
from eqvl.models import load_encoder

COLORS = ["red", "green", "blue", "yellow", "purple", "orange", "cyan", "gray"]
SHAPES = ["cube", "ball", "cone", "ring"]
RELATIONS = ["left of", "right of", "above", "below"]


def make_twins(root: Path, n: int, seed: int = 0) -> list[dict]:
    """n twins with unique images (two boxes whose places swap) and template captions."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        c1, c2 = rng.sample(COLORS, 2)
        s1, s2 = rng.sample(SHAPES, 2)
        rel = rng.choice(RELATIONS)
        for k in (0, 1):
            img = Image.new("RGB", (96, 96), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
            draw = ImageDraw.Draw(img)
            a, b = ((10, 30), (55, 30)) if k == 0 else ((55, 30), (10, 30))
            draw.rectangle([a, (a[0] + 30, a[1] + 30)], fill=c1)
            draw.ellipse([b, (b[0] + 30, b[1] + 30)], fill=c2)
            img.save(root / f"tw{i}_{k}.png")
        rows.append({
            "id": f"tw{i}", "subset": rel.replace(" ", "_"),
            "image_0": f"tw{i}_0.png", "image_1": f"tw{i}_1.png",
            "caption_0": f"a {c1} {s1} {rel} a {c2} {s2}", "caption_1": f"a {c2} {s2} {rel} a {c1} {s1}",
        })
    (root / "twins.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return rows


class _Images(Dataset):
    def __init__(self, paths, preprocess):
        self.paths, self.preprocess = paths, preprocess

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return self.preprocess(load_image(ImageRef(self.paths[i])))


def raw_encode(encoder, paths: list[str], texts: list[str], batch_size: int, workers: int) -> None:
    """The floor: every unique item through the encoder once, nothing else."""
    for pixels in DataLoader(_Images(paths, encoder.preprocess), batch_size=batch_size, num_workers=workers):
        encoder.encode_images(pixels)
    for start in range(0, len(texts), batch_size):
        encoder.encode_texts(texts[start : start + batch_size])


def naive_loop(encoder, root: Path, rows: list[dict]) -> None:
    """EqBen's example: per twin, per (image, caption) pair, encode both and take the cosine."""
    for row in rows:
        for i in (0, 1):
            for c in (0, 1):
                img = load_image(ImageRef(str(root / row[f"image_{i}"])))
                pix = encoder.preprocess(img)[None]
                encoder.score(encoder.encode_images(pix), encoder.encode_texts([row[f"caption_{c}"]]))


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process + its reaped children, i.e. DataLoader workers).
    CPU time is the steadier figure on shared machines; wall time is what a user waits."""
    c0, w0 = os.times(), time.perf_counter()
    fn()
    w1, c1 = time.perf_counter(), os.times()
    cpu = sum(c1[k] - c0[k] for k in range(4))  # user, system, children_user, children_system
    return w1 - w0, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="number of twins")
    ap.add_argument("--model", default="eqvl-tiny-vit")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--naive-n", type=int, default=100,
                    help="time the naive loop on this many twins and scale linearly (0 = all; it is slow)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch intra-op threads (default: torch's); 1 is steadier on a busy machine")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        rows = make_twins(root, args.n)
        print(f"made {args.n} twins in {time.perf_counter() - t0:.1f}s ({root})")
        encoder = load_encoder(args.model, "none")
        paths = sorted({str(root / r[f"image_{k}"]) for r in rows for k in (0, 1)})
        texts = sorted({r[f"caption_{k}"] for r in rows for k in (0, 1)})
        n_items = len(paths) + len(texts)
        print(f"unique: {len(paths)} images, {len(texts)} captions ({4 * args.n} image-caption pairs)")

        kw = dict(batch_size=args.batch_size, workers=args.workers, progress=False)
        warm_dir = root / "warmup"  # first calls pay one-off costs (lazy imports, allocator); keep them out
        warm_dir.mkdir()
        make_twins(warm_dir, 32, seed=1)
        raw_encode(encoder, paths[:64], texts[:64], args.batch_size, args.workers)
        evaluate(encoder, "twins", warm_dir, cache_dir=warm_dir / "cache", **kw)
        runs: dict[str, list[tuple[float, float]]] = {"raw": [], "eval": [], "cold": [], "warm": []}
        def cached(r: int) -> None:  # a fresh cache, then the same run again on the filled cache
            cache = root / f"cache{r}"
            runs["cold"].append(timed(lambda: evaluate(encoder, "twins", root, cache_dir=cache, **kw)))
            runs["warm"].append(timed(lambda: evaluate(encoder, "twins", root, cache_dir=cache, **kw)))

        variants = [
            lambda r: runs["raw"].append(timed(lambda: raw_encode(encoder, paths, texts, args.batch_size, args.workers))),
            lambda r: runs["eval"].append(timed(lambda: evaluate(encoder, "twins", root, **kw))),
            cached,
        ]
        for r in range(args.repeats):  # interleaved and rotated, so background load hits every variant alike
            for k in range(len(variants)):
                variants[(k + r) % len(variants)](r)
        naive_n = min(args.naive_n or args.n, args.n)
        wall, cpu = timed(lambda: naive_loop(encoder, root, rows[:naive_n]))
        runs["naive"] = [(wall * args.n / naive_n, cpu * args.n / naive_n)]
        scaled = "" if naive_n == args.n else f" (naive loop timed on {naive_n} twins, scaled x{args.n / naive_n:.0f})"

    wall = {k: min(w for w, _ in v) for k, v in runs.items()}
    cpu = {k: min(c for _, c in v) for k, v in runs.items()}
    print()
    print(f"{'':24s}{'wall s':>9s}{'items/s':>9s}{'CPU s':>9s}")
    labels = {"raw": "raw encoding", "eval": "eval (no cache)", "cold": "eval (cold cache)",
              "warm": "eval (warm cache)", "naive": "naive per-pair loop"}
    for key, label in labels.items():
        print(f"{label:24s}{wall[key]:9.2f}{n_items / wall[key]:9.0f}{cpu[key]:9.2f}")
    print()
    print(f"{'ratio':50s}{'wall':>7s}{'CPU':>7s}")
    for label, a, b, goal in (("eval throughput / raw throughput (no cache)", "raw", "eval", "goal >= 0.9"),
                              ("eval throughput / raw throughput (cold cache)", "raw", "cold", "goal >= 0.95"),
                              ("eval speed-up over naive per-pair loop", "naive", "eval", "goal >= 2"),
                              ("warm-cache re-run speed-up over cold run", "cold", "warm", "")):
        print(f"{label:50s}{wall[a] / wall[b]:6.2f}x{cpu[a] / cpu[b]:6.2f}x  {goal}")
    print(scaled.strip())
    print("all wall (s): " + "; ".join(f"{k} " + ", ".join(f"{w:.2f}" for w, _ in v) for k, v in runs.items()))
    print(f"model {args.model}, batch {args.batch_size}, workers {args.workers}, torch threads {torch.get_num_threads()}, "
          f"best of {args.repeats} interleaved, rotated rounds, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
