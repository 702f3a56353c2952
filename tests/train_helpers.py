"""Tiny synthetic training data for the trainer tests: coloured shapes on a plain background."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 30), "blue": (30, 60, 220), "yellow": (230, 210, 30)}
SHAPES = ("square", "circle", "triangle")


def make_images(root: Path, n: int = 36, size: int = 64) -> list[tuple[str, str, str, str]]:
    """n PNGs in root/images; returns (relative path, caption, colour, shape)."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    out = []
    names = list(COLOURS)
    for i in range(n):
        colour, shape = names[i % len(names)], SHAPES[(i // len(names)) % len(SHAPES)]
        im = Image.new("RGB", (size, size), (128, 128, 128))
        d = ImageDraw.Draw(im)
        off = (i * 7) % 12
        box = (8 + off, 8 + off, 44 + off, 44 + off)
        if shape == "square":
            d.rectangle(box, fill=COLOURS[colour])
        elif shape == "circle":
            d.ellipse(box, fill=COLOURS[colour])
        else:
            d.polygon([(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) // 2, box[1])], fill=COLOURS[colour])
        rel = f"images/{i:03d}.png"
        im.save(root / rel)
        out.append((rel, f"a {colour} {shape}", colour, shape))
    return out


def make_csv(root: Path, n: int = 36, hard: bool = True, bad: int = 0) -> Path:
    """open_clip CSV (tab-separated) with hard negatives/positives columns; `bad` extra broken rows."""
    rows = make_images(root, n)
    lines = ["filepath\ttitle" + ("\thard_negatives\thard_negative_types\thard_positives" if hard else "")]
    others = list(COLOURS)
    for rel, cap, colour, shape in rows:
        if hard:
            wrong = others[(others.index(colour) + 1) % len(others)]
            negs = [f"a {wrong} {shape}"] + ([f"two {colour} {shape}s"] if len(lines) % 2 else [])
            types = ["attribute"] + (["count"] if len(negs) > 1 else [])
            pos = [f"one {colour} {shape}"]
            lines.append(f"{rel}\t{cap}\t{json.dumps(negs)}\t{json.dumps(types)}\t{json.dumps(pos)}")
        else:
            lines.append(f"{rel}\t{cap}")
    for j in range(bad):
        extra = "\t[]\t[]\t[]" if hard else ""
        lines.append(f"images/missing_{j}.png\ta lost image{extra}" if j % 2 == 0 else f"{rows[0][0]}\t {extra}")
    path = root / "train.csv"
    path.write_text("\n".join(lines) + "\n")
    return path
