"""`torchrun --nproc-per-node 2 -m eqvl train` (gloo, CPU) logs the same losses as one process
with the doubled batch: same global batches, same loss, same update."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from eqvl.train import TrainConfig, train

from tests.helpers.train import make_csv  # noqa: E402


def _losses(path: Path) -> list[dict]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if "loss" in r]


def test_torchrun_two_processes_match_one(tmp_path):
    csv = make_csv(tmp_path, n=16)
    common = ["--model", "eqvl-tiny-vit", "--pretrained", "none", "--train-data", str(csv), "--loss", "itc+eqsim+ce", "--eqsim-k", "3",
              "--eqsim-alpha", "0", "--epochs", "1", "--max-steps", "2", "--lr", "1e-3", "--log-every", "1",
              "--preload", "--no-train-augment", "--no-progress", "--seed", "3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "eqvl", "train", *common, "--batch-size", "4", "--output", str(tmp_path / "two")],
                          env=env, capture_output=True, text=True, timeout=280)  # hang guard only (gloo rendezvous), under the 300 s per-test limit; the work is 2 steps
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = _losses(tmp_path / "two" / "metrics.jsonl")
    torch.set_num_threads(1)
    one = train(TrainConfig(model="eqvl-tiny-vit", pretrained="none", train_data=str(csv), loss="itc+eqsim+ce",
                            loss_options={"eqsim_k": 3, "eqsim_alpha": 0.0},
                            epochs=1, max_steps=2, lr=1e-3, log_every=1, preload=True, train_augment=False,
                            progress=False, seed=3, batch_size=8, output=str(tmp_path / "one")))
    one = [r for r in one.metrics if "loss" in r]
    assert [r["step"] for r in two] == [r["step"] for r in one] == [1, 2]
    for a, b in zip(one, two):
        for key in ("loss", "itc", "eqsim", "ce_rank", "ce_imc"):
            assert abs(a[key] - b[key]) <= 1e-4 * max(1.0, abs(a[key])), (key, a[key], b[key])
