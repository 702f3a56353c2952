"""The trainer end to end on tiny synthetic data (CPU, eqvl-tiny-rn at 64 px)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from eqvl.cli import main
from eqvl.errors import DataError, EqvlError
from eqvl.train import TrainConfig, train
from eqvl.train.batching import GlobalBatchSampler

from train_helpers import make_csv  # noqa: E402


def _cfg(tmp_path: Path, csv: Path, **kw) -> TrainConfig:
    base = dict(model="eqvl-tiny-rn", train_data=str(csv), output=str(tmp_path / "run"), epochs=2, batch_size=12,
                lr=2e-3, log_every=1, preload=True, train_augment=False, progress=False, seed=0)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(autouse=True)
def _one_thread():
    """The test machines are small and shared: one intra-op thread avoids oversubscription stalls."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_csv(tmp_path_factory.mktemp("data"), n=36, bad=3)


def test_training_lowers_loss_and_checkpoint_loads(tmp_path, data):
    steps: list[dict] = []
    res = train(_cfg(tmp_path, data, epochs=4), on_step=steps.append)
    losses = [r["loss"] for r in steps]
    assert len(losses) == res.steps == 12
    assert sum(losses[-3:]) / 3 < losses[0] - 0.3, losses
    assert {"samples_per_s", "data_wait", "lr", "itc"} <= set(steps[0])
    ckpt = res.final_checkpoint
    assert ckpt.name == "epoch_4.pt" and (ckpt.parent / "epoch_latest.pt").is_file()
    # open_clip loads it as pretrained weights (weights_only=True)
    import open_clip

    from eqvl.models.openclip import register_configs

    register_configs()  # registers eqvl's shipped configs
    model = open_clip.create_model("eqvl-tiny-rn", pretrained=str(ckpt))
    saved = torch.load(ckpt, weights_only=True)
    assert torch.equal(model.state_dict()["logit_scale"], saved["state_dict"]["logit_scale"])
    assert {"optimizer", "scaler", "step", "epoch", "rng", "config"} <= set(saved)
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert lines[0]["event"] == "start" and lines[-1]["event"] == "end"


def test_checkpoint_loads_in_eqvl_eval(tmp_path, data):
    res = train(_cfg(tmp_path, data, epochs=1))
    root = data.parent
    foils = [{"id": str(i), "subset": "s", "image": f"images/{i:03d}.png", "caption": "a red square", "foil": "a blue circle"}
             for i in range(4)]
    (root / "foils.jsonl").write_text("".join(json.dumps(f) + "\n" for f in foils))
    out = tmp_path / "eval.json"
    rc = main(["eval", "--model", "eqvl-tiny-rn", "--pretrained", str(res.final_checkpoint), "--benchmark", "foils",
               "--data", str(root / "foils.jsonl"), "--output", str(out), "--no-cache", "--no-progress"])
    assert rc == 0
    assert 0.0 <= json.loads(out.read_text())["metrics"]["acc"] <= 1.0


def test_bad_rows_counted_and_reported(tmp_path, data, capsys):
    res = train(_cfg(tmp_path, data, epochs=1, max_steps=1))
    rep = res.data_report
    assert rep.rows == 39 and rep.used == 36 and rep.bad == {"missing image": 2, "empty caption": 1}
    assert "3 bad skipped" in capsys.readouterr().err
    start = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert start["data"]["n_bad"] == 3 and start["data"]["bad_examples"][0].endswith("missing image")
    with pytest.raises(DataError, match=r"train.csv:38.*missing image"):
        train(_cfg(tmp_path, data, strict_data=True, output=str(tmp_path / "strict")))


def test_malformed_hard_negatives_names_file_line_field(tmp_path):
    csv = make_csv(tmp_path, n=4, hard=True)
    lines = csv.read_text().splitlines()
    parts = lines[2].split("\t")
    parts[2] = "[not json"
    lines[2] = "\t".join(parts)
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"train.csv:3 \(field 'hard_negatives'\)"):
        train(_cfg(tmp_path, csv, loss="itc+ce"))


def test_all_losses_train_and_log_each_term(tmp_path, data):
    steps: list[dict] = []
    cfg = _cfg(tmp_path, data, epochs=1, loss="itc+eqsim+ce+hardpos", eqsim_k=3, eqsim_alpha=0.0)
    res = train(cfg, on_step=steps.append)
    assert {"itc", "eqsim", "ce_rank", "ce_imc", "hardpos", "hardpos_margin"} <= set(steps[-1])
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in steps)
    saved = torch.load(res.final_checkpoint, weights_only=True)
    assert any(k.endswith("tau") for k in saved["loss_state"])  # CE's margins survive a resume


def test_missing_hard_negative_column_is_clear_without_augmenter(tmp_path):
    csv = make_csv(tmp_path, n=12, hard=False)
    with pytest.raises(EqvlError, match="hard_negatives.*augment"):
        train(_cfg(tmp_path, csv, loss="itc+ce"), augmenter=None)


