"""eqvl build sd-pairs: figure 15's caption templates, and rendering with a tiny random diffusers pipeline."""

import json
import re

import numpy as np
import pytest

from eqvl.benchmarks import get_benchmark
from eqvl.videotwins.sd_pairs import ACCESSORIES, ANIMAL_SETS, COLOURS, LANDSCAPES, STYLES, make_pairs
from eqvl.cli import main


def _words_differ(a: str, b: str) -> set:
    return set(a.lower().strip(".").split()) ^ set(b.lower().strip(".").split())


def test_pairs_follow_the_templates_and_change_one_thing():
    rows = make_pairs(300, seed=3)
    assert len(rows) == 300 and len({r["id"] for r in rows}) == 300 and len({r["seed"] for r in rows}) == 300
    assert {r["aspect"] for r in rows} == {"object", "scene", "attribute"}
    for r in rows:
        c0, c1 = r["caption_0"], r["caption_1"]
        assert c0 != c1 and c0.endswith(".") and c1.endswith(".") and c0[0].isupper()
        if r["aspect"] == "object":
            m0 = re.fullmatch(r"A (photo|painting) of an? (\w+) (.+)\.", c0)
            m1 = re.fullmatch(r"A (photo|painting) of an? (\w+) (.+)\.", c1)
            assert m0 and m1 and m0[1] == m1[1] and m0[3] == m1[3]  # same medium and scene
            same_set = [s for s, scenes in ANIMAL_SETS if m0[2] in s and m1[2] in s and m0[3] in scenes]
            assert same_set, r  # two animals of one set, in a scene of that set's list
        elif r["aspect"] == "scene":
            place = next(p for p, _ in LANDSCAPES if c0.lower().startswith(f"a photo of {p}"))
            conds = dict(LANDSCAPES)[place]
            assert c0[len("a photo of " + place) + 1:-1] in conds and c1[len("a photo of " + place) + 1:-1] in conds
        else:
            diff = _words_differ(c0, c1)
            vocab = {w for phrase in ACCESSORIES + COLOURS + STYLES for w in phrase.lower().split()} | {"a", "an"}
            assert diff and diff <= vocab, r
    assert make_pairs(50, seed=3) == rows[:50]  # reproducible, and a prefix of a longer draw


def test_cli_writes_pairs_without_render(tmp_path, capsys):
    out = tmp_path / "sd"
    assert main(["build", "sd-pairs", "--out", str(out), "--n", "40", "--no-progress"]) == 0
    rows = [json.loads(x) for x in (out / "pairs.jsonl").read_text().splitlines()]
    assert len(rows) == 40 and json.loads((out / "manifest.json").read_text())["counts"]["pairs"] == 40
    assert main(["build", "sd-pairs", "--out", str(out), "--n", "40", "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["build", "sd-pairs", "--out", str(tmp_path / "x"), "--render", "diffusers:" + str(tmp_path), "--no-progress"]) == 2
    assert "not a diffusers pipeline folder (no model_index.json)" in capsys.readouterr().err


def _tiny_pipeline(folder):
    """A random-init Stable Diffusion pipeline small enough for CPU, with a character-level CLIP tokenizer."""
    torch = pytest.importorskip("torch")
    diffusers = pytest.importorskip("diffusers", reason="diffusers is not installed (pip install 'eqvl[diffusers]')")
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    chars = [chr(c) for c in range(33, 127)]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in chars:
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    (folder / "tok").mkdir(parents=True)
    (folder / "tok" / "vocab.json").write_text(json.dumps(vocab))
    (folder / "tok" / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(folder / "tok" / "vocab.json"), str(folder / "tok" / "merges.txt"), model_max_length=77)
    torch.manual_seed(0)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=len(vocab), hidden_size=8, intermediate_size=16, num_attention_heads=2,
                                        num_hidden_layers=1, max_position_embeddings=77, projection_dim=8,
                                        bos_token_id=0, eos_token_id=1, pad_token_id=1))
    unet = diffusers.UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=4,
                                          out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                          up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=8,
                                          norm_num_groups=4, attention_head_dim=2)
    vae = diffusers.AutoencoderKL(block_out_channels=(8, 8), in_channels=3, out_channels=3, latent_channels=4,
                                  down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                                  up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), norm_num_groups=4, sample_size=16)
    pipe = diffusers.StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet,
                                             scheduler=diffusers.DDIMScheduler(), safety_checker=None,
                                             feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder / "pipe")
    return folder / "pipe"


def test_render_with_tiny_random_pipeline_same_noise(tmp_path):
    from PIL import Image

    from eqvl.videotwins.sd_render import RenderConfig, load_pipeline, render_pair

    pipe_dir = _tiny_pipeline(tmp_path)
    out = tmp_path / "sd"
    assert main(["build", "sd-pairs", "--out", str(out), "--n", "2", "--render", f"diffusers:{pipe_dir}", "--size", "16",
                 "--steps", "2", "--export", "eqben", "--no-progress"]) == 0
    twins = [json.loads(x) for x in (out / "twins.jsonl").read_text().splitlines()]
    assert len(twins) == 2 and all((out / t["image_0"]).is_file() and (out / t["image_1"]).is_file() for t in twins)
    a, b = (np.asarray(Image.open(out / twins[0][k])) for k in ("image_0", "image_1"))
    assert a.shape == (16, 16, 3) and not np.array_equal(a, b)  # same noise, different prompt
    # the same seed gives the same pictures again
    again = render_pair(load_pipeline(pipe_dir), twins[0]["caption_0"], twins[0]["caption_1"], twins[0]["seed"],
                        RenderConfig(size=16, steps=2))
    assert np.array_equal(np.asarray(again[0]), a) and np.array_equal(np.asarray(again[1]), b)
    assert len(get_benchmark("twins").load(out).items) == 2
    assert len(get_benchmark("eqben").load(out / "eqben").items) == 2
