"""Tiny synthetic training data for the trainer tests (coloured shapes on a plain background) and the
quiet, seeded tiny-run config they train with."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw

from eqvl.train import TrainConfig

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


# A quiet, seeded, single-process run of eqvl-tiny-rn from random weights, images preloaded, no augmentation.
TINY_RUN = dict(model="eqvl-tiny-rn", pretrained="none", epochs=1, batch_size=6, lr=1e-3, log_every=1, preload=True,
                train_augment=False, progress=False, seed=0)


def train_config(tmp_path: Path, csv: Path, **kw) -> TrainConfig:
    """TINY_RUN on `csv`, writing tmp_path/run; `kw` overrides any field or gives a loss option flat
    (eqsim_k=3), as a checkpoint stores them. An unknown key is refused (strict), so a typo cannot pass."""
    return TrainConfig.from_dict({**TINY_RUN, "train_data": str(csv), "output": str(tmp_path / "run"), **kw}, strict=True)


def kill_after_step(args: list[str], output: Path, step: int, hang_guard_s: float) -> None:
    """Run `eqvl ARGS --output OUTPUT` in a child process and SIGKILL it as soon as its metrics.jsonl
    logs `step` (wherever it then is: even inside a checkpoint write); fails if it ended first."""
    metrics = output / "metrics.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "eqvl", *args, "--output", str(output)],
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + hang_guard_s  # hang guard only: waits for the step, however loaded the machine
    while time.time() < deadline and proc.poll() is None:
        if metrics.is_file() and any(json.loads(x).get("step", 0) >= step for x in metrics.read_text().splitlines()[1:]
                                     if x.strip()):
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
