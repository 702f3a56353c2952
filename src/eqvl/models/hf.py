"""transformers backend: `--model hf:/path/to/dir` for CLIPModel / SiglipModel directories
(saved with `save_pretrained`, plus tokenizer and image-processor files); a BLIP retrieval
directory under `hf:` is its ITC head (eqvl.models.itm).

Scores: CLIP -> cosine similarity (score_kind "cosine"). SigLIP -> the model's own
sigmoid output, sigmoid(exp(logit_scale) * cos + logit_bias) (score_kind "probability"):
it is what SigLIP was trained to predict, it is monotone in the cosine (so rankings and
every pairwise metric equal the cosine's) and it makes VALSE's probability metrics meaningful.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from eqvl.errors import EqvlError
from eqvl.models.openclip import eval_mode, weights_hash
from eqvl.precision import autocast

SUPPORTED = ("CLIPModel", "SiglipModel", "BlipForImageTextRetrieval", "Blip2ForImageTextRetrieval")


def blip_arch(directory: str | Path) -> str | None:
    """The BLIP / BLIP-2 retrieval architecture of a directory (`hf:` gives its ITC head), else None."""
    try:
        raw = json.loads((Path(directory) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    arch = (raw.get("architectures") or [None])[0]
    return arch if arch in ("BlipForImageTextRetrieval", "Blip2ForImageTextRetrieval") else None


class HFImagePreprocess:
    """PIL image -> [3, H, W] via the directory's image processor (picklable for DataLoader workers)."""

    def __init__(self, processor: Any):
        self.processor = processor

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.processor(images=image, return_tensors="pt")["pixel_values"][0]

    def __repr__(self) -> str:
        return f"HFImagePreprocess({self.processor.to_json_string()})"


def _features(out: Any) -> torch.Tensor:
    """transformers 4.x returns the projected tensor; 5.x an output whose pooler_output is projected."""
    if isinstance(out, torch.Tensor):
        return out
    return out.pooler_output


class HFEncoder:
    """A transformers CLIPModel / SiglipModel behind eqvl's `Encoder` protocol."""

    def __init__(self, model: Any, tokenizer: Any, processor: Any, *, name: str, precision: str = "fp32"):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.preprocess = HFImagePreprocess(processor)
        self.name = name
        self.pretrained = "none"
        self.precision = precision
        self.arch = type(model).__name__
        self.is_siglip = self.arch == "SiglipModel"
        self.score_kind = "probability" if self.is_siglip else "cosine"
        text_cfg = model.config.text_config
        self.max_length = int(getattr(text_cfg, "max_position_embeddings", 77))

    @classmethod
    def from_dir(cls, directory: str | Path, *, device: str = "cpu", precision: str = "fp32") -> "HFEncoder":
        directory = Path(directory)
        name = f"hf:{directory}"
        if not (directory / "config.json").is_file():
            raise EqvlError(f"`model` {name}: no config.json in {directory} (expected a save_pretrained directory)", params=("model",))
        try:
            from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoTokenizer
        except ImportError:
            raise EqvlError("hf: models need transformers: pip install 'eqvl[hf]'") from None
        try:
            config = AutoConfig.from_pretrained(directory, local_files_only=True)
            archs = config.architectures or [type(config).__name__.replace("Config", "Model")]
            if archs[0] not in SUPPORTED:
                raise EqvlError(f"`model` {name}: architecture {archs[0]} is not supported; valid: {', '.join(SUPPORTED)} "
                                "(ITM heads: hf-itm:DIR; vision-language models: vqascore:DIR)", params=("model",))
            low = {"fp16": torch.float16, "bf16": torch.bfloat16}
            kwargs: dict[str, Any] = {"dtype": low[precision]} if precision in low else {}
            model = AutoModel.from_pretrained(directory, local_files_only=True, **kwargs)
            tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
            processor = AutoImageProcessor.from_pretrained(directory, local_files_only=True)
        except EqvlError:
            raise
        except (OSError, ValueError, KeyError, ImportError) as exc:  # ImportError: e.g. sentencepiece for SigLIP's tokenizer
            raise EqvlError(f"`model` {name}: cannot load: {str(exc).strip().splitlines()[0]}", params=("model",)) from None
        if type(model).__name__ not in SUPPORTED:
            raise EqvlError(f"`model` {name}: {type(model).__name__} is not supported; valid: {', '.join(SUPPORTED)}", params=("model",))
        return cls(model.to(device), tokenizer, processor, name=name, precision=precision)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def identity(self) -> str:
        return json.dumps(
            {
                "backend": "transformers",
                "arch": self.arch,
                "name": self.name,
                "weights": weights_hash(self.model),
                "preprocess": repr(self.preprocess),
                "tokenizer": f"{type(self.tokenizer).__name__}:{len(self.tokenizer)}:{self.max_length}",
                "precision": self.precision,
            },
            sort_keys=True,
        )

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        dtype = next(self.model.parameters()).dtype
        with eval_mode(self.model), torch.inference_mode(), autocast(self.precision, self.device)():
            out = _features(self.model.get_image_features(pixel_values=pixels.to(self.device, dtype=dtype)))
        return torch.nn.functional.normalize(out.float(), dim=-1)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        # SigLIP was trained on max_length-padded text; CLIP uses its attention mask.
        padding = "max_length" if self.is_siglip else True
        batch = self.tokenizer(
            list(texts), padding=padding, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        batch = {k: v.to(self.device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
        if self.is_siglip:
            batch.pop("attention_mask", None)  # SiglipModel's own forward ignores padding too
        with eval_mode(self.model), torch.inference_mode(), autocast(self.precision, self.device)():
            out = _features(self.model.get_text_features(**batch))
        return torch.nn.functional.normalize(out.float(), dim=-1)

    def _calibrate(self, cos: torch.Tensor) -> torch.Tensor:
        if not self.is_siglip:
            return cos
        scale = self.model.logit_scale.detach().float().cpu().exp()
        bias = self.model.logit_bias.detach().float().cpu()
        return torch.sigmoid(cos * scale + bias)

    def score(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        return self._calibrate(text_emb.float().cpu() @ image_emb.float().cpu().T)

    @property
    def context_length(self) -> int:
        """Text tokens the model reads; longer captions are cut (see `overlong`)."""
        return self.max_length

    def overlong(self, texts: list[str]) -> list[bool]:
        """Which captions are longer than `context_length` (counted and warned about by evaluation)."""
        from eqvl.models.tokens import overlong_transformers

        return overlong_transformers(self.tokenizer, self.max_length, texts)

    def score_rows(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        return self._calibrate((text_emb.float().cpu() * image_emb.float().cpu()).sum(-1))
