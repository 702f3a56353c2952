"""Issue 26: no silent weakening. Each test fails on the main before the issue and passes after."""

from __future__ import annotations

import csv
import json
from functools import partial
from pathlib import Path

import pytest
import torch

from eqvl.cli import main
from eqvl.train import TrainConfig, train

from tests.helpers.train import make_images, train_config  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


# ---------------------------------------------------------------- 1. augment keeps its types

def test_augment_merge_keeps_the_input_types_and_writes_types_by_default(tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("filepath\ttitle\thard_negatives\thard_negative_types\n"
                   'a.jpg\ta brown dog chasing a white cat\t["a hand-made negative"]\t["swap"]\n'
                   "b.jpg\ttwo red apples on a wooden table\t[]\t[]\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    assert main(["augment", "--in", str(src), "--out", str(out), "--quiet", "--existing", "merge"]) == 0
    rows = _rows(out)
    negs, types = json.loads(rows[0]["hard_negatives"]), json.loads(rows[0]["hard_negative_types"])
    assert negs[0] == "a hand-made negative" and types[0] == "swap" and len(types) == len(negs) > 1
    assert all(len(json.loads(r["hard_positive_types"])) == len(json.loads(r["hard_positives"])) for r in rows)
    plain = tmp_path / "plain.csv"
    plain.write_text("filepath\ttitle\na.jpg\ta brown dog chasing a white cat\n", encoding="utf-8")
    assert main(["augment", "--in", str(plain), "--out", str(tmp_path / "d.csv"), "--quiet"]) == 0
    assert "hard_negative_types" in _rows(tmp_path / "d.csv")[0]
    assert main(["augment", "--in", str(plain), "--out", str(tmp_path / "n.csv"), "--quiet", "--no-types"]) == 0
    assert "hard_negative_types" not in _rows(tmp_path / "n.csv")[0]


_train_cfg = partial(train_config, max_steps=2)


def _csv_without_types(root: Path, n: int = 12) -> Path:
    lines = ["filepath\ttitle\thard_negatives"]
    for rel, cap, colour, shape in make_images(root, n):
        lines.append(f"{rel}\t{cap}\t{json.dumps([f'two {colour} {shape}s'])}")
    path = root / "train.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_train_ce_without_types_says_so_once(tmp_path, caplog):
    data = _csv_without_types(tmp_path / "d")
    train(_train_cfg(tmp_path, data, loss="itc+ce"))
    warned = [r for r in caplog.records if "has no hard_negative_types" in r.getMessage()]
    assert len(warned) == 1 and "'untyped' CE margin" in warned[0].getMessage()
    assert warned[0].levelname == "WARNING" and warned[0].params == ("loss",)  # the CLI shows --loss
    caplog.clear()
    train(_train_cfg(tmp_path, data, loss="itc", output=str(tmp_path / "itc")))
    assert "hard_negative_types" not in caplog.text


# ---------------------------------------------------------------- 2. fine-tuning defaults that fine-tune

def _start_config(run: Path) -> dict:
    recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in recs if r.get("event") in ("start", "resume")][-1]["config"]


def test_train_without_lr_fine_tunes_loaded_weights_at_a_fine_tuning_rate(tmp_path, capsys):
    data = _csv_without_types(tmp_path / "d")
    base = ["train", "--train-data", str(data), "--model", "eqvl-tiny-rn", "--batch-size", "6", "--epochs", "2",
            "--preload", "--no-train-augment", "--no-progress"]
    assert main([*base, "--pretrained", "none", "--max-steps", "1", "--output", str(tmp_path / "a")]) == 0
    assert _start_config(tmp_path / "a")["lr"] == 5e-4  # open_clip's from-scratch rate for random weights
    assert "--lr not given" not in capsys.readouterr().err
    init = tmp_path / "a" / "checkpoints" / "epoch_latest.pt"
    assert main([*base, "--pretrained", str(init), "--max-steps", "1", "--output", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    assert _start_config(tmp_path / "b")["lr"] == 1e-5
    assert err.count("--lr not given: 1e-05, a fine-tuning rate") == 1, err
    assert main([*base, "--max-steps", "2", "--output", str(tmp_path / "b"), "--resume", "latest"]) == 0
    err = capsys.readouterr().err
    assert _start_config(tmp_path / "b")["lr"] == 1e-5 and "--lr" not in err
    assert main([*base, "--pretrained", str(init), "--max-steps", "1", "--lr", "3e-3", "--output", str(tmp_path / "c")]) == 0
    assert _start_config(tmp_path / "c")["lr"] == 3e-3 and "--lr not given" not in capsys.readouterr().err


# ---------------------------------------------------------------- 6. errors that name the real cause

def test_mistyped_checkpoint_path_without_model_says_no_such_file(tmp_path, capsys):
    missing = tmp_path / "runs" / "epoch_1O.pt"
    data = _csv_without_types(tmp_path / "d")
    for argv in (["eval", "--pretrained", str(missing), "--benchmark", "twins", "--data", str(tmp_path),
                  "--output", str(tmp_path / "r.json")],
                 ["train", "--pretrained", str(missing), "--train-data", str(data),
                  "--output", str(tmp_path / "run")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.endswith(f"--pretrained {missing}: no such file"), err


def test_report_scores_skips_files_that_are_not_twin_scores_with_a_note(tmp_path, capsys):
    import numpy as np

    res = tmp_path / "a.json"
    res.write_text(json.dumps({"dataset": "twins", "model": "m", "metrics": {"group": 0.5}, "subsets": {}}))
    np.savez(tmp_path / "a.npz", scores=np.zeros((3, 2, 2)))
    np.savez(tmp_path / "trip.npz", scores=np.zeros((3, 3)))  # a triplets benchmark's --scores-out file
    out = tmp_path / "rep.html"
    assert main(["report", str(res), "--scores", str(tmp_path / "a.npz"), str(tmp_path / "trip.npz"),
                 "--output", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"eqvl report: warning: {tmp_path / 'trip.npz'}: no twin score array shaped [N, 2, 2]" in err
    assert "--scores-out files of twins benchmarks only" in err and "skipped" in err and out.is_file()


def test_read_only_file_system_is_named_as_such(tmp_path, monkeypatch):
    import os
    from types import SimpleNamespace

    import eqvl.io.guard as outputs
    from eqvl.errors import EqvlError

    monkeypatch.setattr(outputs.os, "access", lambda *a, **k: False)
    monkeypatch.setattr(outputs.os, "statvfs", lambda p: SimpleNamespace(f_flag=os.ST_RDONLY))
    with pytest.raises(EqvlError, match=r"cannot write in .* \(read-only file system\)"):
        outputs.check_outputs([tmp_path / "x.json"], overwrite=False)
    monkeypatch.setattr(outputs.os, "statvfs", lambda p: SimpleNamespace(f_flag=0))
    with pytest.raises(EqvlError, match=r"\(permission denied\)"):
        outputs.check_outputs([tmp_path / "x.json"], overwrite=False)


# ---------------------------------------------------------------- 7. one meaning per flag

def test_eval_caption_column_is_spelled_as_in_train_and_clashes_are_refused(tmp_path, capsys):
    from eqvl.cli import build_parser

    args = build_parser().parse_args(["eval", "--model", "m", "--benchmark", "coco-retrieval", "--data", "d",
                                      "--output", "o.json", "--csv-caption-key", "caption"])
    assert args.csv_caption_key == "caption" and args.device == "auto"
    (tmp_path / "d").mkdir()
    assert main(["eval", "--model", "eqvl-tiny-rn", "--pretrained", "none", "--benchmark", "twins", "--data",
                 str(tmp_path / "d"), "--output", str(tmp_path / "o.json"), "--csv-caption-key", "c",
                 "--option", "caption_col=c"]) == 2
    assert "--csv-caption-key and --option caption_col= say the same thing" in capsys.readouterr().err


# ---------------------------------------------------------------- 8. resume edges, 10. loggers checked first

def test_resume_latest_on_a_finished_run_says_so_and_on_an_empty_output_says_fresh(tmp_path, capsys):
    data = _csv_without_types(tmp_path / "d")
    base = ["train", "--train-data", str(data), "--model", "eqvl-tiny-rn", "--pretrained", "none", "--lr", "1e-3",
            "--batch-size", "6", "--epochs", "1", "--preload", "--no-train-augment", "--no-progress",
            "--output", str(tmp_path / "run"), "--resume", "latest"]
    assert main(base) == 0
    err = capsys.readouterr().err
    assert "--resume latest: " in err and "has no checkpoint yet; starting a fresh run" in err
    assert main(base) == 0
    captured = capsys.readouterr()
    assert "is a finished run (step 2, epoch 1 of --epochs 1): nothing to train" in captured.err
    assert "resumed from" not in captured.err and "trained" not in captured.out


def test_missing_logger_package_fails_before_the_model_is_built(tmp_path, monkeypatch):
    import sys

    import eqvl.train.loop as loop
    from eqvl.errors import EqvlError

    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError

    def no_model(*a, **k):
        raise AssertionError("the model was built before the logger package was checked")

    monkeypatch.setattr(loop, "build_model", no_model)
    with pytest.raises(EqvlError, match=r"`report_to` wandb needs the wandb package"):
        train(_train_cfg(tmp_path, _csv_without_types(tmp_path / "d"), report_to="wandb"))


# ---------------------------------------------------------------- 10. logs: plain progress lines off a terminal

def test_progress_off_a_terminal_is_plain_periodic_lines(monkeypatch):
    import io

    from eqvl.progress import PlainProgress, progress_bar

    log = io.StringIO()  # not a TTY
    bar = progress_bar(total=10, desc="encoding images", unit="img", file=log)
    assert isinstance(bar, PlainProgress)
    bar.interval = 0.0
    bar.update(4)
    bar.set_postfix({"loss": "0.5"})
    bar.update(6)
    bar.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and "\x1b" not in log.getvalue()
    assert lines[0].startswith("eqvl: encoding images 4/10 img (40%)") and lines[-1].endswith("; loss=0.5")
    quiet = io.StringIO()
    bar = progress_bar(total=10, desc="x", file=quiet)  # default interval: one line at the end only
    bar.update(10)
    bar.close()
    assert len(quiet.getvalue().splitlines()) == 1


def test_synth_training_rows_fit_train_defaults_without_cuts(tmp_path):
    from eqvl.train.setup import read_rows

    assert main(["synth", "--output", str(tmp_path / "syn"), "--twins", "0", "--train", "12", "--size", "64",
                 "--no-progress"]) == 0
    cfg = TrainConfig(train_data=str(tmp_path / "syn" / "train.csv"), pretrained="none")
    rows, report, _ = read_rows(cfg.train_data, cfg)
    assert rows and report.truncated_negatives == 0 and report.truncated_positives == 0
    assert max(len(r.pair.hard_negatives) for r in rows) <= cfg.max_hard_negatives == 6


def test_resume_names_a_left_out_flag_instead_of_printing_none(tmp_path, capsys):
    data = _csv_without_types(tmp_path / "d")
    base = ["train", "--train-data", str(data), "--model", "eqvl-tiny-rn", "--pretrained", "none", "--lr", "1e-3",
            "--batch-size", "6", "--epochs", "1", "--preload", "--no-train-augment", "--no-progress",
            "--output", str(tmp_path / "run")]
    assert main([*base, "--max-steps", "1"]) == 0
    capsys.readouterr()
    assert main([*base, "--resume", "latest"]) == 0
    err = capsys.readouterr().err
    assert "--max-steps left out (was 1)" in err and "None" not in err


# ---------------------------------------------------------------- 12. open_clip's --lr-scheduler

@pytest.mark.parametrize("name", ["cosine", "const", "const-cooldown"])
def test_lr_scheduler_equals_open_clip_train_scheduler(name):
    from types import SimpleNamespace

    from eqvl.train.schedule import scheduled_lr

    scheduler = pytest.importorskip("open_clip_train.scheduler")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    steps_per_epoch, epochs, warmup, lr = 7, 5, 4, 3e-4
    total = steps_per_epoch * epochs
    cfg = SimpleNamespace(lr_scheduler=name, lr=lr, warmup=warmup, epochs_cooldown=2, lr_cooldown_end=1e-5,
                          lr_cooldown_power=1.5)
    theirs = {"cosine": lambda: scheduler.cosine_lr(opt, lr, warmup, total),
              "const": lambda: scheduler.const_lr(opt, lr, warmup, total),
              "const-cooldown": lambda: scheduler.const_lr_cooldown(opt, lr, warmup, total, 2 * steps_per_epoch,
                                                                    1.5, 1e-5)}[name]()
    for step in range(total):
        assert scheduled_lr(cfg, step, total, steps_per_epoch) == pytest.approx(theirs(step), rel=1e-12, abs=1e-15)


def test_const_cooldown_without_its_epochs_is_one_line(tmp_path, capsys):
    assert main(["train", "--train-data", str(tmp_path / "x.csv"), "--pretrained", "none", "--lr-scheduler",
                 "const-cooldown"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "needs" in err and "epochs-cooldown" in err.replace("_", "-"), err


def test_open_clip_model_flags_reach_open_clip(tmp_path):
    import open_clip
    from torchvision import transforms

    from eqvl.distributed import DistInfo
    from eqvl.train.setup import build_model

    cfg = TrainConfig(model="eqvl-tiny-rn", pretrained="none", train_data="x.csv", force_quick_gelu=True,
                      image_interpolation="bilinear", image_mean=[0.5, 0.5, 0.5], image_std=[0.25, 0.25, 0.25])
    bundle = build_model(cfg, DistInfo())
    assert any(isinstance(m, open_clip.transformer.QuickGELU) for m in bundle.model.modules())
    resize = [t for t in bundle.preprocess_val.transforms if isinstance(t, transforms.Resize)]
    assert resize and resize[0].interpolation == transforms.InterpolationMode.BILINEAR
    norm = [t for t in bundle.preprocess_val.transforms if isinstance(t, transforms.Normalize)][0]
    assert tuple(norm.mean) == (0.5, 0.5, 0.5) and tuple(norm.std) == (0.25, 0.25, 0.25)
    from eqvl.cli import build_parser

    args = build_parser().parse_args(["train", "--train-data", "x", "--image-mean", "0.5", "0.4", "0.3"])
    assert args.image_mean == [0.5, 0.4, 0.3]
    plain = build_model(TrainConfig(model="eqvl-tiny-rn", pretrained="none", train_data="x.csv"), DistInfo())
    assert not any(isinstance(m, open_clip.transformer.QuickGELU) for m in plain.model.modules())


def test_a_notice_is_printed_once_even_when_a_library_logs_on_the_root_logger(capsys, monkeypatch):
    """open_clip's module-level logging.warning, called while `eqvl train` builds the model, installed a root
    handler (logging.basicConfig) that printed every later notice a second time, as INFO:eqvl.train.loop:..."""
    import logging

    from eqvl.commands.common import command_voice

    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # as outside pytest: no root handler
    with command_voice("train"):
        logging.warning("No pretrained weights loaded")  # as open_clip's factory does
        logging.getLogger("eqvl.train.loop").info("train.csv: 12 rows, 12 used")
    assert capsys.readouterr().err.splitlines() == ["eqvl train: train.csv: 12 rows, 12 used"]
    assert logging.getLogger().handlers == []  # nothing left behind
