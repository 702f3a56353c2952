"""Tiny random-weight pair-scorer directories built offline from transformers configs (no download):
BLIP / BLIP-2 retrieval (ITM) and vision-language models for VQAScore, each with a tokenizer and a
processor made here. Used by tests/test_scorers_*.py, bench/bench_pairs.py and scripts/parity/."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from PIL import Image

WORDS = ("a an the red blue green cube ball dog cat left right of on under is are two one photo "
         "does this figure show please answer yes no or and with").split()
CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"


def bert_tokenizer(folder: Path):
    """A BertTokenizer from a vocab file written here: special tokens, a few words, single characters."""
    import transformers

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "[ENC]", *WORDS, *CHARS,
             *(f"##{c}" for c in CHARS), '"', "?", ".", ","]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n")
    return transformers.BertTokenizer(str(folder / "vocab.txt"), model_max_length=40)


def _vision(**extra) -> dict:
    return dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32,
                patch_size=8, **extra)


def spread(model: torch.nn.Module, std: float = 0.15) -> None:
    """Larger random weights: the default init (std 0.02) gives nearly the same score to every pair,
    so a mixed-up pair would go unnoticed. Norm layers keep weight 1."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2 and "norm" not in name.lower():
                p.normal_(0.0, std)


def blip_dir(root: Path, seed: int = 0) -> Path:
    """BlipForImageTextRetrieval (ITM + ITC heads) saved with tokenizer and image processor."""
    import transformers

    torch.manual_seed(seed)
    tok = bert_tokenizer(root / "_vocab")
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                max_position_embeddings=40, encoder_hidden_size=32, pad_token_id=0, bos_token_id=2, sep_token_id=3)
    cfg = transformers.BlipConfig(text_config=text, vision_config=_vision(), image_text_hidden_size=16,
                                  projection_dim=16)
    return _save_blip(transformers.BlipForImageTextRetrieval(cfg), tok, root / "blip")


def blip2_dir(root: Path, seed: int = 0) -> Path:
    """Blip2ForImageTextRetrieval (Q-Former ITM head) saved with tokenizer and image processor."""
    import transformers

    torch.manual_seed(seed)
    tok = bert_tokenizer(root / "_vocab2")
    qformer = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                   num_attention_heads=2, max_position_embeddings=40, encoder_hidden_size=32,
                   cross_attention_frequency=1, pad_token_id=0, use_qformer_text_input=True)
    text = dict(vocab_size=len(tok), hidden_size=32, ffn_dim=64, num_hidden_layers=1, num_attention_heads=2,
                word_embed_proj_dim=32)
    cfg = transformers.Blip2Config(vision_config=_vision(), qformer_config=qformer, text_config=text,
                                   num_query_tokens=4, image_text_hidden_size=16)
    return _save_blip(transformers.Blip2ForImageTextRetrieval(cfg), tok, root / "blip2")


def _save_blip(model: torch.nn.Module, tok, out: Path) -> Path:
    """Spread the weights, then save model, tokenizer and a 32 px BlipImageProcessor into `out`."""
    import transformers

    spread(model)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    transformers.BlipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out)
    return out


def copy_without(folder: Path, dest: Path, name: str) -> Path:
    """A copy of a saved model folder without its file `name` (e.g. the processor config)."""
    dest.mkdir()
    for f in folder.iterdir():
        if f.name != name:
            (dest / f.name).write_bytes(f.read_bytes())
    return dest


def images(root: Path, n: int, size: tuple[int, int] = (40, 30)) -> list[Path]:
    """n small distinct PNGs (different colours and a moving square)."""
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        img = Image.new("RGB", size, ((37 * i) % 256, (90 + 53 * i) % 256, (200 - 29 * i) % 256))
        img.paste((255 - (40 * i) % 256, 20, 120), ((3 * i) % 20, 2, (3 * i) % 20 + 8, 12))
        out.append(root / f"img{i}.png")
        img.save(out[-1])
    return out


def twins(root: Path, n: int = 3) -> Path:
    """A `twins` benchmark folder: n 2x2 items."""
    paths = images(root, 2 * n)
    rows = []
    for i in range(n):
        rows.append({"id": f"t{i}", "subset": "s", "image_0": paths[2 * i].name, "image_1": paths[2 * i + 1].name,
                     "caption_0": f"a red cube left of a dog {i}", "caption_1": f"a blue ball {i}"})
    (root / "twins.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root


SPECIALS = ("<unk>", "<s>", "</s>", "<pad>", "<image>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
            "<|vision_end|>", "<|image_pad|>", "<|video_pad|>", "<|endoftext|>")


def char_tokenizer(eos: str = "</s>", bos: str | None = "<s>", pad: str = "<pad>", image_token: str = "<image>"):
    """A sentencepiece-like (Metaspace) character BPE built from a `tokenizers` object: every printable
    character a token, plus merges that make "Yes" / "No" single tokens (as real VLM tokenizers do)."""
    import string

    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    chars = ["\u2581", "\n", *string.ascii_letters, *string.digits, *string.punctuation]
    merges = [("\u2581", "Y"), ("\u2581Y", "e"), ("\u2581Ye", "s"), ("\u2581", "N"), ("\u2581N", "o"), ("Y", "e"),
              ("Ye", "s"), ("N", "o")]
    vocab = {t: i for i, t in enumerate(SPECIALS)}
    for piece in chars + ["".join(m) for m in merges]:
        vocab.setdefault(piece, len(vocab))
    tk = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
    tk.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first")
    tk.add_special_tokens(list(SPECIALS))  # matched whole in text, never split into characters
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", eos_token=eos, pad_token=pad,
                                               bos_token=bos, extra_special_tokens={"image_token": image_token},
                                               additional_special_tokens=list(SPECIALS[4:]))
    return tok


