"""CE-CLIP's extra terms (Zhang, Awal & Agrawal, 2023): cross-modal rank and intra-modal contrast.

CE-CLIP = hard-negative ITC + 0.2 * rank + 0.3 * intra-modal. The hard-negative ITC is the
``itc`` term, which appends the batch's hard negatives to its image->text columns whenever
the batch carries them, so ``--loss itc+ce`` is CE-CLIP and nothing is counted twice.

* rank: mean over valid (i, k) of relu(tau_k + s(I_i, T_i^k) - s(I_i, T_i)), scores on the
  logit scale as in the released code; tau_k is one adaptive margin per negative *type*:
  detached (mean positive score - mean score of type k), clamped to [0, tau_max], recomputed
  after every forward from that batch and used by the next one.
* intra-modal: for each caption, a softmax over [s(I_i, T_i), s(T_i, T_i^1), ..., s(T_i, T_i^K)]
  with target 0: the caption is pushed away from *its own* hard negatives in text space (the
  released code contrasted it with every caption's negatives of the batch).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from eqvl.losses.batch import LossBatch
from eqvl.losses.spec import LossOption
from eqvl.losses.registry import LossTerm, Part, register_loss


def rank_loss(pos: torch.Tensor, neg: torch.Tensor, mask: torch.Tensor, margin: torch.Tensor) -> torch.Tensor:
    """mean over mask of relu(margin + neg - pos); pos [N], neg/mask/margin [N, K]."""
    if not mask.any():
        return pos.new_zeros(())
    return F.relu(margin + neg - pos[:, None])[mask].mean()


def update_tau(pos: torch.Tensor, neg: torch.Tensor, mask: torch.Tensor, types: torch.Tensor,
               tau: torch.Tensor, tau_max: float) -> torch.Tensor:
    """New per-type margins: clamp(mean(pos) - mean(neg of type k), 0, tau_max); absent types keep theirs."""
    pos, neg = pos.detach(), neg.detach()
    new = tau.clone()
    mean_pos = pos.mean()
    for k in range(tau.shape[0]):
        sel = mask & (types == k)
        if sel.any():
            new[k] = torch.clamp(mean_pos - neg[sel].mean(), 0.0, tau_max)
    return new


def intra_modal_loss(pos: torch.Tensor, text_neg: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """CE with target 0 over [pos_i, text_neg_i1..iK] (invalid masked); rows without negatives skipped."""
    rows = mask.any(1)
    if not rows.any():
        return pos.new_zeros(())
    logits = torch.cat([pos[:, None], text_neg.masked_fill(~mask, float("-inf"))], 1)[rows]
    return F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device))


@register_loss("ce")
class CELoss(LossTerm):
    needs_negatives = True
    uses_caption_types = True
    context_args = ("n_types",)  # how many caption types the data has: one margin each
    tau: torch.Tensor  # a buffer (registered in __init__): the per-type margins
    options = (
        LossOption("rank_weight", float, 0.2, "CE-CLIP cross-modal rank loss weight", low=0),
        LossOption("imc_weight", float, 0.3, "CE-CLIP intra-modal contrast weight", low=0),
        LossOption("tau_max", float, 5.0, "upper clamp of CE's adaptive per-type margins (logit units)", low=0),
    )

    def __init__(self, rank_weight: float = 0.2, imc_weight: float = 0.3, tau_max: float = 5.0, n_types: int = 1):
        super().__init__()
        self.rank_weight, self.imc_weight, self.tau_max = rank_weight, imc_weight, tau_max
        # saved in checkpoints with the rest of the loss state, so a resumed run continues exactly
        self.register_buffer("tau", torch.zeros(max(1, n_types)))

    def forward(self, b: LossBatch) -> list[Part]:
        assert b.neg is not None and b.neg_mask is not None
        scale = b.logit_scale
        pos = scale * (b.image * b.text).sum(-1)  # [N]
        neg = scale * torch.einsum("nd,nkd->nk", b.image, b.neg)  # [N, K]
        types = b.neg_type if b.neg_type is not None else torch.zeros_like(b.neg_mask, dtype=torch.long)
        margin = self.tau[types.clamp(min=0)]
        parts: list[Part] = [("ce_rank", rank_loss(pos, neg, b.neg_mask, margin), self.rank_weight)]
        text_neg = scale * torch.einsum("nd,nkd->nk", b.text, b.neg)
        parts.append(("ce_imc", intra_modal_loss(pos, text_neg, b.neg_mask), self.imc_weight))
        if self.training:
            self.tau.copy_(update_tau(pos, neg, b.neg_mask, types, self.tau, self.tau_max))
        return parts
