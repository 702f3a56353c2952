"""Budget tuning on real text-to-image embeddings, not on made-up vectors: a tiny open_clip model
(`eqvl-tiny-vit`, seeded random weights) encodes 2,000 synthetic scenes (`eqvl.synth`, 64 px) as the
collection, and the captions as text queries. Random-init CLIP towers already put images in a narrow
cone and texts across a modality gap from them (Liang et al. 2022, "Mind the Gap"); the test checks
that geometry first, so the case cannot quietly turn easy. The tuner's recall is re-measured here
against a numpy brute force over the stored float16 vectors, and on held-out captions it never saw."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from eqvl.index import ann, budget
from eqvl.index import search as search_mod
from eqvl.index.tuning import IndexPlan, text_queries
from eqvl.index.vectors import VectorStore, write_ids, write_vectors

from tests.helpers.index import brute_force  # noqa: E402

N, HELD_OUT, K = 2000, 300, 10


def _scenes(seed: int, n: int):
    """(image, caption) of n synthetic scenes of `seed` (64 px, the three subsets in turn)."""
    from PIL import Image

    from eqvl.synth import SUBSETS, SynthConfig, item_rng, make_twin, render_scene

    cfg = SynthConfig(size=64, seed=seed)
    for i in range(n):
        twin = make_twin(item_rng(seed, "train", "", i), SUBSETS[i % 3], cfg)
        yield Image.fromarray(render_scene(twin.scenes[0], 64, masks=False).image), twin.captions[0]


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """(encoder, vector store, database captions, held-out caption embeddings)."""
    import faiss

    from eqvl.models import load_encoder

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # small index: OpenMP threads only spin on a loaded machine
    torch.manual_seed(0)
    enc = load_encoder("eqvl-tiny-vit", "none")
    images, captions = zip(*_scenes(11, N))
    pixels = torch.stack([enc.preprocess(im) for im in images])
    emb = np.concatenate([enc.encode_images(pixels[i : i + 500]).float().numpy() for i in range(0, N, 500)])
    held = enc.encode_texts([c for _, c in _scenes(12, HELD_OUT)]).float().numpy()
    folder = tmp_path_factory.mktemp("real_vectors")
    write_vectors(folder, "000000", emb)
    write_ids(folder, "000000", np.arange(N, dtype=np.int64))
    yield enc, VectorStore(folder, ["000000"], emb.shape[1]), list(captions), held
    faiss.omp_set_num_threads(threads)


def _recall(index, spec, vstore, queries) -> float:
    """eqvl's search with `spec` against the test's own brute force over the stored float16 vectors."""
    found = search_mod.search(index, spec, vstore, queries, K, len(vstore), np.zeros(0, np.int64))
    truth = brute_force(vstore.get(vstore.ids).astype(np.float32), queries, K)
    return search_mod.recall_at(found, truth, K)


def test_real_embeddings_are_a_narrow_cone_with_text_across_a_gap(real):
    _, vstore, _, held = real
    img = vstore.get(vstore.ids).astype(np.float64)
    mean_img, mean_txt = img.mean(0), held.mean(0)
    assert np.linalg.norm(mean_img) > 0.9  # the images: a narrow cone
    cos_gap = mean_img @ mean_txt / np.linalg.norm(mean_img) / np.linalg.norm(mean_txt)
    assert cos_gap < 0.5  # the texts sit elsewhere
    txt = held / np.linalg.norm(held, axis=1, keepdims=True)
    best_text = (txt @ img.T).max(1).mean()
    best_image = np.sort(img[:300] @ img.T, axis=1)[:, -2].mean()  # nearest other image
    assert best_text < best_image - 0.5  # a text query is far from every image: out of distribution


def test_budget_tuning_reaches_its_target_on_real_text_queries(real, tmp_path):
    enc, vstore, captions, held = real
    sq8 = f"IVF{ann.ivf_lists(N, 2.0)},SQ8"
    memory = budget.estimate_bytes(sq8, N, vstore.dim) + 1000  # Flat does not fit, IVF-SQ8 does
    tune_set = text_queries(enc, captions)(vstore, vstore.ids)  # what `index build` tunes on: the captions
    plan = IndexPlan(memory=memory, target_recall=0.95, queries=lambda *_: tune_set)
    spec, index = plan.build(vstore, vstore.ids, tmp_path)
    t = spec.facts["tuning"]
    assert spec.factory == sq8 and t["query_kind"] == "caption embeddings" and t["queries"] == 200
    assert t["reached"] and t["recall"] >= 0.95
    nprobe = spec.params["nprobe"]
    assert 1 < nprobe < ann.ivf_lists(N, 2.0)  # a real choice: neither one list nor all of them
    same_depth = [r for r in t["tried"] if r["rescore"] == spec.params["rescore"]]
    assert all(r["recall"] < 0.95 for r in same_depth if r["nprobe"] < nprobe)  # the smallest that reaches it
    measured = _recall(index, spec, vstore, tune_set.vectors)
    assert measured == pytest.approx(t["recall"], abs=1e-9) and measured >= 0.95
    assert _recall(index, spec, vstore, held) >= 0.93  # captions of scenes the tuner never saw
    fewer = ann.IndexSpec(spec.kind, spec.factory, {**spec.params, "nprobe": max(1, nprobe // 4)})
    assert _recall(index, fewer, vstore, tune_set.vectors) < 0.95  # the tuning was needed


def test_tuning_on_real_embeddings_says_when_it_cannot(real, tmp_path, monkeypatch, caplog):
    import eqvl.index.tuning as tuning

    enc, vstore, captions, _ = real
    monkeypatch.setattr(tuning, "RESCORE_MAX", 40)
    tune_set = text_queries(enc, captions)(vstore, vstore.ids)
    plan = IndexPlan(kind="IVF8,PQ1x4", target_recall=1.0, queries=lambda *_: tune_set)
    with caplog.at_level(logging.WARNING, logger="eqvl.index.tuning"):
        spec, index = plan.build(vstore, vstore.ids, tmp_path)
    t = spec.facts["tuning"]
    assert not t["reached"] and t["recall"] < 1.0
    assert "cannot reach recall@10 1.000 on caption embeddings" in caplog.text
    assert _recall(index, spec, vstore, tune_set.vectors) == pytest.approx(t["recall"], abs=1e-9)
