"""The demo's report: verdicts, the results table (mean ± std over seeds), the subset bar
chart, equivariance distributions, training curves, and how to re-run."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from typing import Any

import numpy as np

from eqvl.version import __version__
from eqvl.demo.claims import MIN_EFFECT, RULES
from eqvl.demo.config import START
from eqvl.metrics import CHANCE_BY_METRIC
from eqvl.report import plots
from eqvl.report.document import Details, Figure, Note, Report, Table
from eqvl.synth import vocab

SUBSETS_TEXT = (
    "Held-out twins (two images, two captions, one controlled change; scored by Winoground's text / image / group): "
    "location = the relation between two objects changes ({relations}); "
    "counting = the number of instances changes ({counts}); attribute = one object's colour or size is replaced "
    "(the captions differ in a word, as in EqBen's EQ-Kubric attribute split); binding = colour or size is swapped "
    "between the two objects (same words in both captions, Winoground-style). Triplets: each twin image with its "
    "caption, a hard positive (synonym, paraphrase, inverse relation or reordering; still true) and a hard negative "
    "(the twin's caption or a relation / count / attribute rewrite; false)."
)
PREFERRED_SUBSETS = ("location", "counting", "attribute", "binding")
#: a verdict's colour
STATUS = {"reproduced": "good", "partly reproduced": "mixed", "not reproduced": "bad", "not tested": "info"}


def smoke_banner(cfg) -> Note | None:
    """A run with one seed and a tiny budget tests the pipeline, not the papers: say so first."""
    if cfg.name != "quick" and len(cfg.seeds) > 1:
        return None
    budget = (f"{len(cfg.seeds)} seed(s), {cfg.pretrain.steps} pre-training + {cfg.finetune.steps} fine-tuning steps "
              f"on {cfg.synth.get('train', '?')} rows")
    return Note(f"{budget}. This run checks that the pipeline works end to end; its verdicts and numbers say nothing "
                "about the papers' claims (noise at this size exceeds the effects). Run `eqvl demo` (3 seeds) for "
                "verdicts that mean something.", "warning", key="Smoke run: these verdicts mean nothing.")


def verdict_note(v) -> Note:
    """Status word and the key number first, coloured by status; the checks follow."""
    first = v.checks[0].text().split(": ", 1)[-1] if v.checks else ""
    key = v.status.upper() + (f" ({first})" if first else "") + " —"
    details = "; ".join(c.text() for c in v.checks)
    return Note(f"{v.claim}: {v.summary}" + (f" [{details}]" if details else ""), STATUS.get(v.status, "info"), key=key)


def subsets_text(synth: dict) -> str:
    """SUBSETS_TEXT with the relations and counts this run's data used."""
    relations = synth.get("relations") or vocab.RELATIONS
    lo, hi = synth.get("counts") or (1, 5)
    words = " / ".join(vocab.RELATION_PHRASES[r][0] for r in relations)
    return SUBSETS_TEXT.format(relations=words, counts=f"{lo}-{hi}")


def subsets_of(table: dict, bench: str = "twins", metric: str = "group") -> list[str]:
    found: list[str] = []
    for metrics in table.values():
        for key in metrics:
            parts = key.split("/")
            if len(parts) == 3 and parts[0] == bench and parts[2] == metric and parts[1] not in found:
                found.append(parts[1])
    first = [s for s in PREFERRED_SUBSETS if s in found]
    return first + sorted(s for s in found if s not in first)


def columns(table: dict) -> list[tuple[str, str]]:
    """(header, metric key) in display order."""
    cols = [(f"{s} group", f"twins/{s}/group") for s in subsets_of(table)]
    cols += [("twins text", "twins/text"), ("twins image", "twins/image"), ("twins group", "twins/group"),
             ("triplets orig", "triplets/orig_acc"), ("triplets aug", "triplets/aug_acc"),
             ("triplets joint", "triplets/joint_acc"), ("eq. gap median", "twins/equivariance_image_median")]
    return [(h, k) for h, k in cols if any(k in m for m in table.values())]


def cell(key: str, vals: list[float] | None) -> str:
    if not vals:
        return "–"
    arr = np.asarray(vals, dtype=float)
    if "equivariance" in key:
        text = f"{arr.mean():.3f}"
        return text + (f" ± {arr.std(ddof=1):.3f}" if arr.size > 1 else "")
    text = f"{arr.mean() * 100:.1f}"
    return text + (f" ± {arr.std(ddof=1) * 100:.1f}" if arr.size > 1 else "")


