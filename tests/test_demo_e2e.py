"""A real (tiny) demo run: synth -> pre-train -> 4 fine-tunes -> evaluation -> report."""

import json
import shutil

import pytest

from eqvl.demo.config import PhaseConfig, preset
from eqvl.demo.pipeline import run_demo

# the demo runs whole pipelines in spawned processes: a larger hang guard than the 300 s default
pytestmark = pytest.mark.timeout(900)

pytest.importorskip("eqvl.synth.writer")
pytest.importorskip("eqvl.train")


def test_tiny_demo_end_to_end(tmp_path):
    cfg = preset(quick=True)
    cfg.synth = dict(train=64, twins=4, size=32)
    cfg.model["vision_cfg"]["image_size"] = 32
    cfg.model["vision_cfg"]["width"] = 8
    cfg.pretrain = PhaseConfig(steps=2, batch_size=16, lr=1e-3)
    cfg.finetune = PhaseConfig(steps=1, batch_size=16, lr=1e-3)
    cfg.eval_batch_size = 32
    # jobs=2: the fine-tunes run in two spawned worker processes, as `eqvl demo` does by default
    result = run_demo(cfg, tmp_path / "out", progress=False, log=lambda s: None, jobs=2)
    out = tmp_path / "out"
    for name in ("report.html", "report.md", "results.json"):
        assert (out / name).stat().st_size > 0
    saved = json.loads((out / "results.json").read_text())
    assert set(saved["table"]) == {"pre-trained start", "itc", "itc+eqsim", "itc+ce", "itc+ce+hardpos"}
    for variant, metrics in saved["table"].items():
        for sub in ("location", "counting", "attribute"):
            assert 0.0 <= metrics[f"twins/{sub}/group"][0] <= 1.0
        assert "triplets/joint_acc" in metrics
    # every verdict is computed (no claim is skipped for missing numbers) and printed in the report
    assert all(v.status != "not tested" for v in result.verdicts)
    md = (out / "report.md").read_text()
    assert all(v.claim in md for v in result.verdicts)

    # same numbers on re-run: recompute one fine-tune (+ its evaluation) from scratch and compare
    done = sorted(p for p in (out / "cache").glob("finetune-*") if p.is_dir())
    victim = done[-1]
    before = json.loads((victim / "twins.json").read_text())["metrics"]
    shutil.rmtree(victim)
    again = run_demo(cfg, out, overwrite=True, progress=False, log=lambda s: None, jobs=2)
    assert json.loads((victim / "twins.json").read_text())["metrics"] == before
    assert again.table == result.table
