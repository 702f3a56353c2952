"""`eqvl eval`: flags -> `eqvl.evaluation` -> a table, the results JSON (+ score files, a summary).

Every output of every run is checked before the first model is built, so a forgotten
`--overwrite` costs nothing; the outputs are locked for the whole call (a second `eqvl eval`
on them stops at once); all writes are atomic.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from eqvl.commands.common import (DEFAULT_PRECISION, add_device_flag, add_output_flag, add_progress_flag,
                                   nonneg_int, positive_int, resolve_device)
from eqvl.errors import EqvlError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate models on benchmarks (tables + CLIP_benchmark-style results JSON)",
        description="Evaluate image-text models on compositionality benchmarks. "
        "Models: an open_clip name (ViT-B-32), a shipped config (eqvl-tiny-rn, eqvl-tiny-vit), a path to an "
        "open_clip model-config JSON, hf-hub:ORG/REPO, local-dir:DIR, hf:DIR (a transformers save_pretrained "
        "directory of CLIPModel / SiglipModel, or BLIP retrieval's ITC head: dual encoders), hf-itm:DIR (BLIP / "
        "BLIP-2 image-text matching head: P(match) per pair), vqascore:DIR (VQAScore, P(\"Yes\") of a LLaVA-1.5 / LLaVA-NeXT / "
        "Qwen2-VL / Qwen2.5-VL / PaliGemma directory as t2v_metrics computes it; --option question=... answer=...). Directories "
        "hold their weights: leave --pretrained out. Pair scorers (hf-itm:, vqascore:) score only the pairs each "
        "benchmark item needs; retrieval with them is coarse-to-fine (--coarse-model). See `eqvl benchmarks` for benchmark names and layouts. "
        "Several --model and/or --benchmark values run every pair; then --output (and --scores-out, "
        "--export-official-scores) are templates with {benchmark}, {model}, {pretrained}.",
    )
    p.add_argument("--model", nargs="+", default=None,
                   help="model name(s), config JSON, hf-hub:/local-dir:/hf: spec (default: the name stored in the --pretrained checkpoint)")
    p.add_argument("--pretrained", nargs="+", default=None,
                   help="open_clip pretrained tag, checkpoint file (incl. epoch_N.pt), or none (random init); "
                   "one for all models or one per --model (default: required unless the model carries its weights)")
    p.add_argument("--benchmark", nargs="+", required=True,
                   help="benchmark name(s) (see `eqvl benchmarks`), or `suite`: every benchmark found in --data ROOT/<name>/ "
                   "(--output then needs {benchmark}; --summary gets one row per model, a column per benchmark + the mean)")
    p.add_argument("--data", nargs="+", required=True, help="benchmark folder (or its annotation file), one per --benchmark")
    add_output_flag(p, required=True, metavar="FILE.json",
                    help="results JSON to write (several runs: a template, e.g. results/{benchmark}_{model}.json)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files (default: refuse)")
    p.add_argument("--scores-out", default=None, metavar="FILE.npz",
                   help="also write per-sample scores (ids, subsets, scores[, equivariance_*], provenance) as .npz (default: none)")
    p.add_argument("--export-official-scores", default=None, metavar="FILE.npy",
                   help="write scores in the benchmark's official submission order (EqBen leaderboard) (default: none)")
    p.add_argument("--summary", default=None, metavar="FILE.csv|FILE.md",
                   help="one table over all runs: a row per model x benchmark, a column per metric (default: none)")
    p.add_argument("--batch-size", type=positive_int, default=64,
                   help="images or captions per encoder call; (image, caption) pairs per forward for pair scorers (default: 64)")
    add_device_flag(p)
    p.add_argument("--workers", type=nonneg_int, default=min(4, os.cpu_count() or 1),
                   help="processes decoding images, 0 = in this process (default: the CPU count, at most 4)")
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed for random init with --pretrained none (default: 0)")
    p.add_argument("--precision", default=DEFAULT_PRECISION,
                   help="amp (autocast on GPU, fp32 on CPU), amp_bf16, fp32, fp16, bf16 (default: amp, as eqvl train "
                   "and open_clip)")
    p.add_argument("--cache-dir", default=None, help="embedding cache folder (default: $EQVL_CACHE_DIR or ~/.cache/eqvl)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the embedding cache")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip (and count) records whose image is missing/unreadable instead of failing (counted in the "
                        "results JSON; off by default: a skipped record changes the score)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="benchmark reader option (repeatable), e.g. --option subset=AG; with several benchmarks, "
                   "BENCHMARK:KEY=VALUE applies to one of them, e.g. --option eqben:subset=AG; question= and answer= "
                   "are vqascore: model options (templates, {} = the caption), itm_score=aro an hf-itm: one (ARO / "
                   "What'sUp's BLIP score: ITM logit + ITC cosine) (default: none)")
    p.add_argument("--coarse-model", default=None, metavar="MODEL",
                   help="retrieval with a pair scorer (hf-itm:, vqascore:): a dual encoder that ranks every pair first; "
                   "the pair scorer re-scores its top --coarse-k per query (default: none; brute force up to 4096 pairs)")
    p.add_argument("--coarse-pretrained", default=None, metavar="TAG",
                   help="weights of --coarse-model, as --pretrained (default: none given)")
    p.add_argument("--coarse-k", type=positive_int, default=16,
                   help="candidates per query the pair scorer re-scores (default: 16)")
    p.add_argument("--csv-img-key", default=None, metavar="KEY",
                   help="retrieval CSV: column of the image path (open_clip's spelling of --option image_col=) "
                        "(default: the reader's)")
    p.add_argument("--csv-caption-key", default=None, metavar="KEY",
                   help="retrieval CSV: column of the caption (open_clip's spelling of --option caption_col=, as in "
                        "train / augment / index) (default: the reader's)")
    add_progress_flag(p)
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


def options_for(options: dict[str, str], benchmark: str, benchmarks: list[str]) -> dict[str, str]:
    """The reader options of one benchmark: unscoped ones plus its own `benchmark:key` ones."""
    scoped = [k.split(":", 1)[0] for k in options if ":" in k]
    for name in scoped:
        if name not in benchmarks:
            raise EqvlError(f"--option {name}:...: {name} is not one of the --benchmark values ({', '.join(benchmarks)})")
    mine = {k: v for k, v in options.items() if ":" not in k}
    mine.update({k.split(":", 1)[1]: v for k, v in options.items() if k.split(":", 1)[0] == benchmark and ":" in k})
    return mine


def _plan(args: argparse.Namespace):
    """Every run and every output, checked before anything heavy happens."""
    from eqvl.benchmarks import get_benchmark
    from eqvl.evaluation import has_official_layout
    from eqvl.evaluation.plan import plan_runs

    benches = {name: get_benchmark(name) for name in args.benchmark}  # unknown names fail first
    models = args.model or [None] * len(args.pretrained or [None])
    runs = plan_runs(models, args.pretrained or [None], args.benchmark, args.data,
                     args.output, args.scores_out, args.export_official_scores)
    if args.scores_out and not args.scores_out.endswith(".npz"):
        raise EqvlError(f"--scores-out {args.scores_out}: only .npz is supported")
    if args.summary and Path(args.summary).suffix.lower() not in (".csv", ".md"):
        raise EqvlError(f"--summary {args.summary}: name a .csv or .md file")
    for name, bench in benches.items():
        if args.export_official_scores and not has_official_layout(bench):
            raise EqvlError(f"--export-official-scores: benchmark {name} has no official score layout")
    for folder in args.data:
        if not Path(folder).exists():
            raise EqvlError(f"--data {folder}: no such file or folder")
    outputs = [p for r in runs for p in r.outputs()] + ([Path(args.summary)] if args.summary else [])
    return benches, runs, outputs


def _expand_suite(args: argparse.Namespace):
    """`--benchmark suite --data ROOT` -> the benchmarks found under ROOT (None when not a suite run)."""
    from eqvl.evaluation.suite import SUITE, find_benchmarks

    if SUITE not in args.benchmark:
        return None
    if len(args.benchmark) != 1 or len(args.data) != 1:
        raise EqvlError("--benchmark suite runs alone, with one --data ROOT holding a sub-folder per benchmark")
    plan = find_benchmarks(args.data[0])
    args.benchmark, args.data = [n for n, _ in plan.found], [str(p) for _, p in plan.found]
    print(f"suite: {', '.join(args.benchmark)}; skipped (no folder): {', '.join(plan.skipped) or 'none'}", file=sys.stderr)
    return plan


def run(args: argparse.Namespace) -> int:
    from eqvl.io import OutputLock, check_outputs

    suite = _expand_suite(args)
    from eqvl.models.loading import MODEL_OPTIONS

    benches, runs, outputs = _plan(args)
    options = parse_options(args.option)
    for flag, key, value in (("--csv-img-key", "image_col", args.csv_img_key),
                             ("--csv-caption-key", "caption_col", args.csv_caption_key)):
        if value is not None:
            if key in options:
                raise EqvlError(f"{flag} and --option {key}= say the same thing; give one")
            options[key] = value
    args.model_options = {k: options.pop(k) for k in MODEL_OPTIONS if k in options}
    for name in args.benchmark:
        options_for(options, name, args.benchmark)  # a scope naming no benchmark fails before any work
    check_outputs(outputs, args.overwrite)
    with OutputLock(outputs):
        check_outputs(outputs, args.overwrite)  # again under the lock: another run may have written meanwhile
        results = _run_all(args, benches, runs, options)
        if args.summary and suite is not None:
            from eqvl.evaluation.suite import write_suite_summary

            write_suite_summary(args.summary, results, suite.skipped)
        elif args.summary:
            from eqvl.evaluation.summary import write_summary

            write_summary(args.summary, results)
    if len(results) > 1:
        from eqvl.evaluation.summary import summary_markdown

        print(summary_markdown(results))
    print(f"wrote {', '.join(str(p) for p in outputs)}")
    return 0


def _run_all(args: argparse.Namespace, benches: dict, runs: list, options: dict[str, str]) -> list[dict]:
    """Build each model once and run it on every benchmark, writing each run's files as it ends."""
    import torch

    from eqvl.encode import default_cache_dir
    from eqvl.evaluation import evaluate, write_official_scores, write_score_file
    from eqvl.io import write_json_atomic
    from eqvl.models import load_encoder
    from eqvl.report.console import print_results

    device = resolve_device(args.device)
    cache_dir = None if args.no_cache else Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    results, encoder, built_for = [], None, None
    coarse = _coarse(args, device, cache_dir)
    for spec in runs:
        if encoder is None or built_for != (spec.model, spec.pretrained):
            encoder = load_encoder(spec.model, spec.pretrained, device=device, seed=args.seed, precision=args.precision,
                                   options=args.model_options)
            built_for = (spec.model, spec.pretrained)
        result = evaluate(
            encoder, benches[spec.benchmark], spec.data, batch_size=args.batch_size, workers=args.workers,
            cache_dir=cache_dir, skip_bad=args.skip_bad, options=options_for(options, spec.benchmark, args.benchmark),
            progress=not args.no_progress,
            config={"device": device, "seed": args.seed, "precision": args.precision, "pretrained_arg": spec.pretrained,
                    **({"model_options": args.model_options} if args.model_options else {})},
            coarse=coarse if benches[spec.benchmark].full_matrix else None,
        )
        if spec.official_out:
            write_official_scores(spec.official_out, benches[spec.benchmark], result)
        if spec.scores_out:
            write_score_file(spec.scores_out, result)
        write_json_atomic(spec.output, result.results, overwrite=True)  # checked (and locked) above
        print_results(result.results)
        _warn_truncated(result.results)
        results.append(result.results)
    return results


def _coarse(args: argparse.Namespace, device: str, cache_dir):
    """The first stage of coarse-to-fine retrieval (`--coarse-model`), built once for every run."""
    if not args.coarse_model:
        if args.coarse_pretrained:
            raise EqvlError("--coarse-pretrained needs --coarse-model")
        return None
    from eqvl.encode.types import check_embeds
    from eqvl.evaluation.coarse import Coarse
    from eqvl.models import load_encoder

    enc = load_encoder(args.coarse_model, args.coarse_pretrained, device=device, seed=args.seed, precision=args.precision)
    return Coarse(check_embeds(enc), args.coarse_k, cache_dir)


def _warn_truncated(results: dict) -> None:
    cut = results.get("truncated_captions") or {}
    if cut.get("n"):
        print(f"warning: {cut['n']} of {cut['of']} captions of {results['dataset']} are longer than the model's "
              f"{cut['context_length']}-token context and were cut (captions that differ only past it score the same); "
              f"e.g. {cut['examples'][0]!r}", file=sys.stderr)
