"""Issue 26.7: `--skip-bad` has one meaning in every command - skip (and count) bad inputs instead of
failing. Its default is per command (on in train, off elsewhere; reasons in docs/guide/cli.md); train's
old `--skip-bad` behaviour (decode every image before the first step) is `--check-images`."""

from __future__ import annotations

import argparse

import pytest

from eqvl.cli import build_parser, main
from eqvl.commands.vocabulary import walk

from tests.helpers.train import make_csv  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _skip_bad_defaults() -> dict[tuple[str, ...], bool]:
    return {path: a.default for path, parser in walk(build_parser()) for a in parser._actions
            if "--skip-bad" in a.option_strings}


def test_one_meaning_default_on_in_train_only():
    defaults = _skip_bad_defaults()
    assert {("eval",), ("augment",), ("train",), ("index", "build"), ("build", "ag")} <= set(defaults)
    assert {p for p, on in defaults.items() if on} == {("train",)}
    parser = build_parser()
    base = ["train", "--train-data", "x.csv"]
    assert parser.parse_args(base).skip_bad is True
    assert parser.parse_args([*base, "--no-skip-bad"]).skip_bad is False
    assert parser.parse_args([*base, "--strict-data"]).skip_bad is False  # the old spelling, same meaning
    assert parser.parse_args(base).check_images is False and parser.parse_args([*base, "--check-images"]).check_images


def _bad_csv(tmp_path):
    csv = make_csv(tmp_path / "d", n=13, hard=False)
    (csv.parent / "images" / "012.png").write_bytes(b"not a png at all")  # exists, does not decode
    return csv


def _train(csv, out, *extra):
    return main(["train", "--train-data", str(csv), "--model", "eqvl-tiny-rn", "--pretrained", "none", "--lr", "1e-3",
                 "--batch-size", "6", "--epochs", "1", "--output", str(out), "--no-progress", "--no-train-augment",
                 *extra])


@pytest.mark.faults
def test_skip_bad__check_images_skips_an_undecodable_image_before_the_first_step(tmp_path, capsys):
    csv = _bad_csv(tmp_path)
    assert _train(csv, tmp_path / "run", "--check-images") == 0
    captured = capsys.readouterr()
    assert "13 rows, 12 used, 1 bad skipped (unreadable image: 1)" in captured.err, captured.err
    assert "note: --skip-bad" not in captured.err


@pytest.mark.faults
def test_skip_bad__check_images_with_no_skip_bad_names_the_row_before_training(tmp_path, capsys):
    csv = _bad_csv(tmp_path)
    assert _train(csv, tmp_path / "run", "--check-images", "--no-skip-bad") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err.split("error: ", 1)[1] and "train.csv:14" in err and "012.png" in err, err
    assert not (tmp_path / "run" / "checkpoints").exists() or not any((tmp_path / "run" / "checkpoints").iterdir())


@pytest.mark.faults
def test_skip_bad__no_skip_bad_stops_at_a_missing_image_row_in_one_line(tmp_path, capsys):
    csv = make_csv(tmp_path / "d", n=12, hard=False, bad=1)
    assert _train(csv, tmp_path / "run", "--no-skip-bad") == 2
    err = capsys.readouterr().err
    assert "train.csv:" in err and "(--skip-bad is off)" in err and "Traceback" not in err, err


def test_old_skip_bad_in_train_says_in_one_line_that_check_images_is_the_pre_decode(tmp_path, capsys):
    csv = make_csv(tmp_path / "d", n=12, hard=False)
    assert _train(csv, tmp_path / "run", "--skip-bad", "--max-steps", "1") == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if "note: --skip-bad" in line]
    assert len(notes) == 1 and "--check-images" in notes[0], err


def test_the_library_reads_the_old_strict_data_name():
    from eqvl.train import TrainConfig

    assert TrainConfig.from_dict({"train_data": "x.csv", "strict_data": True}, strict=True).skip_bad is False
    assert TrainConfig.from_dict({"train_data": "x.csv", "strict_data": False}).skip_bad is True


def test_every_skip_bad_help_states_the_one_meaning():
    from eqvl.commands.vocabulary import SKIP_BAD_MEANING

    helps = [a.help for _, parser in walk(build_parser()) for a in parser._actions
             if "--skip-bad" in a.option_strings and a.help != argparse.SUPPRESS]
    assert len(helps) >= 8 and all(h.startswith(SKIP_BAD_MEANING) for h in helps), helps


def test_a_checkpoint_from_before_the_rename_resumes_without_false_changed_settings(caplog):
    """Saved `skip_bad`=True then meant decoding every image first; `strict_data` failing at bad rows."""
    import logging

    from eqvl.train import TrainConfig
    from eqvl.train.setup import reconcile_resume, upgrade_saved_settings

    old = {"skip_bad": True, "strict_data": False, "model": "eqvl-tiny-rn", "loss": "itc"}
    assert upgrade_saved_settings(old) == {"check_images": True, "skip_bad": True, "model": "eqvl-tiny-rn",
                                           "loss": "itc"}
    cfg = TrainConfig(model="eqvl-tiny-rn", pretrained="none", train_data="x.csv")  # today's defaults
    saved = cfg.to_dict()  # the same run, saved with the old names and the old defaults
    saved = {k: v for k, v in saved.items() if k not in ("check_images", "skip_bad")} | {"skip_bad": False,
                                                                                          "strict_data": False}
    with caplog.at_level(logging.INFO, logger="eqvl"):
        reconcile_resume(cfg, {"config": saved}, "old.pt")
    assert "changed settings" not in caplog.text, caplog.text
