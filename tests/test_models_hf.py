"""transformers backend on tiny random-init CLIP / SigLIP directories built offline in tmp_path."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

transformers = pytest.importorskip("transformers")

from eqvl.errors import EqvlError  # noqa: E402
from eqvl.evaluation import evaluate  # noqa: E402
from eqvl.models import load_encoder  # noqa: E402

TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=24,
            bos_token_id=0, eos_token_id=1, pad_token_id=1)  # CLIP pools at the eos token: match the tokenizer
VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=8)


def _tokenizer():
    """A character-level CLIP BPE tokenizer: no downloads, enough to tell captions apart."""
    chars = "abcdefghijklmnopqrstuvwxyz0123456789"
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    return transformers.CLIPTokenizer(vocab=vocab, merges=[])


def _save(model, processor, path):
    tok = _tokenizer()
    model.config.text_config.vocab_size = len(tok)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    torch.manual_seed(0)
    cfg = transformers.CLIPConfig(text_config=dict(TEXT, vocab_size=74), vision_config=VISION, projection_dim=16)
    proc = transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return _save(transformers.CLIPModel(cfg), proc, tmp_path_factory.mktemp("clip"))


@pytest.fixture(scope="module")
def siglip_dir(tmp_path_factory):
    torch.manual_seed(0)
    cfg = transformers.SiglipConfig(text_config=dict(TEXT, vocab_size=74), vision_config=VISION)
    model = transformers.SiglipModel(cfg)
    with torch.no_grad():
        model.logit_scale.fill_(np.log(10.0))
        model.logit_bias.fill_(-1.0)
    proc = transformers.SiglipImageProcessor(size={"height": 32, "width": 32})
    return _save(model, proc, tmp_path_factory.mktemp("siglip"))


def _twins(root, n=3):
    rows = []
    for i in range(n):
        for k, color in enumerate(("red", "blue")):
            img = Image.new("RGB", (40, 30), color)
            img.paste((i * 60, 200, 0), (0, 0, 10 + 5 * i, 10))
            img.save(root / f"t{i}_{k}.png")
        rows.append({"id": f"t{i}", "subset": "s", "image_0": f"t{i}_0.png", "image_1": f"t{i}_1.png",
                     "caption_0": f"a red cube {i}", "caption_1": f"a blue ball {i}"})
    (root / "twins.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root


def test_clip_dir_encodes_with_cosine(clip_dir):
    enc = load_encoder(f"hf:{clip_dir}")
    assert enc.score_kind == "cosine" and enc.arch == "CLIPModel"
    pixels = torch.stack([enc.preprocess(Image.new("RGB", (50, 40), c)) for c in ("red", "green")])
    assert pixels.shape == (2, 3, 32, 32)
    img, txt = enc.encode_images(pixels), enc.encode_texts(["a red cube", "a green ball left of it"])
    assert img.shape == (2, 16) and txt.shape == (2, 16)
    assert torch.allclose(txt.norm(dim=-1), torch.ones(2), atol=1e-5)
    assert (txt[0] - txt[1]).abs().max() > 1e-3 and (img[0] - img[1]).abs().max() > 1e-3
    # batching must not change a caption's embedding (padding is masked)
    alone = enc.encode_texts(["a red cube"])
    assert torch.allclose(alone[0], txt[0], atol=1e-5)
    s = enc.score(img, txt)
    assert torch.allclose(s, txt @ img.T)


def test_siglip_dir_scores_are_sigmoid_probabilities(siglip_dir):
    enc = load_encoder(f"hf:{siglip_dir}")
    assert enc.score_kind == "probability" and enc.arch == "SiglipModel"
    pixels = torch.stack([enc.preprocess(Image.new("RGB", (50, 40), c)) for c in ("red", "green")])
    img, txt = enc.encode_images(pixels), enc.encode_texts(["a red cube", "two balls"])
    assert (txt[0] - txt[1]).abs().max() > 1e-3
    s = enc.score(img, txt)
    assert torch.allclose(s, torch.sigmoid(10.0 * (txt @ img.T) - 1.0), atol=1e-5)
    assert bool(((s > 0) & (s < 1)).all())
    # the model's own forward gives the same logits
    with torch.no_grad():
        ids = enc.tokenizer(["a red cube", "two balls"], padding="max_length", max_length=enc.max_length,
                            truncation=True, return_tensors="pt")["input_ids"]
        out = enc.model(input_ids=ids, pixel_values=pixels)
    assert torch.allclose(torch.sigmoid(out.logits_per_text), s, atol=1e-4)


def test_hf_model_end_to_end_eval(clip_dir, siglip_dir, tmp_path):
    data = _twins(tmp_path)
    for d, kind in ((clip_dir, "cosine"), (siglip_dir, "probability")):
        res = evaluate(load_encoder(f"hf:{d}"), "twins", data, progress=False, cache_dir=tmp_path / "cache")
        assert res.results["config"]["score_kind"] == kind
        assert res.results["model"] == f"hf:{d}"
        assert set(res.results["metrics"]) >= {"text", "image", "group"}
        assert all(s.shape == (2, 2) and np.isfinite(s).all() for s in res.scores)


def test_hf_errors(tmp_path, clip_dir):
    with pytest.raises(EqvlError, match="no config.json"):
        load_encoder(f"hf:{tmp_path}")
    with pytest.raises(EqvlError, match="`pretrained` is not used"):
        load_encoder(f"hf:{clip_dir}", "openai")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    with pytest.raises(EqvlError, match="not supported"):
        load_encoder(f"hf:{tmp_path}")
