"""`kill -9` in the middle of `eqvl index rebuild` (after the new index is staged, and after the new
generation's rename just before the pointer switch) leaves the old generation live with exactly its
results; re-running the rebuild completes it with the same ids and (exact index) the same results."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from eqvl.index import EmbedOptions, Index

from tests.helpers.index import TableEncoder, index_images  # noqa: E402


def _state(root, enc):
    idx = Index.open(root, encoder=enc)
    hits = idx.search(texts=[f"q{j}" for j in range(5)], k=50)
    return idx.generation.name, idx.spec.factory, [[(h.id, round(h.score, 9), h.path) for h in hs] for hs in hits]


def _kill_rebuild_at(root, stage: str, kind: str) -> None:
    env = {**os.environ, "EQVL_INDEX_PAUSE_AT": stage, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "eqvl", "index", "rebuild", str(root), "--index", kind]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stderr:
            if line.strip() == f"eqvl-index-paused-at: {stage}":
                break
        else:
            pytest.fail(f"rebuild ended (rc {proc.wait()}) before reaching {stage}")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def test_sigkill_during_rebuild_keeps_the_old_generation_and_a_rerun_completes(tmp_path):
    rng = np.random.default_rng(11)
    enc = TableEncoder(rng.normal(size=(400, 16)), rng.normal(size=(5, 16)))
    root = tmp_path / "idx"
    Index.build(root, index_images(tmp_path, 400), "table", index="flat", encoder=enc,
                options=EmbedOptions(workers=0, progress=False))
    before = _state(root, enc)
    for stage in ("staged", "renamed"):
        _kill_rebuild_at(root, stage, "HNSW16")
        assert _state(root, enc) == before, stage
    done = subprocess.run([sys.executable, "-m", "eqvl", "index", "rebuild", str(root), "--index", "flat"],
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    gen, factory, results = _state(root, enc)
    assert gen != before[0] and factory == "Flat" and results == before[2]  # same ids, same exact results
    leftovers = sorted(p.name for p in root.iterdir() if p.name.startswith((".tmp-", "gen-")))
    assert leftovers == [gen]
