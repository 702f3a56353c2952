"""`eqvl benchmarks`: every registered benchmark with the file layout it expects."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "benchmarks",
        help="list the benchmarks `eqvl eval` can run and their expected file layouts",
        description="List every registered benchmark, its task and the files `--data` must hold.",
    )
    p.add_argument("--names", action="store_true", help="print only the names, one per line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eqvl.benchmarks import list_benchmarks

    registry = list_benchmarks()
    if args.names:
        print("\n".join(registry))
        return 0
    for name, cls in registry.items():
        flags = [cls.task]
        if cls.full_matrix:
            flags.append("full matrix")
        if cls.needs_probabilities:
            flags.append("probability metrics")
        print(f"{name}  ({', '.join(flags)})")
        layout = (cls.layout or "(no layout documented)").strip()
        print("\n".join("    " + line for line in layout.splitlines()))
        print()
    print(f"{len(registry)} benchmarks; run one with: eqvl eval --model M --benchmark NAME --data DIR --output out.json")
    print("run all found under ROOT/<name>/ with: eqvl eval --model M --benchmark suite --data ROOT "
          "--output 'out/{benchmark}.json' --summary out/suite.md")
    return 0
