"""The augment quality table: for the 200 captions of tests/data/captions_quality.txt, the share that yields
each rewrite type, the share flagged valid, and 10 sample rewrites per type; then the validity check
(eqvl.augment.checks: subject-verb agreement) on the 40 finite-verb captions of
tests/data/captions_finite_verbs.txt, every flagged rewrite listed so its precision can be read off.

Run:  .venv/bin/python bench/augment_quality.py            # print the markdown
      .venv/bin/python bench/augment_quality.py --write    # refresh the quality block in docs/guide/augment.md
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from eqvl.augment import NEGATIVE_TYPES, POSITIVE_TYPES, augment_caption  # noqa: E402
from eqvl.augment.base import caption_rng  # noqa: E402

CAPTIONS = ROOT / "tests" / "data" / "captions_quality.txt"
FINITE = ROOT / "tests" / "data" / "captions_finite_verbs.txt"
DOCS = [ROOT / "docs" / "guide" / "augment.md"]
BEGIN, END = "<!-- quality:begin -->", "<!-- quality:end -->"


def build(seed: int = 0, samples: int = 10) -> str:
    caps = [ln.strip() for ln in CAPTIONS.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    found: dict[tuple[str, str], list[tuple[str, object]]] = defaultdict(list)
    for cap in caps:
        res = augment_caption(cap, negatives=NEGATIVE_TYPES, positives=POSITIVE_TYPES, seed=seed, per_type=1)
        for kind, items in (("negative", res.negatives), ("positive", res.positives)):
            for rw in items:
                found[(kind, rw.type)].append((cap, rw))
    n = len(caps)
    lines = [f"Captions: {n} (`tests/data/captions_quality.txt`), seed {seed}, one rewrite per type and caption.", "",
             "| kind | type | captions that yield it | share | flagged valid |", "|---|---|---:|---:|---:|"]
    for kind, types in (("negative", NEGATIVE_TYPES), ("positive", POSITIVE_TYPES)):
        for t in types:
            items = found[(kind, t)]
            valid = sum(1 for _, rw in items if rw.valid)
            share_valid = f"{valid / len(items):.0%}" if items else "-"
            lines.append(f"| {kind} | `{t}` | {len(items)} / {n} | {len(items) / n:.1%} | {share_valid} |")
    with_neg = {cap for (kind, _), items in found.items() if kind == "negative" for cap, _ in items}
    with_pos = {cap for (kind, _), items in found.items() if kind == "positive" for cap, _ in items}
    lines += ["", f"Captions with at least one hard negative: {len(with_neg)} / {n}; with at least one hard "
              f"positive: {len(with_pos)} / {n}.", ""]
    for kind, types in (("negative", NEGATIVE_TYPES), ("positive", POSITIVE_TYPES)):
        for t in types:
            items = found[(kind, t)]
            if not items:
                continue
            order = list(range(len(items)))
            caption_rng(seed, "quality-samples", f"{kind}:{t}").shuffle(order)
            lines += [f"#### {kind} `{t}` ({min(samples, len(items))} of {len(items)})", "",
                      "| caption | rewrite | what changed | valid |", "|---|---|---|---|"]
            for i in sorted(order[:samples]):
                cap, rw = items[i]
                lines.append(f"| {cap} | {rw.text} | {rw.detail} | {'yes' if rw.valid else 'no'} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def validity(seed: int = 0) -> str:
    """How often the agreement check flags a rewrite of a caption with a finite verb, every flag listed."""
    from eqvl.augment.checks import agreement_problems

    caps = [ln.strip() for ln in FINITE.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    items = []
    for cap in caps:
        res = augment_caption(cap, negatives=NEGATIVE_TYPES, positives=POSITIVE_TYPES, seed=seed, per_type=1)
        items += [rw for rw in res.negatives + res.positives]
    flagged = [rw for rw in items if not rw.valid]
    lines = [f"#### The validity flag on {len(caps)} captions with a finite verb (`tests/data/captions_finite_verbs.txt`)",
             "", f"{len(items)} rewrites, {len(flagged)} flagged invalid (dropped unless `--keep-invalid`):", "",
             "| type | flagged rewrite | agreement problem |", "|---|---|---|"]
    lines += [f"| {rw.type} | {rw.text} | {'; '.join(agreement_problems(rw.text))} |" for rw in flagged]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write", action="store_true", help="replace the block between the markers in " + ", ".join(str(d) for d in DOCS))
    args = ap.parse_args()
    table = build(args.seed) + "\n" + validity(args.seed)
    if not args.write:
        print(table)
        return 0
    for doc in DOCS:
        text = doc.read_text()
        if BEGIN not in text or END not in text:
            print(f"{doc}: markers {BEGIN} / {END} not found", file=sys.stderr)
            return 2
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        doc.write_text(head + BEGIN + "\n" + table + END + tail)
        print(f"updated {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
