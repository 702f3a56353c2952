"""The trainer end to end on tiny synthetic data (CPU, eqvl-tiny-rn at 64 px)."""

from __future__ import annotations

import json
import logging
import math
from functools import partial
from pathlib import Path

import pytest
import torch

from eqvl.cli import main
from eqvl.errors import DataError, EqvlError
from eqvl.train import train
from eqvl.train.batching import GlobalBatchSampler

from tests.helpers.train import kill_after_step, make_csv, train_config  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


_cfg = partial(train_config, epochs=2, batch_size=12, lr=2e-3)


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


def test_bad_rows_counted_and_reported(tmp_path, data, caplog):
    caplog.set_level(logging.INFO, logger="eqvl")
    res = train(_cfg(tmp_path, data, epochs=1, max_steps=1))
    rep = res.data_report
    assert rep.rows == 39 and rep.used == 36 and rep.bad == {"missing image": 2, "empty caption": 1}
    assert "3 bad skipped" in caplog.text
    start = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert start["data"]["n_bad"] == 3 and start["data"]["bad_examples"][0].endswith("missing image")
    with pytest.raises(DataError, match=r"train.csv:38.*missing image"):
        train(_cfg(tmp_path, data, skip_bad=False, output=str(tmp_path / "strict")))


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
    with pytest.raises(EqvlError, match="`resume` latest"):
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
    with pytest.raises(EqvlError, match="multiple of `batch_groups`"):
        GlobalBatchSampler(20, 5, world=1, rank=0, seed=0, groups=2)


def test_cli_train_runs(tmp_path, data, capsys):
    rc = main(["train", "--train-data", str(data), "--model", "eqvl-tiny-rn", "--pretrained", "none", "--loss", "itc+eqsim",
               "--eqsim-k", "2",
               "--batch-size", "12", "--epochs", "1", "--max-steps", "1", "--output", str(tmp_path / "cli"),
               "--preload", "--no-train-augment", "--no-progress"])
    assert rc == 0
    assert "checkpoint:" in capsys.readouterr().out
    rc = main(["train", "--train-data", str(data), "--output", str(tmp_path / "cli"), "--batch-size", "12",
               "--pretrained", "none", "--model", "eqvl-tiny-rn"])
    assert rc == 2  # existing checkpoints without --resume / --overwrite
    assert "already has checkpoints; pass --resume latest" in capsys.readouterr().err


