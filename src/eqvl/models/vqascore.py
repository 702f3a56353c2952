"""VQAScore (Lin et al. 2024, linzhiqiu/t2v_metrics) through transformers vision-language models:
`--model vqascore:DIR` for a `save_pretrained` directory (model + processor + tokenizer).

The score of (image, caption) is the probability the model answers "Yes" to
`Does this figure show "{caption}"? Please answer Yes or No.`, computed per family as
t2v_metrics computes it (score_kind "probability"):

- LLaVA-1.5 (`LlavaForConditionalGeneration`): t2v_metrics's LLaVA-1.5 wrapper: its system prompt and
  `" USER: <image>\\n{question} ASSISTANT: "`, the answer `"Yes</s>"` teacher-forced, score =
  exp(-mean cross-entropy of the answer tokens) (the geometric mean of P("Yes") and P(</s> | Yes)),
  question ending "Please answer yes or no." (lower case, as its template), images padded to a square
  with the processor's mean colour (its `image_aspect_ratio="pad"`).
- LLaVA-NeXT: t2v_metrics's llava-v1.6 wrapper used the same prompt and formula (its own code fed one
  padded view; here the square image goes through the directory's anyres processor).
- Qwen2-VL / Qwen2.5-VL: t2v_metrics's Qwen2-VL wrapper: the model's chat template with the image
  then the question, generation prompt added; images resized as qwen_vl_utils' `fetch_image` does
  (multiples of patch x merge, 4 to 16384 tokens) and given to the processor with `do_resize=False`;
  score = softmax of the first generated position's logits (after the generation config's
  repetition penalty, as `generate(output_scores=True)` reports them) at the answer's token.
- PaliGemma: t2v_metrics's PaliGemma wrapper: the bare question (the processor adds the image tokens,
  `<bos>` and "\n"), score = softmax of the first generated position at the answer's token. Deliberate
  difference: t2v_metrics takes `tokenizer.encode(answer)[0]`, which for Gemma's tokenizer (it adds
  `<bos>`) is the id of `<bos>`, not of "Yes"; eqvl takes the answer's own token.

`question=` / `answer=` change the templates (`{}` = the caption). A batch of pairs is one forward,
left-padded with position ids from the attention mask, so a pair scores the same alone or in a batch.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from PIL import Image

from eqvl.errors import EqvlError
from eqvl.models.hfdir import PROCESSOR_FILES, TOKENIZER_FILES, WeightsHash, load_parts, read_architecture, require_files
from eqvl.models.openclip import eval_mode
from eqvl.precision import autocast

VQA_PREFIX = "vqascore:"
#: t2v_metrics's default templates
T2V_QUESTION = 'Does this figure show "{}"? Please answer Yes or No.'
T2V_QUESTION_LLAVA = 'Does this figure show "{}"? Please answer yes or no.'
T2V_ANSWER = "Yes"
#: LLaVA-1.5's system message, as t2v_metrics prepends it
LLAVA_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
                "detailed, and polite answers to the user's questions.")


@dataclass(frozen=True)
class Family:
    """How t2v_metrics scores one model family."""

    name: str
    question: str
    teacher_forced: bool  # True: mean log-prob of the answer tokens + eos (LLaVA-1.5); False: first token only
    image: str  # "pad-square" (LLaVA), "qwen-resize", or "as-is" (the processor resizes)
    prompt: str  # "llava-t2v" (t2v_metrics's LLaVA-1.5 string), "chat" (the processor's chat template), "plain"
    position_base: int | None  # positions = base + index among real tokens (left padding); None: the model's own


FAMILIES = {
    "LlavaForConditionalGeneration": Family("llava-1.5", T2V_QUESTION_LLAVA, True, "pad-square", "llava-t2v", 0),
    "LlavaNextForConditionalGeneration": Family("llava-next", T2V_QUESTION_LLAVA, True, "pad-square", "llava-t2v", 0),
    "Qwen2VLForConditionalGeneration": Family("qwen2-vl", T2V_QUESTION, False, "qwen-resize", "chat", None),
    "Qwen2_5_VLForConditionalGeneration": Family("qwen2.5-vl", T2V_QUESTION, False, "qwen-resize", "chat", None),
    "PaliGemmaForConditionalGeneration": Family("paligemma", T2V_QUESTION, False, "as-is", "plain", 1),
}


class VlmImagePrep:
    """PIL image -> the PIL image t2v_metrics hands the processor (picklable for DataLoader workers)."""

    def __init__(self, kind: str, background: tuple[int, ...] = (0, 0, 0), factor: int = 28):
        self.kind, self.background, self.factor = kind, tuple(background), factor

    def __call__(self, image: Image.Image) -> Image.Image:
        image = image.convert("RGB")
        if self.kind == "pad-square":
            return expand2square(image, self.background)
        if self.kind == "as-is":
            return image
        height, width = qwen_resize(image.height, image.width, self.factor)
        return image.resize((width, height))

    def __repr__(self) -> str:
        return f"VlmImagePrep({self.kind!r}, {self.background}, {self.factor})"


def expand2square(image: Image.Image, background: tuple[int, ...]) -> Image.Image:
    """LLaVA's `image_aspect_ratio="pad"`: the image centred on a square of the background colour."""
    w, h = image.size
    if w == h:
        return image
    side = max(w, h)
    out = Image.new(image.mode, (side, side), background)
    out.paste(image, (0, (w - h) // 2) if w > h else ((h - w) // 2, 0))
    return out


def qwen_resize(height: int, width: int, factor: int, min_tokens: int = 4, max_tokens: int = 16384) -> tuple[int, int]:
    """qwen_vl_utils' smart_resize rule: sides multiples of `factor`, area in [min, max] tokens x factor^2."""
    lo, hi = min_tokens * factor * factor, max_tokens * factor * factor
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > hi:
        beta = math.sqrt(height * width / hi)
        h_bar, w_bar = math.floor(height / beta / factor) * factor, math.floor(width / beta / factor) * factor
    elif h_bar * w_bar < lo:
        beta = math.sqrt(lo / (height * width))
        h_bar, w_bar = math.ceil(height * beta / factor) * factor, math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


class VqaScorer:
    """A transformers VLM behind eqvl's `PairScorer` protocol, scoring P("Yes") as t2v_metrics does."""

    score_kind = "probability"

    def __init__(self, model: Any, processor: Any, family: Family, *, name: str, precision: str = "fp32",
                 question: str | None = None, answer: str | None = None):
        self.model = model.eval()
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.tokenizer.padding_side = "left"
        self.family = family
        self.name = name
        self.pretrained = "none"
        self.precision = precision
        self.arch = type(model).__name__
        self.question = question if question is not None else family.question
        self.answer = answer if answer is not None else T2V_ANSWER
        for text, flag in ((self.question, "question"), (self.answer, "answer")):
            if text.count("{}") > 1 or "{" in text.replace("{}", "") or "}" in text.replace("{}", ""):
                raise EqvlError(f"`option` {flag}={text!r}: use at most one {{}} (the caption) and no other braces", params=("option",))
        self.preprocess = VlmImagePrep(family.image, _background(processor), _factor(processor))
        self._hash = WeightsHash()
        if not family.teacher_forced:
            self._answer_token(self.answer.format("caption"))

    @classmethod
    def from_dir(cls, directory: str | Path, *, device: str = "cpu", precision: str = "fp32",
                 question: str | None = None, answer: str | None = None) -> "VqaScorer":
        directory = Path(directory)
        spec = f"{VQA_PREFIX}{directory}"
        arch = read_architecture(directory, spec, tuple(FAMILIES))
        require_files(directory, spec, "tokenizer", TOKENIZER_FILES)
        require_files(directory, spec, "processor", PROCESSOR_FILES)
        parts = load_parts(directory, spec, arch, precision, ("processor",))
        return cls(parts["model"].to(device), parts["processor"], FAMILIES[arch], name=spec, precision=precision,
                   question=question, answer=answer)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def identity(self) -> str:
        return json.dumps({"backend": "transformers", "score": "vqascore", "family": self.family.name,
                           "arch": self.arch, "name": self.name, "weights": self._hash.of(self.model),
                           "question": self.question, "answer": self.answer, "preprocess": repr(self.preprocess),
                           "tokenizer": f"{type(self.tokenizer).__name__}:{len(self.tokenizer)}",
                           "precision": self.precision}, sort_keys=True)

    def _answer_token(self, answer: str) -> int:
        """The one token whose probability is the score; refuses an answer the tokenizer splits."""
        ids = self.tokenizer.encode(answer, add_special_tokens=False)
        if len(ids) != 1:
            pieces = self.tokenizer.convert_ids_to_tokens(ids)
            raise EqvlError(f"`model` {self.name}: the answer {answer!r} is {len(ids)} tokens for this tokenizer "
                            f"({pieces}); VQAScore reads one token: pass `option` answer=WORD with a single-token "
                            "answer (e.g. one without a leading space, or the tokenizer's own spelling of Yes)", params=("model", "option"))
        return int(ids[0])

    def prompt(self, text: str) -> tuple[str, list[int]]:
        """What goes to the processor for one caption, and the token ids whose probabilities score it."""
        question = self.question.format(text)
        answer = self.answer.format(text)
        if self.family.teacher_forced:
            image = getattr(self.processor, "image_token", "<image>")
            head = f"{LLAVA_SYSTEM} USER: {image}\n{question} ASSISTANT: "
            full = head + answer + (self.tokenizer.eos_token or "")
            return full, _answer_ids(self.tokenizer(head)["input_ids"], self.tokenizer(full)["input_ids"])
        if self.family.prompt == "plain":  # PaliGemma: the processor adds image tokens, <bos> and "\n"
            return getattr(self.processor, "image_token", "<image>") + question, [self._answer_token(answer)]
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        chat = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return chat, [self._answer_token(answer)]

    def score_pairs(self, images: Any, texts: list[str]) -> torch.Tensor:
        return self.score_grouped(list(images), list(range(len(texts))), texts)

    def score_grouped(self, images: Sequence[Any], image_of: Sequence[int], texts: Sequence[str]) -> torch.Tensor:
        """One left-padded forward over the pairs -> [len(texts)] probabilities."""
        if not texts:
            return torch.zeros(0)
        prompts = [self.prompt(t) for t in texts]
        kwargs = {"do_resize": False} if self.family.image == "qwen-resize" else {}
        batch = self.processor(text=[p for p, _ in prompts], images=[images[j] for j in image_of], padding=True,
                               return_tensors="pt", **kwargs)
        batch = {k: v.to(self.device) for k, v in batch.items() if k != "labels"}
        if "pixel_values" in batch and batch["pixel_values"].is_floating_point():
            batch["pixel_values"] = batch["pixel_values"].to(next(self.model.parameters()).dtype)
        longest = max(len(ids) for _, ids in prompts)
        keep = longest + 1 if self.family.teacher_forced else 1
        if self.family.position_base is not None:  # these count positions from cache_position: give them from the mask
            batch["position_ids"] = (batch["attention_mask"].long().cumsum(-1) - 1).clamp(min=0) + self.family.position_base
        with eval_mode(self.model), torch.inference_mode(), autocast(self.precision, self.device)():
            logits = self.model(**batch, logits_to_keep=keep).logits.float()
        return torch.stack([self._row_score(logits[r], batch["input_ids"][r], batch["attention_mask"][r], ids)
                            for r, (_, ids) in enumerate(prompts)]).cpu()

    def _row_score(self, logits: torch.Tensor, input_ids: torch.Tensor, mask: torch.Tensor, ids: list[int]) -> torch.Tensor:
        """exp(mean log P(target)) over the row's scored positions (the last ones: padding is on the left)."""
        if self.family.teacher_forced:
            rows = logits[-len(ids) - 1:-1]
        else:
            rows = self._penalised(logits[-1:].clone(), input_ids[mask.bool()])
        logp = torch.log_softmax(rows, dim=-1)[torch.arange(len(ids)), torch.as_tensor(ids, device=rows.device)]
        return logp.mean().exp()

    def _penalised(self, rows: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
        """generate()'s repetition penalty (the generation config's), which its output scores include."""
        penalty = float(getattr(self.model.generation_config, "repetition_penalty", None) or 1.0)
        if penalty == 1.0:
            return rows
        seen = seen.unique()
        picked = rows[:, seen]
        rows[:, seen] = torch.where(picked < 0, picked * penalty, picked / penalty)
        return rows


def _answer_ids(head: list[int], full: list[int]) -> list[int]:
    """The tokens of `full` after what it shares with `head`. t2v_metrics masks len(head) - 1 tokens when
    the head ends in a space (sentencepiece emits that space as its own token, merged into "▁Yes" once
    the answer follows); the common prefix is the same count there, and stays right for a tokenizer that
    does not emit the trailing space."""
    n = 0
    while n < min(len(head), len(full)) and head[n] == full[n]:
        n += 1
    return list(full[n:])


def _background(processor: Any) -> tuple[int, ...]:
    mean = getattr(getattr(processor, "image_processor", None), "image_mean", None) or (0.0, 0.0, 0.0)
    return tuple(int(x * 255) for x in mean)


def _factor(processor: Any) -> int:
    improc = getattr(processor, "image_processor", None)
    return int(getattr(improc, "patch_size", 14) or 14) * int(getattr(improc, "merge_size", 2) or 2)