def test_resume_after_kill_gives_same_weights(tmp_path, data):
    common = dict(epochs=2, save_every_steps=2, eqsim_k=3, loss="itc+eqsim+ce", train_augment=True, preload=False)
    full = train(_cfg(tmp_path / "a", data, **common))

    class Killed(Exception):
        pass

    def kill(rec):
        if rec["step"] == 5:  # the hook runs before step 5's checkpoint: the last one on disk is step 4's
            raise Killed

    with pytest.raises(Killed):
        train(_cfg(tmp_path / "b", data, **common), on_step=kill)
    ck = torch.load(tmp_path / "b" / "run" / "checkpoints" / "epoch_latest.pt", weights_only=True)
    assert ck["step"] == 4 and ck["batch_in_epoch"] == 1  # mid-epoch: resume must skip exactly one batch
    with pytest.raises(EqvlError, match="--resume latest"):
        train(_cfg(tmp_path / "b", data, **common))
    resumed = train(_cfg(tmp_path / "b", data, resume="latest", **common))
    a = torch.load(full.final_checkpoint, weights_only=True)["state_dict"]
    b = torch.load(resumed.final_checkpoint, weights_only=True)["state_dict"]
    assert resumed.steps == full.steps == 6
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_sampler_global_batches_split_across_ranks():
    one = GlobalBatchSampler(20, 8, world=1, rank=0, seed=3)
    two = [GlobalBatchSampler(20, 4, world=2, rank=r, seed=3) for r in range(2)]
    for s in (one, *two):
        s.set_epoch(1)
    for g, r0, r1 in zip(one, *two):
        assert g == r0 + r1
    one.set_epoch(1, skip=1)
    assert len(list(one)) == 1


def test_batch_groups_keep_adjacent_rows_in_one_batch():
    """--batch-groups 2: every (2i, 2i+1) pair lands in the same batch, across ranks too; blocks are
    shuffled per epoch; a short last block is dropped; an odd batch size is refused."""
    seen = []
    for epoch in (0, 1):
        sampler = GlobalBatchSampler(21, 6, world=1, rank=0, seed=5, groups=2)
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler) == 3
        for batch in batches:
            assert sorted(batch) == sorted({i - i % 2 for i in batch} | {i - i % 2 + 1 for i in batch})
        assert 20 not in sum(batches, [])
        seen.append(batches)
    assert seen[0] != seen[1]
    two = [GlobalBatchSampler(20, 4, world=2, rank=r, seed=3, groups=2) for r in range(2)]
    for batch in two[0]:
        assert batch[0] % 2 == 0 and batch[1] == batch[0] + 1
    with pytest.raises(EqvlError, match="multiple of --batch-groups"):
        GlobalBatchSampler(20, 5, world=1, rank=0, seed=0, groups=2)


def test_cli_train_runs(tmp_path, data, capsys):
    rc = main(["train", "--train-data", str(data), "--model", "eqvl-tiny-rn", "--loss", "itc+eqsim", "--eqsim-k", "2",
               "--batch-size", "12", "--epochs", "1", "--max-steps", "1", "--output", str(tmp_path / "cli"),
               "--preload", "--no-train-augment", "--no-progress"])
    assert rc == 0
    assert "checkpoint:" in capsys.readouterr().out
    rc = main(["train", "--train-data", str(data), "--output", str(tmp_path / "cli"), "--batch-size", "12"])
    assert rc == 2  # existing checkpoints without --resume / --overwrite


def test_batch_groups_refuse_data_with_skipped_rows(tmp_path, data):
    """The `data` fixture has 3 bad rows: grouping consecutive rows would silently pair the wrong ones."""
    with pytest.raises(EqvlError, match="batch-groups 2.*3 rows"):
        train(_cfg(tmp_path, data, batch_groups=2, max_steps=1))


def test_cli_parses_list_and_optional_flags():
    """List fields are repeatable flags (not split into characters); `X | None` fields get X's type."""
    import argparse

    from eqvl.commands import train as train_cmd

    parser = argparse.ArgumentParser()
    train_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["train", "--train-data", "x.csv", "--eval-benchmark", "twins:/d1",
                              "--eval-benchmark", "foils:/d2", "--max-steps", "7", "--batch-groups", "2"])
    assert args.eval_benchmark == ["twins:/d1", "foils:/d2"]
    assert args.max_steps == 7 and args.batch_groups == 2


