"""Hard positives (Kamath et al., "The Hard Positive Truth about Vision-Language Compositionality").

A hard positive c_p of image i (a rewrite that keeps the meaning) is an *additional positive*
of that image: each c_p is contrasted, in both directions, against the same negatives as the
original caption (the other images' captions and the batch's hard negatives) but never against
the image's other positives — so with ``itc`` the objective is a multi-positive contrastive
loss. A margin term keeps s(I, c_p) above s(I, c_n) for every positive/negative pair of the image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from eqvl.losses.batch import LossBatch
from eqvl.losses.spec import LossOption
from eqvl.losses.registry import LossTerm, Part, register_loss


def positive_contrastive_loss(pos_logits: torch.Tensor, pos_mask: torch.Tensor, i2t: torch.Tensor,
                              neg_logits: torch.Tensor | None, t2i: torch.Tensor) -> torch.Tensor:
    """Multi-positive InfoNCE for the hard positives.

    pos_logits [N, P]: s(I_i, c_ip); i2t [N, N]: s(I_i, T_j) (the diagonal is the image's own
    caption, excluded as a competitor); neg_logits [N, M] extra image->text negatives (-inf where
    invalid) or None; t2i [N, P, N]: s(c_ip, I_j), target j = i. Mean over valid (i, p) of the
    average of the two directions' cross-entropies.
    """
    n, p = pos_mask.shape
    if not pos_mask.any():
        return pos_logits.new_zeros(())
    eye = torch.eye(n, dtype=torch.bool, device=i2t.device)
    others = i2t.masked_fill(eye, float("-inf"))  # [N, N]
    cols = [others] if neg_logits is None else [others, neg_logits]
    denom_rest = torch.logsumexp(torch.cat(cols, 1), dim=1)  # [N]
    lse = torch.logaddexp(pos_logits, denom_rest[:, None])  # [N, P]
    i2t_ce = lse - pos_logits
    target = torch.arange(n, device=i2t.device)[:, None].expand(n, p)
    t2i_ce = torch.logsumexp(t2i, dim=-1) - t2i.gather(-1, target[..., None]).squeeze(-1)
    return ((i2t_ce + t2i_ce) / 2)[pos_mask].mean()


def positive_margin_loss(pos: torch.Tensor, pos_mask: torch.Tensor, neg: torch.Tensor, neg_mask: torch.Tensor,
                         margin: float) -> torch.Tensor:
    """mean over valid (i, p, n) of relu(margin + s(I_i, c_in) - s(I_i, c_ip)) (cosine units)."""
    valid = pos_mask[:, :, None] & neg_mask[:, None, :]
    if not valid.any():
        return pos.new_zeros(())
    return F.relu(margin + neg[:, None, :] - pos[:, :, None])[valid].mean()


@register_loss("hardpos")
class HardPosLoss(LossTerm):
    needs_positives = True
    options = (
        LossOption("weight", float, 1.0, "weight of the hard-positive contrastive term", low=0),
        LossOption("margin", float, 0.05, "margin of s(I, c_pos) over s(I, c_neg) (cosine units)", low=0),
        LossOption("margin_weight", float, 1.0, "weight of the hard-positive margin term", low=0),
    )

    def __init__(self, weight: float = 1.0, margin: float = 0.05, margin_weight: float = 1.0):
        super().__init__()
        self.weight, self.margin, self.margin_weight = weight, margin, margin_weight
        self.needs_negatives = margin_weight > 0

    def forward(self, b: LossBatch) -> list[Part]:
        assert b.pos is not None and b.pos_mask is not None
        scale = b.logit_scale
        pos_cos = torch.einsum("nd,npd->np", b.image, b.pos)  # [N, P]
        i2t = scale * b.image @ b.text.T
        neg_logits = neg_cos = None
        if b.neg is not None and b.neg_mask is not None:
            neg_cos = torch.einsum("nd,nkd->nk", b.image, b.neg)
            flat = b.neg.reshape(-1, b.neg.shape[-1])
            neg_logits = (scale * b.image @ flat.T).masked_fill(~b.neg_mask.reshape(1, -1), float("-inf"))
        t2i = scale * torch.einsum("npd,md->npm", b.pos, b.image)
        parts: list[Part] = [("hardpos", positive_contrastive_loss(scale * pos_cos, b.pos_mask, i2t, neg_logits, t2i), self.weight)]
        if self.margin_weight > 0 and neg_cos is not None and b.neg_mask is not None:
            parts.append(("hardpos_margin", positive_margin_loss(pos_cos, b.pos_mask, neg_cos, b.neg_mask, self.margin),
                          self.margin_weight))
        return parts
