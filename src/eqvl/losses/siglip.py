"""SigLIP's sigmoid loss (Zhai et al. 2023), as open_clip's SigLipLoss: every image-caption pair is
its own binary decision, so SigLIP models are fine-tuned with the loss they were trained with.

Each process scores its own images against every caption of the global batch (gathered with
gradient): the matching caption is a positive (+1), every other one a negative (-1);
`-sum(logsigmoid(label * (scale * s + bias))) / local images`. With one process this is exactly
`open_clip.loss.SigLipLoss()(image, text, scale, bias)`; under torchrun the mean over ranks is
open_clip's value too (its neighbour exchange adds the same negative-only blocks). The bias is the
model's `logit_bias` (open_clip's SigLIP models have one); a model without it (CLIP) gets a learnable
bias owned by this term, initialised at the paper's -10.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from eqvl.losses.batch import LossBatch
from eqvl.losses.registry import LossTerm, Part, register_loss
from eqvl.losses.spec import LossOption

#: SigLIP's initial bias (paper, section 3.2), used only when the model has no logit_bias
INIT_BIAS = -10.0


def sigmoid_loss(image: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor, logit_bias: torch.Tensor,
                 positives: torch.Tensor) -> torch.Tensor:
    """`image` [n, D] against `text` [N, D]; `positives` [n] the matching column of each image row."""
    logits = logit_scale * image @ text.T + logit_bias
    labels = -torch.ones_like(logits)
    labels[torch.arange(image.shape[0], device=image.device), positives] = 1.0
    return -F.logsigmoid(labels * logits).sum() / image.shape[0]


@register_loss("siglip")
class SigLIPLoss(LossTerm):
    options = (LossOption("weight", float, 1.0, "weight of the sigmoid (SigLIP) term; open_clip's --siglip is "
                          "--loss siglip (or siglip+eqsim...)", low=0),)

    def __init__(self, weight: float = 1.0):
        super().__init__()
        self.weight = weight
        #: learnable bias for models without their own logit_bias (trained with the model)
        self.bias = nn.Parameter(torch.tensor(INIT_BIAS))

    def forward(self, b: LossBatch) -> list[Part]:
        loc = b.local
        bias = b.logit_bias if b.logit_bias is not None else self.bias
        positives = torch.arange(b.size, device=b.image.device)[loc]
        return [("siglip", sigmoid_loss(b.image[loc], b.text, b.logit_scale, bias, positives), self.weight)]
