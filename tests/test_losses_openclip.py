"""SigLIP and distillation terms beside open_clip's own losses on the same batch (issue 26.12):
`siglip` equals open_clip.loss.SigLipLoss, `itc+distill` equals DistillClipLoss's two parts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from eqvl.losses import LossBatch
from eqvl.losses.distill import DistillLoss
from eqvl.losses.itc import ITCLoss
from eqvl.losses.siglip import SigLIPLoss

open_clip_loss = pytest.importorskip("open_clip.loss")


def _features(n: int = 8, d: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (F.normalize(torch.randn(n, d, generator=g), dim=-1), F.normalize(torch.randn(n, d, generator=g), dim=-1))


def test_siglip_equals_open_clip_siglip_loss_on_the_same_batch():
    img, txt = _features()
    scale, bias = torch.tensor(10.0), torch.tensor(-10.0)
    ours = SigLIPLoss()(LossBatch(image=img, text=txt, logit_scale=scale, logit_bias=bias))
    theirs = open_clip_loss.SigLipLoss()(img, txt, scale, bias)
    assert ours[0][0] == "siglip"
    torch.testing.assert_close(ours[0][1], theirs, rtol=1e-6, atol=1e-6)
    # a model without its own logit_bias: the term's learnable bias, initialised as the paper's -10
    own = SigLIPLoss()
    torch.testing.assert_close(own(LossBatch(image=img, text=txt, logit_scale=scale))[0][1], theirs)
    assert own.bias.requires_grad


def test_siglip_gradients_equal_open_clip_siglip_loss():
    img, txt = _features(seed=1)
    ours_in = [t.clone().requires_grad_(True) for t in (img, txt)]
    theirs_in = [t.clone().requires_grad_(True) for t in (img, txt)]
    scale, bias = torch.tensor(7.0), torch.tensor(-5.0)
    SigLIPLoss()(LossBatch(image=ours_in[0], text=ours_in[1], logit_scale=scale, logit_bias=bias))[0][1].backward()
    open_clip_loss.SigLipLoss()(theirs_in[0], theirs_in[1], scale, bias).backward()
    for a, b in zip(ours_in, theirs_in):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-7)


def test_itc_plus_distill_equals_open_clip_distill_clip_loss():
    img, txt = _features(seed=2)
    t_img, t_txt = _features(seed=3)
    scale, t_scale = torch.tensor(20.0), torch.tensor(50.0)
    batch = LossBatch(image=img, text=txt, logit_scale=scale, teacher_image=t_img, teacher_text=t_txt,
                      teacher_logit_scale=t_scale)
    contrastive, distill = open_clip_loss.DistillClipLoss()(img, txt, scale, t_img, t_txt, t_scale)
    torch.testing.assert_close(ITCLoss()(batch)[0][1], contrastive)
    torch.testing.assert_close(DistillLoss()(batch)[0][1], distill)


def test_distill_without_a_teacher_is_one_line():
    from eqvl.errors import EqvlError

    img, txt = _features()
    with pytest.raises(EqvlError, match="needs a teacher: pass `distill_model`"):
        DistillLoss()(LossBatch(image=img, text=txt, logit_scale=torch.tensor(10.0)))


def test_siglip_trains_end_to_end_and_open_clip_flags_are_accepted_or_pointed(tmp_path, capsys):
    import json

    from eqvl.cli import main
    from eqvl.commands.train import siglip_loss_spec

    from tests.helpers.train import make_csv

    assert siglip_loss_spec("itc+eqsim") == "siglip+eqsim" and siglip_loss_spec("ce") == "siglip+ce"
    csv = make_csv(tmp_path / "d", n=12, hard=False)
    base = ["train", "--train-data", str(csv), "--model", "eqvl-tiny-rn", "--pretrained", "none", "--lr", "1e-3",
            "--batch-size", "6", "--epochs", "1", "--preload", "--no-train-augment", "--no-progress", "--log-every", "1"]
    assert main([*base, "--siglip", "--local-loss", "--gather-with-grad", "--output", str(tmp_path / "s")]) == 0
    recs = [json.loads(x) for x in (tmp_path / "s" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in recs if "siglip" in r]
    assert len(steps) == 2 and all(r["siglip"] > 0 for r in steps)
    ckpt = torch.load(tmp_path / "s" / "checkpoints" / "epoch_1.pt", weights_only=True)
    assert float(ckpt["loss_state"]["terms.siglip.bias"]) != -10.0  # the term's bias was trained
    capsys.readouterr()
    assert main([*base, "--name", "x", "--output", str(tmp_path / "n")]) == 2
    assert "--name is open_clip's; in eqvl the run folder is --output DIR" in capsys.readouterr().err
    assert main([*base, "--imagenet-val", "/data/val", "--output", str(tmp_path / "n")]) == 2
    assert "--eval-benchmark NAME:PATH" in capsys.readouterr().err


def test_distill_model_trains_a_student_against_a_frozen_teacher(tmp_path, capsys):
    import json

    from eqvl.cli import main

    from tests.helpers.train import make_csv

    csv = make_csv(tmp_path / "d", n=12, hard=False)
    base = ["train", "--train-data", str(csv), "--model", "eqvl-tiny-rn", "--pretrained", "none", "--lr", "1e-3",
            "--batch-size", "6", "--epochs", "1", "--preload", "--no-train-augment", "--no-progress", "--log-every", "1"]
    assert main([*base, "--output", str(tmp_path / "teacher")]) == 0
    teacher = tmp_path / "teacher" / "checkpoints" / "epoch_1.pt"
    before = {k: v.clone() for k, v in torch.load(teacher, weights_only=True)["state_dict"].items()}
    assert main([*base, "--loss", "itc+distill", "--distill-model", "eqvl-tiny-rn", "--distill-pretrained", str(teacher),
                 "--seed", "1", "--output", str(tmp_path / "student")]) == 0
    recs = [json.loads(x) for x in (tmp_path / "student" / "metrics.jsonl").read_text().splitlines()]
    assert [r["distill"] > 0 for r in recs if "distill" in r] == [True, True]
    after = torch.load(teacher, weights_only=True)["state_dict"]
    assert all(torch.equal(before[k], after[k]) for k in before)  # the teacher file is read, never written
    capsys.readouterr()
    assert main([*base, "--loss", "itc+distill", "--output", str(tmp_path / "x")]) == 2
    assert "distillation needs both: --loss ...+distill and --distill-model" in capsys.readouterr().err