def variants_table(table: dict) -> Table:
    """One row per variant: each metric's mean ± std over seeds, formatted."""
    cols = columns(table)
    rows = [[variant, *(cell(k, metrics.get(k)) for _, k in cols)] for variant, metrics in table.items()]
    return Table(["variant", *(h for h, _ in cols)], rows,
                 caption="Scores in % (mean ± sample std over seeds); eq. gap = median image-side EqSim-v2 gap, lower is more equivariant.")


def mean_and_std(table: dict, keys: list[str]) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per variant, each metric's mean over seeds (NaN when missing) and its sample std (0 with
    fewer than two seeds): the bars and error bars of a chart."""
    series = {v: [float(np.mean(m.get(k, [np.nan]))) for k in keys] for v, m in table.items()}
    errors = {v: [float(np.std(m[k], ddof=1)) if len(m.get(k, [])) > 1 else 0.0 for k in keys] for v, m in table.items()}
    return series, errors


def machine() -> str:
    """The hardware and torch threads the run used, for the report's subtitle."""
    import torch

    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs visible, torch {torch.__version__} (threads {torch.get_num_threads()})"


def build_report(cfg, result, argv: list[str] | None = None) -> Report:
    seeds = len(cfg.seeds)
    rep = Report(
        title="eqvl demo: do the papers' claims reproduce on eqvl's own synthetic data?",
        subtitle=f"preset {cfg.name}; {seeds} seed(s); eqvl {__version__}; {machine()}; "
        f"{result.timings.get('total', 0):.0f} s wall" + (", finished steps reused from the cache" if any(result.reused.values()) else ""),
    )
    rep.banner = smoke_banner(cfg)
    sec = rep.section("Verdicts")
    for v in result.verdicts:
        sec.add(verdict_note(v))
    sec.add("How the verdicts are computed (from the numbers below, never by hand):")
    for rule in RULES:
        sec.add("• " + rule)

    sec = rep.section("Results")
    sec.add(subsets_text(cfg.synth))
    sec.add(variants_table(result.table))
    subs = subsets_of(result.table)
    if subs:
        series, errors = mean_and_std(result.table, [f"twins/{s}/group" for s in subs])
        sec.add(Figure("group_by_subset", plots.bar_chart(subs, series, errors=errors if seeds > 1 else None,
                                                          ylabel="group score", title="Twins: group score per subset",
                                                          chance=CHANCE_BY_METRIC["group"], chance_label="chance 16.7%"),
                       "Group score per twin subset and variant" + (" (error bars: std over seeds)." if seeds > 1 else
                                                                    " (one seed: no error bars).")
                       + " Dashed line: chance (1/6).", chance="16.7%"))
    trip = [("orig", "triplets/orig_acc"), ("aug", "triplets/aug_acc"), ("joint", "triplets/joint_acc")]
    if any(k in m for _, k in trip for m in result.table.values()):
        series, errors = mean_and_std(result.table, [k for _, k in trip])
        sec.add(Figure("triplets", plots.bar_chart(["orig: s(c) > s(c_n)", "aug: s(c_p) > s(c_n)", "joint: both"], series,
                                                   errors=errors if seeds > 1 else None, ylabel="accuracy",
                                                   title="Triplets: hard negatives vs hard positives",
                                                   chance=[CHANCE_BY_METRIC[k.split("/")[1]] for _, k in trip],
                                                   chance_label="chance"),
                       "Triplet accuracy (C3): orig = caption beats its hard negative, aug = the hard positive beats it, "
                       "joint = both. Dashed lines: chance (50% for a two-way choice, 25% for both).", chance="50%"))
    if result.equivariance:
        for side in ("image", "text"):
            samples = {v: sides[side] for v, sides in result.equivariance.items() if side in sides}
            labels = {v: f"{v} (group {np.mean(result.table[v].get('twins/group', [np.nan])) * 100:.1f}%)" for v in samples}
            sec.add(Figure(f"equivariance_{side}", plots.distribution_plot(
                samples, labels=labels, xlabel=f"{side}-side equivariance gap |Δs|",
                title=f"Equivariance-score distributions ({side} side)"),
                f"EqSim figure-6 style: distribution over all twins (all seeds pooled) of the {side}-side EqSim-v2 gap; "
                "tighter near 0 = more equivariant similarity."))
    _curve_figures(sec, result.curves)

    sec = rep.section("Setup")
    info = result.data_info
    sec.add(Table(["data", "value"], [[k, str(v)] for k, v in info.items() if not isinstance(v, (dict, list))],
                  caption="The synthetic data this run used"))
    sec.add(f"Pre-training: {cfg.pretrain.steps} steps, batch {cfg.pretrain.batch_size}, lr {cfg.pretrain.lr}; "
            f"fine-tuning: {cfg.finetune.steps} steps per variant and seed, batch {cfg.finetune.batch_size}, lr {cfg.finetune.lr}; "
            f"same data order for every variant of a seed. Differences under {MIN_EFFECT * 100:.0f} points are treated as noise.")
    sec.add(Table(["step", "seconds (this run)", "cached", "seconds when computed"],
                  [[k, f"{v:.1f}", "yes" if result.reused.get(k) else "no",
                    f"{result.compute_seconds[k]:.1f}" if k in result.compute_seconds else ("–" if result.reused.get(k) else f"{v:.1f}")]
                   for k, v in result.timings.items() if k != "total"]
                  + [["total (wall clock of this run)", f"{result.timings.get('total', 0):.1f}", "", ""]],
                  caption="Wall-clock seconds; a cached step's original time is kept in its cache folder (step.json). "
                          "With --jobs > 1 fine-tunes run side by side, so their seconds overlap."))
    sec.add(Details("Full configuration (JSON)", json.dumps(cfg.to_dict(), indent=1, default=str)))
    sec = rep.section("Re-run")
    cmd = "eqvl " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    sec.add(("code", f"{cmd}\n# finished steps are cached under <out>/cache; add --overwrite to replace this report\n"
                     "eqvl report <out>/cache/finetune-*/twins.json --scores <out>/cache/finetune-*/twins.npz --output my_report.html"))
    return rep


