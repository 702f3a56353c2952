"""`eqvl train --loss itc` stays bit-identical to open_clip's own trainer (scripts/parity/train_itc_vs_open_clip.py)."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "parity" / "train_itc_vs_open_clip.py"


def test_itc_training_is_bit_identical_to_open_clip_train_one_epoch():
    pytest.importorskip("open_clip_train")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--steps", "3", "--batch-size", "6"],
                          capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert "153 bit-identical" in proc.stdout and "differ" not in proc.stdout
