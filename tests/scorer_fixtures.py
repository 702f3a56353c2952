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
    model = transformers.BlipForImageTextRetrieval(cfg)
    spread(model)
    out = root / "blip"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    transformers.BlipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out)
    return out


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
    model = transformers.Blip2ForImageTextRetrieval(cfg)
    spread(model)
    out = root / "blip2"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    transformers.BlipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out)
    return out


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
