"""Image-text matching (ITM) loss of a fusion model: binary cross-entropy of the ITM head on the
positive pairs and each anchor's sampled negatives (ALBEF / BLIP's ITM objective; METER's pairs).

The head scores a pair with two logits (no match, match); its match probability is their softmax,
which equals the sigmoid of their difference, so the trainer hands terms that difference as the
pair's *match logit* (`LossBatch.pair_logits`) and this term is `binary_cross_entropy_with_logits`
against label 1 on the diagonal and 0 elsewhere — the same number as BLIP's 2-way cross-entropy.

Which pairs are scored (`sample_pairs`): for each anchor i of the global batch, `negatives` other
rows j; the grid then holds (image i, caption j) and (image j, caption i), the two pairs EqSim's v2
terms need. Default sampling: `random` (METER's fine-tuning draws 15 captions per image; the EqSim
paper's METER recipe picks its close set among them); `itc-hard` draws them from the softmax of the
model's ITC similarities, as BLIP's own ITM training does (BLIP draws 1 per anchor and direction).
Why random is the default: docs/guide/train.md ("ITM heads").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from eqvl.errors import EqvlError
from eqvl.losses.batch import LossBatch
from eqvl.losses.registry import LossTerm, Part, register_loss
from eqvl.losses.spec import LossOption

SAMPLING = ("random", "itc-hard")


def sample_pairs(n: int, negatives: int, sampling: str = "random", itc_sim: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """[n, n] bool: the diagonal, and for each anchor i its sampled j's in both directions ((i, j), (j, i)).

    ``generator`` seeds the draw (the same on every process); ``itc_sim`` [n, n] for `itc-hard`."""
    k = min(negatives, n - 1)
    eye = torch.eye(n, dtype=torch.bool)
    chosen = torch.zeros(n, n, dtype=torch.bool)
    if k > 0:
        if sampling == "random":
            weights = (~eye).float()
        elif sampling == "itc-hard":
            if itc_sim is None:
                raise EqvlError("itm_sampling itc-hard needs the model's ITC similarities", param="itm_sampling")
            weights = torch.softmax(itc_sim.detach().float().cpu().masked_fill(eye, float("-inf")), dim=1)
        else:
            raise EqvlError(f"itm_sampling {sampling!r}: choose from {', '.join(SAMPLING)}", param="itm_sampling")
        idx = torch.multinomial(weights, k, replacement=False, generator=generator)
        chosen.scatter_(1, idx, True)
    return eye | chosen | chosen.T


def itm_bce(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean BCE over the scored pairs: label 1 on the diagonal (image i, its caption i), 0 elsewhere."""
    labels = torch.eye(logits.shape[0], dtype=logits.dtype, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits[mask], labels[mask])


@register_loss("itm")
class ITMLoss(LossTerm):
    """BCE of the ITM head on every scored pair of the global batch (the model must have an ITM head)."""

    #: the trainer scores pairs of the batch with the model's ITM head when a term says so
    needs_pair_scores = True
    options = (
        LossOption("weight", float, 1.0, "weight of the image-text matching (ITM) term", low=0),
        LossOption("negatives", int, 15, "negative captions (and images) scored per anchor by the ITM head "
                   "(METER: 15); EqSim's close set is chosen among them", low=1),
        LossOption("sampling", str, "random", "how they are drawn: random (METER, the EqSim paper) or itc-hard "
                   "(from the ITC similarity softmax, BLIP's own)", choices=SAMPLING),
    )

    @staticmethod
    def check_spec(names: list[str], values: dict) -> None:
        """EqSim's close set is chosen among the scored negatives: it cannot be larger."""
        if "eqsim" in names and values["eqsim_k"] > values["itm_negatives"]:
            raise EqvlError(f"`eqsim_k` {values['eqsim_k']} > `itm_negatives` {values['itm_negatives']}: with itm, "
                            "EqSim's close set is chosen among the ITM-scored negatives; lower `eqsim_k` or raise "
                            "`itm_negatives`", params=("eqsim_k", "itm_negatives"))

    def __init__(self, weight: float = 1.0, negatives: int = 15, sampling: str = "random"):
        super().__init__()
        self.weight, self.negatives, self.sampling = weight, negatives, sampling

    def forward(self, b: LossBatch) -> list[Part]:
        if b.pair_logits is None or b.pair_mask is None:
            raise EqvlError("loss itm needs a model with an image-text matching head (hf-itm:DIR of a "
                            "BlipForImageTextRetrieval); this model is a dual encoder (losses: itc, eqsim, ce, hardpos)",
                            param="loss")
        mask = b.pair_mask
        if b.pair_anchor is not None:  # cached negatives: pairs with an anchor (a negative's own pair is EqSim's)
            mask = mask & (b.pair_anchor[:, None] | b.pair_anchor[None, :])
        return [("itm", itm_bce(b.pair_logits, mask), self.weight)]
