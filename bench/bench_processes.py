#!/usr/bin/env python3
"""What spawned worker pools cost (issue 27): start-up of a 2-worker pool, spawn vs fork, and
whole `eqvl build --workers 2` / `eqvl synth --workers 2` / augment runs with each start method,
measured side by side in one run. eqvl uses spawn (eqvl.processes); fork is shown only for the
comparison (it can deadlock: scripts/fork_hazard.py).

Run: .venv/bin/python bench/bench_processes.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))  # the repository root: tests.helpers.*

import eqvl.processes as processes  # noqa: E402
from eqvl.cli import main as eqvl_main  # noqa: E402


def _noop(x: int) -> int:
    return x


def pool_start(method: str) -> float:
    processes.START_METHOD = method
    started = time.perf_counter()
    with processes.process_executor(2) as pool:
        list(pool.map(_noop, range(2)))
    return time.perf_counter() - started


def _quiet(args: list[str]) -> float:
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert eqvl_main(args) == 0
    return time.perf_counter() - started


def build_run(method: str, root: Path, k: int) -> float:
    from tests.helpers.videos import write_gebc

    processes.START_METHOD = method
    if not (root / "gebc").exists():
        ann, videos = write_gebc(root)
        data = json.loads(ann.read_text())
        clip = next(videos.rglob("vidA*.mp4"))
        for n in range(1, 8):
            data[f"v{n}"] = [dict(b, boundary_id=b["boundary_id"].replace("vidA", f"v{n}")) for b in data["vidA"]]
            (videos / f"v{n}.mp4").write_bytes(clip.read_bytes())
        ann.write_text(json.dumps(data))
    return _quiet(["build", "gebc", "--annotations", str(root / "gebc" / "val.json"), "--videos", str(root / "kinetics"),
                   "--workers", "2", "--no-progress", "--out", str(root / f"build-{method}-{k}")])


def synth_run(method: str, root: Path, k: int) -> float:
    processes.START_METHOD = method
    return _quiet(["synth", "--output", str(root / f"synth-{method}-{k}"), "--twins", "200", "--train", "0",
                   "--size", "64", "--workers", "2", "--no-progress"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, fn in (("2-worker pool start + 2 tasks", lambda m, k: pool_start(m)),
                         ("eqvl build gebc, 8 videos, --workers 2", lambda m, k: build_run(m, root, k)),
                         ("eqvl synth --twins 200 --size 64 --workers 2", lambda m, k: synth_run(m, root, k))):
            times: dict[str, list[float]] = {"fork": [], "spawn": []}
            for k in range(args.repeats):
                for method in ("fork", "spawn"):  # interleaved, so drift hits both alike
                    times[method].append(fn(method, k))
            fork, spawn = statistics.median(times["fork"]), statistics.median(times["spawn"])
            rows.append((name, fork, spawn))
    print(f"{'run':48s} {'fork s':>8s} {'spawn s':>8s} {'spawn/fork':>10s}  (median of {args.repeats})")
    for name, fork, spawn in rows:
        print(f"{name:48s} {fork:8.2f} {spawn:8.2f} {spawn / fork:10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
