"""`eqvl synth`: generate a twin benchmark folder and/or training CSV, or a gallery."""

from __future__ import annotations

import argparse

from eqvl.commands.common import add_output_flag, add_progress_flag, int_range, nonneg_int, positive_int
from eqvl.errors import EqvlError


def _range(text: str) -> tuple[int, int]:
    try:
        lo, _, hi = text.partition("-")
        return (int(lo), int(hi or lo))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a range like 1-5, got {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _mix(text: str) -> dict[str, float]:
    out = {}
    for part in _names(text):
        name, _, weight = part.partition("=")
        try:
            out[name] = float(weight) if weight else 1.0
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected subset=weight, got {part!r}") from None
    return out


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from eqvl.synth import vocab
    from eqvl.synth.config import SUBSETS
    from eqvl.synth.render import MAX_SIZE, MIN_SIZE

    p = subparsers.add_parser(
        "synth",
        help="render synthetic twin images with exact captions (benchmark + training data)",
        description="Render EQ-Kubric-style twins (location / counting / attribute) with template captions, "
        "exact hard negatives and positives; writes twins.jsonl, triplets.jsonl, train.csv, images/ and manifest.json.",
    )
    add_output_flag(p, dest="out", metavar="DIR", help="output folder (required unless --gallery is given)")
    p.add_argument("--subsets", type=_names, default=SUBSETS, help="comma list of: " + ",".join(SUBSETS) + " (default: all)")
    p.add_argument("--twins", type=nonneg_int, default=100, help="twin pairs per subset (default: 100)")
    p.add_argument("--train", type=nonneg_int, default=0, help="training rows (images) for train.csv (default: 0)")
    p.add_argument("--size", type=int_range(MIN_SIZE, MAX_SIZE), default=224,
                   help=f"image size in px, {MIN_SIZE}-{MAX_SIZE} (default: 224)")
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed of every random choice (same seed, same files)")
    p.add_argument("--workers", type=nonneg_int, default=1,
                   help="processes, 0 = in this process (default: 1, which also stays in this process for small "
                        "runs; the output is identical for any value)")
    p.add_argument("--distractors", type=_range, default=(0, 2), help="range of extra unnamed objects per scene, each placed if it fits (default: 0-2)")
    p.add_argument("--counts", type=_range, default=(1, 5), help="instance-count range of the counting subset (default: 1-5)")
    p.add_argument("--relations", type=_names, default=vocab.RELATIONS, help="comma list of: " + ",".join(vocab.RELATIONS) + " (default: all)")
    p.add_argument("--categories", type=_names, default=tuple(vocab.CATEGORIES), help="comma list of: " + ",".join(vocab.CATEGORIES) + " (default: all)")
    p.add_argument("--colours", type=_names, default=tuple(vocab.COLOURS), help="comma list of: " + ",".join(vocab.COLOURS) + " (default: all)")
    p.add_argument("--materials", type=_names, default=vocab.MATERIALS, help="comma list of: " + ",".join(vocab.MATERIALS) + " (default: all)")
    p.add_argument("--train-mix", type=_mix, default={}, help="training subset weights, e.g. location=2,counting=1 (default: --subsets equally)")
    p.add_argument("--train-singles", action="store_true", help="training rows from single scenes instead of twin pairs")
    p.add_argument("--overwrite", action="store_true", help="replace an existing synth folder")
    p.add_argument("--resume", action="store_true", help="finish an interrupted run, keeping valid images")
    p.add_argument("--gallery", metavar="PNG", help="also (or only) write a grid of twin pairs with captions")
    p.add_argument("--gallery-per-subset", type=positive_int, default=3, help="twin pairs per subset in the gallery (default: 3)")
    add_progress_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eqvl.synth.config import SynthConfig

    if not args.out and not args.gallery:
        raise EqvlError("give --output (a folder to write) and/or --gallery (a PNG)")
    if args.out and args.twins == 0 and args.train == 0:
        raise EqvlError("--twins 0 and --train 0: nothing to write; ask for twin pairs, training rows or both")
    cfg = SynthConfig(
        out=args.out, subsets=args.subsets, twins=args.twins, train=args.train, size=args.size, seed=args.seed,
        distractors=args.distractors, counts=args.counts, relations=args.relations, categories=args.categories,
        colours=args.colours, materials=args.materials, train_mix=args.train_mix, train_twins=not args.train_singles, workers=max(1, args.workers),
        overwrite=args.overwrite, resume=args.resume, progress=not args.no_progress,
    ).validate()
    _check_out_folder(args.out)
    if args.gallery:
        from eqvl.io import check_outputs
        from eqvl.synth.gallery import write_gallery

        check_outputs([args.gallery], overwrite=args.overwrite)

        path = write_gallery(args.gallery, cfg, per_subset=args.gallery_per_subset, overwrite=args.overwrite)
        print(f"gallery: {path}")
    if args.out:
        import time

        from eqvl.synth.writer import generate

        from eqvl.io import OutputLock

        start = time.perf_counter()
        with OutputLock(args.out):
            manifest = generate(cfg)
        seconds = time.perf_counter() - start
        counts = manifest["counts"]
        print(f"wrote {args.out}: {counts['twins_total']} twins ({', '.join(f'{k} {v}' for k, v in counts['twins'].items())}), "
              f"{counts['triplets']} triplets, {counts['train_rows']} training rows, {counts['images']} images")
        print(f"in {seconds:.1f} s ({counts['images'] / max(seconds, 1e-9):.0f} images/s); content hash {manifest['content_hash'][:16]}… (manifest.json)")
    return 0


def _check_out_folder(out: str | None) -> None:
    """--out is a folder: refuse a file (or a path under a file) in one line before anything runs."""
    from pathlib import Path

    if not out:
        return
    path = Path(out)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                what = "is a file" if p == path else f"is under {p}, which is a file"
                raise EqvlError(f"--output {out} {what}; synth writes a folder (give a new or existing folder path)")
            return
