"""ITM heads (BLIP, BLIP-2) and BLIP's ITC head on tiny random-weight directories built offline:
eqvl's scores equal transformers' own forward, alone or in a batch, and the engine scores
exactly the pairs a benchmark needs."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
import torch
from PIL import Image

transformers = pytest.importorskip("transformers")

from tests.helpers import scorers as F  # noqa: E402
from eqvl.errors import EqvlError  # noqa: E402
from eqvl.evaluation import evaluate  # noqa: E402
from eqvl.models import load_encoder  # noqa: E402
from eqvl.models.base import Encoder, GroupedPairScorer, is_pair_scorer  # noqa: E402

TEXTS = ["a red cube left of a dog", "two cats", "the blue ball is on the green cube under one dog"]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("itm")
    return {"blip": F.blip_dir(root), "blip2": F.blip2_dir(root), "images": F.images(root / "im", 3)}


@functools.lru_cache(maxsize=4)
def _parts(directory):
    arch = json.loads((directory / "config.json").read_text())["architectures"][0]
    model = getattr(transformers, arch).from_pretrained(directory).eval()
    tok = transformers.AutoTokenizer.from_pretrained(directory)
    proc = transformers.AutoImageProcessor.from_pretrained(directory)
    return arch, model, tok, proc


def _direct(directory, image_path, text):
    """P(match) from transformers' own forward, with the directory's own tokenizer and image processor."""
    arch, model, tok, proc = _parts(directory)
    pixels = proc(images=Image.open(image_path).convert("RGB"), return_tensors="pt")["pixel_values"]
    ids = tok([text], return_tensors="pt")
    flag = {"use_itm_head": True} if arch == "BlipForImageTextRetrieval" else {"use_image_text_matching_head": True}
    with torch.no_grad():
        out = model(pixel_values=pixels, input_ids=ids["input_ids"], attention_mask=ids["attention_mask"], **flag)
    logits = out.itm_score if arch == "BlipForImageTextRetrieval" else out.logits_per_image
    return float(torch.softmax(logits, dim=-1)[0, 1])


@pytest.mark.parametrize("family", ["blip", "blip2"])
def test_itm_equals_transformers_forward_alone_and_batched(dirs, family):
    scorer = load_encoder(f"hf-itm:{dirs[family]}")
    assert is_pair_scorer(scorer) and isinstance(scorer, GroupedPairScorer) and scorer.score_kind == "probability"
    imgs = [scorer.preprocess(Image.open(p).convert("RGB")) for p in dirs["images"]]
    pairs = [(i, t) for i in range(3) for t in range(3)]
    batched = scorer.score_grouped(imgs, [i for i, _ in pairs], [TEXTS[t] for _, t in pairs]).numpy()
    direct = np.array([_direct(dirs[family], dirs["images"][i], TEXTS[t]) for i, t in pairs])
    np.testing.assert_allclose(batched, direct, atol=1e-5)
    assert np.ptp(direct) > 0.02  # scores differ between pairs: a mix-up would show
    alone = [float(scorer.score_pairs(torch.stack([imgs[i]]), [TEXTS[t]])[0]) for i, t in pairs]
    np.testing.assert_allclose(alone, direct, atol=1e-5)


def test_blip_dir_under_hf_is_its_itc_dual_encoder(dirs):
    enc = load_encoder(f"hf:{dirs['blip']}")
    assert isinstance(enc, Encoder) and not is_pair_scorer(enc) and enc.score_kind == "cosine"
    model = transformers.BlipForImageTextRetrieval.from_pretrained(dirs["blip"]).eval()
    tok = transformers.AutoTokenizer.from_pretrained(dirs["blip"])
    pixels = torch.stack([enc.preprocess(Image.open(p).convert("RGB")) for p in dirs["images"][:1]])
    ids = tok([TEXTS[0]], return_tensors="pt")
    with torch.no_grad():
        want = model(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"], pixel_values=pixels,
                     use_itm_head=False).itm_score
    got = enc.score(enc.encode_images(pixels), enc.encode_texts([TEXTS[0]]))
    assert abs(float(got[0, 0]) - float(want[0, 0])) < 1e-5


def test_engine_scores_exactly_the_pairs_a_benchmark_needs(dirs, tmp_path, monkeypatch):
    data = F.twins(tmp_path / "tw", n=3)
    scorer = load_encoder(f"hf-itm:{dirs['blip']}")
    calls: list[int] = []
    vision = scorer.model.vision_model.forward

    def counting(*a, **k):
        out = vision(*a, **k)
        calls.append(out.last_hidden_state.shape[0])
        return out

    monkeypatch.setattr(scorer.model.vision_model, "forward", counting)
    res = evaluate(scorer, "twins", data, batch_size=4, progress=False, cache_dir=tmp_path / "cache")
    assert res.results["encoding"]["pairs"]["unique"] == 12 == res.results["encoding"]["pairs"]["encoded"]
    assert sum(calls) == 6  # 2x2 twins: 4 pairs per item, each image through the vision tower once
    for n, item in enumerate(res.data.items):
        for c, cap in enumerate(item.captions):
            for i, ref in enumerate(item.images):
                assert abs(res.scores[n][c, i] - _direct(dirs["blip"], ref.path, cap)) < 1e-5
    calls.clear()
    again = evaluate(scorer, "twins", data, batch_size=7, progress=False, cache_dir=tmp_path / "cache")
    assert calls == [] and again.results["encoding"]["pairs"]["cached"] == 12
    np.testing.assert_array_equal(np.stack(again.scores), np.stack(res.scores))


def test_itm_bad_input(dirs, tmp_path):
    clip_like = tmp_path / "odd"
    clip_like.mkdir()
    (clip_like / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(EqvlError, match="GPT2LMHeadModel; supported: BlipForImageTextRetrieval"):
        load_encoder(f"hf-itm:{clip_like}")
    no_proc = F.copy_without(dirs["blip"], tmp_path / "noproc", "preprocessor_config.json")
    with pytest.raises(EqvlError, match="no image processor .*preprocessor_config.json"):
        load_encoder(f"hf-itm:{no_proc}")
    with pytest.raises(EqvlError, match="`pretrained` is not used with hf-itm:"):
        load_encoder(f"hf-itm:{dirs['blip']}", "openai")
    with pytest.raises(EqvlError, match="not an option of hf-itm: models"):
        load_encoder(f"hf-itm:{dirs['blip']}", options={"question": "x {}"})


def test_itm_score_aro_is_a_separately_named_score(dirs):
    """ARO / What'sUp's BLIP score (ITM logit with [ENC] + ITC cosine): its own name, kind and cache identity
    (equality with their code: scripts/parity/parity_scorers.py)."""
    plain = load_encoder(f"hf-itm:{dirs['blip']}")
    aro = load_encoder(f"hf-itm:{dirs['blip']}", options={"itm_score": "aro"})
    assert aro.score_kind == "logit+cosine" and aro.identity() != plain.identity()
    img = [aro.preprocess(Image.open(dirs["images"][0]).convert("RGB"))]
    itc = load_encoder(f"hf:{dirs['blip']}")
    cos = float(itc.score(itc.encode_images(torch.stack(img)), itc.encode_texts([TEXTS[0]]))[0, 0])
    got = float(aro.score_pairs(img, [TEXTS[0]])[0])
    assert abs(got - cos) > 1e-3  # the ITM logit is added
    with pytest.raises(EqvlError, match="itm_score=aro is BLIP's"):
        load_encoder(f"hf-itm:{dirs['blip2']}", options={"itm_score": "aro"})
    with pytest.raises(EqvlError, match="choose from probability, aro"):
        load_encoder(f"hf-itm:{dirs['blip']}", options={"itm_score": "logit"})


def test_blip2_dir_under_hf_is_its_multi_vector_itc(dirs, tmp_path):
    enc = load_encoder(f"hf:{dirs['blip2']}")
    assert isinstance(enc, Encoder) and enc.score_kind == "cosine"
    model = transformers.Blip2ForImageTextRetrieval.from_pretrained(dirs["blip2"]).eval()
    tok = transformers.AutoTokenizer.from_pretrained(dirs["blip2"])
    pixels = torch.stack([enc.preprocess(Image.open(p).convert("RGB")) for p in dirs["images"]])
    ids = tok(TEXTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        want = model(pixel_values=pixels, input_ids=ids["input_ids"], attention_mask=ids["attention_mask"],
                     use_image_text_matching_head=False).logits_per_text  # [texts, images]
    got = enc.score(enc.encode_images(pixels), enc.encode_texts(TEXTS))
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)
    rows = enc.score_rows(enc.encode_images(pixels), enc.encode_texts(TEXTS))
    np.testing.assert_allclose(rows.numpy(), np.diag(want.numpy()), atol=1e-5)
    res = evaluate(enc, "twins", F.twins(tmp_path / "tw", n=2), progress=False)
    assert all(s.shape == (2, 2) for s in res.scores)
    from eqvl.index import Index

    with pytest.raises(EqvlError, match="several vectors"):
        Index.build(tmp_path / "idx", [str(p) for p in dirs["images"]], f"hf:{dirs['blip2']}")
