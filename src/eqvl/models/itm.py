"""Image-text matching heads through transformers: `--model hf-itm:DIR` for a `save_pretrained`
directory of `BlipForImageTextRetrieval` or `Blip2ForImageTextRetrieval`.

Score: the ITM head's softmax probability of "match" (score_kind "probability"), exactly what
`model(..., use_itm_head=True)` (BLIP) / `use_image_text_matching_head=True` (BLIP-2) gives,
`softmax(itm_score)[:, 1]`. Work is shared: each image of a batch goes through the vision tower
once and its features are repeated for each of its captions' text-side fusion.

The same directory loaded as `hf:DIR` is its ITC head, a dual encoder (`BlipItcEncoder`; BLIP-2's
`Blip2ItcEncoder`, multi-vector: the best cosine over the Q-Former's query outputs).

`--option itm_score=aro` (BLIP only) is the score ARO's and What'sUp's `model_zoo/blip_models.py`
use instead, named differently because it is a different number: the ITM head's match LOGIT plus
the ITC cosine, the caption padded to 35 tokens with its first token replaced by `[ENC]` for the
ITM pass (original BLIP's convention, which transformers' forward does not apply); score_kind "logit+cosine".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Self, Sequence

import torch

from eqvl.errors import EqvlError
from eqvl.models.hf import HFImagePreprocess
from eqvl.models.hfdir import (PROCESSOR_FILES, TOKENIZER_FILES, WeightsHash, load_parts, read_architecture,
                               require_files)
from eqvl.models.openclip import eval_mode
from eqvl.precision import autocast

ITM_PREFIX = "hf-itm:"
SUPPORTED_ITM = ("BlipForImageTextRetrieval", "Blip2ForImageTextRetrieval")
ITM_SCORES = ("probability", "aro")
#: ARO / What'sUp tokenise captions to this many tokens (padding="max_length")
ARO_MAX_LENGTH = 35


def _load(directory: Path, spec: str, precision: str, supported: Sequence[str]) -> tuple[str, dict[str, Any]]:
    arch = read_architecture(directory, spec, supported)
    require_files(directory, spec, "tokenizer", TOKENIZER_FILES)
    require_files(directory, spec, "image processor", PROCESSOR_FILES)
    return arch, load_parts(directory, spec, arch, precision, ("tokenizer", "image_processor"))


class _BlipBase:
    """What the ITM scorer and the ITC encoder share: tokenizer, preprocessing, identity, device."""

    def __init__(self, model: Any, tokenizer: Any, image_processor: Any, *, name: str, precision: str, kind: str):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.preprocess = HFImagePreprocess(image_processor)
        self.name = name
        self.pretrained = "none"
        self.precision = precision
        self.arch = type(model).__name__
        self.kind = kind
        text_cfg = getattr(model.config, "text_config", None) or model.config.qformer_config
        self.max_length = int(min(getattr(tokenizer, "model_max_length", 512) or 512,
                                  getattr(text_cfg, "max_position_embeddings", 512)))
        self._hash = WeightsHash()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def identity(self) -> str:
        return json.dumps({"backend": "transformers", "head": self.kind, "arch": self.arch, "name": self.name,
                           "weights": self._hash.of(self.model), "preprocess": repr(self.preprocess),
                           "tokenizer": f"{type(self.tokenizer).__name__}:{len(self.tokenizer)}:{self.max_length}",
                           "precision": self.precision}, sort_keys=True)

    def _tokens(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        return {"input_ids": batch["input_ids"].to(self.device), "attention_mask": batch["attention_mask"].to(self.device)}

    def _pixels(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        dtype = next(self.model.parameters()).dtype
        return torch.stack(list(images)).to(self.device, dtype=dtype)

    @property
    def context_length(self) -> int:
        return self.max_length

    def overlong(self, texts: list[str]) -> list[bool]:
        from eqvl.models.tokens import overlong_transformers

        return overlong_transformers(self.tokenizer, self.max_length, texts)


class ItmScorer(_BlipBase):
    """BLIP / BLIP-2 ITM head behind eqvl's `PairScorer` (and `GroupedPairScorer`) protocol."""

    score_kind = "probability"
    itm_score = "probability"
    enc_token_id: int | None = None  # BLIP's [ENC] token id, set for itm_score=aro

    @classmethod
    def from_dir(cls, directory: str | Path, *, device: str = "cpu", precision: str = "fp32",
                 itm_score: str = "probability") -> "ItmScorer":
        spec = f"{ITM_PREFIX}{directory}"
        if itm_score not in ITM_SCORES:
            raise EqvlError(f"`option` itm_score={itm_score}: choose from {', '.join(ITM_SCORES)}", params=("option",))
        arch, parts = _load(Path(directory), spec, precision, SUPPORTED_ITM)
        if itm_score == "aro" and arch != "BlipForImageTextRetrieval":
            raise EqvlError(f"`option` itm_score=aro is BLIP's (ARO / What'sUp); {spec} is {arch}", params=("option",))
        scorer = cls(parts["model"].to(device), parts["tokenizer"], parts["image_processor"], name=spec,
                     precision=precision, kind="itm" if itm_score == "probability" else "itm-aro")
        if itm_score == "aro":
            scorer.itm_score, scorer.score_kind = "aro", "logit+cosine"
            scorer.enc_token_id = scorer.tokenizer.convert_tokens_to_ids("[ENC]")
            if scorer.enc_token_id in (None, scorer.tokenizer.unk_token_id):
                raise EqvlError(f"`option` itm_score=aro: the tokenizer of {spec} has no [ENC] token", params=("option",))
        return scorer

    def score_pairs(self, pixels: Any, texts: list[str]) -> torch.Tensor:
        return self.score_grouped(list(pixels), list(range(len(texts))), texts)

    def score_grouped(self, images: Sequence[Any], image_of: Sequence[int], texts: Sequence[str]) -> torch.Tensor:
        """Vision tower once per unique image, text-side fusion per caption -> P(match) [len(texts)]."""
        if not texts:
            return torch.zeros(0)
        with eval_mode(self.model), torch.inference_mode(), autocast(self.precision, self.device)():
            feats = self.model.vision_model(pixel_values=self._pixels(images)).last_hidden_state
            feats = feats[torch.as_tensor(list(image_of), device=feats.device)]
            if self.itm_score == "aro":
                return self._aro(feats, texts).float().cpu()
            tokens = self._tokens(texts)
            if self.arch == "Blip2ForImageTextRetrieval":
                logits = self._blip2_itm(feats, tokens)
            else:
                logits = self._blip_itm(feats, tokens)
        return torch.softmax(logits.float(), dim=-1)[:, 1].cpu()

    def _aro(self, feats: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        """ARO / What'sUp's BLIP score: ITM match logit ([ENC]-led caption, 35 tokens) + ITC cosine."""
        batch = self.tokenizer(list(texts), padding="max_length", truncation=True, max_length=ARO_MAX_LENGTH,
                               return_tensors="pt")
        ids, mask = batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device)
        text_cls = self.model.text_encoder(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0, :]
        text_feat = torch.nn.functional.normalize(self.model.text_proj(text_cls), dim=-1)
        image_feat = torch.nn.functional.normalize(self.model.vision_proj(feats[:, 0, :]), dim=-1)
        enc = ids.clone()
        enc[:, 0] = self.enc_token_id
        logits = self._blip_itm(feats, {"input_ids": enc, "attention_mask": mask})
        return logits[:, 1] + (text_feat * image_feat).sum(-1)

    def _blip_itm(self, feats: torch.Tensor, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        """BlipForImageTextRetrieval.forward(use_itm_head=True), from precomputed image features."""
        image_atts = torch.ones(feats.shape[:-1], dtype=torch.long, device=feats.device)
        out = self.model.text_encoder(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"],
                                      encoder_hidden_states=feats, encoder_attention_mask=image_atts)
        return self.model.itm_head(out.last_hidden_state[:, 0, :])

    def _blip2_itm(self, feats: torch.Tensor, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        """Blip2ForImageTextRetrieval.forward(use_image_text_matching_head=True), from image features."""
        m = self.model
        query = m.query_tokens.expand(feats.shape[0], -1, -1)
        q_mask = torch.ones(query.shape[:-1], dtype=torch.long, device=query.device)
        mask = torch.cat([q_mask, tokens["attention_mask"]], dim=1)
        embeds = m.embeddings(input_ids=tokens["input_ids"], query_embeds=query)
        image_atts = torch.ones(feats.shape[:-1], dtype=torch.long, device=feats.device)
        out = m.qformer(query_embeds=embeds, query_length=query.shape[1], attention_mask=mask,
                        encoder_hidden_states=feats, encoder_attention_mask=image_atts)
        hidden = out.last_hidden_state.to(dtype=m.itm_head.weight.dtype)
        return m.itm_head(hidden[:, : query.shape[1], :]).mean(dim=1)


class _ItcEncoder(_BlipBase):
    """An ITC head loaded from a transformers directory of one architecture (`hf:DIR`)."""

    architecture = ""

    @classmethod
    def from_dir(cls, directory: str | Path, *, device: str = "cpu", precision: str = "fp32") -> Self:
        spec = f"hf:{directory}"
        _, parts = _load(Path(directory), spec, precision, (cls.architecture,))
        return cls(parts["model"].to(device), parts["tokenizer"], parts["image_processor"], name=spec,
                   precision=precision, kind="itc")


class BlipItcEncoder(_ItcEncoder):
    """BLIP's ITC head as a dual encoder (`hf:DIR` on a BlipForImageTextRetrieval directory): the
    cosine of `vision_proj(CLS)` and `text_proj(CLS)`, as `forward(use_itm_head=False)` computes it."""

    score_kind = "cosine"
    architecture = "BlipForImageTextRetrieval"

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        with eval_mode(self.model), torch.inference_mode(), autocast(self.precision, self.device)():
            feats = self.model.vision_model(pixel_values=self._pixels(list(pixels))).last_hidden_state
            out = self.model.vision_proj(feats[:, 0, :])
        return torch.nn.functional.normalize(out.float(), dim=-1)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        with eval_mode(self.model), torch.inference_mode(), autocast(self.precision, self.device)():
            out = self.model.text_encoder(**self._tokens(texts)).last_hidden_state
            out = self.model.text_proj(out[:, 0, :])
        return torch.nn.functional.normalize(out.float(), dim=-1)

    def score(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        return text_emb.float().cpu() @ image_emb.float().cpu().T

    def score_rows(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        return (text_emb.float().cpu() * image_emb.float().cpu()).sum(-1)


class Blip2ItcEncoder(_ItcEncoder):
    """BLIP-2's ITC head (`hf:DIR` on a Blip2ForImageTextRetrieval directory), as `forward(
    use_image_text_matching_head=False)` computes it: the best cosine over the Q-Former's query outputs.

    Multi-vector: an image's embedding is its Q normalised query vectors, flattened ([B, Q * D]); a
    caption's is one vector ([B, D]); `score` takes the max over queries. Evaluation uses `score` /
    `score_rows`; an index (inner products of single vectors) cannot hold it."""

    score_kind = "cosine"
    multi_vector = True  # an index (one vector per image) refuses it
    architecture = "Blip2ForImageTextRetrieval"

    @property
    def queries(self) -> int:
        return int(self.model.query_tokens.shape[1])

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        m = self.model
        with eval_mode(m), torch.inference_mode(), autocast(self.precision, self.device)():
            feats = m.vision_model(pixel_values=self._pixels(list(pixels))).last_hidden_state
            atts = torch.ones(feats.shape[:-1], dtype=torch.long, device=feats.device)
            query = m.query_tokens.expand(feats.shape[0], -1, -1)
            out = m.qformer(query_embeds=query, encoder_hidden_states=feats, encoder_attention_mask=atts).last_hidden_state
            emb = m.vision_projection(out.to(dtype=m.vision_projection.weight.dtype))
        return torch.nn.functional.normalize(emb.float(), dim=-1).flatten(1)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        m = self.model
        tokens = self._tokens(texts)
        with eval_mode(m), torch.inference_mode(), autocast(self.precision, self.device)():
            embeds = m.embeddings(input_ids=tokens["input_ids"])
            out = m.qformer(query_embeds=embeds, query_length=0, attention_mask=tokens["attention_mask"]).last_hidden_state
            emb = m.text_projection(out[:, 0, :].to(dtype=m.text_projection.weight.dtype))
        return torch.nn.functional.normalize(emb.float(), dim=-1)

    def score(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        img = image_emb.float().cpu().reshape(image_emb.shape[0], self.queries, -1)  # [N, Q, D]
        return torch.einsum("nqd,md->mnq", img, text_emb.float().cpu()).max(dim=-1).values

    def score_rows(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        img = image_emb.float().cpu().reshape(image_emb.shape[0], self.queries, -1)
        return torch.einsum("pqd,pd->pq", img, text_emb.float().cpu()).max(dim=-1).values
