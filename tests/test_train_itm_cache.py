"""The close-set cache of ITM training (`--close-cache`) on a tiny random BlipForImageTextRetrieval:
image-level neighbours (an image's own captions are never its neighbours), equal to brute-force ITM
scoring when --close-images covers every image, reused for the same model and data, refused (naming
both identities) for other data, rebuilt with --overwrite-cache; each anchor's negatives are drawn
from its cached close captions, and EqSim's close set is their top-k by the cached score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from tests.helpers import scorers as F  # noqa: E402
from eqvl.errors import EqvlError  # noqa: E402
from eqvl.losses import LossBatch, close_set, eqsim_loss  # noqa: E402
from eqvl.losses.eqsim import EqSimLoss  # noqa: E402
from eqvl.losses.itm import ITMLoss, itm_bce  # noqa: E402
from eqvl.train import TrainConfig, train  # noqa: E402
from eqvl.train.close_cache import CloseCache, load_or_build  # noqa: E402
from eqvl.train.close_negatives import CloseLookup, CloseNegatives, close_grid, close_scores  # noqa: E402
from eqvl.train.itm_model import build_itm_bundle  # noqa: E402
from eqvl.train.records import read_pairs  # noqa: E402
from tests.helpers.train import make_csv  # noqa: E402


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """7 images with two captions each (rows 2i and 2i + 1 share image i)."""
    root = tmp_path_factory.mktemp("cache")
    blip = F.blip_dir(root)
    csv = make_csv(root / "data", n=7, hard=False)
    head, *lines = csv.read_text().splitlines()
    doubled = [x for line in lines for x in (line, line.replace("\ta ", "\tone "))]
    csv.write_text("\n".join([head, *doubled]) + "\n")
    return root, blip, csv


def _rows(csv):
    return read_pairs(str(csv), TrainConfig(train_data=str(csv), model="x"))[0]


def test_cache_equals_brute_force_itm_when_it_covers_every_image(env, tmp_path):
    from PIL import Image

    from eqvl.models import load_encoder

    root, blip, csv = env
    rows = _rows(csv)
    bundle = build_itm_bundle(f"hf-itm:{blip}", ("itm",), torch.device("cpu"), 0)
    cache = load_or_build(str(tmp_path / "c.npz"), bundle, rows, 128, False, False)
    n = len(rows)
    assert list(cache.image_of) == [i // 2 for i in range(n)] and cache.neighbours.shape == (7, 12)
    scorer = load_encoder(f"hf-itm:{blip}")
    imgs = [scorer.preprocess(Image.open(csv.parent / r.pair.image).convert("RGB")) for r in rows]
    for i in range(n):
        got, scores = cache.candidates(i)
        assert set(got) == set(range(n)) - {i - i % 2, i - i % 2 + 1}  # every other image's two captions
        assert all(got[j] // 2 == got[j + 1] // 2 for j in range(0, 12, 2))  # image by image
        brute = scorer.score_grouped(imgs, [i] * len(got), [rows[j].pair.caption for j in got]).numpy()
        np.testing.assert_allclose(scores, brute, atol=1e-5)
    # itm_in_batch's lookup: a batch's cached pairs, NaN on the diagonal and for a row's own image
    got = CloseLookup(cache)(torch.tensor([6, 2, 7]))
    assert torch.isnan(got.diagonal()).all() and torch.isnan(got[0, 2]) and torch.isnan(got[2, 0])
    nb, sc = cache.candidates(6)
    assert abs(float(got[0, 1]) - float(sc[list(nb).index(2)])) < 1e-7


def test_cache_neighbours_are_the_top_images_by_embedding(env, tmp_path):
    from eqvl.train.close_cache import embeddings, image_groups

    root, blip, csv = env
    rows = _rows(csv)
    bundle = build_itm_bundle(f"hf-itm:{blip}", ("itm",), torch.device("cpu"), 0)
    cache = load_or_build(str(tmp_path / "c.npz"), bundle, rows, 3, False, False)
    _, members = image_groups(rows)
    with torch.no_grad():
        emb = embeddings(bundle, rows, members, 4)
    sim = (emb @ emb.T).fill_diagonal_(float("-inf"))
    for u in range(7):
        top = sim[u].topk(3).indices.tolist()
        assert list(cache.neighbours[u]) == [r for v in top for r in members[v]]


def test_cache_reused_refused_for_other_data_and_rebuilt_on_request(env, tmp_path):
    root, blip, csv = env
    bundle = build_itm_bundle(f"hf-itm:{blip}", ("itm",), torch.device("cpu"), 0)
    path = str(tmp_path / "c.npz")
    a = load_or_build(path, bundle, _rows(csv), 3, False, False)
    stamp = Path(path).stat().st_mtime_ns
    b = load_or_build(path, bundle, _rows(csv), 3, False, False)
    assert Path(path).stat().st_mtime_ns == stamp and np.array_equal(a.scores, b.scores)  # reused, not rebuilt
    other = _rows(csv)[:10]
    with pytest.raises(EqvlError, match="was built for .*\"rows\": 14.*this run is .*\"rows\": 10"):
        load_or_build(path, bundle, other, 3, False, False)
    c = load_or_build(path, bundle, other, 3, True, False)
    assert c.neighbours.shape == (5, 6)


def _cache() -> CloseCache:
    """Hand-made: 4 one-caption images; image 0's close captions rows 1, 2, 3 scored 0.2, 0.9, 0.5."""
    nbr = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]], dtype=np.int32)
    scores = np.array([[0.2, 0.9, 0.5], [0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.1]], dtype=np.float32)
    return CloseCache(np.arange(4, dtype=np.int32), nbr, scores)


