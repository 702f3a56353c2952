"""A BLIP image-text retrieval model (`--model hf-itm:DIR`) as the trainer's model: one forward gives
the ITC features (as open_clip models do) and the ITM match logits of the pairs the loss samples.

Per step: the vision tower once per image, the text encoder once per text (ITC), and the fusion
(text encoder with cross-attention) once per scored pair: N positives + up to 2 N K negatives for K
`--itm-negatives` (each anchor's image with K captions, K images with its caption; pairs drawn from
both sides coincide and are scored once). The match logit is `itm_head[1] - itm_head[0]`, so
`sigmoid(logit)` is exactly the probability `eqvl eval --model hf-itm:DIR` reports.

The bundle mirrors `eqvl.models.openclip`'s (model, preprocess_train / _val, tokenizer, model_name);
the tokenizer pads to a fixed length so batches collate like open_clip tokens; the attention mask is
`ids != pad`. `logit_scale` is a fixed buffer (1 / 0.07, BLIP's initial ITC temperature): the
transformers model has no temperature parameter, and `save_pretrained` must give back exactly it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from eqvl.errors import EqvlError

TRAINABLE_ITM = ("BlipForImageTextRetrieval",)
#: the losses an hf-itm model trains with (itc on BLIP's ITC head, the rest on ITM scores or ITC features)
ITM_LOSSES = ("itm", "itc", "eqsim", "ce", "hardpos")
PairSampler = Callable[[int, torch.Tensor], torch.Tensor]


@dataclass
class CloseInput:
    """This process's cached negatives (`eqvl.train.close_negatives`): [n K] images and tokens, K each."""

    images: torch.Tensor
    tokens: torch.Tensor
    k: int
    diag: bool  # score each negative with its own caption (EqSim's v2 needs s_jj)


