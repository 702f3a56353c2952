"""Issue 26.12: open_clip's training flags --aug-cfg, --torchcompile, --use-bn-sync, --train-num-samples
and --dataset-resampled, with open_clip's meaning (open_clip_train/params.py, main.py, data.py)."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import pytest
import torch

from eqvl.cli import build_parser, main
from eqvl.distributed import DistInfo
from eqvl.errors import EqvlError
from eqvl.train import TrainConfig, train
from eqvl.train.batching import GlobalBatchSampler

from tests.helpers.cli import cli_error
from tests.helpers.train import make_csv, train_config  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------- --aug-cfg

def test_aug_cfg_keys_are_open_clips():
    from open_clip.transform import AugmentationCfg

    from eqvl.train.augcfg import AUG_KEYS

    assert set(AUG_KEYS) == {f.name for f in dataclasses.fields(AugmentationCfg)}


def test_aug_cfg_parses_like_open_clips_parse_kwargs():
    import argparse

    from open_clip_train.params import ParseKwargs

    items = ["scale=(0.5, 0.8)", "color_jitter=(0.4, 0.4, 0.4, 0.1)", "color_jitter_prob=0.8", "gray_scale_prob=0.2"]
    theirs = argparse.ArgumentParser()
    theirs.add_argument("--aug-cfg", nargs="*", default={}, action=ParseKwargs)
    ours = build_parser().parse_args(["train", "--train-data", "x.csv", "--aug-cfg", *items]).aug_cfg
    assert ours == theirs.parse_args(["--aug-cfg", *items]).aug_cfg == {
        "scale": (0.5, 0.8), "color_jitter": (0.4, 0.4, 0.4, 0.1), "color_jitter_prob": 0.8, "gray_scale_prob": 0.2}


def test_aug_cfg_reaches_open_clips_training_transform_as_open_clips_trainer_passes_it(capsys):
    import open_clip
    from torchvision import transforms

    from eqvl.train.setup import build_model

    aug = {"scale": (0.5, 0.8), "color_jitter": (0.4, 0.4, 0.4, 0.1), "color_jitter_prob": 0.8, "gray_scale_prob": 0.2}
    ours = build_model(TrainConfig(model="eqvl-tiny-rn", pretrained="none", train_data="x.csv", aug_cfg=aug),
                       DistInfo()).preprocess_train
    # open_clip_train/main.py: create_model_and_transforms(..., aug_cfg=args.aug_cfg) -> image_transform
    _, theirs, _ = open_clip.create_model_and_transforms("eqvl-tiny-rn", aug_cfg=aug)
    plain = build_model(TrainConfig(model="eqvl-tiny-rn", pretrained="none", train_data="x.csv"), DistInfo())
    shown = lambda t: re.sub(r" at 0x[0-9a-f]+", "", repr(t))  # noqa: E731 - lambdas inside print their address
    assert shown(ours) == shown(theirs) != shown(plain.preprocess_train)
    crop = next(t for t in ours.transforms if isinstance(t, transforms.RandomResizedCrop))
    assert tuple(crop.scale) == (0.5, 0.8)
    names = " ".join(type(t).__name__ for t in ours.transforms)
    assert names == "RandomResizedCrop MaybeConvertMode color_jitter gray_scale MaybeToTensor Normalize", names
    assert "--aug-cfg" not in capsys.readouterr().err


def test_aug_cfg_use_timm_builds_timms_transform_with_random_erasing():
    pytest.importorskip("timm")
    from eqvl.train.setup import build_model

    aug = {"scale": (0.3, 1.0), "ratio": (0.75, 1.33), "re_prob": 0.25, "use_timm": True}
    ours = build_model(TrainConfig(model="eqvl-tiny-rn", pretrained="none", train_data="x.csv", aug_cfg=aug),
                       DistInfo()).preprocess_train
    text = repr(ours)
    assert "RandomErasing" in text and "(0.3, 1.0)" in text.replace("scale=", ""), text


@pytest.mark.faults
def test_aug_cfg__a_bad_key_or_value_is_one_line_at_parse_time(capsys):
    base = ["train", "--train-data", "x.csv", "--pretrained", "none", "--aug-cfg"]
    err = cli_error(capsys, [*base, "scael=(0.5, 1.0)"])
    assert "--aug-cfg key 'scael': not one of open_clip's (scale, ratio" in err, err
    assert "expected (low, high) with 0 < low <= high <= 1" in cli_error(capsys, [*base, "scale=(0.9, 0.5)"])
    assert "expected KEY=VALUE" in cli_error(capsys, [*base, "scale"])
    assert "a probability in [0, 1]" in cli_error(capsys, [*base, "re_prob=2"])
    assert "needs color_jitter=" in cli_error(capsys, [*base, "color_jitter_prob=0.5"])


@pytest.mark.faults
def test_aug_cfg__with_no_train_augment_is_one_line(tmp_path, capsys):
    err = cli_error(capsys, ["train", "--train-data", "x.csv", "--pretrained", "none", "--aug-cfg",
                                   "scale=(0.5, 1.0)", "--no-train-augment"])
    assert "--aug-cfg" in err and "--train-augment" in err, err


def test_aug_cfg_keys_open_clips_own_transform_ignores_are_named_once(tmp_path, capsys):
    csv = make_csv(tmp_path / "d", n=12, hard=False)
    assert main(["train", "--train-data", str(csv), "--model", "eqvl-tiny-rn", "--pretrained", "none", "--lr", "1e-3",
                 "--batch-size", "6", "--max-steps", "1", "--output", str(tmp_path / "run"), "--no-progress",
                 "--aug-cfg", "ratio=(0.5, 2.0)", "re_prob=0.1"]) == 0
    notes = [x for x in capsys.readouterr().err.splitlines() if "--aug-cfg" in x]
    assert notes == ["eqvl train: warning: --aug-cfg ratio, re_prob: not read by open_clip's own training transform "
                     "(see --aug-cfg in the help)"], notes


# ---------------------------------------------------------------- --torchcompile

def test_torchcompile_trains_through_the_compiled_model_and_equals_eager(tmp_path, monkeypatch):
    """The step calls torch.compile's module; checkpoints hold plain keys. torch's default backend
    (inductor) compiles C++ for 4 min on this 2-core CPU, so the test compiles with AOTAutograd's
    eager backend (dynamo's graph capture and the joint forward/backward graph, no code generation);
    the weights after 2 steps equal the eager run's."""
    if not hasattr(torch, "compile"):
        pytest.skip("torch.compile needs torch >= 2.0")
    csv = make_csv(tmp_path / "d", n=12, hard=False)
    eager = train(train_config(tmp_path, csv, max_steps=2, output=str(tmp_path / "eager")))
    real, calls = torch.compile, []

    def compile_for_the_test(model, **kw):
        calls.append(model)
        return real(model, backend="aot_eager", **kw)

    monkeypatch.setattr(torch, "compile", compile_for_the_test)
    torch._dynamo.reset()
    compiled = train(train_config(tmp_path, csv, max_steps=2, output=str(tmp_path / "compiled"), torchcompile=True))
    torch._dynamo.reset()
    assert len(calls) == 1 and compiled.steps == eager.steps == 2
    a = torch.load(eager.final_checkpoint, weights_only=True)["state_dict"]
    b = torch.load(compiled.final_checkpoint, weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and not any(k.startswith("_orig_mod") for k in b)
    for k in a:
        torch.testing.assert_close(b[k].float(), a[k].float(), atol=2e-5, rtol=1e-4, msg=k)


# ---------------------------------------------------------------- --use-bn-sync

def test_use_bn_sync_one_process_keeps_batchnorm_and_trains(tmp_path):
    from eqvl.train.setup import build_model

    bundle = build_model(TrainConfig(model="eqvl-tiny-rn", pretrained="none", train_data="x.csv", use_bn_sync=True),
                         DistInfo())
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in bundle.model.modules())
    csv = make_csv(tmp_path / "d", n=12, hard=False)
    assert train(train_config(tmp_path, csv, max_steps=1, use_bn_sync=True)).steps == 1


def test_use_bn_sync_under_torchrun_converts_every_batchnorm_keeping_the_weights_names(monkeypatch):
    import eqvl.train.setup as setup

    monkeypatch.setattr(setup, "check_bn_sync", lambda cfg, info: None)  # no GPU here: the CPU refusal is below
    cfg = TrainConfig(model="eqvl-tiny-rn", pretrained="none", train_data="x.csv", use_bn_sync=True)
    plain = setup.build_model(dataclasses.replace(cfg, use_bn_sync=False), DistInfo(world=2)).model
    synced = setup.build_model(cfg, DistInfo(world=2)).model
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    assert n_bn > 0 and sum(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules()) == n_bn
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in synced.modules())
    assert plain.state_dict().keys() == synced.state_dict().keys()  # checkpoints load into plain models


