"""The close-set cache of ITM training (`--close-cache`) on a tiny random BlipForImageTextRetrieval:
equal to brute-force ITM scoring when --close-images covers every row, reused for the same model and
data, refused (naming both identities) for other data, rebuilt with --overwrite-cache, used by a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

import scorer_fixtures as F  # noqa: E402
from eqvl.errors import EqvlError  # noqa: E402
from eqvl.train import TrainConfig, train  # noqa: E402
from eqvl.train.close_cache import CloseLookup, load_or_build  # noqa: E402
from eqvl.train.itm_model import build_itm_bundle  # noqa: E402
from eqvl.train.records import read_pairs  # noqa: E402
from train_helpers import make_csv  # noqa: E402


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    blip = F.blip_dir(root)
    csv = make_csv(root / "data", n=7, hard=False)
    return root, blip, csv


def _rows(csv):
    return read_pairs(str(csv), TrainConfig(train_data=str(csv), model="x"))[0]


def test_cache_equals_brute_force_itm_when_it_covers_every_row(env, tmp_path):
    from PIL import Image

    from eqvl.models import load_encoder

    root, blip, csv = env
    rows = _rows(csv)
    bundle = build_itm_bundle(f"hf-itm:{blip}", ("itm",), torch.device("cpu"), 0)
    nbr, scores = load_or_build(str(tmp_path / "c.npz"), bundle, rows, 128, False, False)
    n = len(rows)
    assert nbr.shape == (n, n - 1) and all(set(nbr[i]) == set(range(n)) - {i} for i in range(n))
    scorer = load_encoder(f"hf-itm:{blip}")
    imgs = [scorer.preprocess(Image.open(csv.parent / r.pair.image).convert("RGB")) for r in rows]
    for i in range(n):
        brute = scorer.score_grouped(imgs, [i] * (n - 1), [rows[j].pair.caption for j in nbr[i]]).numpy()
        np.testing.assert_allclose(scores[i], brute, atol=1e-5)
    # the lookup gives a batch's cached pairs, NaN on the diagonal
    got = CloseLookup(nbr, scores)(torch.tensor([3, 1, 5]))
    assert torch.isnan(got.diagonal()).all()
    assert abs(float(got[0, 2]) - float(scores[3][list(nbr[3]).index(5)])) < 1e-7


def test_cache_reused_refused_for_other_data_and_rebuilt_on_request(env, tmp_path):
    root, blip, csv = env
    bundle = build_itm_bundle(f"hf-itm:{blip}", ("itm",), torch.device("cpu"), 0)
    path = str(tmp_path / "c.npz")
    a = load_or_build(path, bundle, _rows(csv), 3, False, False)
    stamp = Path(path).stat().st_mtime_ns
    b = load_or_build(path, bundle, _rows(csv), 3, False, False)
    assert Path(path).stat().st_mtime_ns == stamp and np.array_equal(a[1], b[1])  # reused, not rebuilt
    other = _rows(csv)[:5]
    with pytest.raises(EqvlError, match="was built for .*\"rows\": 7.*this run is .*\"rows\": 5"):
        load_or_build(path, bundle, other, 3, False, False)
    c = load_or_build(path, bundle, other, 3, True, False)
    assert c[0].shape == (5, 3)


def test_training_with_close_cache(env, tmp_path):
    root, blip, csv = env
    cfg = TrainConfig.from_dict(dict(model=f"hf-itm:{blip}", train_data=str(csv), output=str(tmp_path / "run"),
                                     epochs=1, batch_size=7, lr=1e-4, preload=True, train_augment=False,
                                     progress=False, loss="itm+eqsim", itm_negatives=4, eqsim_k=2,
                                     close_cache=str(tmp_path / "close.npz"), close_images=6))
    steps: list[dict] = []
    train(cfg, on_step=steps.append)
    assert (tmp_path / "close.npz").is_file() and steps and steps[0]["eqsim"] >= 0
    with pytest.raises(EqvlError, match="ITM models"):
        train(TrainConfig(model="eqvl-tiny-rn", pretrained="none", train_data=str(csv), progress=False,
                          output=str(tmp_path / "x"), close_cache=str(tmp_path / "y.npz"), batch_size=7, preload=True))


def test_eqsim_close_set_ranks_by_cached_scores_where_cached():
    from eqvl.losses import LossBatch, close_set, eqsim_loss
    from eqvl.losses.eqsim import EqSimLoss

    g = torch.Generator().manual_seed(0)
    n = 6
    logits = torch.randn(n, n, generator=g)
    mask = torch.ones(n, n, dtype=torch.bool)
    cached = torch.rand(n, n, generator=g)
    cached[0, 1] = float("nan")  # not cached: ranked by the current probability
    b = LossBatch(image=torch.eye(n), text=torch.eye(n), logit_scale=torch.tensor(1.0), pair_logits=logits,
                  pair_mask=mask, close_scores=cached)
    term = EqSimLoss(beta=1.0, k=2)
    got = term(b)[0][1]
    sim = torch.sigmoid(logits)
    rank = torch.where(cached.isnan(), sim, cached)
    want = eqsim_loss(sim, close_set(rank, 2, valid=mask), valid=mask)
    plain = eqsim_loss(sim, close_set(sim, 2, valid=mask), valid=mask)
    assert torch.allclose(got, want) and not torch.allclose(want, plain)
