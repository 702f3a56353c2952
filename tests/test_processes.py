"""Worker pools never inherit threads and never outlive their parent (eqvl.processes).

The old hazard (issue 27): `eqvl build --workers 2` forked its pool after the same process had
decoded video with FFmpeg's thread pools (and had torch threads); a worker then waited forever
on a lock copied in its locked state. These tests put the process in exactly that state first.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eqvl.cli import main
from eqvl.processes import PARENT_POLL_S, process_executor, process_pool

SRC = Path(__file__).resolve().parents[1] / "src" / "eqvl"


def _many_videos_gebc(root: Path, n: int) -> tuple[Path, Path]:
    from tests.helpers.videos import write_gebc

    ann, videos = write_gebc(root)
    data = json.loads(ann.read_text())
    clip = next(videos.rglob("vidA*.mp4"))
    for k in range(1, n):
        vid = f"vid{k:03d}"
        data[vid] = [dict(b, boundary_id=b["boundary_id"].replace("vidA", vid)) for b in data["vidA"]]
        (videos / f"{vid}.mp4").write_bytes(clip.read_bytes())
    ann.write_text(json.dumps(data))
    return ann, videos


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads through /proc")
def test_build_with_workers_after_threaded_decoding_and_torch_threads_never_hangs(tmp_path):
    import torch

    from eqvl.video.reader import VideoReader

    ann, videos = _many_videos_gebc(tmp_path, 3)
    with VideoReader(next(videos.rglob("vidA*.mp4"))) as reader:  # FFmpeg's own thread choice
        reader.frames_at([0.5, 2.0, 5.0, 8.5])
    torch.set_num_threads(2)
    torch.randn(256, 256) @ torch.randn(256, 256)  # torch's intra-op pool is up
    assert _threads() > 1  # the state in which a fork is a hazard
    args = ["build", "gebc", "--annotations", str(ann), "--videos", str(videos), "--no-progress",
            "--workers", "2", "--dedup-bits", "-1"]
    outputs = []
    for k in range(20):
        with VideoReader(next(videos.rglob("vidA*.mp4"))) as reader:  # decode again between builds
            reader.frames_at([1.0 + k * 0.1])
        assert main(args + ["--out", str(tmp_path / f"out{k}")]) == 0
        outputs.append((tmp_path / f"out{k}" / "twins.jsonl").read_text().replace(f"out{k}", "OUT"))
    assert len(set(outputs)) == 1 and outputs[0].count("\n") == 6  # the same 6 twins every run


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text() if (task / "children").exists() else ""
        found.update(int(x) for x in text.split())
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds children through /proc")
def test_kill_9_of_a_build_leaves_no_worker_behind(tmp_path):
    ann, videos = _many_videos_gebc(tmp_path, 60)
    cmd = [sys.executable, "-m", "eqvl", "build", "gebc", "--annotations", str(ann), "--videos", str(videos),
           "--no-progress", "--workers", "2", "--out", str(tmp_path / "out")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        workers = {c for c in _children(proc.pid) if _alive(c)}
        done = list((tmp_path / "out" / ".build" / "done").glob("*.json")) if (tmp_path / "out").exists() else []
        if len(workers) >= 2 and done:  # the pool is busy extracting
            break
        time.sleep(0.05)
    assert proc.poll() is None and len(workers) >= 2, "the build finished or never started its workers"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10 * PARENT_POLL_S + 5
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    left = [w for w in workers if _alive(w)]
    for w in left:
        os.kill(w, signal.SIGKILL)
    assert not left, f"workers {left} outlived their killed parent"


def _slow_square(x: int) -> int:
    time.sleep(0.05)
    return x * x


def _hang(_: int) -> None:
    time.sleep(3600)


def test_pools_return_results_in_order_and_kill_stuck_workers_on_error():
    with process_executor(2) as pool:
        assert list(pool.map(_slow_square, range(6))) == [0, 1, 4, 9, 16, 25]
    with process_pool(2) as pool:
        assert list(pool.imap(_slow_square, range(6))) == [0, 1, 4, 9, 16, 25]
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with process_executor(1) as pool:
            pool.submit(_hang, 0)
            time.sleep(0.5)
            raise KeyboardInterrupt  # Ctrl-C (or a test timeout) while a worker is stuck
    assert time.monotonic() - started < 30  # the stuck worker was killed, not joined


def _pool_calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            yield node, name


def test_no_pool_in_the_library_starts_workers_by_fork():
    """The scan of issue 27, kept: every process pool goes through eqvl.processes (spawn); fork,
    os.fork and a bare Pool / ProcessPoolExecutor are refused. torch's DataLoader (fork, PIL-only
    workers) is the one justified exception, made by `eqvl.processes.data_loader` where the
    justification stands once; a DataLoader(...) anywhere else needs its own justification comment
    (naming eqvl.processes) within 6 lines above it."""
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for node, name in _pool_calls(ast.parse(text)):
            rel = f"{path.relative_to(SRC.parent)}:{node.lineno}"
            if path.name == "processes.py":
                continue  # the home of the spawn pools and of data_loader, checked below
            if name in ("fork", "forkpty") or name in ("ProcessPoolExecutor", "Pool"):
                bad.append(f"{rel}: {name}()")
            if name == "get_context" and any(isinstance(a, ast.Constant) and a.value == "fork" for a in node.args):
                bad.append(f"{rel}: get_context('fork')")
            if name == "DataLoader" and "eqvl.processes" not in "\n".join(
                    text.splitlines()[max(0, node.lineno - 6):node.lineno + 2]):
                bad.append(f"{rel}: DataLoader without the fork justification comment (use eqvl.processes.data_loader)")
    assert not bad, "process pools outside eqvl.processes:\n" + "\n".join(bad)


def test_data_loader_holds_the_fork_justification_and_is_used():
    """`eqvl.processes.data_loader` is the one place a DataLoader is made, and says why its fork is safe;
    the encoders and the trainer go through it (no DataLoader(...) call of their own)."""
    from eqvl import processes

    doc = processes.data_loader.__doc__ or ""
    assert "Fork justification" in doc and "PIL" in doc
    calls = {name for _, name in _pool_calls(ast.parse((SRC / "processes.py").read_text(encoding="utf-8")))}
    assert "DataLoader" in calls
    for rel in ("encode/images.py", "encode/pairs.py", "train/loop.py", "train/validation.py"):
        names = {name for _, name in _pool_calls(ast.parse((SRC / rel).read_text(encoding="utf-8")))}
        assert "data_loader" in names and "DataLoader" not in names, rel