def test_negatives_are_drawn_from_the_cached_close_captions():
    draw = CloseNegatives(_cache(), 2, seed=5)
    assert draw.k == 2
    seen = set()
    for epoch in range(6):
        rows, scores = draw.draw(0, epoch)
        assert len(set(rows)) == 2 and set(rows) <= {1, 2, 3}
        assert np.allclose(scores, [{1: 0.2, 2: 0.9, 3: 0.5}[int(r)] for r in rows])
        seen.add(tuple(rows))
    assert len(seen) > 1  # another draw each epoch
    assert np.array_equal(draw.draw(0, 3)[0], CloseNegatives(_cache(), 2, seed=5).draw(0, 3)[0])  # seeded
    assert CloseNegatives(_cache(), 15, seed=0).k == 3  # no more than the cache holds


def test_close_grid_by_hand():
    grid, anchor = close_grid(n=2, k=2, world=1, diag=True)
    # entries: 0, 1 anchors; 2, 3 anchor 0's negatives; 4, 5 anchor 1's
    want = torch.tensor([[1, 0, 1, 1, 0, 0],
                         [0, 1, 0, 0, 1, 1],
                         [1, 0, 1, 0, 0, 0],
                         [1, 0, 0, 1, 0, 0],
                         [0, 1, 0, 0, 1, 0],
                         [0, 1, 0, 0, 0, 1]], dtype=torch.bool)
    assert torch.equal(grid, want) and anchor.tolist() == [True, True, False, False, False, False]
    no_diag, _ = close_grid(n=2, k=2, world=1, diag=False)
    assert torch.equal(no_diag, want & ~torch.eye(6, dtype=torch.bool) | torch.diag(anchor))
    two, anchor2 = close_grid(n=1, k=2, world=2, diag=False)
    assert two.shape == (6, 6) and anchor2.tolist() == [True, False, False, True, False, False]
    assert not two[:3, 3:].any()  # a process's anchors pair only with their own negatives
    cs = close_scores(torch.tensor([[0.2, 0.9], [0.4, 0.5]]), n=2, k=2)
    assert cs[0, 2] == pytest.approx(0.2) and cs[0, 3] == pytest.approx(0.9) and cs[1, 5] == pytest.approx(0.5)
    assert int((~cs.isnan()).sum()) == 4


