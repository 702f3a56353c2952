"""Run the demo pipeline with a modified preset (design experiments), sharing one step cache.

  python experiments/run_config.py NAME '{"synth": {"train": 4000}, "pretrain": {"steps": 300}}' [--quick] [--seeds N]

Writes experiments/out/NAME/{report.html,report.md,results.json}; prints the table + verdicts.
The `"variants"` override may list a subset of variant names.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from eqvl.demo.config import VARIANTS, PhaseConfig, preset
from eqvl.demo.pipeline import run_demo
from eqvl.demo.report import print_table


def main() -> None:  # guarded: --jobs > 1 spawns worker processes that re-import this file
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("overrides", nargs="?", default="{}")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()
    cfg = preset(quick=args.quick)
    cfg.seeds = list(range(args.seeds))
    over = json.loads(args.overrides)
    for key, val in over.items():
        if key in ("pretrain", "finetune"):
            cur = getattr(cfg, key).__dict__ | val
            setattr(cfg, key, PhaseConfig(**cur))
        elif key == "variants":
            cfg.variants = {v: VARIANTS[v] for v in val}
        elif key in ("synth", "model_vision"):
            target = cfg.synth if key == "synth" else cfg.model["vision_cfg"]
            target.update(val)
        else:
            setattr(cfg, key, val)
    cfg.name = args.name
    t0 = time.time()
    res = run_demo(cfg, Path(__file__).parent / "out" / args.name, cache_dir=Path(__file__).parent / "cache",
                   overwrite=True, progress=False, argv=sys.argv, jobs=args.jobs)
    print_table(res)
    print(f"{args.name}: {time.time() - t0:.0f}s wall; overrides {args.overrides}")


if __name__ == "__main__":
    main()
