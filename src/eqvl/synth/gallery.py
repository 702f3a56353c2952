"""A contact sheet of twin pairs with their captions, so a person can look at the data.

The gallery shows the first twins of each subset for the given seed, i.e. exactly the
first items `eqvl synth` writes with the same options.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

from eqvl.io import atomic_open, check_writable
from eqvl.synth.config import SynthConfig
from eqvl.synth.render import render_twin
from eqvl.synth.twins import make_twin
from eqvl.synth.work_units import item_rng


def write_gallery(path: str | Path, cfg: SynthConfig, per_subset: int = 3, size: int | None = None, overwrite: bool = False) -> Path:
    """Render `per_subset` twin pairs per subset into one PNG grid (rows = subsets)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = check_writable(path, overwrite)
    size = size or max(cfg.size, 160)
    subsets = list(cfg.subsets)
    cols = 2 * per_subset
    fig, axes = plt.subplots(len(subsets), cols, figsize=(cols * 2.1, len(subsets) * 2.75), squeeze=False)
    for r, subset in enumerate(subsets):
        for t in range(per_subset):
            twin = make_twin(item_rng(cfg.seed, "twins", subset, t), subset, cfg)
            images = [r.image for r in render_twin(twin.scenes, size, masks=False)]
            for k in (0, 1):
                ax = axes[r][2 * t + k]
                ax.imshow(images[k])
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_color("#1f77b4" if k == 0 else "#d62728")
                    spine.set_linewidth(2)
                ax.set_xlabel("\n".join(textwrap.wrap(twin.captions[k], 30)), fontsize=6.5)
                if k == 0 and t == 0:
                    ax.set_ylabel(subset, fontsize=10)
    fig.suptitle("eqvl synth: twin pairs (left/right of each pair differ in one factor)", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    with atomic_open(path, "wb") as handle:
        handle.write(buf.getvalue())
    return path