def test_close_set_is_the_top_k_of_the_negatives_by_cached_score():
    """Anchor 0 of a 1-anchor, 4-negative grid: cached 0.1, 0.8, 0.3, 0.6 -> v2 on negatives 2 and 4
    (entries 2, 4), v1 on the others; the ITM term covers the anchor's pairs only."""
    n, k = 1, 4
    grid, anchor = close_grid(n, k, 1, diag=True)
    cached = close_scores(torch.tensor([[0.1, 0.8, 0.3, 0.6]]), n, k)
    logits = torch.randn(5, 5, generator=torch.Generator().manual_seed(0)) * grid
    b = LossBatch(image=torch.eye(5)[:1], text=torch.eye(5)[:1], logit_scale=torch.tensor(1.0), pair_logits=logits,
                  pair_mask=grid, close_scores=cached, pair_anchor=anchor)
    got = EqSimLoss(beta=1.0, k=2)(b)[0][1]
    close = torch.zeros(5, 5, dtype=torch.bool)
    close[0, 2] = close[0, 4] = True  # negatives 2 and 4 (cached 0.8, 0.6), by hand
    sim = torch.sigmoid(logits)
    assert torch.allclose(got, eqsim_loss(sim, close, valid=grid))
    wrong = torch.zeros(5, 5, dtype=torch.bool)
    wrong[0, 1] = wrong[0, 3] = True
    assert not torch.allclose(got, eqsim_loss(sim, wrong, valid=grid))
    assert torch.equal(close_set(torch.where(cached.isnan(), sim, cached), 2, valid=grid & anchor[:, None]), close)
    itm = ITMLoss(negatives=4)(b)[0][1]
    pairs = grid & (anchor[:, None] | anchor[None, :])  # the negatives' own pairs are EqSim's only
    assert int(pairs.sum()) == 9 and torch.allclose(itm, itm_bce(logits, pairs))


def test_training_draws_negatives_from_the_cache(env, tmp_path, monkeypatch):
    from eqvl.train import forward

    root, blip, csv = env
    seen: list = []
    orig = forward._model_forward

    def spy(model, loss_fn, batch, info, step, seed, autocast):
        seen.append((batch.indices.clone(), batch.close_rows.clone(), batch.close_scores.clone()))
        return orig(model, loss_fn, batch, info, step, seed, autocast)

    monkeypatch.setattr(forward, "_model_forward", spy)
    cfg = TrainConfig.from_dict(dict(model=f"hf-itm:{blip}", train_data=str(csv), output=str(tmp_path / "run"),
                                     epochs=1, batch_size=7, lr=1e-4, preload=True, train_augment=False,
                                     progress=False, loss="itm+eqsim", itm_negatives=4, eqsim_k=2,
                                     close_cache=str(tmp_path / "close.npz"), close_images=3))
    steps: list[dict] = []
    train(cfg, on_step=steps.append)
    assert steps and steps[0]["eqsim"] >= 0 and len(seen) == 2
    cache = load_or_build(str(tmp_path / "close.npz"), build_itm_bundle(f"hf-itm:{blip}", ("itm",), torch.device("cpu"), 0),
                          _rows(csv), 3, False, False)
    for idx, rows, scores in seen:
        assert rows.shape == (7, 4)
        for a, r, s in zip(idx.tolist(), rows.tolist(), scores):
            cand, sc = cache.candidates(a)
            assert set(r) <= set(cand.tolist()) and len(set(r)) == 4
            assert np.allclose(s.numpy(), [sc[list(cand).index(x)] for x in r])
    with pytest.raises(EqvlError, match="ITM models"):
        train(TrainConfig(model="eqvl-tiny-rn", pretrained="none", train_data=str(csv), progress=False,
                          output=str(tmp_path / "x"), close_cache=str(tmp_path / "y.npz"), batch_size=7, preload=True))