def test_jsonl_generated_negatives_and_periodic_eval(tmp_path):
    csv = make_csv(tmp_path, n=12, hard=False)
    rows = [line.split("\t") for line in csv.read_text().splitlines()[1:]]
    jsonl = tmp_path / "train.jsonl"
    jsonl.write_text("".join(json.dumps({"image": r[0], "caption": r[1] + " on the left of a blue circle"}) + "\n"
                             for r in rows))
    foils = [{"id": str(i), "subset": "s", "image": rows[i][0], "caption": rows[i][1], "foil": "a pink star"} for i in range(4)]
    (tmp_path / "foils.jsonl").write_text("".join(json.dumps(f) + "\n" for f in foils))
    evals: list[dict] = []
    res = train(_cfg(tmp_path, jsonl, epochs=1, batch_size=6, loss="itc+ce",
                     eval_benchmark=[f"foils:{tmp_path / 'foils.jsonl'}"]), on_eval=evals.append)
    assert res.data_report.generated_negatives and res.data_report.used == 12
    assert res.metrics[-1]["event"] == "end" and "ce_rank" in res.metrics[1]
    assert 0.0 <= evals[0]["eval/foils/acc"] <= 1.0
    assert any(r.get("event") == "eval" for r in res.metrics)


def test_lock_image_and_grad_accumulation(tmp_path, data):
    from eqvl.models.openclip import create_openclip

    res = train(_cfg(tmp_path, data, epochs=1, batch_size=6, accum_freq=2, lock_image=True, grad_clip_norm=1.0))
    assert res.steps == 3  # 6 batches of 6, two per step
    before = create_openclip("eqvl-tiny-rn", seed=0).model.state_dict()
    after = torch.load(res.final_checkpoint, weights_only=True)["state_dict"]
    assert all(torch.equal(before[k], after[k]) for k in after if k.startswith("visual."))
    import open_clip

    open_clip.create_model("eqvl-tiny-rn", pretrained=str(res.final_checkpoint))  # frozen BN still loads
    assert not torch.equal(before["token_embedding.weight"], after["token_embedding.weight"])


def test_webdataset_shards(tmp_path):
    import io
    import tarfile

    csv = make_csv(tmp_path, n=12, hard=False)
    rows = [line.split("\t") for line in csv.read_text().splitlines()[1:]]
    for shard in range(2):
        with tarfile.open(tmp_path / f"shard-{shard:03d}.tar", "w") as tf:
            for i in range(shard * 6, shard * 6 + 6):
                files = {f"s{i:04d}.png": (tmp_path / rows[i][0]).read_bytes(), f"s{i:04d}.txt": rows[i][1].encode(),
                         f"s{i:04d}.json": json.dumps({"hard_negatives": ["a pink star"], "hard_negative_types": ["replace"]}).encode()}
                if i == 7:
                    del files[f"s{i:04d}.png"]  # a sample without its image: counted, not dropped silently
                for name, blob in files.items():
                    info = tarfile.TarInfo(name)
                    info.size = len(blob)
                    tf.addfile(info, io.BytesIO(blob))
    res = train(_cfg(tmp_path, tmp_path / "shard-{000..001}.tar", epochs=1, batch_size=5, loss="itc+ce"))
    assert res.data_report.rows == 12 and res.data_report.bad == {"missing image": 1}
    assert not res.data_report.generated_negatives and res.steps == 2


def test_tensorboard_optional(tmp_path, data):
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(EqvlError, match=r"eqvl\[tensorboard\]"):
            train(_cfg(tmp_path, data, epochs=1, max_steps=1, tensorboard=True))
        return
    train(_cfg(tmp_path, data, epochs=1, max_steps=1, tensorboard=True))
    assert any((tmp_path / "run" / "tensorboard").iterdir())


def test_sigkill_then_resume_latest_cli(tmp_path):
    """A real kill (SIGKILL, anywhere: even inside a checkpoint write) then `--resume latest`."""
    import os
    import signal
    import subprocess
    import sys
    import time

    csv = make_csv(tmp_path, n=24, hard=False)
    args = ["train", "--train-data", str(csv), "--model", "eqvl-tiny-rn", "--loss", "itc+eqsim", "--eqsim-k", "2",
            "--batch-size", "6", "--epochs", "3", "--save-every-steps", "1", "--preload", "--no-train-augment",
            "--log-every", "1", "--no-progress", "--lr", "1e-3"]
    assert main([*args, "--output", str(tmp_path / "full")]) == 0
    metrics = tmp_path / "killed" / "metrics.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "eqvl", *args, "--output", str(tmp_path / "killed")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 1500  # hang guard only: waits for step 3, however loaded the machine
    while time.time() < deadline and proc.poll() is None:
        if metrics.is_file() and any(json.loads(x).get("step", 0) >= 3 for x in metrics.read_text().splitlines()[1:] if x.strip()):
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert main([*args, "--output", str(tmp_path / "killed"), "--resume", "latest"]) == 0
    a = torch.load(tmp_path / "full" / "checkpoints" / "epoch_3.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "killed" / "checkpoints" / "epoch_3.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    recs = [json.loads(x) for x in metrics.read_text().splitlines()]
    steps = [r["step"] for r in recs if "event" not in r]
    assert steps == list(range(1, 13))  # the log was cut back to the checkpoint, no duplicates