@pytest.mark.faults
def test_use_bn_sync__cpu_processes_under_torchrun_are_one_line():
    from eqvl.commands.common import flag_message
    from eqvl.train.setup import check_bn_sync

    cfg = TrainConfig(model="eqvl-tiny-rn", pretrained="none", train_data="x.csv", use_bn_sync=True)
    with pytest.raises(EqvlError) as exc:
        check_bn_sync(cfg, DistInfo(world=2))
    assert flag_message(exc.value).startswith("--use-bn-sync with 2 CPU processes: torch's SyncBatchNorm")
    check_bn_sync(cfg, DistInfo(world=2, device=torch.device("cuda", 0)))  # GPUs: fine
    check_bn_sync(cfg, DistInfo())  # one process: nothing to do


# ---------------------------------------------------------------- --train-num-samples / --dataset-resampled

def _flat(sampler, epoch=0) -> list[int]:
    sampler.set_epoch(epoch)
    return [i for batch in sampler for i in batch]


def test_train_num_samples_is_ceil_of_samples_over_the_global_batch_walking_on_through_passes():
    default = GlobalBatchSampler(20, 4, world=1, rank=0, seed=3)
    longer = GlobalBatchSampler(20, 4, world=1, rank=0, seed=3, num_samples=30)
    assert len(default) == 5 and len(longer) == math.ceil(30 / 4) == 8
    order = _flat(longer)
    assert len(order) == 32 and order[:20] == _flat(default) and sorted(order[:20]) == list(range(20))
    assert order[20:] != order[:12] and len(set(order[20:])) == 12  # a reshuffled second pass
    shorter = GlobalBatchSampler(20, 4, world=1, rank=0, seed=3, num_samples=9)
    assert len(shorter) == 3 and _flat(shorter) == _flat(default)[:12]  # ceil: 9 samples -> 3 full batches
    two = [GlobalBatchSampler(20, 2, world=2, rank=r, seed=3, num_samples=30) for r in range(2)]
    for r in two:
        r.set_epoch(0)
    merged = [i for pair in zip(*two) for batch in pair for i in batch]
    assert merged == order  # the same global batches on 1 or 2 processes


