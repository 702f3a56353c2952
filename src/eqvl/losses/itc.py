"""Image-text contrastive loss (CLIP's symmetric cross-entropy), as in open_clip's ClipLoss.

Optionally the batch's hard-negative captions are extra image->text columns (NegCLIP /
CE-CLIP's hard-negative ITC); text->image is unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from eqvl.losses.batch import LossBatch
from eqvl.losses.spec import LossOption
from eqvl.losses.registry import LossTerm, Part, register_loss


def itc_loss(logits_per_image: torch.Tensor, logits_per_text: torch.Tensor, labels: torch.Tensor,
             extra_image_logits: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric CE. ``logits_per_image`` [n, N] rows = images, ``labels`` [n] the matching column.

    ``extra_image_logits`` [n, M] (already -inf where invalid) are appended to the image->text rows.
    """
    li = logits_per_image if extra_image_logits is None else torch.cat([logits_per_image, extra_image_logits], 1)
    return (F.cross_entropy(li, labels) + F.cross_entropy(logits_per_text, labels)) / 2


@register_loss("itc")
class ITCLoss(LossTerm):
    """``hard_negatives``: "auto" (use them whenever the batch carries them), "on", "off"."""

    options = (
        LossOption("weight", float, 1.0, "weight of the contrastive (CLIP) term", low=0),
        LossOption("hard_negatives", str, "auto", "use the batch's hard negatives as extra image->text negatives "
                   "(auto: when loaded)", choices=("auto", "on", "off")),
    )

    def __init__(self, weight: float = 1.0, hard_negatives: str = "auto"):
        super().__init__()
        self.weight = weight
        self.hard_negatives = hard_negatives
        self.needs_negatives = hard_negatives == "on"

    def forward(self, b: LossBatch) -> list[Part]:
        loc = b.local
        img, txt = b.image[loc], b.text[loc]
        labels = torch.arange(b.size, device=img.device)[loc]
        li = b.logit_scale * img @ b.text.T
        lt = b.logit_scale * txt @ b.image.T
        extra = None
        if self.hard_negatives != "off" and b.neg is not None and b.neg_mask is not None and b.neg_mask.any():
            negs = b.neg.reshape(-1, b.neg.shape[-1])  # [N*K, D]
            extra = b.logit_scale * img @ negs.T
            extra = extra.masked_fill(~b.neg_mask.reshape(1, -1), float("-inf"))
        return [("itc", itc_loss(li, lt, labels, extra), self.weight)]