def _curve_figures(sec, curves_by_run: dict) -> None:
    """Pre-training and fine-tuning losses on their own step axes (fine-tunes are ~10x shorter)."""
    curves = {}
    for variant, rows in curves_by_run.items():
        pts = [(r["step"], r["loss"]) for r in rows if "step" in r and "loss" in r]
        if pts:
            curves[variant] = ([p[0] for p in pts], [p[1] for p in pts])
    if not curves:
        return
    panels = {f"pre-training ({START}, from scratch)": {k: v for k, v in curves.items() if k == START},
              "fine-tuning from it (seed 0)": {k: v for k, v in curves.items() if k != START}}
    panels = {title: c for title, c in panels.items() if c}
    sec.add(Figure("training_curves", plots.curves_panels(panels, ylabel="training loss (total)"),
                   f"Total training loss. Left: '{START}' pre-training from scratch; right: the variants fine-tuning "
                   "from it, each on its own step axis. Losses of different objectives are not comparable in level."))


def results_json(cfg, result) -> dict[str, Any]:
    return {
        "eqvl_version": __version__,
        "config": cfg.to_dict(),
        "table": result.table,
        "verdicts": [{"claim": v.claim, "status": v.status, "summary": v.summary,
                      "checks": [{"label": c.label, "diffs": c.diffs, "mean": c.mean, "holds": c.holds} for c in v.checks]}
                     for v in result.verdicts],
        "timings_s": result.timings,
        "computed_seconds_of_cached_steps": result.compute_seconds,
        "data": result.data_info,
    }


def print_table(result, console=None) -> None:
    """The final tables (twins, then triplets) and verdicts on the terminal (rich)."""
    from rich.console import Console
    from rich.table import Table as RichTable

    console = console or (Console() if sys.stdout.isatty() else Console(width=160))
    t = variants_table(result.table)
    split = next((i for i, h in enumerate(t.headers) if h.startswith("triplets")), len(t.headers))
    parts = [("eqvl demo: twins (%; mean ± std over seeds)", list(range(split))),
             ("eqvl demo: triplets (%) and median equivariance gap", [0, *range(split, len(t.headers))])]
    for title, idx in parts:
        if len(idx) < 2:
            continue
        rt = RichTable(title=title)
        for j in idx:
            rt.add_column(t.headers[j], justify="left" if j == 0 else "right", no_wrap=True)
        for row in t.rows:
            rt.add_row(*(row[j] for j in idx))
        console.print(rt)
    for v in result.verdicts:
        console.print(v.line(), highlight=False)
