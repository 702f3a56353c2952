"""kill -9 at random moments: train, eval and synth recover to exactly the uninterrupted result.

For each command: one uninterrupted reference run (timed), then N trials. A trial starts the
command in a fresh output and, once its first output appears (past the imports: train's
metrics.jsonl, synth's folder lock, eval's cache folder), sends SIGKILL to its whole process group
(workers included) after a random delay drawn uniformly from the window in which the reference
run was writing (first output -> outputs complete); then it re-runs the command the way a user would
(train: `--resume latest` when a checkpoint exists, else `--overwrite`; synth: `--resume` when the
folder is synth's, else `--overwrite`; eval: the same command with `--overwrite`, reusing the
killed run's embedding cache) and compares the outputs with the reference:
- train: every tensor of the final checkpoint equal, and metrics.jsonl steps 1..N once each;
- eval: the results' metrics and every array of --scores-out equal;
- synth: every file byte-identical (sha256) except the manifest, whose content hash must match.
A delay that lets the run finish before the kill is drawn again (it would kill nothing).

    .venv/bin/python scripts/kill_loop.py --kills 5            # all three commands
    .venv/bin/python scripts/kill_loop.py --kills 3 --commands synth

Prints one line per trial and "N kills, N recovered identically" per command and in total.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

TINY_TRAIN = ["--model", "eqvl-tiny-rn", "--pretrained", "none", "--loss", "itc+eqsim", "--eqsim-k", "2",
              "--batch-size", "6", "--epochs", "2", "--save-every-steps", "1", "--preload", "--no-train-augment",
              "--log-every", "1", "--no-progress", "--lr", "1e-3", "--seed", "0"]
TINY_SYNTH = ["--twins", "8", "--train", "16", "--size", "64", "--subsets", "location,counting", "--workers", "2",
              "--seed", "0", "--no-progress"]
TINY_EVAL = ["--model", "eqvl-tiny-rn", "--pretrained", "none", "--benchmark", "twins", "--workers", "0",
             "--batch-size", "4", "--seed", "0", "--no-progress"]


def eqvl(args: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", "eqvl", *args], capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise SystemExit(f"eqvl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return proc


def killed_run(args: list[str], started: Path, delay: float) -> bool:
    """Start `eqvl args` in its own process group; once `started` exists (the command got past its
    imports and began writing), wait `delay` s and SIGKILL the group. False if it ended first."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen([sys.executable, "-m", "eqvl", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, start_new_session=True)
    while not started.exists() and proc.poll() is None:
        time.sleep(0.005)
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