def test_batch_groups_refuse_data_with_skipped_rows(tmp_path, data):
    """The `data` fixture has 3 bad rows: grouping consecutive rows would silently pair the wrong ones."""
    with pytest.raises(EqvlError, match="`batch_groups` 2.*3 rows"):
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
    assert args.keep_last == 0 and args.save_every_epochs == 1
    # open_clip's spellings of the same flags (issue 13)
    args = parser.parse_args(["train", "--train-data", "x.csv", "--save-frequency", "3", "--log-every-n-steps", "5",
                              "--delete-previous-checkpoint"])
    assert args.save_every_epochs == 3 and args.log_every == 5 and args.keep_last == 1


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

    res = train(_cfg(tmp_path, data, epochs=1, batch_size=6, accum_freq=2, lock_image=True, grad_clip_norm=1.0,
                         lock_image_freeze_bn_stats=True))
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
    csv = make_csv(tmp_path, n=24, hard=False)
    args = ["train", "--train-data", str(csv), "--model", "eqvl-tiny-rn", "--pretrained", "none", "--loss", "itc+eqsim",
            "--eqsim-k", "2",
            "--batch-size", "6", "--epochs", "3", "--save-every-steps", "1", "--preload", "--no-train-augment",
            "--log-every", "1", "--no-progress", "--lr", "1e-3"]
    assert main([*args, "--output", str(tmp_path / "full")]) == 0
    metrics = tmp_path / "killed" / "metrics.jsonl"
    kill_after_step(args, tmp_path / "killed", 3, hang_guard_s=1500)
    assert main([*args, "--output", str(tmp_path / "killed"), "--resume", "latest"]) == 0
    a = torch.load(tmp_path / "full" / "checkpoints" / "epoch_3.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "killed" / "checkpoints" / "epoch_3.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    recs = [json.loads(x) for x in metrics.read_text().splitlines()]
    steps = [r["step"] for r in recs if "event" not in r]
    assert steps == list(range(1, 13))  # the log was cut back to the checkpoint, no duplicates


# ---------------------------------------------------------------- issue 12 / 13: guards, resume, flags

def _small(tmp_path: Path, n: int = 24) -> Path:
    return make_csv(tmp_path / "small", n=n, hard=False)


def _ckpts(run: Path) -> list[str]:
    folder = run / "checkpoints"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.mark.faults
def test_nonfinite__loss_stops_naming_step_and_term_and_skips_are_bounded(tmp_path):
    """12.1: --lr 1e12 blows the weights up after step 1; step 2's loss is NaN. The run stops there,
    naming step and term, before the update, and writes no checkpoint; --skip-nonfinite 1 skips
    one such step (logged) and stops at the next."""
    csv = _small(tmp_path)
    with pytest.raises(EqvlError, match=r"^step 2: non-finite loss term itc = nan .*no checkpoint holds it") as exc:
        train(_cfg(tmp_path, csv, batch_size=6, epochs=1, lr=1e12, max_steps=3))
    assert "\n" not in str(exc.value) and _ckpts(tmp_path / "run") == []
    with pytest.raises(EqvlError, match=r"^step 3: non-finite loss term itc .*1 earlier step\(s\) were skipped"):
        train(_cfg(tmp_path, csv, batch_size=6, epochs=1, lr=1e12, max_steps=4, skip_nonfinite=1,
                   output=str(tmp_path / "skip")))
    events = [json.loads(x) for x in (tmp_path / "skip" / "metrics.jsonl").read_text().splitlines()]
    assert [(e["step"], e["skipped"]) for e in events if e.get("event") == "skipped_nonfinite"] == [(2, 1)]
    assert _ckpts(tmp_path / "skip") == []


@pytest.mark.faults
def test_nonfinite__weights_are_never_saved_nor_resumed(tmp_path):
    """12.1: the checkpoint writer refuses a non-finite weight; a NaN checkpoint is refused at --resume."""
    from types import SimpleNamespace

    from eqvl.train.checkpoint import Checkpointer
    from eqvl.distributed import DistInfo

    csv = _small(tmp_path)
    good = train(_cfg(tmp_path, csv, batch_size=6, epochs=1))
    ckpt = torch.load(good.final_checkpoint, weights_only=True)
    ckpt["state_dict"]["text_projection"][0, 0] = float("nan")
    torch.save(ckpt, tmp_path / "nan.pt")
    with pytest.raises(EqvlError, match=r"`resume` .*nan.pt: weight text_projection is not finite"):
        train(_cfg(tmp_path, csv, batch_size=6, epochs=2, resume=str(tmp_path / "nan.pt"), output=str(tmp_path / "r")))
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight[0, 0] = float("inf")
    state = SimpleNamespace(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), scaler=None,
                            loss_fn=torch.nn.Module(), step=7)
    saver = Checkpointer(tmp_path / "ck", _cfg(tmp_path, csv), DistInfo(), state, "m", [])
    with pytest.raises(EqvlError, match=r"step 7: weight weight is not finite; not writing epoch_1.pt"):
        saver.save(["epoch_1.pt", "epoch_latest.pt"], 1, 0)
    assert not (tmp_path / "ck" / "epoch_1.pt").exists()


@pytest.mark.parametrize("flag,value,message", [
    ("grad_clip_norm", -1.0, "--grad-clip-norm -1.0: must be a finite number > 0"),
    ("max_steps", -1, "--max-steps -1: must be a finite number >= 1"),
    ("eqsim_k", -2, "--eqsim-k -2: must be an integer >= 1"),
    ("lr", -1.0, "--lr -1.0: must be a finite number >= 0"),
    ("lr", float("nan"), "--lr nan: must be a finite number"),
    ("save_every_epochs", 0, "--save-every-epochs 0: must be a finite number >= 1"),
    ("beta2", 1.0, "--beta2 1.0: must be a finite number >= 0 and < 1"),
])
def test_numeric_flags_have_declared_ranges(tmp_path, flag, value, message):
    """12.2: checked before anything is built, one line naming the parameter (carried as data), which
    the CLI shows as the flag."""
    from eqvl.commands.common import flag_message

    with pytest.raises(EqvlError) as exc:
        train(_cfg(tmp_path, tmp_path / "never-read.csv", **{flag: value}))
    assert exc.value.param == flag and str(exc.value).startswith(message.replace("--" + flag.replace("_", "-"), flag))
    assert flag_message(exc.value).startswith(message) and "\n" not in str(exc.value)


