"""`kill -9` in the middle of `eqvl index add` (at known points of the transaction, and at a random
moment) leaves an index that opens, searches and gives exactly the pre-add results; re-running
the add completes it, with the same result as an add that was never interrupted."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from eqvl.index import EmbedOptions, Index

from tests.helpers.train import make_images  # noqa: E402

QUERIES = ["a red square", "a blue circle", "a yellow triangle"]
OPTS = dict(workers=0, progress=False)


def _state(root):
    idx = Index.open(root)
    return idx.count, [[(h.id, round(h.score, 6)) for h in hits] for hits in idx.search(texts=QUERIES, k=20)]


def _add_cmd(root, csv):
    return [sys.executable, "-m", "eqvl", "index", "add", str(root), "--images", str(csv), "--workers", "0", "--no-progress"]


def _kill_at(root, csv, stage: str) -> float:
    """Run `add` until it reports reaching `stage`, then SIGKILL it; returns the seconds that took."""
    env = {**os.environ, "EQVL_INDEX_PAUSE_AT": stage, "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    proc = subprocess.Popen(_add_cmd(root, csv), env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stderr:
            if line.strip() == f"eqvl-index-paused-at: {stage}":
                break
        else:
            pytest.fail(f"add ended (rc {proc.wait()}) before reaching {stage}")
        took = time.perf_counter() - started
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return took


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    rows = make_images(root, n=16)
    first, second = root / "first.csv", root / "second.csv"
    first.write_text("filepath\ttitle\n" + "".join(f"{r}\t{c}\n" for r, c, _, _ in rows[:10]))
    second.write_text("filepath\ttitle\n" + "".join(f"{r}\t{c}\n" for r, c, _, _ in rows[8:]))
    reference = root / "reference"
    Index.build(reference, first, "eqvl-tiny-rn", "none", options=EmbedOptions(**OPTS))
    before = _state(reference)
    Index.open(reference).add(second, options=EmbedOptions(**OPTS))
    return root, first, second, before, _state(reference)


def test_sigkill_during_add_keeps_the_previous_generation(collection, tmp_path):
    root, first, second, before, after = collection
    idx = tmp_path / "idx"
    Index.build(idx, first, "eqvl-tiny-rn", "none", options=EmbedOptions(**OPTS))
    assert _state(idx) == before
    took = 0.0
    for stage in ("embedded", "renamed"):  # after embedding; after the new generation's rename, before the switch
        took = _kill_at(idx, second, stage)
        assert _state(idx) == before, stage
        if stage == "embedded":  # the embeddings of the killed run are kept for the re-run
            assert list((idx / "embed-cache").rglob("image-*.npz"))
    delay = random.uniform(0.3, 1.2) * took  # and once at a random moment of a whole run
    proc = subprocess.Popen(_add_cmd(idx, second), env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _state(idx) in (before, after), f"killed after {delay:.1f} s"
    report = Index.open(idx).add(second, options=EmbedOptions(**OPTS))  # the re-run completes the work
    assert _state(idx) == after
    assert report.added + report.already_indexed == 8
    leftovers = [p.name for p in idx.iterdir() if p.name.startswith((".tmp-", "gen-"))]
    assert leftovers == [Index.open(idx).generation.name]