def _llama(vocab: int, **extra) -> dict:
    return dict(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=2, max_position_embeddings=256, **extra)


# what LlavaProcessor and LlavaNextProcessor are given beside the image processor and the tokenizer
LLAVA_PROCESSOR = dict(patch_size=14, num_additional_image_tokens=1, vision_feature_select_strategy="default")


def _llava_parts() -> tuple:
    """The character tokenizer (BOS added), CLIP vision tower and Llama text config that LLaVA and
    LLaVA-NeXT share, and the config arguments naming them."""
    tok = char_tokenizer()
    tok.add_bos_token = True
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=28,
                  patch_size=14, projection_dim=16, model_type="clip_vision_model")
    text = _llama(len(tok), model_type="llama", bos_token_id=1, eos_token_id=2, pad_token_id=3)
    return tok, dict(vision_config=vision, text_config=text, image_token_index=tok.convert_tokens_to_ids("<image>"),
                     vision_feature_layer=-1, vision_feature_select_strategy="default")


def llava_dir(root: Path, seed: int = 0) -> Path:
    """LlavaForConditionalGeneration (CLIP vision tower + Llama) with a LlavaProcessor."""
    import transformers

    torch.manual_seed(seed)
    tok, parts = _llava_parts()
    cfg = transformers.LlavaConfig(**parts, projector_hidden_act="gelu")
    model = transformers.LlavaForConditionalGeneration(cfg)
    spread(model, 0.08)
    out = root / "llava"
    model.save_pretrained(out)
    proc = transformers.CLIPImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})
    transformers.LlavaProcessor(image_processor=proc, tokenizer=tok, **LLAVA_PROCESSOR).save_pretrained(out)
    return out


QWEN2_VL_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def qwen2vl_dir(root: Path, seed: int = 0, v25: bool = False) -> Path:
    """Qwen2VLForConditionalGeneration (Qwen2_5_VL... with `v25`) with a Qwen2-VL processor and its chat template."""
    import transformers

    torch.manual_seed(seed)
    tok = char_tokenizer(eos="<|im_end|>", bos=None, pad="<|endoftext|>", image_token="<|image_pad|>")
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIALS}
    text = _llama(len(tok), model_type="qwen2_vl_text", rope_scaling={"type": "mrope", "mrope_section": [2, 2, 4]},
                  eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"])
    vision = dict(depth=1, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2, patch_size=14, spatial_merge_size=2,
                  temporal_patch_size=2, in_channels=3)
    if v25:
        text["model_type"] = "qwen2_5_vl_text"
        vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=14, spatial_merge_size=2,
                      temporal_patch_size=2, out_hidden_size=32, window_size=56, fullatt_block_indexes=[1])
    config_cls = transformers.Qwen2_5_VLConfig if v25 else transformers.Qwen2VLConfig
    cfg = config_cls(text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
                     video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                     vision_end_token_id=ids["<|vision_end|>"])
    model_cls = transformers.Qwen2_5_VLForConditionalGeneration if v25 else transformers.Qwen2VLForConditionalGeneration
    model = model_cls(cfg)
    spread(model, 0.08)
    model.generation_config.repetition_penalty = 1.05  # as Qwen2-VL-Instruct's generation_config.json
    out = root / ("qwen25vl" if v25 else "qwen2vl")
    model.save_pretrained(out)
    improc = transformers.Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=28 * 28 * 16, patch_size=14,
                                                merge_size=2, temporal_patch_size=2)
    video = transformers.Qwen2VLVideoProcessor(patch_size=14, merge_size=2, temporal_patch_size=2)
    transformers.Qwen2VLProcessor(image_processor=improc, tokenizer=tok, video_processor=video,
                                  chat_template=QWEN2_VL_TEMPLATE).save_pretrained(out)
    return out


def paligemma_dir(root: Path, seed: int = 0) -> Path:
    """PaliGemmaForConditionalGeneration (SigLIP vision tower + Gemma) with a PaliGemmaProcessor."""
    import transformers

    torch.manual_seed(seed)
    improc = transformers.SiglipImageProcessor(size={"height": 28, "width": 28})
    improc.image_seq_length = 4
    proc = transformers.PaliGemmaProcessor(image_processor=improc, tokenizer=char_tokenizer())
    tok = proc.tokenizer
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, head_dim=16, max_position_embeddings=256, bos_token_id=1, eos_token_id=2,
                pad_token_id=3, model_type="gemma")
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=28,
                  patch_size=14, projection_dim=32, model_type="siglip_vision_model")
    cfg = transformers.PaliGemmaConfig(vision_config=vision, text_config=text, projection_dim=32, hidden_size=32,
                                       image_token_index=tok.convert_tokens_to_ids("<image>"))
    model = transformers.PaliGemmaForConditionalGeneration(cfg)
    spread(model, 0.2)
    out = root / "paligemma"
    model.save_pretrained(out)
    proc.save_pretrained(out)
    return out


def llava_next_dir(root: Path, seed: int = 0) -> Path:
    """LlavaNextForConditionalGeneration (anyres tiles of 28 px) with a LlavaNextProcessor."""
    import transformers

    torch.manual_seed(seed)
    tok, parts = _llava_parts()
    grid = [[28, 28], [28, 56], [56, 28]]
    cfg = transformers.LlavaNextConfig(**parts, image_grid_pinpoints=grid)
    model = transformers.LlavaNextForConditionalGeneration(cfg)
    spread(model, 0.08)
    out = root / "llava_next"
    model.save_pretrained(out)
    improc = transformers.LlavaNextImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28},
                                                  image_grid_pinpoints=grid)
    transformers.LlavaNextProcessor(image_processor=improc, tokenizer=tok, **LLAVA_PROCESSOR).save_pretrained(out)
    return out
