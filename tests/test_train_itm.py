"""Training a fusion model's ITM head (`--model hf-itm:DIR`) on a tiny random BlipForImageTextRetrieval
built from a transformers config: the `itm` loss equals a hand BCE of transformers' own forward, EqSim
on ITM scores equals the loss module on scores computed directly with transformers."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

transformers = pytest.importorskip("transformers")

from tests.helpers import scorers as F  # noqa: E402
from eqvl.errors import EqvlError  # noqa: E402
from eqvl.losses import LossBatch, LossSpec, close_set, eqsim_loss  # noqa: E402
from eqvl.losses.itm import ITMLoss, sample_pairs  # noqa: E402
from eqvl.train.itm_model import build_itm_bundle  # noqa: E402

TEXTS = ["a red cube left of a dog", "two cats", "the blue ball is on the green cube", "one dog under a cat",
         "a photo of two balls"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("itmtrain")
    d = F.blip_dir(root)
    paths = F.images(root / "im", len(TEXTS))
    bundle = build_itm_bundle(f"hf-itm:{d}", ("itm", "eqsim"), torch.device("cpu"), 0)
    bundle.model.eval()  # no dropout: the hand computation must see the same network
    images = torch.stack([bundle.preprocess_val(Image.open(p).convert("RGB")) for p in paths])
    blip = transformers.BlipForImageTextRetrieval.from_pretrained(d).eval()
    tok = transformers.AutoTokenizer.from_pretrained(d)
    return bundle, images, blip, tok


def _grid(bundle, images, negatives=2, seed=3):
    n = images.shape[0]
    sampler = lambda n_, sim: sample_pairs(n_, negatives, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    with torch.no_grad():
        out = bundle.model(images, bundle.tokenizer(TEXTS), sampler, n)
    return out


def _direct(blip, tok, images, i, j):
    """P(match) of (image i, caption j) from BlipForImageTextRetrieval.forward(use_itm_head=True)."""
    ids = tok([TEXTS[j]], return_tensors="pt")
    with torch.no_grad():
        out = blip(pixel_values=images[i:i + 1], input_ids=ids["input_ids"], attention_mask=ids["attention_mask"],
                   use_itm_head=True)
    return float(torch.softmax(out.itm_score, dim=-1)[0, 1])


def test_itm_loss_equals_hand_bce_of_transformers_forward(setup):
    bundle, images, blip, tok = setup
    out = _grid(bundle, images)
    mask = out["pair_mask"]
    n = images.shape[0]
    assert mask.diagonal().all() and (mask == mask.T).all() and mask.sum() > n
    terms = []
    for i, j in mask.nonzero().tolist():
        p = _direct(blip, tok, images, i, j)
        terms.append(-torch.log(torch.tensor(p if i == j else 1 - p, dtype=torch.float64)))
    hand = torch.stack(terms).mean()
    b = LossBatch(image=out["image_features"], text=out["text_features"][:n], logit_scale=out["logit_scale"],
                  pair_logits=out["pair_rows"], pair_mask=mask)
    (name, value, weight), = ITMLoss()(b)
    assert name == "itm" and weight == 1.0
    assert abs(float(value) - float(hand)) < 1e-5, (float(value), float(hand))


def test_eqsim_on_itm_scores_equals_loss_module_on_transformers_scores(setup):
    bundle, images, blip, tok = setup
    out = _grid(bundle, images, negatives=3, seed=5)
    mask, n = out["pair_mask"], images.shape[0]
    direct = torch.zeros(n, n, dtype=torch.float64)
    for i, j in mask.nonzero().tolist():
        direct[i, j] = _direct(blip, tok, images, i, j)
    spec = LossSpec.parse("itm+eqsim", {"eqsim_k": 2, "itm_negatives": 3})
    loss = spec.build()
    b = LossBatch(image=out["image_features"], text=out["text_features"][:n], logit_scale=out["logit_scale"],
                  pair_logits=out["pair_rows"], pair_mask=mask)
    _, parts = loss(b)
    close = close_set(direct, 2, valid=mask)
    want = eqsim_loss(direct, close, alpha=0.0, beta=1.0, valid=mask)
    assert float(want) > 0
    assert abs(float(parts["eqsim"]) - float(want)) < 1e-5
    assert abs(float(parts["itm"]) - float(parts["itm"])) == 0


def test_sample_pairs_seeded_symmetric_and_bounded():
    a = sample_pairs(6, 2, generator=torch.Generator().manual_seed(1))
    b = sample_pairs(6, 2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and torch.equal(a, a.T) and a.diagonal().all()
    assert ((a & ~torch.eye(6, dtype=torch.bool)).sum(1) >= 2).all()
    full = sample_pairs(4, 15)  # more negatives than rows: every pair
    assert full.all()


def test_eqsim_k_above_itm_negatives_refused_at_parse():
    from eqvl.commands.common import flag_message

    with pytest.raises(EqvlError, match="`eqsim_k` 8 > `itm_negatives` 4") as exc:
        LossSpec.parse("itm+eqsim", {"itm_negatives": 4})
    assert flag_message(exc.value).startswith("--eqsim-k 8 > --itm-negatives 4")
    LossSpec.parse("eqsim", {"itm_negatives": 4})  # no itm: eqsim_k is not bounded by it


def test_itm_on_a_dual_encoder_batch_is_one_line():
    b = LossBatch(image=torch.eye(3), text=torch.eye(3), logit_scale=torch.tensor(10.0))
    with pytest.raises(EqvlError, match="image-text matching head"):
        ITMLoss()(b)


def test_dir_without_itm_head_names_architecture_and_losses(tmp_path):
    d = F.blip2_dir(tmp_path)
    with pytest.raises(EqvlError, match="Blip2ForImageTextRetrieval.*losses itm, itc, eqsim"):
        build_itm_bundle(f"hf-itm:{d}", ("itm",), torch.device("cpu"), 0)


def test_itc_hard_sampling_draws_from_the_itc_softmax():
    n = 5
    sim = torch.full((n, n), -30.0)
    for i in range(n):
        sim[i, (i + 2) % n] = 30.0  # one overwhelming ITC partner per anchor
    got = sample_pairs(n, 1, "itc-hard", sim, torch.Generator().manual_seed(0))
    want = torch.eye(n, dtype=torch.bool)
    for i in range(n):
        want[i, (i + 2) % n] = want[(i + 2) % n, i] = True
    assert torch.equal(got, want)
    with pytest.raises(EqvlError, match="itm_sampling itc-hard needs"):
        sample_pairs(n, 1, "itc-hard")
