"""`eqvl eval`: flags -> `eqvl.evaluation` -> a table, the results JSON (+ score files).

Every output path is checked before the model is even built, so a forgotten
`--overwrite` costs nothing; all writes are atomic.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from eqvl.errors import EqvlError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a model on a benchmark (table + CLIP_benchmark-style results JSON)",
        description="Evaluate an image-text model on a compositionality benchmark. "
        "Models: an open_clip name (ViT-B-32), a shipped config (eqvl-tiny-rn, eqvl-tiny-vit), a path to an "
        "open_clip model-config JSON, hf-hub:ORG/REPO, local-dir:DIR, or hf:DIR (transformers CLIPModel / "
        "SiglipModel saved with save_pretrained). See `eqvl benchmarks` for benchmark names and layouts.",
    )
    p.add_argument("--model", required=True, help="model name, config JSON, hf-hub:/local-dir:/hf: spec")
    p.add_argument("--pretrained", default="none",
                   help="open_clip pretrained tag, checkpoint file (incl. epoch_N.pt), or none (random init)")
    p.add_argument("--benchmark", required=True, help="benchmark name (see `eqvl benchmarks`)")
    p.add_argument("--data", required=True, help="benchmark folder (or its annotation file)")
    p.add_argument("--output", required=True, help="results JSON to write")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--scores-out", default=None, metavar="FILE.npz",
                   help="also write per-sample scores (ids, subsets, scores[, equivariance_*]) as .npz")
    p.add_argument("--export-official-scores", default=None, metavar="FILE.npy",
                   help="write scores in the benchmark's official submission order (EqBen leaderboard)")
    p.add_argument("--batch-size", type=int, default=64, help="images or captions per encoder call (default 64)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                   help="DataLoader workers decoding images (0 = in the main process)")
    p.add_argument("--seed", type=int, default=0, help="seed for random init (--pretrained none)")
    p.add_argument("--precision", default="amp",
                   help="amp (autocast on GPU, fp32 on CPU), amp_bf16, fp32, fp16, bf16")
    p.add_argument("--cache-dir", default=None, help="embedding cache folder (default: $EQVL_CACHE_DIR or ~/.cache/eqvl)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the embedding cache")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip records whose image is missing/unreadable (counted in the results JSON) instead of failing")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="benchmark reader option (repeatable), e.g. --option subset=AG")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=run)


def parse_options(pairs: list[str]) -> dict[str, str]:
    """`key=value` strings -> dict; readers convert values themselves."""
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise EqvlError(f"--option {pair!r}: expected KEY=VALUE")
        if key.strip() in options:
            raise EqvlError(f"--option {key.strip()!r} given twice")
        options[key.strip()] = value
    return options


def run(args: argparse.Namespace) -> int:
    from eqvl.benchmarks import get_benchmark
    from eqvl.evaluation import has_official_layout
    from eqvl.io import check_writable

    bench = get_benchmark(args.benchmark)  # unknown names fail before anything heavy
    options = parse_options(args.option)
    outputs = [Path(args.output)] + [Path(p) for p in (args.scores_out, args.export_official_scores) if p]
    if len({p.resolve() for p in outputs}) != len(outputs):
        raise EqvlError("--output, --scores-out and --export-official-scores must be different files")
    for path in outputs:
        check_writable(path, args.overwrite)
    if args.scores_out and not args.scores_out.endswith(".npz"):
        raise EqvlError(f"--scores-out {args.scores_out}: only .npz is supported")
    if args.export_official_scores and not has_official_layout(bench):
        raise EqvlError(f"--export-official-scores: benchmark {args.benchmark} has no official score layout")
    if not Path(args.data).exists():
        raise EqvlError(f"--data {args.data}: no such file or folder")

    import torch

    from eqvl.encode import default_cache_dir
    from eqvl.evaluation import evaluate, write_official_scores, write_score_file
    from eqvl.io import write_json_atomic
    from eqvl.models import load_encoder
    from eqvl.report.console import print_results

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    encoder = load_encoder(args.model, args.pretrained, device=device, seed=args.seed, precision=args.precision)
    cache_dir = None if args.no_cache else Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    result = evaluate(
        encoder,
        bench,
        args.data,
        batch_size=args.batch_size,
        workers=args.workers,
        cache_dir=cache_dir,
        skip_bad=args.skip_bad,
        options=options,
        progress=not args.no_progress,
        config={"device": device, "seed": args.seed, "precision": args.precision, "pretrained_arg": args.pretrained},
    )
    if args.export_official_scores:
        write_official_scores(args.export_official_scores, bench, result)
    if args.scores_out:
        write_score_file(args.scores_out, result)
    write_json_atomic(args.output, result.results, overwrite=args.overwrite)
    print_results(result.results)
    print(f"wrote {', '.join(str(p) for p in outputs)}")
    return 0
