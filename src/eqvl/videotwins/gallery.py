"""A picture of built twins: one row per twin, its two images side by side with their captions."""

from __future__ import annotations

import textwrap
from pathlib import Path

from PIL import Image

from eqvl.errors import DataError
from eqvl.io import atomic_open, check_writable, read_jsonl


def write_twins_picture(folder: str | Path, png: str | Path, n: int = 4, overwrite: bool = False) -> Path:
    """Render the first `n` twins of a build folder (or of each subset, in file order) to `png`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder, png = Path(folder), check_writable(png, overwrite)
    rows = [obj for _, obj in read_jsonl(folder / "twins.jsonl")][:n]
    if not rows:
        raise DataError("no twins to draw", path=str(folder / "twins.jsonl"))
    fig, axes = plt.subplots(len(rows), 2, figsize=(7.2, 2.9 * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        for k in (0, 1):
            ax = axes[r][k]
            with Image.open(folder / row[f"image_{k}"]) as handle:
                ax.imshow(handle.convert("RGB"), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_xlabel("\n".join(textwrap.wrap(row[f"caption_{k}"], 42)), fontsize=8.5)
            where = row.get("time_" + str(k))
            label = f"{row.get('video', '')} {row['frame_' + str(k)] if 'frame_' + str(k) in row else ''}"
            ax.set_title(f"{label.strip()}" + (f"  ({where:g} s)" if isinstance(where, (int, float)) else ""), fontsize=8)
        axes[r][0].set_ylabel(row.get("subset", ""), fontsize=9)
    fig.tight_layout()
    with atomic_open(png, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)
    return png