def test_cli_rejects_bad_numbers_and_random_weights_by_default(tmp_path, data, capsys):
    base = ["train", "--train-data", str(data), "--model", "eqvl-tiny-rn", "--output", str(tmp_path / "x")]
    assert main([*base, "--pretrained", "none", "--lr", "nan"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "--lr nan: must be a finite number >= 0" in line
    assert main(base) == 2  # no --pretrained: random weights must be asked for
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.endswith("--pretrained is required: an open_clip pretrained tag (e.g. openai), a checkpoint file, "
                         "or none to train from randomly initialised weights")
    assert not (tmp_path / "x").exists()


@pytest.mark.faults
def test_one_line__resume_errors_name_the_file_and_the_flags(tmp_path):
    """12.8 / 13: a non-checkpoint says what it is; another architecture lists keys with shapes; a
    different --model names both flags."""
    from eqvl.models.openclip import create_openclip

    csv = _small(tmp_path)
    text = tmp_path / "notackpt.pt"
    text.write_text("not a checkpoint\n")
    with pytest.raises(EqvlError, match=r"cannot read checkpoint .*notackpt.pt: it is a text file \(starts 'not a"):
        train(_cfg(tmp_path, csv, batch_size=6, resume=str(text)))
    vit = create_openclip("eqvl-tiny-vit", "none").model
    torch.save({"state_dict": vit.state_dict(), "step": 0, "epoch": 0}, tmp_path / "vit.pt")
    with pytest.raises(EqvlError) as exc:
        train(_cfg(tmp_path, csv, batch_size=6, resume=str(tmp_path / "vit.pt")))
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"`resume` {tmp_path / 'vit.pt'}: does not fit `model` eqvl-tiny-rn: ")
    assert "missing keys (visual.bn1.weight [16]" in msg and "unexpected keys (visual.class_embedding [64]" in msg
    assert "visual.conv1.weight: checkpoint [64x3x16x16], model [16x3x3x3]" in msg
    first = train(_cfg(tmp_path, csv, batch_size=6, epochs=1, output=str(tmp_path / "rn")))
    with pytest.raises(EqvlError, match=r"that run used `model` eqvl-tiny-rn, this one `model` eqvl-tiny-vit; resume "
                                        r"with the same `model`"):
        train(_cfg(tmp_path, csv, batch_size=6, epochs=2, model="eqvl-tiny-vit", resume=str(first.final_checkpoint),
                   output=str(tmp_path / "vit-run")))


@pytest.mark.faults
def test_resume__latest_falls_back_to_newest_epoch_and_cleans_temporaries(tmp_path, caplog):
    """12.8 / 12.9: a zero-byte epoch_latest.pt is named, the newest readable epoch_N.pt is used (same
    weights as an uninterrupted run), temp files of killed writes are removed; --model and
    --pretrained come from the checkpoint."""
    csv = _small(tmp_path, n=12)
    full = train(_cfg(tmp_path, csv, batch_size=6, epochs=3, output=str(tmp_path / "full")))
    run = tmp_path / "broken"
    train(_cfg(tmp_path, csv, batch_size=6, epochs=3, max_steps=4, output=str(run)))  # stops after epoch 2
    ck = run / "checkpoints"
    (ck / "epoch_latest.pt").unlink()  # a hard link to epoch_2.pt: truncating it in place would empty both
    (ck / "epoch_latest.pt").write_bytes(b"")
    (ck / ".epoch_3.pt.x1y2.tmp").write_bytes(b"\0" * 4096)
    (run / ".metrics.jsonl.a1b2.tmp").write_text("{")
    caplog.set_level(logging.INFO, logger="eqvl")
    resumed = train(_cfg(tmp_path, csv, batch_size=6, epochs=3, output=str(run), resume="latest", model=None,
                         pretrained=None))
    err = caplog.text  # library notices go through logging (the CLI prints them in its voice)
    assert f"{ck / 'epoch_latest.pt'} is unreadable: an empty file (0 bytes" in err
    assert "resuming from epoch_2.pt, the newest readable epoch checkpoint" in err
    assert "removed 2 temporary file(s) of interrupted writes" in err
    assert not list(ck.glob(".*.tmp")) and not list(run.glob(".*.tmp"))
    a = torch.load(full.final_checkpoint, weights_only=True)["state_dict"]
    b = torch.load(resumed.final_checkpoint, weights_only=True)["state_dict"]
    assert resumed.steps == full.steps == 6 and all(torch.equal(a[k], b[k]) for k in a)


def test_second_run_on_a_locked_output_is_refused(tmp_path, data):
    """12.3: the output folder is locked for the run's lifetime (here: held by another holder)."""
    from eqvl.io import OutputLock

    out = tmp_path / "run"
    with OutputLock(out, command="eqvl train (the other run)"):
        with pytest.raises(EqvlError, match=r"is locked by pid \d+ .*\(command eqvl train \(the other run\)\)"):
            train(_cfg(tmp_path, data, epochs=1, max_steps=1))
    assert not (out / "metrics.jsonl").exists()
    train(_cfg(tmp_path, data, epochs=1, max_steps=1))  # released: the next run goes ahead


def test_ctrl_c_saves_a_resumable_checkpoint_and_says_how(tmp_path):
    """13: a real SIGINT (sent by the run to itself at step 1, so the moment is fixed): the step
    finishes, epoch_latest.pt is written, stderr says how to resume; the resumed run ends with the
    weights of an uninterrupted one."""
    import os
    import subprocess
    import sys

    csv = _small(tmp_path, n=12)
    script = f"""
import os, signal, sys, torch
from eqvl.commands.common import command_voice  # the command's voice, as `eqvl train` shows the notice
from eqvl.train import TrainConfig, train
torch.set_num_threads(1)
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (a background shell passes SIGINT ignored)
cfg = TrainConfig(model="eqvl-tiny-rn", pretrained="none", train_data={str(csv)!r}, output={str(tmp_path / 'int')!r},
                  epochs=2, batch_size=6, lr=2e-3, preload=True, train_augment=False, progress=False,
                  save_every_epochs=2)
def hook(rec):
    if rec["step"] == 1:
        os.kill(os.getpid(), signal.SIGINT)
try:
    with command_voice("train"):
        train(cfg, on_step=hook)
except KeyboardInterrupt:
    sys.exit(130)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 130, proc.stderr[-2000:]
    latest = tmp_path / "int" / "checkpoints" / "epoch_latest.pt"
    assert (f"eqvl train: warning: interrupted at step 1; saved {latest}. To continue, run the same command with "
            f"--resume latest (--output {tmp_path / 'int'})") in proc.stderr
    assert torch.load(latest, weights_only=True)["step"] == 1
    common = dict(batch_size=6, epochs=2, lr=2e-3, save_every_epochs=2)
    resumed = train(_cfg(tmp_path, csv, output=str(tmp_path / "int"), resume="latest", **common))
    full = train(_cfg(tmp_path, csv, output=str(tmp_path / "full"), **common))
    a = torch.load(full.final_checkpoint, weights_only=True)["state_dict"]
    b = torch.load(resumed.final_checkpoint, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_keep_last_and_latest_as_hard_link(tmp_path):
    """13: --keep-last 1 leaves one epoch file; epoch_latest.pt is the same file (no second copy)."""
    import os

    csv = _small(tmp_path, n=12)
    train(_cfg(tmp_path, csv, batch_size=6, epochs=3, keep_last=1))
    ck = tmp_path / "run" / "checkpoints"
    assert _ckpts(tmp_path / "run") == ["epoch_3.pt", "epoch_latest.pt"]
    assert os.stat(ck / "epoch_3.pt").st_ino == os.stat(ck / "epoch_latest.pt").st_ino
    train(_cfg(tmp_path, csv, batch_size=6, epochs=2, save_most_recent=False, output=str(tmp_path / "nolatest")))
    assert _ckpts(tmp_path / "nolatest") == ["epoch_1.pt", "epoch_2.pt"]


def test_val_data_logs_a_validation_loss(tmp_path):
    """13: --val-data: the training loss on held-out pairs after each epoch, in metrics.jsonl."""
    csv = _small(tmp_path)
    val = make_csv(tmp_path / "val", n=8, hard=False)
    seen: list[dict] = []
    res = train(_cfg(tmp_path, csv, batch_size=6, epochs=2, val_data=str(val)), on_eval=seen.append)
    recs = [r for r in res.metrics if r.get("event") == "val"]
    assert [r["step"] for r in recs] == [4, 8] and recs == seen
    assert all(r["val_rows"] == 8 and 0 < r["val/loss"] == r["val/itc"] < 10 for r in recs)
    logged = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["val/loss"] for r in logged if r.get("event") == "val"] == [r["val/loss"] for r in recs]


def test_report_to_wandb_with_an_injected_module(tmp_path, data, monkeypatch):
    """13: --report-to wandb (optional extra) logs every step's numbers to wandb.init's run."""
    import sys
    import types

    calls: dict[str, list] = {"init": [], "log": [], "finish": []}

    class Run:
        def log(self, values, step):
            calls["log"].append((step, values))

        def finish(self):
            calls["finish"].append(True)

    fake = types.ModuleType("wandb")
    fake.init = lambda **kw: calls["init"].append(kw) or Run()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    res = train(_cfg(tmp_path, data, epochs=1, report_to="wandb"))
    (init,) = calls["init"]
    assert init["project"] == "eqvl" and init["config"]["loss"] == "itc" and init["resume"] == "allow"
    steps = [r for r in res.metrics if "loss" in r]
    assert [(s, v["loss"]) for s, v in calls["log"] if "loss" in v] == [(r["step"], r["loss"]) for r in steps]
    assert calls["finish"] == [True]
    monkeypatch.setitem(sys.modules, "wandb", None)  # not installed
    with pytest.raises(EqvlError, match=r"pip install 'eqvl\[wandb\]'"):
        train(_cfg(tmp_path, data, epochs=1, report_to="wandb", output=str(tmp_path / "nowandb")))


def test_open_clip_lock_and_checkpointing_flags(tmp_path):
    """13: --lock-image-unlocked-groups 1 trains only the image tower's last group (a ViT's projection);
    --grad-checkpointing recomputes activations and gives the same losses; a ResNet, which open_clip
    locks only as a whole, gets a one-line error."""
    from eqvl.models.openclip import create_openclip

    csv = _small(tmp_path, n=12)
    losses = {}
    for name, extra in (("plain", {}), ("ckpt", {"grad_checkpointing": True})):
        steps: list[dict] = []
        res = train(_cfg(tmp_path, csv, model="eqvl-tiny-vit", batch_size=6, epochs=1, lock_image=True,
                         lock_image_unlocked_groups=1, output=str(tmp_path / name), **extra), on_step=steps.append)
        losses[name] = [r["loss"] for r in steps]
    assert losses["plain"] == pytest.approx(losses["ckpt"], rel=1e-5, abs=1e-6)
    before = create_openclip("eqvl-tiny-vit", seed=0).model.state_dict()
    after = torch.load(res.final_checkpoint, weights_only=True)["state_dict"]
    assert torch.equal(before["visual.conv1.weight"], after["visual.conv1.weight"])
    assert not torch.equal(before["visual.proj"], after["visual.proj"])
    with pytest.raises(EqvlError, match="`lock_image_unlocked_groups` 1: open_clip cannot do this for eqvl-tiny-rn"):
        train(_cfg(tmp_path, csv, batch_size=6, lock_image=True, lock_image_unlocked_groups=1))


def test_bf16_precision_on_cpu(tmp_path):
    """13: --precision bf16 (open_clip's: 16-bit weights, norms in fp32) trains on a CPU."""
    csv = _small(tmp_path, n=12)
    res = train(_cfg(tmp_path, csv, model="eqvl-tiny-vit", batch_size=6, epochs=1, precision="bf16"))
    assert res.steps == 2 and all(math.isfinite(r["loss"]) for r in res.metrics if "loss" in r)
    saved = torch.load(res.final_checkpoint, weights_only=True)["state_dict"]
    assert saved["text_projection"].dtype == torch.bfloat16 and saved["ln_final.weight"].dtype == torch.float32


def test_skip_bad_drops_images_over_the_pixel_limit(tmp_path, monkeypatch):
    """12.8: an image over Pillow's pixel limit is one line naming the row; --skip-bad counts and skips it."""
    from PIL import Image

    csv = _small(tmp_path, n=13)
    Image.new("RGB", (200, 200), "red").save(csv.parent / "images" / "012.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # 64 px images pass, the 200 px one is a "bomb"
    with pytest.raises(DataError, match=r"train.csv:14: .*012.png.*too large.*`check_images`"):
        train(_cfg(tmp_path, csv, batch_size=6, epochs=1))
    res = train(_cfg(tmp_path, csv, batch_size=6, epochs=1, check_images=True))
    assert res.data_report.bad == {"image too large": 1} and res.data_report.used == 12 and res.steps == 2


def test_every_train_flag_has_help_and_shows_its_default():
    import argparse

    from eqvl.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    formatter = sub._get_formatter()
    for action in sub._actions:
        if action.dest == "help" or action.help == argparse.SUPPRESS:
            continue  # hidden: open_clip flags that only point at their eqvl replacement
        text = formatter._get_help_string(action) or ""
        assert len((action.help or "").strip()) > 10, action.dest
        assert "default" in text, action.dest
