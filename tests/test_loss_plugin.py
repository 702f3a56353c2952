"""Adding a loss term touches one file: this test is that file. The term below declares its options
beside its class; registration makes it a `--loss` name, its options `eqvl train` flags with help and
parse-time ranges, keys of `TrainConfig.loss_options` (and of every checkpoint's config), and the
keywords it is built with — nothing else in eqvl is edited."""

from __future__ import annotations

import pytest
import torch

from eqvl.cli import build_parser, main
from eqvl.losses import LossBatch, LossOption, LossTerm, register_loss
from eqvl.losses.registry import LOSSES, Part
from eqvl.train import TrainConfig


class AlignGap(LossTerm):
    """Toy term: keep matched cosines at least `gap` above the batch mean cosine."""

    options = (
        LossOption("weight", float, 1.0, "weight of the toy alignment-gap term", low=0),
        LossOption("gap", float, 0.1, "required gap in cosine units", low=0, high=1),
    )

    def __init__(self, weight: float = 1.0, gap: float = 0.1):
        super().__init__()
        self.weight, self.gap = weight, gap

    def forward(self, b: LossBatch) -> list[Part]:
        cos = b.image @ b.text.T
        return [("aligngap", torch.relu(self.gap + cos.mean() - cos.diagonal().mean()), self.weight)]


@pytest.fixture
def aligngap():
    register_loss("aligngap")(AlignGap)
    yield AlignGap
    LOSSES._classes.pop("aligngap")


def test_a_registered_term_gets_flags_help_ranges_config_keys_and_its_options(aligngap, capsys):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--aligngap-gap FLOAT required gap in cosine units (default: 0.1)" in help_text
    assert "aligngap" in help_text.split("registered:")[1].split(")")[0]

    assert main(["train", "--train-data", "x.csv", "--pretrained", "none", "--aligngap-gap", "1.5"]) == 2
    assert "eqvl train: error: --aligngap-gap 1.5: must be a finite number >= 0 and <= 1" in capsys.readouterr().err

    args = parser.parse_args(["train", "--train-data", "x.csv", "--loss", "itc+aligngap", "--aligngap-gap", "0.25"])
    assert args.aligngap_gap == 0.25
    cfg = TrainConfig(train_data="x.csv", pretrained="none", loss="itc+aligngap", loss_options={"aligngap_gap": 0.25})
    cfg.validate()
    combined = cfg.loss_spec.build()
    term = combined.terms["aligngap"]
    assert isinstance(term, AlignGap) and term.gap == 0.25 and term.weight == 1.0
    assert cfg.to_dict()["aligngap_gap"] == 0.25  # stored flat in checkpoints, read back by from_dict
    assert TrainConfig.from_dict(cfg.to_dict()).loss_spec.options["aligngap_gap"] == 0.25


def test_an_unknown_or_out_of_range_loss_option_is_refused_by_name(aligngap):
    from eqvl.errors import EqvlError

    with pytest.raises(EqvlError, match="aligngap_gap -0.5: must be a finite number >= 0") as exc:
        TrainConfig(train_data="x", pretrained="none", loss="aligngap", loss_options={"aligngap_gap": -0.5}).validate()
    assert exc.value.param == "aligngap_gap"
    with pytest.raises(EqvlError, match="unknown loss option 'aligngap_gapp'"):
        TrainConfig(train_data="x", pretrained="none", loss="aligngap", loss_options={"aligngap_gapp": 0.5}).validate()
