"""The EqSim study's table and verdict (see eqsim_study.py); `python experiments/eqsim_study.py table`."""
from __future__ import annotations

import math

import numpy as np

from eqvl.demo.claims import greater, verdict_c2

SEEDS = (0, 1, 2)


def _ms(vals: list[float], k: float = 100.0, digits: int = 1) -> str:
    if not vals:
        return "–"
    sd = f" ± {np.std(vals, ddof=1) * k:.{digits}f}" if len(vals) > 1 else ""
    return f"{np.mean(vals) * k:.{digits}f}{sd}"


def _hinge(runs: dict[int, dict]) -> str:
    """Share of training steps with at least one hinge on (largest raw batch mean > alpha)."""
    on = [m > r["options"].get("eqsim_alpha", 0.0) for r in runs.values() for m in r.get("eqsim_max_mean_per_step") or []]
    return "–" if not on else f"{100 * np.mean(on):.0f}%"


def print_table(runs: dict[str, dict[int, dict]]) -> None:
    base = runs.get("itc", {})
    seeds = [s for s in SEEDS if s in base]
    print("| setting (alpha, beta, close, norm) | seeds | hinge active | val group | test group | test location | "
          "test eq. gap | test group − itc (paired) | beats itc (demo rule) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    order = ["itc"] + sorted(k for k in runs if k != "itc")
    complete = {}
    for lab in order:
        r = runs[lab]
        ss = [s for s in SEEDS if s in r]
        val = [r[s]["val"]["metrics"]["group"] for s in ss]
        test = [r[s]["test"]["twins/group"] for s in ss]
        loc = [r[s]["test"].get("twins/location/group", math.nan) for s in ss]
        gap = [r[s]["test"]["twins/equivariance_image_median"] for s in ss]
        cmp_txt, holds = "–", "–"
        if lab != "itc" and all(s in base for s in ss) and ss:
            c = greater(test, [base[s]["test"]["twins/group"] for s in ss], "group")
            se = f" ± {c.se * 100:.1f}" if math.isfinite(c.se) else ""
            cmp_txt, holds = f"{c.mean * 100:+.1f}{se}", ("yes" if c.holds else "no")
        print(f"| {lab} | {len(ss)} | {_hinge(r) if lab != 'itc' else '(β = 0)'} | {_ms(val)} | {_ms(test)} | {_ms(loc)} | "
              f"{_ms(gap, 1.0, 3)} | {cmp_txt} | {holds} |")
        if len(ss) == len(SEEDS):
            complete[lab] = float(np.mean(val))
    settings = {k: v for k, v in complete.items() if k != "itc"}
    if not settings or len(seeds) < len(SEEDS):
        print("\n(no setting has all seeds yet)")
        return
    best = max(settings, key=settings.get)
    print(f"\nChosen on the validation twins (synth seed 1, mean group over {len(SEEDS)} seeds): **{best}** "
          f"(val group {settings[best] * 100:.1f}% vs itc {complete.get('itc', math.nan) * 100:.1f}%)")
    table = {"itc": _as_table(base), "itc+eqsim": _as_table(runs[best])}
    print("On the demo's held-out twins, by the demo's rule (claims.verdict_c2):", verdict_c2(table).line())


def _as_table(runs: dict[int, dict]) -> dict[str, list[float]]:
    keys = ("twins/group", "twins/equivariance_image_median")
    return {k: [runs[s]["test"][k] for s in SEEDS] for k in keys}
