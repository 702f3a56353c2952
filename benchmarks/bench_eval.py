"""How much does `eqvl eval` cost over bare encoding, and what does unique-item batching buy?

On a tiny model and N synthetic twins (images drawn on the fly in a temp dir) it times:
  raw    - encode the benchmark's unique images + captions directly (same DataLoader, batch size, workers)
  eval   - eqvl.evaluate.evaluate end to end (read, dedupe, encode, gather, metrics), no cache
  eval+cache cold / warm - the same with a fresh, then a filled embedding cache
  naive  - the official EqBen example's loop: for every twin, encode each (image, caption) pair separately
and prints the ratios (goals: eval throughput >= 0.9x raw; eval >= 2x faster than naive).

    .venv/bin/python benchmarks/bench_eval.py --n 2000 --model eqvl-tiny-vit
Timings on shared CPUs are noisy: the variants run interleaved and each figure is the best of
--repeats rounds. The naive loop is timed on --naive-n twins and scaled linearly (it is slow).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw
from torch.utils.data import DataLoader, Dataset

from eqvl.data.images import load_image
from eqvl.data.records import ImageRef
from eqvl.evaluate import evaluate
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


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="number of twins")
    ap.add_argument("--model", default="eqvl-tiny-vit")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--naive-n", type=int, default=200,
                    help="time the naive loop on this many twins and scale linearly (0 = all; it is slow)")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))

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

        raw_encode(encoder, paths[:64], texts[:64], args.batch_size, 0)  # warm-up
        kw = dict(batch_size=args.batch_size, workers=args.workers, progress=False)
        runs: dict[str, list[float]] = {"raw": [], "eval": [], "cold": [], "warm": []}
        for r in range(args.repeats):  # interleaved, so background load hits every variant alike
            cache = root / f"cache{r}"
            runs["raw"].append(best_of(1, lambda: raw_encode(encoder, paths, texts, args.batch_size, args.workers)))
            runs["eval"].append(best_of(1, lambda: evaluate(encoder, "twins", root, **kw)))
            runs["cold"].append(best_of(1, lambda: evaluate(encoder, "twins", root, cache_dir=cache, **kw)))
            runs["warm"].append(best_of(1, lambda: evaluate(encoder, "twins", root, cache_dir=cache, **kw)))
        t_raw, t_eval, t_cold, t_warm = (min(runs[k]) for k in ("raw", "eval", "cold", "warm"))

        naive_n = min(args.naive_n or args.n, args.n)
        t_naive_part = best_of(1, lambda: naive_loop(encoder, root, rows[:naive_n]))
        t_naive = t_naive_part * args.n / naive_n
        scaled = "" if naive_n == args.n else f" (timed on {naive_n} twins, scaled x{args.n / naive_n:.1f})"

    print()
    print(f"{'':28s}{'seconds':>9s}{'items/s':>10s}")
    for label, t in (("raw encoding", t_raw), ("eval (no cache)", t_eval), ("eval (cold cache)", t_cold),
                     ("eval (warm cache)", t_warm), ("naive per-pair loop", t_naive)):
        print(f"{label:28s}{t:9.2f}{n_items / t:10.0f}")
    print()
    print(f"eval throughput / raw throughput (no cache):   {t_raw / t_eval:.2f}x  (goal >= 0.9)")
    print(f"eval throughput / raw throughput (cold cache): {t_raw / t_cold:.2f}x")
    print(f"eval speed-up over naive per-pair loop:        {t_naive / t_eval:.1f}x  (goal >= 2){scaled}")
    print(f"warm-cache re-run speed-up over cold run:      {t_cold / t_warm:.1f}x")
    print("all runs (s): " + "; ".join(f"{k} " + ", ".join(f"{t:.2f}" for t in v) for k, v in runs.items()))
    print(f"model {args.model}, batch {args.batch_size}, workers {args.workers}, torch threads {torch.get_num_threads()}, "
          f"best of {args.repeats}")


if __name__ == "__main__":
    main()
