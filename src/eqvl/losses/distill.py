"""open_clip's distillation term (DistillClipLoss's distill_loss): the student's image->text and
text->image softmax rows follow a frozen teacher's, by soft cross-entropy.

The teacher (`--distill-model` / `--distill-pretrained`, open_clip's flags) encodes the same images and
tokens under no_grad; its features reach the term as `teacher_image` / `teacher_text` /
`teacher_logit_scale` of the batch. `itc+distill` is open_clip's `--distill` objective: its itc equals
DistillClipLoss's contrastive_loss and this term its distill_loss, on the same batch.
"""

from __future__ import annotations

import torch

from eqvl.errors import EqvlError
from eqvl.losses.batch import LossBatch
from eqvl.losses.registry import LossTerm, Part, register_loss
from eqvl.losses.spec import LossOption


def soft_cross_entropy(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    return -(teacher_logits.softmax(dim=1) * student_logits.log_softmax(dim=1)).sum(dim=1).mean(dim=0)


@register_loss("distill")
class DistillLoss(LossTerm):
    options = (LossOption("weight", float, 1.0, "weight of the distillation term (open_clip adds it with weight 1)",
                          low=0),)
    needs_teacher = True

    def __init__(self, weight: float = 1.0):
        super().__init__()
        self.weight = weight

    def forward(self, b: LossBatch) -> list[Part]:
        if b.teacher_image is None or b.teacher_text is None or b.teacher_logit_scale is None:
            if not self.training:
                return []  # a --val-data loss is the student's objective without the teacher
            raise EqvlError("`loss` ...+distill needs a teacher: pass `distill_model` and `distill_pretrained`", params=("loss", "distill_model", "distill_pretrained"))
        loc = b.local
        student_i = b.logit_scale * b.image[loc] @ b.text.T
        student_t = b.logit_scale * b.text[loc] @ b.image.T
        teacher_i = b.teacher_logit_scale * b.teacher_image[loc] @ b.teacher_text.T
        teacher_t = b.teacher_logit_scale * b.teacher_text[loc] @ b.teacher_image.T
        value = (soft_cross_entropy(teacher_i, student_i) + soft_cross_entropy(teacher_t, student_t)) / 2
        return [("distill", value, self.weight)]
