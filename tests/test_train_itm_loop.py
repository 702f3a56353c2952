"""`eqvl train --model hf-itm:DIR` through the same loop as open_clip models, on a tiny random
BlipForImageTextRetrieval: loss parts logged, save_pretrained dirs that load in transformers and in
`eqvl eval`, kill then --resume latest bit-identical, bad input as one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

from tests.helpers import scorers as F  # noqa: E402
from eqvl.cli import main  # noqa: E402
from eqvl.errors import EqvlError  # noqa: E402
from eqvl.train import TrainConfig, train  # noqa: E402
from tests.helpers.train import kill_after_step, make_csv, train_config  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def blip(tmp_path_factory) -> Path:
    return F.blip_dir(tmp_path_factory.mktemp("blip"))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_csv(tmp_path_factory.mktemp("data"), n=12, hard=False)


def _cfg(tmp_path: Path, blip: Path, csv: Path, **kw) -> TrainConfig:
    """The tiny run on the BLIP folder (weights from the folder: no `pretrained`), ITM + EqSim."""
    return train_config(tmp_path, csv, **{"model": f"hf-itm:{blip}", "pretrained": None, "epochs": 2, "lr": 1e-4,
                                          "loss": "itm+eqsim", "itm_negatives": 3, "eqsim_k": 2, **kw})


def test_itm_eqsim_trains_and_saves_pretrained_dirs(tmp_path, blip, data):
    steps: list[dict] = []
    res = train(_cfg(tmp_path, blip, data), on_step=steps.append)
    assert res.steps == 4 and {"itm", "eqsim", "eqsim_mse_v2_text", "loss"} <= set(steps[0])
    assert all(0 < r["itm"] < 10 for r in steps)
    run = tmp_path / "run"
    final = run / "final"
    assert final.is_symlink() and final.resolve() == (run / "checkpoints" / "epoch_2").resolve()
    assert (run / "checkpoints" / "epoch_1" / "config.json").is_file()
    loaded = transformers.BlipForImageTextRetrieval.from_pretrained(final)
    saved = torch.load(res.final_checkpoint, weights_only=True)["state_dict"]
    start = transformers.BlipForImageTextRetrieval.from_pretrained(blip).state_dict()
    moved = 0
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, saved[f"blip.{key}"]), key  # the dir holds exactly the trained weights
        moved += not torch.equal(value, start[key])
    assert moved > 10  # and they were trained


def test_saved_dir_scores_the_same_in_eqvl_eval(tmp_path, blip, data):
    res = train(_cfg(tmp_path, blip, data, epochs=1))
    root = data.parent
    foils = [{"id": str(i), "subset": "s", "image": f"images/{i:03d}.png", "caption": "a red square",
              "foil": "a blue circle"} for i in range(3)]
    (root / "foils.jsonl").write_text("".join(json.dumps(f) + "\n" for f in foils))
    out = tmp_path / "eval.json"
    rc = main(["eval", "--model", f"hf-itm:{res.output_dir / 'final'}", "--benchmark", "foils", "--data",
               str(root / "foils.jsonl"), "--output", str(out), "--no-cache", "--no-progress"])
    assert rc == 0
    from PIL import Image

    from eqvl.models import load_encoder

    scorer = load_encoder(f"hf-itm:{res.output_dir / 'final'}")
    model = transformers.BlipForImageTextRetrieval.from_pretrained(res.output_dir / "final").eval()
    tok = transformers.AutoTokenizer.from_pretrained(res.output_dir / "final")
    pix = scorer.preprocess(Image.open(root / "images/000.png").convert("RGB"))[None]
    ids = tok(["a red square"], return_tensors="pt")
    with torch.no_grad():
        direct = torch.softmax(model(pixel_values=pix, use_itm_head=True, **ids).itm_score, -1)[0, 1]
    ours = scorer.score_pairs([pix[0]], ["a red square"])[0]
    assert abs(float(direct) - float(ours)) < 1e-5


@pytest.mark.parametrize("cached", [False, True], ids=["in-batch", "close-cache"])
def test_kill_then_resume_latest_is_bit_identical(tmp_path, blip, data, cached):
    common = dict(epochs=2, save_every_steps=1)
    if cached:  # negatives drawn from the close cache: the same draw after the resume
        common.update(close_cache=str(tmp_path / "close.npz"), close_images=4)
    full = train(_cfg(tmp_path / "a", blip, data, **common))

    class Killed(Exception):
        pass

    def kill(rec):
        if rec["step"] == 3:
            raise Killed

    with pytest.raises(Killed):
        train(_cfg(tmp_path / "b", blip, data, **common), on_step=kill)
    resumed = train(_cfg(tmp_path / "b", blip, data, resume="latest", **common))
    a = torch.load(full.final_checkpoint, weights_only=True)["state_dict"]
    b = torch.load(resumed.final_checkpoint, weights_only=True)["state_dict"]
    assert resumed.steps == full.steps == 4
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_itm_on_open_clip_model_and_lock_text_are_one_line(tmp_path, blip, data):
    with pytest.raises(EqvlError, match="image-text matching head"):
        train(TrainConfig(model="eqvl-tiny-rn", pretrained="none", train_data=str(data), loss="itm",
                          output=str(tmp_path / "x"), batch_size=6, progress=False, preload=True))
    with pytest.raises(EqvlError, match="`lock_text`"):
        train(_cfg(tmp_path / "y", blip, data, lock_text=True))


@pytest.mark.parametrize("cached", [False, True], ids=["in-batch", "close-cache"])
def test_torchrun_two_processes_match_one(tmp_path, blip, data, cached):
    """2 processes x batch 3 = 1 process x batch 6: same global grid (with a close cache: the same
    anchors and drawn negatives, in another order), same losses, same weights (1e-5)."""
    import os
    import subprocess
    import sys

    common = ["--model", f"hf-itm:{blip}", "--train-data", str(data), "--loss", "itm+itc+eqsim", "--itm-negatives", "3",
              "--eqsim-k", "2", "--epochs", "1", "--max-steps", "2", "--lr", "1e-4", "--log-every", "1", "--preload",
              "--no-train-augment", "--no-progress", "--seed", "3", "--precision", "fp32"]
    if cached:
        common += ["--close-cache", str(tmp_path / "close.npz"), "--close-images", "4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "eqvl", "train", *common, "--batch-size", "3", "--output", str(tmp_path / "two")],
                          env=env, capture_output=True, text=True, timeout=280)  # hang guard (gloo rendezvous)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert main(["train", *common, "--batch-size", "6", "--output", str(tmp_path / "one")]) == 0
    rows = {k: [json.loads(x) for x in (tmp_path / k / "metrics.jsonl").read_text().splitlines()] for k in ("one", "two")}
    one, two = ([r for r in rows[k] if "loss" in r] for k in ("one", "two"))
    assert [r["step"] for r in one] == [r["step"] for r in two] == [1, 2]
    for a, b in zip(one, two):
        for key in ("loss", "itm", "itc", "eqsim"):
            assert abs(a[key] - b[key]) <= 1e-5 * max(1.0, abs(a[key])), (key, a[key], b[key])
    wa = torch.load(tmp_path / "one" / "checkpoints" / "epoch_latest.pt", weights_only=True)["state_dict"]
    wb = torch.load(tmp_path / "two" / "checkpoints" / "epoch_latest.pt", weights_only=True)["state_dict"]
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa if wa[k].is_floating_point()) < 1e-5


def test_sigkill_then_resume_latest_cli(tmp_path, blip):
    """A real SIGKILL (anywhere, even inside a checkpoint or save_pretrained write), then `--resume latest`:
    the same weights bit for bit, in epoch_N.pt and in the final save_pretrained directory."""
    csv = make_csv(tmp_path, n=18, hard=False)
    args = ["train", "--train-data", str(csv), "--model", f"hf-itm:{blip}", "--loss", "itm+eqsim", "--itm-negatives",
            "3", "--eqsim-k", "2", "--batch-size", "6", "--epochs", "2", "--save-every-steps", "1", "--preload",
            "--no-train-augment", "--log-every", "1", "--no-progress", "--lr", "1e-4"]
    assert main([*args, "--output", str(tmp_path / "full")]) == 0
    kill_after_step(args, tmp_path / "killed", 4, hang_guard_s=280)
    assert main([*args, "--output", str(tmp_path / "killed"), "--resume", "latest"]) == 0
    a = torch.load(tmp_path / "full" / "checkpoints" / "epoch_2.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "killed" / "checkpoints" / "epoch_2.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    fa = transformers.BlipForImageTextRetrieval.from_pretrained(tmp_path / "full" / "final").state_dict()
    fb = transformers.BlipForImageTextRetrieval.from_pretrained(tmp_path / "killed" / "final").state_dict()
    assert all(torch.equal(fa[k], fb[k]) for k in fa)


def test_periodic_eval_and_val_loss_on_itm_model(tmp_path, blip, data):
    """--eval-benchmark scores the live ITM head as `eqvl eval --model hf-itm:` would; --val-data logs a loss."""
    root = data.parent
    foils = [{"id": str(i), "subset": "s", "image": f"images/{i:03d}.png", "caption": "a red square",
              "foil": "a blue circle"} for i in range(4)]
    (root / "foils_eval.jsonl").write_text("".join(json.dumps(f) + "\n" for f in foils))
    evals: list[dict] = []
    res = train(_cfg(tmp_path, blip, data, epochs=1, eval_benchmark=[f"foils:{root / 'foils_eval.jsonl'}"],
                     val_data=str(data)), on_eval=evals.append)
    ev = next(r for r in evals if r["event"] == "eval")
    val = next(r for r in evals if r["event"] == "val")
    assert 0.0 <= ev["eval/foils/acc"] <= 1.0 and val["val/loss"] > 0
    out = tmp_path / "e.json"
    assert main(["eval", "--model", f"hf-itm:{res.output_dir / 'final'}", "--benchmark", "foils", "--data",
                 str(root / "foils_eval.jsonl"), "--output", str(out), "--no-cache", "--no-progress"]) == 0
    assert json.loads(out.read_text())["metrics"]["acc"] == ev["eval/foils/acc"]  # the live model = the saved one


def test_bf16_trains_16_bit_weights(tmp_path, blip, data):
    """--precision bf16 loads the ITM model with 16-bit weights (as open_clip models), not silently fp32."""
    res = train(_cfg(tmp_path, blip, data, epochs=1, precision="bf16"))
    saved = torch.load(res.final_checkpoint, weights_only=True)["state_dict"]
    assert saved["blip.itm_head.weight"].dtype == torch.bfloat16
    loaded = transformers.BlipForImageTextRetrieval.from_pretrained(res.output_dir / "final")
    assert torch.equal(loaded.itm_head.weight.to(torch.bfloat16), saved["blip.itm_head.weight"])


def test_lock_image_accumulation_clipping_checkpointing(tmp_path, blip, data):
    """--lock-image freezes BLIP's vision tower (and its ITC projection) and nothing else; accumulation,
    clipping and gradient checkpointing run through the same loop."""
    res = train(_cfg(tmp_path, blip, data, epochs=1, batch_size=3, accum_freq=2, grad_clip_norm=1.0, lock_image=True,
                     grad_checkpointing=True))
    start = transformers.BlipForImageTextRetrieval.from_pretrained(blip).state_dict()
    after = transformers.BlipForImageTextRetrieval.from_pretrained(res.output_dir / "final").state_dict()
    frozen = [k for k in start if k.startswith(("vision_model.", "vision_proj."))]
    assert frozen and all(torch.equal(start[k], after[k]) for k in frozen)
    assert not torch.equal(start["itm_head.weight"], after["itm_head.weight"])
