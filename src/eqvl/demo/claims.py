"""Verdicts on the papers' claims, computed from the demo's measured numbers by explicit rules.

Input: per-variant, per-seed metrics (`SeedMetrics[variant][metric] -> list over seeds`).
Comparisons between two variants are paired by seed (same data order, same start), and a
difference counts only if it clears both a minimum effect and two standard errors of the
paired differences (with one seed, only the minimum effect). The rules are printed in the
report (`RULES`) so a reader can check every verdict by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

#: variant -> metric -> one value per seed
SeedMetrics = dict[str, dict[str, list[float]]]

MIN_EFFECT = 0.02  # 2 points: smaller differences are called noise whatever the seeds say
C1_MIN_GAP = 0.10  # attribute must beat location / counting by 10 points to call it a failure pattern
C2_MIN_TIGHTER = 0.05  # the median equivariance gap must shrink by 5% (relative) in every seed

RULES = [
    f"A difference A > B holds when the mean over seeds of the per-seed difference (A − B, paired by seed) is at least "
    f"{MIN_EFFECT * 100:.0f} points and, with more than one seed, also larger than 2 standard errors of those differences.",
    f"C1 (bag of words): for the model trained with plain ITC only — in the demo the pre-trained start (from scratch, "
    f"shuffled batches: the kind of model EqBen's table 4 evaluates; the fine-tuned variants are compared by C2 and C3) — "
    f"attribute group score > location group score and > counting group score, each by at least {C1_MIN_GAP * 100:.0f} "
    f"points (with the rule above). Both: reproduced; one: partly; none: not reproduced.",
    f"C2 (EqSim): itc+eqsim > itc on the group score over all twins (rule above), and its median image-side equivariance "
    f"score (EqSim-v2 gap) is at least {C2_MIN_TIGHTER * 100:.0f}% lower than itc's for every seed (tighter distribution). Both: reproduced; one: partly; none: not reproduced.",
    "C3 (hard positives), on the triplets: (a) itc+ce > itc on accuracy against the hard negative (orig_acc); "
    "(b) the hard-positive drop (orig_acc − joint_acc) of itc+ce > that of itc; (c) itc+ce+hardpos > itc+ce on joint_acc. "
    "All three: reproduced; some: partly; none: not reproduced.",
]


@dataclass
class Comparison:
    """A paired comparison A − B over seeds."""

    label: str
    diffs: list[float]
    holds: bool
    #: "points" for fractions shown as percentage points, "" for raw values (equivariance gaps)
    unit: str = "points"
    mean: float = field(init=False)
    se: float = field(init=False)

    def __post_init__(self) -> None:
        d = np.asarray(self.diffs, dtype=float)
        self.mean = float(d.mean()) if d.size else float("nan")
        self.se = float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else float("nan")

    def text(self) -> str:
        k, digits = (100.0, 1) if self.unit == "points" else (1.0, 3)
        se = f" ± {self.se * k:.{digits}f} (SE)" if math.isfinite(self.se) else ""
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.label}: {self.mean * k:+.{digits}f}{unit}{se} → {'yes' if self.holds else 'no'}"


@dataclass
class Verdict:
    claim: str
    status: str  # "reproduced" | "partly reproduced" | "not reproduced" | "not tested"
    summary: str
    checks: list[Comparison]

    def line(self) -> str:
        details = "; ".join(c.text() for c in self.checks)
        return f"{self.claim}: {self.status.upper()} — {self.summary}" + (f" [{details}]" if details else "")


def greater(a: Sequence[float], b: Sequence[float], label: str, min_effect: float = MIN_EFFECT) -> Comparison:
    """Paired test A > B over seeds (see module doc)."""
    n = min(len(a), len(b))
    diffs = [float(a[i]) - float(b[i]) for i in range(n)]
    cmp = Comparison(label, diffs, False)
    ok = n > 0 and math.isfinite(cmp.mean) and cmp.mean >= min_effect
    if ok and n > 1:
        ok = cmp.se == 0 or cmp.mean > 2 * cmp.se
    cmp.holds = bool(ok)
    return cmp


def _status(checks: list[Comparison]) -> str:
    passed = sum(c.holds for c in checks)
    if passed == len(checks):
        return "reproduced"
    return "partly reproduced" if passed else "not reproduced"


def _get(table: SeedMetrics, variant: str, metric: str) -> list[float] | None:
    vals = table.get(variant, {}).get(metric)
    return list(vals) if vals else None


def _missing(claim: str, what: str) -> Verdict:
    return Verdict(claim, "not tested", f"missing {what}", [])


def _pct(vals: Sequence[float]) -> str:
    return f"{np.mean(vals) * 100:.1f}%"


def verdict_c1(table: SeedMetrics, variant: str = "itc") -> Verdict:
    claim = "C1 (EqBen table 4: plain contrastive fails on location/counting, not attributes)"
    att, loc, cnt = (_get(table, variant, f"twins/{s}/group") for s in ("attribute", "location", "counting"))
    if att is None or loc is None or cnt is None:
        return _missing(claim, f"{variant} twin group scores for attribute, location and counting")
    checks = [greater(att, loc, "attribute − location", C1_MIN_GAP), greater(att, cnt, "attribute − counting", C1_MIN_GAP)]
    summary = f"{variant} group score: attribute {_pct(att)}, location {_pct(loc)}, counting {_pct(cnt)}"
    return Verdict(claim, _status(checks), summary, checks)


def verdict_c2(table: SeedMetrics, base: str = "itc", eqsim: str = "itc+eqsim") -> Verdict:
    claim = "C2 (EqSim tables 2-3, 6 and figure 6: EqSim raises group score and tightens equivariance)"
    g_b, g_e = _get(table, base, "twins/group"), _get(table, eqsim, "twins/group")
    q_b, q_e = _get(table, base, "twins/equivariance_image_median"), _get(table, eqsim, "twins/equivariance_image_median")
    if g_b is None or g_e is None or q_b is None or q_e is None:
        return _missing(claim, f"twin group scores and equivariance medians of {base} and {eqsim}")
    group_cmp = greater(g_e, g_b, f"group {eqsim} − {base}")
    n = min(len(q_b), len(q_e))
    diffs = [q_e[i] - q_b[i] for i in range(n)]
    tighter = n > 0 and all(q_e[i] <= (1 - C2_MIN_TIGHTER) * q_b[i] for i in range(n))
    tight = Comparison(f"median equivariance gap {eqsim} − {base} (lower is tighter)", diffs, tighter, unit="")
    summary = (f"group {_pct(g_b)} ({base}) → {_pct(g_e)} ({eqsim}); median image-side equivariance gap "
               f"{np.mean(q_b):.3f} → {np.mean(q_e):.3f}")
    return Verdict(claim, _status([group_cmp, tight]), summary, [group_cmp, tight])


def verdict_c3(table: SeedMetrics, base: str = "itc", hn: str = "itc+ce", hp: str = "itc+ce+hardpos") -> Verdict:
    claim = "C3 (hard positives: hard negatives help on negatives, hurt on positives; hard positives recover)"
    found = {(v, m): _get(table, v, f"triplets/{m}") for v in (base, hn, hp) for m in ("orig_acc", "joint_acc")}
    need = {key: vals for key, vals in found.items() if vals is not None}
    if len(need) < len(found):
        return _missing(claim, f"triplet orig/joint accuracy of {base}, {hn} and {hp}")

    def drop(v: str) -> list[float]:
        return [o - j for o, j in zip(need[(v, "orig_acc")], need[(v, "joint_acc")])]

    checks = [
        greater(need[(hn, "orig_acc")], need[(base, "orig_acc")], f"(a) orig_acc {hn} − {base}"),
        greater(drop(hn), drop(base), f"(b) hard-positive drop {hn} − {base}"),
        greater(need[(hp, "joint_acc")], need[(hn, "joint_acc")], f"(c) joint_acc {hp} − {hn}"),
    ]
    summary = ", ".join(
        f"{v}: orig {_pct(need[(v, 'orig_acc')])} / joint {_pct(need[(v, 'joint_acc')])}" for v in (base, hn, hp)
    )
    return Verdict(claim, _status(checks), summary, checks)


def all_verdicts(table: SeedMetrics, c1_model: str = "itc") -> list[Verdict]:
    """The three verdicts; `c1_model` names the plain-contrastive model C1 is judged on."""
    return [verdict_c1(table, c1_model), verdict_c2(table), verdict_c3(table)]