class ItmTrainModel(nn.Module):
    """`forward(images, tokens, sampler)` -> dict of ITC features, logit_scale and the scored pair grid."""

    pair_scores = True
    blip: Any  # transformers' BlipForImageTextRetrieval: its towers and heads are called by name below
    logit_scale: torch.Tensor  # a buffer (registered in __init__)

    def __init__(self, blip: nn.Module, pad_id: int):
        super().__init__()
        self.blip = blip
        self.pad_id = int(pad_id)
        self.register_buffer("logit_scale", torch.tensor(math.log(1 / 0.07)))

    def forward(self, images: torch.Tensor, tokens: torch.Tensor, sampler: PairSampler | None = None,
                n: int | None = None, gather: Callable[[torch.Tensor], torch.Tensor] | None = None,
                start: int = 0, close: CloseInput | None = None) -> dict[str, Any]:
        """ITC features of every text; with a `sampler`, the ITM match logits of this process's rows
        (its images, rows [start, start + n) of the global grid) with every caption of the global batch
        (`gather`: all ranks' tensors concatenated, no gradient; None: one process); with `close`
        (--close-cache), of the anchors and their cached negatives instead (`close_negatives.close_grid`)."""
        m = self.blip
        mask = (tokens != self.pad_id).long()
        if close is not None:
            vis_all = m.vision_model(pixel_values=torch.cat([images, close.images])).last_hidden_state
            vis = vis_all[:images.shape[0]]
        else:
            vis = m.vision_model(pixel_values=images).last_hidden_state
        text = m.text_encoder(input_ids=tokens, attention_mask=mask).last_hidden_state
        img_f = F.normalize(m.vision_proj(vis[:, 0, :]), dim=-1)
        txt_f = F.normalize(m.text_proj(text[:, 0, :]), dim=-1)
        out: dict[str, Any] = {"image_features": img_f, "text_features": txt_f, "logit_scale": self.logit_scale.exp()}
        if close is not None:
            from eqvl.train.close_negatives import close_grid

            n = images.shape[0] if n is None else n
            caps = (gather or (lambda x: x))(torch.cat([tokens[:n], close.tokens]))
            grid, anchor = close_grid(n, close.k, caps.shape[0] // (n * (1 + close.k)), close.diag)
            rows = vis_all.shape[0]
            ii, tt = grid[start:start + rows].to(images.device).nonzero(as_tuple=True)
            logits = self.match_logits(vis_all[ii], caps[tt], (caps[tt] != self.pad_id).long())
            out["pair_mask"], out["pair_anchor"] = grid.to(images.device), anchor.to(images.device)
            out["pair_rows"] = torch.zeros(rows, caps.shape[0], dtype=logits.dtype,
                                           device=logits.device).index_put((ii, tt), logits)
        elif sampler is not None:
            n = images.shape[0] if n is None else n
            gather = gather or (lambda x: x)
            caps = gather(tokens[:n])
            big = caps.shape[0]
            grid = sampler(big, gather(img_f.detach()) @ gather(txt_f[:n].detach()).T).to(images.device)
            ii, tt = grid[start:start + n].nonzero(as_tuple=True)
            logits = self.match_logits(vis[ii], caps[tt], (caps[tt] != self.pad_id).long())
            out["pair_mask"] = grid
            out["pair_rows"] = torch.zeros(n, big, dtype=logits.dtype, device=logits.device).index_put((ii, tt), logits)
        return out

    def match_logits(self, vis: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The ITM head on (image features, caption) rows: match minus no-match logit, as
        `BlipForImageTextRetrieval.forward(use_itm_head=True)` computes the head."""
        m = self.blip
        atts = torch.ones(vis.shape[:-1], dtype=torch.long, device=vis.device)
        fused = m.text_encoder(input_ids=ids, attention_mask=mask, encoder_hidden_states=vis,
                               encoder_attention_mask=atts).last_hidden_state
        two = m.itm_head(fused[:, 0, :]).float()
        return two[:, 1] - two[:, 0]


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """No transformers progress bars ("Loading weights", "Writing model shards") in eqvl train's output."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


class FixedLengthTokenizer:
    """texts -> [n, L] input ids padded to the model's length (collates like open_clip's tokens)."""

    def __init__(self, tokenizer: Any, length: int):
        self.tokenizer, self.length = tokenizer, length

    def __call__(self, texts: list[str]) -> torch.Tensor:
        return self.tokenizer(list(texts), padding="max_length", truncation=True, max_length=self.length,
                              return_tensors="pt")["input_ids"]


@dataclass
class ItmBundle:
    model: ItmTrainModel
    preprocess_train: Any
    preprocess_val: Any
    tokenizer: FixedLengthTokenizer
    model_name: str
    directory: Path
    hf_tokenizer: Any
    image_processor: Any

    def save_pretrained(self, folder: Path) -> None:
        """The transformers model, its tokenizer and image processor: what `hf-itm:folder` loads."""
        self.model.blip.save_pretrained(folder)
        self.hf_tokenizer.save_pretrained(folder)
        self.image_processor.save_pretrained(folder)

    def encoder(self, name: str) -> Any:
        """The live model as `eqvl eval` scores it (`hf-itm:`'s ItmScorer), for --eval-benchmark."""
        from eqvl.models.itm import ItmScorer

        return ItmScorer(self.model.blip, self.hf_tokenizer, self.image_processor, name=name, precision="fp32",
                         kind="itm")

    def export(self, ckdir: Path, name: str) -> Path:
        """`checkpoints/epoch_N/` beside `epoch_N.pt` (written aside, then renamed into place), and
        `<output>/final`, a link to the newest: `eqvl eval --model hf-itm:<output>/final` loads it."""
        folder = ckdir / name.removesuffix(".pt")
        tmp = ckdir / f".{folder.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        with quiet_transformers():
            self.save_pretrained(tmp)
        if folder.exists():  # a resumed run rewrites the epoch it had reached (its own output)
            shutil.rmtree(folder)
        os.replace(tmp, folder)
        link, tmp_link = ckdir.parent / "final", ckdir.parent / ".final.tmp"
        if tmp_link.is_symlink() or tmp_link.exists():
            tmp_link.unlink()
        os.symlink(os.path.relpath(folder, ckdir.parent), tmp_link)
        if link.exists() and not link.is_symlink():
            raise EqvlError(f"{link} exists and is not eqvl's link to the newest epoch; move it away", param="output")
        os.replace(tmp_link, link)
        return folder


def check_itm_losses(spec: str, arch: str, terms: tuple[str, ...]) -> None:
    """One line naming the architecture and the losses it trains with, for anything else."""
    if arch not in TRAINABLE_ITM:
        raise EqvlError(f"`model` {spec} is a {arch}: eqvl trains ITM heads of {', '.join(TRAINABLE_ITM)} "
                        f"(losses {', '.join(ITM_LOSSES)}); open_clip models train with itc, eqsim, ce, hardpos",
                        params=("model",))
    bad = [t for t in terms if t not in ITM_LOSSES]
    if bad:
        raise EqvlError(f"`loss` {'+'.join(terms)}: {arch} ({spec}) trains with {', '.join(ITM_LOSSES)}, not "
                        f"{', '.join(bad)}", params=("loss",))


def architecture(directory: Path, spec: str) -> str:
    """config.json's first architecture (any: the caller says what it supports)."""
    cfg = directory / "config.json"
    try:
        raw = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EqvlError(f"`model` {spec}: cannot read {cfg} (expected a save_pretrained directory): {exc}",
                        params=("model",)) from None
    archs = raw.get("architectures") or []
    return str(archs[0]) if archs else f"model without architectures (model_type {raw.get('model_type')!r})"


def pair_sampler(loss_fn: nn.Module, step: int, seed: int) -> PairSampler | None:
    """The pairs to score this step (seeded by step and seed: the same draw on a resumed run), or None
    when no term uses ITM scores (`itc` alone on BLIP's ITC head)."""
    from eqvl.losses.itm import ITMLoss, sample_pairs

    terms = dict(getattr(loss_fn, "terms", {}))
    if "itm" not in terms and "eqsim" not in terms:
        return None
    itm = terms.get("itm")
    negatives, sampling = (itm.negatives, itm.sampling) if isinstance(itm, ITMLoss) else (15, "random")

    def sample(n: int, itc_sim: torch.Tensor) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed * 1_000_003 + step + 17)
        return sample_pairs(n, negatives, sampling, itc_sim, gen)

    return sample


def build_itm_bundle(spec: str, terms: tuple[str, ...], device: torch.device, seed: int,
                     precision: str = "fp32") -> ItmBundle:
    """Load `hf-itm:DIR` for training: fp32 weights (amp* autocasts them), 16-bit for bf16 / fp16 / pure_*."""
    from eqvl.models.hf import HFImagePreprocess
    from eqvl.models.hfdir import load_parts

    directory = Path(spec.split(":", 1)[1])
    arch = architecture(directory, spec)
    check_itm_losses(spec, arch, terms)
    torch.manual_seed(seed)
    with quiet_transformers():
        parts = load_parts(directory, spec, arch, precision, ("tokenizer", "image_processor"))
    blip, tok = parts["model"], parts["tokenizer"]
    if tok.pad_token_id is None:
        raise EqvlError(f"`model` {spec}: its tokenizer has no pad token", params=("model",))
    length = int(min(getattr(tok, "model_max_length", 512) or 512, blip.config.text_config.max_position_embeddings))
    model = ItmTrainModel(blip, tok.pad_token_id).to(device).train()
    pre = HFImagePreprocess(parts["image_processor"])
    return ItmBundle(model, pre, pre, FixedLengthTokenizer(tok, length), spec, directory, tok, parts["image_processor"])


def build_itm_model(cfg: Any, info: Any) -> ItmBundle:
    """`--model hf-itm:DIR` for `eqvl train`: the weights come from DIR; --lock-image freezes the vision
    tower (and its ITC projection); the fusion lives in the text encoder, so --lock-text is refused."""
    spec = str(cfg.model)
    if cfg.pretrained not in (None, "none") and cfg.pretrained != spec:
        raise EqvlError(f"`pretrained` {cfg.pretrained}: an hf-itm: model loads its weights from its directory; "
                        "leave `pretrained` out", params=("pretrained",))
    if cfg.lock_text:
        raise EqvlError(f"`lock_text`: {spec}'s text encoder is also its image-text fusion; lock the image "
                        "tower (`lock_image`) or nothing", params=("lock_text", "lock_image"))
    bundle = build_itm_bundle(spec, cfg.loss_spec.terms, info.device, cfg.seed, cfg.precision)
    blip = bundle.model.blip
    if cfg.lock_image:
        for p in [*blip.vision_model.parameters(), *blip.vision_proj.parameters()]:
            p.requires_grad_(False)
    if cfg.grad_checkpointing:
        # transformers 5 renamed it (the old name warns and goes in v6)
        (getattr(blip, "activation_checkpointing_enable", None) or blip.gradient_checkpointing_enable)()
    bundle.model.train()
    return bundle