def test_dataset_resampled_draws_rows_with_replacement_seeded_by_seed_and_epoch():
    from eqvl.train.dataset import seed_of

    s = GlobalBatchSampler(10, 5, world=1, rank=0, seed=0, resampled=True)
    assert len(s) == 2  # an epoch = as many draws as usable rows
    first = _flat(s)
    g = torch.Generator().manual_seed(seed_of(0, 0, 11))
    assert first == torch.randint(10, (10,), generator=g).tolist()
    assert len(set(first)) < 10  # with replacement: some rows twice, some not at all
    assert _flat(GlobalBatchSampler(10, 5, world=1, rank=0, seed=0, resampled=True)) == first  # same seed
    assert _flat(s, epoch=1) != first
    n = GlobalBatchSampler(10, 5, world=1, rank=0, seed=0, resampled=True, num_samples=23)
    assert len(n) == 5 and len(_flat(n)) == 25


def test_dataset_resampled_on_shards_draws_whole_shards_with_replacement():
    units = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    s = GlobalBatchSampler(12, 4, world=1, rank=0, seed=1, resampled=True, num_samples=40, units=units)
    order = _flat(s)
    assert len(order) == 40
    counts = torch.bincount(torch.tensor(order), minlength=12).tolist()
    per_shard = [{counts[i] for i in u} for u in units]
    assert all(len(c) == 1 for c in per_shard), counts  # a drawn shard gives all its samples
    assert len({c.pop() for c in per_shard}) > 1  # shards drawn unevenly: with replacement


def test_train_num_samples_and_resampled_set_the_steps_of_a_real_run(tmp_path):
    csv = make_csv(tmp_path / "d", n=12, hard=False)
    res = train(train_config(tmp_path, csv, train_num_samples=20, dataset_resampled=True, epochs=1))
    start = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert start["steps_per_epoch"] == math.ceil(20 / 6) == 4 and res.steps == 4
    args = build_parser().parse_args(["train", "--train-data", "x", "--train-num-samples", "20",
                                      "--dataset-resampled"])
    assert args.train_num_samples == 20 and args.dataset_resampled is True


def test_resampled_shard_units_come_from_the_tar_rows():
    from eqvl.train.epochs import shard_units

    assert shard_units(["a.tar", "a.tar", "b.tar", "a.tar"]) == [[0, 1, 3], [2]]
    assert shard_units([None, None]) is None


def test_dataset_resampled_on_real_tar_shards_draws_their_rows_as_units(tmp_path):
    """Two tar shards (6 and 6 samples) read by eqvl's shard reader: the resampled draw's units are exactly
    the shards' rows, and a run on them trains the asked number of steps."""
    import io
    import tarfile

    from eqvl.train.epochs import shard_units
    from eqvl.train.setup import read_rows

    csv = make_csv(tmp_path, n=12, hard=False)
    rows = [line.split("\t") for line in csv.read_text().splitlines()[1:]]
    for shard in range(2):
        with tarfile.open(tmp_path / f"shard-{shard:03d}.tar", "w") as tf:
            for i in range(shard * 6, shard * 6 + 6):
                for name, blob in ((f"s{i:04d}.png", (tmp_path / rows[i][0]).read_bytes()),
                                   (f"s{i:04d}.txt", rows[i][1].encode())):
                    info = tarfile.TarInfo(name)
                    info.size = len(blob)
                    tf.addfile(info, io.BytesIO(blob))
    pattern = str(tmp_path / "shard-{000..001}.tar")
    cfg = train_config(tmp_path, pattern, train_num_samples=15, dataset_resampled=True, batch_size=5)
    loaded, _, _ = read_rows(pattern, cfg)
    units = shard_units([r.blob[0] if r.blob else None for r in loaded])
    assert units is not None and sorted(map(len, units)) == [6, 6] and sorted(sum(units, [])) == list(range(12))
    res = train(cfg)
    assert res.steps == math.ceil(15 / 5) == 3
