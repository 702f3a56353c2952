"""`eqvl report RESULTS.json ... --out report.html`: tables and plots for any `eqvl eval` outputs."""

from __future__ import annotations

import argparse

from eqvl.commands.common import add_output_flag
from eqvl.report.collect import build_eval_report, runs_from_files
from eqvl.report.write import write_report


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="render HTML + Markdown tables and plots from `eqvl eval` results JSONs",
        description="Render a self-contained HTML report (and a Markdown twin, report.md beside it) from "
        "one or more `eqvl eval` results JSONs; optional per-sample twin scores (--scores-out files) add "
        "equivariance-score distributions.",
    )
    p.add_argument("results", nargs="+", metavar="RESULTS.json", help="results files written by `eqvl eval`")
    p.add_argument("--scores", nargs="*", default=[], metavar="SCORES.npz",
                   help="per-sample score files from `eqvl eval --scores-out` (paired by file name, else by order)")
    p.add_argument("--labels", nargs="*", default=[], help="display names, one per results file")
    p.add_argument("--title", default="eqvl evaluation report", help="heading of the report")
    add_output_flag(p, dest="out", default="report.html", metavar="FILE.html",
                    help="HTML file to write (a Markdown twin, .md, is written beside it)")
    p.add_argument("--overwrite", action="store_true", help="replace existing report files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    runs = runs_from_files(args.results, args.scores, args.labels)
    report = build_eval_report(runs, title=args.title)
    paths = write_report(report, args.out, overwrite=args.overwrite)
    print(f"wrote {paths['html']} and {paths['markdown']} ({len(runs)} results)")
    return 0