def timed_run(args: list[str], started: Path, complete: Callable[[], bool]) -> tuple[float, float, float]:
    """Seconds until `started` appeared, until `complete()` held, and in all, of an uninterrupted run."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "eqvl", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env, text=True)
    appeared = finished = None
    while proc.poll() is None:
        now = time.perf_counter() - t0
        if appeared is None and started.exists():
            appeared = now
        if appeared is not None and finished is None and complete():
            finished = now
        time.sleep(0.01)
    total = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"eqvl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr.read()[-2000:]}")
    return (appeared or 0.0), (finished or total), total


def tree_hashes(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in skip}


# ---------------------------------------------------------------- the three commands

def make_train_data(root: Path) -> Path:
    from PIL import Image, ImageDraw

    (root / "images").mkdir(parents=True, exist_ok=True)
    colours = {"red": (220, 30, 30), "green": (30, 180, 30), "blue": (30, 60, 220), "yellow": (230, 210, 30)}
    lines = ["filepath\ttitle"]
    for i in range(24):
        name, rgb = list(colours.items())[i % 4]
        im = Image.new("RGB", (64, 64), (128, 128, 128))
        off = (i * 7) % 12
        ImageDraw.Draw(im).rectangle((8 + off, 8 + off, 40 + off, 40 + off), fill=rgb)
        im.save(root / "images" / f"{i:03d}.png")
        lines.append(f"images/{i:03d}.png\ta {name} square number {i % 3}")
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    return root / "train.csv"


class Train:
    name = "train"

    def __init__(self, work: Path) -> None:
        self.csv = make_train_data(work / "train_data")

    def command(self, out: Path) -> list[str]:
        return ["train", "--train-data", str(self.csv), *TINY_TRAIN, "--output", str(out)]

    @staticmethod
    def started(out: Path) -> Path:
        return out / "metrics.jsonl"

    @staticmethod
    def complete(out: Path) -> bool:
        log = out / "metrics.jsonl"
        return log.is_file() and '"event": "end"' in log.read_text()

    def recover(self, out: Path) -> tuple[list[str], str]:
        has_ckpt = any((out / "checkpoints").glob("*.pt")) if (out / "checkpoints").is_dir() else False
        return (self.command(out) + (["--resume", "latest"] if has_ckpt else ["--overwrite"]),
                "--resume latest" if has_ckpt else "--overwrite (no checkpoint yet)")

    def result(self, out: Path) -> tuple:
        import torch

        final = sorted((out / "checkpoints").glob("epoch_[0-9]*.pt"), key=lambda p: int(p.stem.split("_")[1]))[-1]
        state = torch.load(final, map_location="cpu", weights_only=True)["state_dict"]
        records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x.strip()]
        steps = [r["step"] for r in records if "event" not in r]  # logged steps; start/resume/end events differ
        return final.name, {k: v.clone() for k, v in state.items()}, steps

    @staticmethod
    def same(a: tuple, b: tuple) -> bool:
        import torch

        return a[0] == b[0] and a[2] == b[2] and a[1].keys() == b[1].keys() and all(torch.equal(a[1][k], b[1][k]) for k in a[1])


class Synth:
    name = "synth"

    def command(self, out: Path) -> list[str]:
        return ["synth", "--out", str(out), *TINY_SYNTH]

    @staticmethod
    def started(out: Path) -> Path:
        return out / ".eqvl.lock"

    @staticmethod
    def complete(out: Path) -> bool:
        return (out / "manifest.json").is_file()

    def recover(self, out: Path) -> tuple[list[str], str]:
        ours = (out / ".eqvl-synth-state.json").exists() or (out / "manifest.json").exists()
        return (self.command(out) + (["--resume"] if ours else ["--overwrite"]),
                "--resume" if ours else "--overwrite (folder not started)")

    def result(self, out: Path) -> tuple:
        manifest = json.loads((out / "manifest.json").read_text())
        return manifest["content_hash"], tree_hashes(out, skip=("manifest.json",))

    @staticmethod
    def same(a: tuple, b: tuple) -> bool:
        return a == b


class Eval:
    name = "eval"

    def __init__(self, work: Path) -> None:
        self.data = work / "eval_data"
        eqvl(["synth", "--out", str(self.data), "--twins", "12", "--size", "48", "--subsets", "location,counting",
              "--seed", "1", "--no-progress"])

    def command(self, out: Path) -> list[str]:
        return ["eval", *TINY_EVAL, "--data", str(self.data), "--output", str(out / "results.json"),
                "--scores-out", str(out / "scores.npz"), "--cache-dir", str(out / "cache")]

    @staticmethod
    def started(out: Path) -> Path:
        return out / "cache"

    @staticmethod
    def complete(out: Path) -> bool:
        return (out / "results.json").is_file() and (out / "scores.npz").is_file()

    def recover(self, out: Path) -> tuple[list[str], str]:
        return self.command(out) + ["--overwrite"], "re-run with --overwrite (cache kept)"

    def result(self, out: Path) -> tuple:
        import numpy as np

        res = json.loads((out / "results.json").read_text())
        with np.load(out / "scores.npz") as z:
            arrays = {k: z[k].copy() for k in z.files}
        return res["metrics"], arrays

    @staticmethod
    def same(a: tuple, b: tuple) -> bool:
        import numpy as np

        return a[0] == b[0] and a[1].keys() == b[1].keys() and all(np.array_equal(a[1][k], b[1][k]) for k in a[1])


# ---------------------------------------------------------------- the loop

def run_command(cmd, work: Path, kills: int, rng: random.Random, log: Callable[[str], None]) -> tuple[int, int]:
    ref_out = work / f"{cmd.name}_reference"
    startup, finished, wall = timed_run(cmd.command(ref_out), cmd.started(ref_out), lambda: cmd.complete(ref_out))
    reference = cmd.result(ref_out)
    active = max(finished - startup, 0.05)
    log(f"{cmd.name}: reference run {wall:.1f} s; its outputs were complete {active:.1f} s after the first appeared "
        f"(kills are drawn from that window)")
    done = recovered = mid = 0
    attempt = 0
    while done < kills:
        attempt += 1
        out = work / f"{cmd.name}_trial{attempt}"
        delay = rng.uniform(0.0, active)
        if not killed_run(cmd.command(out), cmd.started(out), delay):
            log(f"  {cmd.name} trial {attempt}: finished before the kill at +{delay:.2f} s; drawing again")
            continue
        done += 1
        state = "after its outputs were complete" if cmd.complete(out) else "mid-run"
        locked = " (lock file left behind)" if any(out.rglob("*.lock")) or (out / ".eqvl.lock").exists() else ""
        mid += state == "mid-run"
        args, how = cmd.recover(out)
        proc = eqvl(args, check=False)
        ok = proc.returncode == 0 and cmd.same(cmd.result(out), reference)
        recovered += ok
        note = "" if proc.returncode == 0 else f" rc={proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"
        seen = [k for k, key in (("stale lock taken over", "stale lock"), ("fell back to an older checkpoint", "resuming from"))
                if key in proc.stderr]
        log(f"  {cmd.name} kill {done}: SIGKILL {delay:.2f} s after its first output, {state}{locked}; "
            f"{how}{' [' + ', '.join(seen) + ']' if seen else ''} -> {'identical' if ok else 'DIFFERENT'}{note}")
    log(f"{cmd.name}: {done} kills ({mid} mid-run), {recovered} recovered identically")
    return done, recovered


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=5, help="kills per command (default 5)")
    parser.add_argument("--commands", default="train,eval,synth", help="comma list of train, eval, synth")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill delays")
    parser.add_argument("--workdir", default=None, help="keep the runs here (default: a temporary folder)")
    args = parser.parse_args()
    if args.kills < 1:
        parser.error("--kills must be >= 1")
    rng = random.Random(args.seed)

    def log(line: str) -> None:
        print(line, flush=True)

    with tempfile.TemporaryDirectory(prefix="eqvl-kill-") as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        makers = {"train": lambda: Train(work), "eval": lambda: Eval(work), "synth": lambda: Synth()}
        total = total_ok = 0
        for name in [c.strip() for c in args.commands.split(",") if c.strip()]:
            if name not in makers:
                parser.error(f"unknown command {name!r} (train, eval, synth)")
            done, ok = run_command(makers[name](), work, args.kills, rng, log)
            total, total_ok = total + done, total_ok + ok
    print(f"{total} kills, {total_ok} recovered identically")
    return 0 if total == total_ok else 1


if __name__ == "__main__":
    sys.exit(main())
