"""`eqvl augment`: hard negatives and hard positives for a caption file (training CSV/JSONL) or one --text."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

from eqvl.commands.common import add_output_flag, add_progress_flag, nonneg_int, positive_int


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "augment", help="make hard-negative and hard-positive captions (offline, seeded)",
        description="Add hard_negatives / hard_positives (JSON lists) to a training CSV/JSONL, or show the "
                    "rewrites of one caption with --text.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--in", dest="inp", metavar="FILE", help="input CSV (tab-separated, header) or JSONL")
    src.add_argument("--text", help="augment one caption and print each rewrite with its type")
    add_output_flag(p, dest="out", metavar="FILE",
                    help="output file (.jsonl -> JSONL, else a CSV with --csv-separator); required with --in")
    p.add_argument("--negatives", default="swap,replace,negate,count",
                   help="comma list of: swap, attribute_swap, replace, negate, count ('swap' includes "
                        "attribute_swap; '' for none) (default: %(default)s)")
    p.add_argument("--positives", default="replace,swap",
                   help="comma list of: replace, swap, inverse, passive ('swap' includes inverse and passive; "
                        "'' for none) (default: %(default)s)")
    p.add_argument("--per-type", type=positive_int, default=1, help="rewrites kept per type and caption")
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed of the random choices (same seed, same file)")
    p.add_argument("--workers", type=nonneg_int, default=1,
                   help="processes, 0 = in this process (default: 1, also in this process; the output does not "
                        "depend on it)")
    p.add_argument("--csv-caption-key", dest="caption_column", default="title", metavar="KEY",
                   help="column (CSV) or key (JSONL) holding the caption (open_clip's spelling)")
    p.add_argument("--caption-column", dest="caption_column", help=argparse.SUPPRESS)
    p.add_argument("--csv-separator", dest="sep", default="\t", help="CSV column separator (default: tab, as open_clip)")
    p.add_argument("--sep", dest="sep", help=argparse.SUPPRESS)
    p.add_argument("--types", action=argparse.BooleanOptionalAction, default=True,
                   help="write hard_negative_types / hard_positive_types, which `eqvl train --loss ...+ce` needs for "
                        "CE-CLIP's per-type margins; --existing merge keeps the input's types ('untyped' where it "
                        "had none) (default: on)")
    p.add_argument("--keep-invalid", action="store_true",
                   help="keep rewrites flagged invalid: they break subject-verb agreement that the caption kept "
                        "(eqvl.augment.checks)")
    p.add_argument("--skip-bad", action="store_true", help="skip (and count) unreadable rows (listed) instead of failing")
    p.add_argument("--existing", choices=("merge", "replace"),
                   help="the input already has hard_negatives / hard_positives: keep them and add new rewrites "
                        "(merge) or drop them (replace); without it such an input is refused")
    p.add_argument("--rewriter", metavar="SPEC",
                   help="optional local model for replacements: mlm:/path/to/masked-lm-dir or py:module:factory")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    add_progress_flag(p)
    p.set_defaults(func=run)


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def run(args: argparse.Namespace) -> int:
    from eqvl.augment import augment_caption, expand_types
    from eqvl.augment.rewriter import load_rewriter
    from eqvl.errors import EqvlError

    negatives = expand_types(_split(args.negatives), "negatives")
    positives = expand_types(_split(args.positives), "positives")
    rewriter = load_rewriter(args.rewriter)
    if args.text is not None:
        if not args.text.strip():
            raise EqvlError("--text is empty")
        res = augment_caption(args.text, negatives=negatives, positives=positives, seed=args.seed,
                              per_type=args.per_type, rewriter=rewriter, shuffle=False)
        _print_rewrites(args.text, res)
        return 0
    if not args.out:
        raise EqvlError("--output is required with --in")
    from eqvl.augment.io import ensure_not_input
    from eqvl.io import OutputLock, check_outputs

    ensure_not_input(args.inp, args.out)
    check_outputs([args.out], args.overwrite)
    with OutputLock([args.out]):  # a second augment to the same --out is refused with one line
        check_outputs([args.out], args.overwrite)  # again under the lock: a run that just ended may have written it
        return _augment_file(args, negatives, positives, rewriter)


def _augment_file(args: argparse.Namespace, negatives: Sequence[str], positives: Sequence[str], rewriter) -> int:
    from eqvl.augment import existing
    from eqvl.augment.io import augment_many, describe_bad, read_table, write_table
    from eqvl.errors import EqvlError

    table = read_table(args.inp, args.caption_column, args.sep)
    if table.bad:
        msg = describe_bad(args.inp, table.bad)
        if not args.skip_bad:
            raise EqvlError(msg + "; fix them or pass --skip-bad to drop these rows")
        print(f"eqvl augment: warning: {msg}; dropped", file=sys.stderr)
    existing.refuse_unless_mode(args.inp, table, args.existing)
    kept = None
    if existing.existing_columns(table):
        kept = existing.prepare(args.inp, table, args.existing, args.skip_bad)
    captions = [row[args.caption_column] for row in table.rows]
    start = time.perf_counter()
    results = list(augment_many(captions, negatives=negatives, positives=positives, seed=args.seed,
                                per_type=args.per_type, workers=args.workers, keep_invalid=args.keep_invalid,
                                rewriter=rewriter, progress=not args.no_progress))
    elapsed = time.perf_counter() - start
    if kept is not None:
        report, olds = kept
        results = existing.apply(olds, results, report)
        print(f"eqvl augment: {report.summary()}", file=sys.stderr)
    out = write_table(args.out, table, results, types=args.types, overwrite=args.overwrite, sep=args.sep)
    _warn_same_within_context(captions, results, table.lines, args.inp)
    _print_summary(out, captions, results, elapsed, negatives, positives, len(table.bad), table.lines, args.inp)
    return 0


def _warn_same_within_context(captions, results, lines, inp) -> None:
    from eqvl.augment.context import CLIP_TEXT_TOKENS, count_same_within_context

    same, where = count_same_within_context(captions, results, lines)
    if same:
        shown = ", ".join(str(x) for x in where[:10]) + (" ..." if len(where) > 10 else "")
        print(f"eqvl augment: warning: {same} rewrite(s) of {len(where)} long caption(s) change only words after the "
              f"first {CLIP_TEXT_TOKENS}, so a CLIP model (77-token context) reads them as the caption itself; eqvl "
              f"train drops them ({inp} lines {shown})", file=sys.stderr)


def _print_rewrites(text: str, res) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"eqvl augment: {text}", show_lines=False)
    table.add_column("kind")
    table.add_column("type")
    table.add_column("valid")
    table.add_column("rewrite")
    table.add_column("what changed", style="dim")
    for kind, items in (("negative", res.negatives), ("positive", res.positives)):
        for rw in items:
            table.add_row(kind, rw.type, "yes" if rw.valid else "no", rw.text, rw.detail)
    if not res.negatives and not res.positives:
        table.add_row("-", "-", "-", "(no eligible word for any requested type)", "")
    Console().print(table)


def _print_summary(out, captions, results, elapsed, negatives, positives, n_bad, lines, inp) -> None:
    from collections import Counter

    from rich.console import Console
    from rich.table import Table

    n = len(captions)
    neg_counts: Counter = Counter()
    pos_counts: Counter = Counter()
    for neg, pos in results:
        neg_counts.update({t for _, t in neg})
        pos_counts.update({t for _, t in pos})
    empty_lines = [line for line, (neg, pos) in zip(lines, results) if not neg and not pos]
    empty = len(empty_lines)
    table = Table(title=f"eqvl augment -> {out}")
    table.add_column("kind")
    table.add_column("type")
    table.add_column("captions with one", justify="right")
    table.add_column("share", justify="right")
    for kind, types, counts in (("negative", negatives, neg_counts), ("positive", positives, pos_counts)):
        for t in types:
            table.add_row(kind, t, str(counts[t]), f"{counts[t] / n:.1%}" if n else "-")
    console = Console()
    console.print(table)
    rate = n / elapsed if elapsed > 0 else float("inf")
    console.print(f"{n} captions in {elapsed:.1f}s ({rate:,.0f} captions/s); {empty} with no rewrite; "
                  f"{n_bad} unreadable row(s) dropped")
    if empty_lines:
        shown = ", ".join(str(x) for x in empty_lines[:10]) + (" ..." if empty > 10 else "")
        console.print(f"captions with nothing eligible (kept, with empty lists): {inp} lines {shown}")