def test_itm_in_batch_keeps_batch_negatives_and_itc_hard_needs_it(env, tmp_path):
    root, blip, csv = env
    base = dict(model=f"hf-itm:{blip}", train_data=str(csv), epochs=1, batch_size=7, lr=1e-4, preload=True,
                train_augment=False, progress=False, loss="itm+eqsim", itm_negatives=4, eqsim_k=2,
                close_cache=str(tmp_path / "close.npz"), close_images=3)
    steps: list[dict] = []
    train(TrainConfig.from_dict(dict(base, output=str(tmp_path / "a"), itm_in_batch=True)), on_step=steps.append)
    assert steps
    with pytest.raises(EqvlError, match="`itm_sampling` itc-hard draws negatives from the batch"):
        train(TrainConfig.from_dict(dict(base, output=str(tmp_path / "b"), itm_sampling="itc-hard")))


def test_eqsim_close_set_ranks_by_cached_scores_where_cached():
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


KILLER = """
import os, sys, torch
from eqvl.train import TrainConfig
from eqvl.train.close_cache import load_or_build
from eqvl.train.itm_model import build_itm_bundle
from eqvl.train.records import read_pairs
blip, csv, path = sys.argv[1:4]
rows = read_pairs(csv, TrainConfig(train_data=csv, model="x"))[0]
bundle = build_itm_bundle(f"hf-itm:{blip}", ("itm",), torch.device("cpu"), 0)
def kill(i):
    if i == 1:  # after its second chunk is on disk
        os.kill(os.getpid(), 9)
load_or_build(path, bundle, rows, 3, False, False, chunk=2, on_chunk=kill)
"""


def test_killed_build_resumes_where_it_stopped_and_gives_the_same_cache(env, tmp_path):
    import os
    import subprocess
    import sys

    root, blip, csv = env
    path = tmp_path / "c.npz"
    env_vars = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", KILLER, str(blip), str(csv), str(path)], env=env_vars,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == -9, proc.stderr[-2000:]
    partial = tmp_path / "c.npz.partial"
    assert not path.exists() and sorted(p.name for p in partial.glob("chunk_*.npz")) == [
        "chunk_000000000.npz", "chunk_000000002.npz"] and (partial / "embeddings.npy").exists()
    bundle = build_itm_bundle(f"hf-itm:{blip}", ("itm",), torch.device("cpu"), 0)
    resumed_chunks: list[int] = []
    resumed = load_or_build(str(path), bundle, _rows(csv), 3, False, False, chunk=2, on_chunk=resumed_chunks.append)
    assert resumed_chunks == [2, 3] and not partial.exists()  # chunks 0-1 read back, only 2-3 (images 4-6) scored
    whole = load_or_build(str(tmp_path / "w.npz"), bundle, _rows(csv), 3, False, False, chunk=2)
    assert np.array_equal(resumed.image_of, whole.image_of) and np.array_equal(resumed.neighbours, whole.neighbours)
    assert resumed.scores.tobytes() == whole.scores.tobytes()  # bit for bit
    with np.load(path) as a, np.load(tmp_path / "w.npz") as b:
        assert str(a["identity"]) == str(b["identity"]) and a["scores"].tobytes() == b["scores"].tobytes()


def test_another_builds_progress_is_cleared_and_progress_is_shown(env, tmp_path, capfd):
    root, blip, csv = env
    path = tmp_path / "c.npz"
    stale = tmp_path / "c.npz.partial"
    stale.mkdir()
    (stale / "build.json").write_text("{}")
    (stale / "chunk_000000000.npz").write_bytes(b"not this build's")
    bundle = build_itm_bundle(f"hf-itm:{blip}", ("itm",), torch.device("cpu"), 0)
    load_or_build(str(path), bundle, _rows(csv), 3, False, True, chunk=2)
    assert path.exists() and not stale.exists()
    err = capfd.readouterr().err
    assert "close cache" in err and "7/7" in err
