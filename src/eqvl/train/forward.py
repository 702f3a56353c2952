"""One micro-batch through the model and the loss: encode, gather across ranks, score.

Captions, hard negatives and hard positives are encoded as one text batch ([captions; negatives;
positives]); the padded [n, K] / [n, P] slots are filled back from it for the loss.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import torch

from eqvl.losses import CombinedLoss, LossBatch
from eqvl.distributed import DistInfo, gather_no_grad, gather_with_grad


def forward_loss(model: torch.nn.Module, loss_fn: CombinedLoss, batch: Any, info: DistInfo, *, k: int, p: int,
                 step: int, seed: int, autocast: Callable = contextlib.nullcontext,
                 teacher: torch.nn.Module | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One micro-batch: encode, gather across ranks with gradient, apply every loss term. A `teacher`
    (--distill-model) encodes the same images and captions without gradient."""
    out, pairs = _model_forward(model, loss_fn, batch, info, step, seed, autocast)
    teach = _teacher_features(teacher, batch, info, autocast) if teacher is not None else (None, None, None)
    if isinstance(out, dict):
        img, txt, scale = out["image_features"], out["text_features"], out["logit_scale"]
        bias = out.get("logit_bias")
    else:
        img, txt, scale = out[0], out[1], out[2]
        bias = out[3] if len(out) > 3 else None  # open_clip SigLIP models return their logit_bias fourth
    img, txt, scale = img.float(), txt.float(), scale.float()
    n, d = batch.n, img.shape[-1]
    mn = batch.neg_slots.numel()
    neg = pos = None
    if k:
        neg = txt.new_zeros(n * k, d).index_copy(0, batch.neg_slots, txt[n:n + mn]).view(n, k, d)
    if p:
        pos = txt.new_zeros(n * p, d).index_copy(0, batch.pos_slots, txt[n + mn:]).view(n, p, d)

    def mask(x):
        g = gather_no_grad(x.to(torch.uint8) if x.dtype == torch.bool else x, info)
        return g.bool() if x.dtype == torch.bool else g

    lb = LossBatch(
        image=gather_with_grad(img, info), text=gather_with_grad(txt[:n], info), logit_scale=scale,
        neg=gather_with_grad(neg, info), neg_mask=mask(batch.neg_mask) if k else None,
        neg_type=mask(batch.neg_type) if k else None, pos=gather_with_grad(pos, info),
        pos_mask=mask(batch.pos_mask) if p else None, start=info.rank * n, end=(info.rank + 1) * n, step=step, seed=seed,
        logit_bias=bias.float() if bias is not None else None,
        teacher_image=teach[0], teacher_text=teach[1], teacher_logit_scale=teach[2],
        pair_logits=pairs[0] if pairs else None, pair_mask=pairs[1] if pairs else None,
        close_scores=pairs[2] if pairs else None, pair_anchor=pairs[3] if pairs else None)
    return loss_fn(lb)


def _model_forward(model: torch.nn.Module, loss_fn: CombinedLoss, batch: Any, info: DistInfo, step: int, seed: int,
                   autocast: Callable) -> tuple[Any, tuple[torch.Tensor, torch.Tensor, Any, Any] | None]:
    """The model's output, and for a fusion model (hf-itm:) the global [N, N] ITM match logits of the
    sampled pairs (each process scores its own images' rows; gathered with gradient), their mask, the
    cached scores that rank EqSim's close set, and (cached negatives: [G, G] over anchors and their
    negatives, `close_negatives.close_grid`) which entries are anchors."""
    base = model.module if hasattr(model, "module") else model
    with autocast():
        if not getattr(base, "pair_scores", False):
            return model(batch.images, batch.tokens), None
        from eqvl.train.itm_model import CloseInput, pair_sampler

        sampler = pair_sampler(loss_fn, step, seed)
        close_in: CloseInput | None = None
        start = info.rank * batch.n
        if sampler is not None and batch.close_images is not None:  # --close-cache: the cached negatives
            k = batch.close_scores.shape[1]
            close_in = CloseInput(batch.close_images, batch.close_tokens, k, "eqsim" in getattr(loss_fn, "terms", {}))
            start = info.rank * batch.n * (1 + k)
        out = model(batch.images, batch.tokens, sampler, batch.n, lambda x: gather_no_grad(x, info), start, close_in)
    if "pair_rows" not in out:
        return out, None
    close: torch.Tensor | None
    if close_in is not None:
        from eqvl.train.close_negatives import close_scores

        close = close_scores(gather_no_grad(batch.close_scores, info), batch.n, close_in.k)
    else:
        lookup = getattr(base, "close_lookup", None)  # itm_in_batch: the cached scores of the batch's pairs
        close = lookup(gather_no_grad(batch.indices, info)) if lookup is not None else None
    if close is not None:
        close = close.to(out["pair_mask"].device)
    return out, (gather_with_grad(out["pair_rows"].float(), info), out["pair_mask"], close, out.get("pair_anchor"))


def _teacher_features(teacher: torch.nn.Module, batch: Any, info: DistInfo, autocast: Callable) -> tuple:
    with torch.no_grad(), autocast():
        out = teacher(batch.images, batch.tokens[: batch.n])
    img, txt, scale = (out["image_features"], out["text_features"], out["logit_scale"]) if isinstance(out, dict) \
        else (out[0], out[1], out[2])
    return gather_no_grad(img.float(), info), gather_no_grad(txt.float(), info), scale.float()


def sync_term_grads(loss_fn: torch.nn.Module, info: DistInfo) -> None:
    """Average the gradients of the loss terms' own parameters (SigLIP's bias for a model without one)
    across ranks: DDP wraps the model only, and every rank must take the same step."""
    if not info.enabled:
        return
    import torch.distributed as dist

    for param in loss_fn.parameters():
        if param.grad is not None:
            dist.all_reduce(param.grad)
            param.grad /= info.world
