"""Issue 26's fault classes (named `test_<class>__<case>` for scripts/fault_matrix.py): skipped-step
buffers, wrong-dimension and NaN cache shards, directory outputs, long-caption rewrites."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from eqvl.cli import main
from eqvl.errors import EqvlError
from eqvl.train import train

from tests.helpers.cli import cli_error
from tests.helpers.train import make_csv, train_config  # noqa: E402

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("one_torch_thread")]


def _bn_stats(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: b.detach().clone() for n, b in model.named_buffers() if "running" in n or "num_batches" in n}


# ---------------------------------------------------------------- skipped steps under --skip-nonfinite

def test_skipped_steps__move_no_batchnorm_statistic_and_are_counted(tmp_path, monkeypatch, capsys):
    """Steps 2 and 3 are made non-finite after their real forward (which moves BatchNorm statistics in
    train mode); skipped, they must leave every buffer as step 1 left it, and the summary counts them."""
    import eqvl.train.loop as loop

    real, seen = loop.forward_loss, {}

    def poisoned(model, loss_fn, batch, info, **kw):
        step = kw["step"]
        if step in (1, 3):
            seen[step] = _bn_stats(model)  # before this call's forward: what the steps before left
        total, parts = real(model, loss_fn, batch, info, **kw)
        if step in (1, 2):
            total = total * float("nan")
            parts = {**parts, "itc": parts["itc"] * float("nan")}
        return total, parts

    monkeypatch.setattr(loop, "forward_loss", poisoned)
    csv = make_csv(tmp_path / "d", n=24, hard=False)
    res = train(train_config(tmp_path, csv, max_steps=4, skip_nonfinite=2))
    assert res.steps == 4 and res.skipped == 2 and res.final_checkpoint is not None
    assert seen[1].keys() == seen[3].keys() and len(seen[1]) > 0
    assert all(torch.equal(seen[1][k], seen[3][k]) for k in seen[1]), "a skipped step moved a BatchNorm statistic"
    end = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()][-1]
    assert end["event"] == "end" and end["skipped_nonfinite"] == 2


def test_skipped_steps__cli_summary_says_how_many_were_skipped(tmp_path, monkeypatch, capsys):
    import eqvl.train.loop as loop

    real = loop.forward_loss

    def poisoned(model, loss_fn, batch, info, **kw):
        total, parts = real(model, loss_fn, batch, info, **kw)
        return (total * float("nan"), parts) if kw["step"] == 1 else (total, parts)

    monkeypatch.setattr(loop, "forward_loss", poisoned)
    csv = make_csv(tmp_path / "d", n=24, hard=False)
    assert main(["train", "--train-data", str(csv), "--model", "eqvl-tiny-rn", "--pretrained", "none", "--lr", "1e-3",
                 "--batch-size", "6", "--epochs", "1", "--max-steps", "3", "--skip-nonfinite", "1", "--preload",
                 "--no-train-augment", "--no-progress", "--output", str(tmp_path / "cli")]) == 0
    assert "trained 3 steps (1 skipped as non-finite, 2 applied)" in capsys.readouterr().out


def test_skipped_steps__a_model_that_scores_nan_is_not_saved_and_the_run_fails(tmp_path, capsys):
    """The issue's case: --lr 1e12 blows the weights up at step 1, later steps are skipped; the weights
    stay finite but the model's eval-mode scores are NaN. No checkpoint, exit 2, the probe named."""
    csv = make_csv(tmp_path / "d", n=24, hard=False)
    with pytest.raises(EqvlError, match=r"step 4: the model is broken: its scores on 4 training pairs in eval mode "
                                        r"are not finite.*not writing epoch_1\.pt"):
        train(train_config(tmp_path, csv, lr=1e12, max_steps=4, skip_nonfinite=3))
    ckdir = tmp_path / "run" / "checkpoints"
    assert not ckdir.is_dir() or not any(ckdir.glob("*.pt"))
    assert main(["train", "--train-data", str(csv), "--model", "eqvl-tiny-rn", "--pretrained", "none", "--lr", "1e12",
                 "--batch-size", "6", "--epochs", "1", "--max-steps", "4", "--skip-nonfinite", "3", "--preload",
                 "--no-train-augment", "--no-progress", "--output", str(tmp_path / "cli")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "the model is broken" in err and "Traceback" not in err


# ---------------------------------------------------------------- cache shards: valid npz, wrong content

def _cache_run(tmp_path: Path):
    from tests.helpers.encoders import FakeEncoder, make_twins

    from eqvl.encode import wait_for_writes
    from eqvl.evaluation import evaluate

    if not (tmp_path / "c0.png").exists():
        make_twins(tmp_path, n=6)
    enc = FakeEncoder()
    res = evaluate(enc, "twins", tmp_path, cache_dir=tmp_path / "cache", progress=False)
    wait_for_writes()
    return enc, res


def _shard(tmp_path: Path, kind: str) -> Path:
    return next(p for p in sorted((tmp_path / "cache").glob(f"*/{kind}-*.npz")))


@pytest.mark.parametrize("damage", ["wrong_dimension", "keys_values_mismatch", "nan_rows"])
def test_cache_shard__valid_npz_with_wrong_content_is_named_and_reencoded(tmp_path, caplog, damage):
    import logging

    import numpy as np

    _, first = _cache_run(tmp_path)
    shard = _shard(tmp_path, "image")
    with np.load(shard) as data:
        keys, values = data["keys"], data["values"]
    if damage == "wrong_dimension":
        values = values[:, :-1]
    elif damage == "keys_values_mismatch":
        values = values[:-1]
    else:
        values = values.copy()
        values[0] = np.nan
    with open(shard, "wb") as handle:
        np.savez(handle, keys=keys, values=values)
    with caplog.at_level(logging.WARNING, logger="eqvl.encode.cache"):
        enc, second = _cache_run(tmp_path)
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert shard.name in warned and "encoded again" in warned, warned
    expected = 1 if damage == "nan_rows" else len(keys)
    assert enc.image_rows == expected and enc.text_rows == 0
    np.testing.assert_array_equal(np.stack(first.scores), np.stack(second.scores))
    if damage == "nan_rows":  # the cache is named, never the model; the CLI shows `no_cache` as --no-cache
        from eqvl.commands.common import flag_message

        record = next(r for r in caplog.records if "NaN" in r.getMessage())
        shown = flag_message(EqvlError(record.getMessage(), params=tuple(getattr(record, "params", ()))))
        assert "not the model" in shown and "(--no-cache bypasses the cache)" in shown and shard.name in shown, shown
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="eqvl.encode.cache"):
        third, _ = _cache_run(tmp_path)
    assert third.image_rows == 0 and not caplog.records  # healed: said once, not on every run


# ---------------------------------------------------------------- directory outputs

def test_directory_output__report_output_that_is_a_folder_is_one_line_nothing_written(tmp_path, capsys):
    res = tmp_path / "r.json"
    res.write_text(json.dumps({"dataset": "twins", "model": "m", "metrics": {"group": 0.5}, "subsets": {}}))
    folder = tmp_path / "out"
    folder.mkdir()
    for extra in ([], ["--overwrite"]):
        cli_error(capsys, ["report", str(res), "--output", str(folder), *extra], f"{folder} is a folder, expected a file")
    assert list(folder.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["out", "r.json"]


def test_directory_output__augment_output_that_is_a_folder_is_one_line(tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("filepath\ttitle\na.jpg\ta brown dog chasing a white cat\n")
    (tmp_path / "o").mkdir()
    cli_error(capsys, ["augment", "--in", str(src), "--output", str(tmp_path / "o"), "--quiet", "--overwrite"],
              "is a folder, expected a file")


# ---------------------------------------------------------------- long captions

def test_long_captions__train_drops_rewrites_identical_within_the_context_and_counts_them(tmp_path, caplog):
    from tests.helpers.train import make_images

    long_tail = " ".join(["and a small grey pebble beside it"] * 60)  # ~420 words: far past any context
    lines = ["filepath\ttitle\thard_negatives\thard_negative_types"]
    for i, (rel, cap, colour, shape) in enumerate(make_images(tmp_path / "d", 12)):
        if i < 3:  # the rewrite changed only the last word: past the context, the same tokens as the caption
            cap, negs = f"{cap} {long_tail} at dawn", [f"{cap} {long_tail} at dusk", f"two {colour} {shape}s"]
        else:
            negs = [f"two {colour} {shape}s"]
        lines.append(f"{rel}\t{cap}\t{json.dumps(negs)}\t{json.dumps(['replace'] * len(negs))}")
    (tmp_path / "d" / "train.csv").write_text("\n".join(lines) + "\n")
    res = train(train_config(tmp_path, tmp_path / "d" / "train.csv", loss="itc+ce", batch_size=12, max_steps=2, epochs=2))
    err = caplog.text  # a library warning (logging); the CLI prints it once in its voice
    assert err.count("have the same tokens as their caption") == 1, err
    assert "3 hard negative(s) and 0 hard positive(s) of this batch" in err
    end = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()][-1]
    assert end["same_as_caption"] == {"negatives": 6, "positives": 0}  # 3 per epoch-batch, 2 steps
    assert res.final_checkpoint is not None


def test_long_captions__augment_counts_rewrites_identical_within_a_clip_context(tmp_path, capsys):
    head = "a brown dog chasing a white cat on the grass"
    tail = " ".join(["near an old wooden fence"] * 40)  # 200 words after the head: the rewrites of the head stay
    src = tmp_path / "in.csv"
    src.write_text(f"filepath\ttitle\na.jpg\t{tail} while {head}\nb.jpg\t{head}\n", encoding="utf-8")
    assert main(["augment", "--in", str(src), "--output", str(tmp_path / "o.csv"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "of 1 long caption(s) change only words after the first 75" in err and f"{src} lines 2" in err, err
