"""Pipeline orchestration with the heavy steps replaced by fakes: caching, resume,
overwrite protection, and that the report's verdicts follow the (fake) numbers."""

import json

import numpy as np
import pytest

from eqvl.demo import pipeline, steps
from eqvl.demo.config import PhaseConfig, preset
from eqvl.errors import EqvlError
from eqvl.io import write_json_atomic

# the demo runs whole pipelines in spawned processes: a larger hang guard than the 300 s default
pytestmark = pytest.mark.timeout(900)

# per-variant fake group scores for (location, counting, attribute) and triplet (orig, joint)
FAKE = {"itc": ((0.1, 0.2, 0.8), (0.6, 0.5)), "itc+eqsim": ((0.3, 0.3, 0.85), (0.6, 0.5)),
        "itc+ce": ((0.2, 0.2, 0.8), (0.9, 0.4)), "itc+ce+hardpos": ((0.2, 0.2, 0.8), (0.9, 0.8))}


@pytest.fixture
def fake_steps(monkeypatch):
    calls = {"data": 0, "train": 0, "eval": 0}

    def make_data(cfg, work, progress=True):
        calls["data"] += 1
        (work / "train.csv").write_text("filepath\ttitle\n")
        return {"n_train": 10, "train_csv": "train.csv"}

    def train_phase(cfg, work, data_dir, model_cfg, start, loss, phase, seed, options, progress=True):
        calls["train"] += 1
        work.mkdir(parents=True, exist_ok=True)
        (work / "final.pt").write_text(json.dumps({"loss": loss, "seed": seed}))
        return {"checkpoint": "final.pt", "metrics": [{"step": s, "loss": 4.0 / (s + 1)} for s in range(5)]}

    def evaluate_checkpoint(cfg, work, data_dir, model_cfg, ckpt, progress=True):
        calls["eval"] += 1
        tag = json.loads(ckpt.read_text()) if ckpt.exists() else {"loss": "start", "seed": 0}
        (loc, cnt, att), (orig, joint) = FAKE.get(tag["loss"], ((0.0, 0.0, 0.5), (0.5, 0.5)))
        jitter = 0.01 * tag["seed"]
        subsets = {"location": {"group": loc + jitter, "n": 4}, "counting": {"group": cnt, "n": 4},
                   "attribute": {"group": att - jitter, "n": 4}}
        write_json_atomic(work / "twins.json", {"dataset": "twins", "metrics": {"group": (loc + cnt + att) / 3 + jitter},
                                                "subsets": subsets})
        write_json_atomic(work / "triplets.json", {"dataset": "triplets", "metrics": {"orig_acc": orig, "aug_acc": joint,
                                                                                       "joint_acc": joint - jitter}})
        spread = 0.1 if tag["loss"] == "itc+eqsim" else 0.3
        rng = np.random.default_rng(tag["seed"])
        np.savez(work / "twins.npz", scores=rng.normal(scale=spread, size=(12, 2, 2)))
        return {}

    monkeypatch.setattr(steps, "make_data", make_data)
    monkeypatch.setattr(steps, "train_phase", train_phase)
    monkeypatch.setattr(steps, "evaluate_checkpoint", evaluate_checkpoint)
    return calls


def _cfg():
    cfg = preset(quick=True)
    cfg.pretrain = PhaseConfig(steps=2, batch_size=2, lr=1e-3)
    cfg.finetune = PhaseConfig(steps=1, batch_size=2, lr=1e-3)
    cfg.seeds = [0, 1, 2]
    return cfg


def test_demo_pipeline_caches_resumes_and_reports(tmp_path, fake_steps):
    out = tmp_path / "demo_out"
    result = pipeline.run_demo(_cfg(), out, progress=False, log=lambda s: None)
    for name in ("report.html", "report.md", "results.json"):
        assert (out / name).is_file()
    assert fake_steps == {"data": 1, "train": 1 + 12, "eval": 1 + 12}
    statuses = {v.claim[:2]: v.status for v in result.verdicts}
    # C1 is judged on the pre-trained start (its fake checkpoint was trained with "itc": attribute 80%,
    # location 10%, counting 20%; one run, so no seed spread)
    assert statuses["C1"] == "reproduced"
    assert result.verdicts[0].summary.startswith("pre-trained start group score: attribute 80.0%")
    assert statuses["C3"] == "reproduced"
    saved = json.loads((out / "results.json").read_text())
    assert saved["table"]["itc"]["twins/location/group"] == pytest.approx([0.1, 0.11, 0.12])
    md = (out / "report.md").read_text()
    assert "| n_train | 10 |" in md  # the data step's facts reach the report (a table, not a JSON dump)
    assert "REPRODUCED" in md and "itc+ce+hardpos" in md and "report_files/group_by_subset.png" in md

    # the user's report is protected; with --overwrite every step comes from the cache
    with pytest.raises(EqvlError, match="`overwrite`"):
        pipeline.run_demo(_cfg(), out, progress=False, log=lambda s: None)
    pipeline.run_demo(_cfg(), out, overwrite=True, progress=False, log=lambda s: None)
    assert fake_steps == {"data": 1, "train": 13, "eval": 13}


def test_interrupted_step_is_redone_and_others_reused(tmp_path, fake_steps, monkeypatch):
    out = tmp_path / "o"
    real = steps.train_phase
    count = {"n": 0}

    def flaky(*args, **kwargs):
        count["n"] += 1
        if count["n"] == 4:  # pretrain + 2 fine-tunes succeed, the third is interrupted
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(steps, "train_phase", flaky)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run_demo(_cfg(), out, progress=False, log=lambda s: None)
    assert not (out / "report.html").exists()
    assert list((out / "cache").glob("*.partial"))  # the interrupted step left only a partial folder
    monkeypatch.setattr(steps, "train_phase", real)
    before = fake_steps["train"]
    pipeline.run_demo(_cfg(), out, progress=False, log=lambda s: None)
    assert fake_steps["train"] - before == 12 - 2  # the two finished fine-tunes were reused
    assert not list((out / "cache").glob("*.partial"))
