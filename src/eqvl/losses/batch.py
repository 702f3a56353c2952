"""What every loss term receives: global (all-rank) features and masks, plus the local shard.

Features are gathered across processes *with* gradient before a term sees them, so a term
written for one process on the global batch is also correct under torchrun as long as the
value it returns, averaged over ranks, is the global-batch loss (see `eqvl.train.distributed`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class LossBatch:
    #: [N, D] L2-normalised image features of the global batch
    image: torch.Tensor
    #: [N, D] L2-normalised caption features (caption i belongs to image i)
    text: torch.Tensor
    #: scalar tensor, exp of the model's learnable log-temperature (already clamped)
    logit_scale: torch.Tensor
    #: [N, K, D] hard-negative caption features (zeros where padded) or None
    neg: torch.Tensor | None = None
    #: [N, K] bool, True where a hard negative exists
    neg_mask: torch.Tensor | None = None
    #: [N, K] long, index of the negative's type (see `type_names`), -1 where padded
    neg_type: torch.Tensor | None = None
    #: [N, P, D] hard-positive caption features or None
    pos: torch.Tensor | None = None
    #: [N, P] bool
    pos_mask: torch.Tensor | None = None
    #: rows [start, end) of the global batch that belong to this process
    start: int = 0
    end: int | None = None
    #: [N, N] ITM match logits (image i, caption j) of a fusion model, or None for a dual encoder;
    #: only the pairs `pair_mask` marks were scored (the diagonal and each anchor's sampled negatives)
    pair_logits: torch.Tensor | None = None
    #: [N, N] bool, True where `pair_logits` holds a score
    pair_mask: torch.Tensor | None = None
    #: [N, N] cached ITM probabilities (`--close-cache`) that rank EqSim's close set; NaN where not cached
    close_scores: torch.Tensor | None = None
    #: [N] bool, the anchors of a fusion model's grid when it also holds their cached negatives
    #: (`--close-cache`: rows other than the batch's); None: every row is an anchor
    pair_anchor: torch.Tensor | None = None
    #: optimisation step (seeds stochastic parts identically on every rank)
    step: int = 0
    seed: int = 0
    #: the model's learnable logit bias (open_clip SigLIP models), else None
    logit_bias: torch.Tensor | None = None
    #: a frozen teacher's [N, D] features and logit scale on the same batch (--distill-model), else None
    teacher_image: torch.Tensor | None = None
    teacher_text: torch.Tensor | None = None
    teacher_logit_scale: torch.Tensor | None = None

    @property
    def size(self) -> int:
        return self.image.shape[0]

    @property
    def local(self) -> slice:
        return slice(self.start, self.size if self.end is None else self.end)
