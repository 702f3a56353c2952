"""`eqvl.index` on vectors the test controls (TableEncoder): exact search equals numpy brute force
(ties included), approximate indexes reach their recall target, round trip, add/dedup, remove,
filters before the cut, re-ranking equals brute force by the second model."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from eqvl.errors import EqvlError
from eqvl.index import EmbedOptions, Index
from eqvl.index import search as search_mod

from tests.helpers.index import TableEncoder, brute_force, clustered, index_images, unit  # noqa: E402

OPTS = dict(batch_size=256, workers=0, progress=False)


def _build(root, csv, enc, kind="flat", **kw):
    return Index.build(root, csv, "table", index=kind, encoder=enc, options=EmbedOptions(**OPTS), **kw)


def _ids(hits):
    return [h.id for h in hits]


@pytest.fixture(scope="module")
def tied(tmp_path_factory):
    """300 vectors drawn from 40 distinct ones (so many exact ties), 8 queries; a flat index."""
    root = tmp_path_factory.mktemp("tied")
    rng = np.random.default_rng(1)
    distinct = unit(rng.normal(size=(40, 16)))
    table = distinct[rng.integers(0, 40, size=300)]
    queries = unit(rng.normal(size=(8, 16)))
    enc = TableEncoder(table, queries)
    csv = index_images(root, 300, extra={"subset": [("a", "b", "c")[i % 3] if i % 10 else "rare" for i in range(300)]})
    report = _build(root / "idx", csv, enc)
    return root, csv, enc, enc.table.numpy(), enc.queries.numpy(), report


def test_exact_search_equals_numpy_brute_force_with_ties(tied):
    root, _, enc, table, queries, report = tied
    assert report.count == report.added == 300 and report.index == "Flat"
    idx = Index.open(root / "idx", encoder=enc)
    tie_cut = 0
    for k in (1, 10, 25, 300):
        truth = brute_force(table, queries, k)
        found = idx.search(texts=[f"q{j}" for j in range(len(queries))], k=k)
        for t, f in zip(truth, found):
            assert _ids(f) == [i for i, _ in t]
            np.testing.assert_allclose([h.score for h in f], [s for _, s in t], rtol=0, atol=1e-12)
            assert all(h.stage == "exact" for h in f)
            full = brute_force(table, queries[[found.index(f)]], 300)[0]
            tie_cut += k < 300 and full[k][1] == t[-1][1]  # the k-th score continues past the cut
    assert tie_cut >= 3, "the data must put tie groups across the top-k cut"


def test_save_open_round_trip(tied):
    root, _, enc, _, queries, _ = tied
    a = Index.open(root / "idx", encoder=enc)
    copy = root / "copied"
    shutil.copytree(root / "idx", copy)
    b = Index.open(copy, encoder=enc)
    assert (b.count, b.dim, b.spec.factory, b.model) == (a.count, a.dim, a.spec.factory, a.model)
    qs = [f"q{j}" for j in range(len(queries))]
    assert [_ids(h) for h in a.search(texts=qs, k=7)] == [_ids(h) for h in b.search(texts=qs, k=7)]
    manifest = json.loads((b.generation / "manifest.json").read_text())
    assert manifest["model"]["identity"] == enc.identity() and manifest["count"] == 300


def test_where_filter_returns_k_hits_before_the_cut(tied, monkeypatch):
    root, _, enc, table, queries, _ = tied
    idx = Index.open(root / "idx", encoder=enc)
    subset = np.array([("a", "b", "c")[i % 3] if i % 10 else "rare" for i in range(300)])
    for value, k in (("rare", 30), ("b", 20)):
        ids = np.nonzero(subset == value)[0]
        truth = brute_force(table[ids], queries[:3], k, ids=ids)
        for path in ("exact-subset", "faiss-selector"):
            if path == "faiss-selector":
                monkeypatch.setattr(search_mod, "EXACT_SUBSET_MAX", 5)
            found = idx.search(texts=["q0", "q1", "q2"], k=k, where={"subset": value})
            for t, f in zip(truth, found):
                assert len(f) == k and all(h.meta["subset"] == value for h in f)
                assert _ids(f) == [i for i, _ in t]
            monkeypatch.undo()
    both = idx.search(texts=["q0"], k=300, where=["subset=a", "subset=rare"])[0]
    assert len(both) == 30 + 90 and {h.meta["subset"] for h in both} == {"a", "rare"}
    assert idx.search(texts=["q0"], k=5, where={"subset": "nothing"})[0] == []
    with pytest.raises(EqvlError, match=r"unknown column 'colour'; columns: path, caption, hash, subset"):
        idx.search(texts=["q0"], k=5, where={"colour": "red"})


@pytest.fixture(scope="module")
def clustered_images(tmp_path_factory):
    root = tmp_path_factory.mktemp("clustered")
    return root, index_images(root, 2000)


@pytest.mark.parametrize("kind", ["ivf", "hnsw", "ivfpq"])
def test_approximate_index_reaches_recall_target_on_clustered_data(clustered_images, tmp_path, kind):
    table, centres = clustered(2000, 32, 30, seed=2)
    rng = np.random.default_rng(3)  # held-out queries: near the centres, not copies of stored vectors
    queries = unit(centres[rng.integers(0, 30, 60)] + 0.35 * rng.normal(size=(60, 32)) / np.sqrt(32) * 3)
    enc = TableEncoder(table, queries)
    table, queries = enc.table.numpy(), enc.queries.numpy()
    report = _build(tmp_path / "idx", clustered_images[1], enc, kind=kind)
    idx = Index.open(tmp_path / "idx", encoder=enc)
    assert idx.spec.kind == kind and report.index.startswith("HNSW" if kind == "hnsw" else "IVF")
    truth = brute_force(table, queries, 10)
    found = idx.search(texts=[f"q{j}" for j in range(60)], k=10)
    recall = search_mod.recall_at([[(h.id, h.score) for h in f] for f in found], truth, 10)
    assert recall >= 0.95, recall
    assert all(h.stage == f"{kind}+exact-rescore" for f in found for h in f)
    info = idx.info(recall_queries=50)
    assert info["recall_at_10_vs_exact"] >= 0.95 and info["index"]["kind"] == kind


def test_add_finds_new_images_and_skips_known_content(tmp_path):
    table = unit(np.random.default_rng(4).normal(size=(260, 16)))
    enc = TableEncoder(table, table[[205, 250]])
    table = enc.table.numpy()
    first = index_images(tmp_path, 200)
    _build(tmp_path / "idx", first, enc)
    idx = Index.open(tmp_path / "idx", encoder=enc)
    before = idx.search(texts=["q0"], k=1)[0]
    assert before[0].id < 200
    second = index_images(tmp_path, 60, start=200)  # 200..259, new
    lines = second.read_text().splitlines()
    shutil.copy(tmp_path / "img" / "000210.png", tmp_path / "img" / "copy_of_210.png")
    lines += [f"img/{i:06d}.png\told {i}" for i in range(150, 200)] + ["img/copy_of_210.png\tsame bytes as 210"]
    second.write_text("\n".join(lines) + "\n")
    report = idx.add(second, options=EmbedOptions(**OPTS))
    # the copy of 210 is its own row (id 260, a copy of 210's vector, not embedded again); 150..199 get the new captions
    assert (report.added, report.already_indexed, report.duplicates, report.count) == (60, 50, 1, 261)
    assert (report.copies, report.updated) == (1, 50)
    assert idx.count == 261 and idx.generation.name == "gen-000002"
    assert idx.image_path(260).endswith("copy_of_210.png") and idx.meta.rows([170])[170]["caption"] == "old 170"
    hits = idx.search(texts=["q0", "q1"], k=3)
    assert hits[0][0].id == 205 and hits[0][0].path.endswith("000205.png") and hits[1][0].id == 250
    assert _ids(hits[0]) == [i for i, _ in brute_force(table[list(range(260)) + [210]], table[[205]], 3,
                                                       ids=np.arange(261))[0]]
    again = idx.add(second, options=EmbedOptions(**OPTS))
    assert (again.added, again.already_indexed, again.copies, again.updated) == (0, 111, 0, 0)


def test_remove_drops_images_and_keeps_ids_stable(tmp_path):
    table = unit(np.random.default_rng(5).normal(size=(100, 16)))
    queries = unit(np.random.default_rng(6).normal(size=(4, 16)))
    enc = TableEncoder(table, queries)
    table, queries = enc.table.numpy(), enc.queries.numpy()
    _build(tmp_path / "idx", index_images(tmp_path, 100), enc, kind="hnsw")
    idx = Index.open(tmp_path / "idx", encoder=enc)
    qs = [f"q{j}" for j in range(4)]
    gone = [h.id for h in idx.search(texts=qs, k=3)[0]]
    with pytest.raises(EqvlError, match=r"1 path\(s\) are not in the index"):
        idx.remove([str(tmp_path / "img" / f"{gone[0]:06d}.png"), str(tmp_path / "nope.png")])
    assert idx.count == 100
    report = idx.remove([str(tmp_path / "img" / f"{i:06d}.png") for i in gone])
    assert (report.removed, report.count, idx.count) == (3, 97, 97)
    keep = np.array(sorted(set(range(100)) - set(gone)))
    truth = brute_force(table[keep], queries, 10, ids=keep)
    assert [_ids(f) for f in idx.search(texts=qs, k=10)] == [[i for i, _ in t] for t in truth]
    many = [str(tmp_path / "img" / f"{i:06d}.png") for i in keep[:30]]  # past 20%: FAISS index rebuilt
    idx.remove(many)
    assert idx.manifest["deleted"] == 0 and idx.faiss.ntotal == 67
    keep = keep[30:]
    truth = brute_force(table[keep], queries, 10, ids=keep)
    assert [_ids(f) for f in idx.search(texts=qs, k=10)] == [[i for i, _ in t] for t in truth]


class _PairScorer:
    """A pair-only model: score = - |stored id - 7| (prefers image 7, then its neighbours)."""

    name, score_kind = "pairs", "probability"
    preprocess = staticmethod(TableEncoder.preprocess)

    def identity(self) -> str:
        return "pairs"

    def score_pairs(self, pixels, texts):
        return -(pixels[:, 0] - 7).abs()


def test_rerank_equals_brute_force_by_second_model(tied):
    root, _, enc, table, queries, _ = tied
    idx = Index.open(root / "idx", encoder=enc)
    rng = np.random.default_rng(7)
    b = TableEncoder(unit(rng.normal(size=(300, 24))), unit(rng.normal(size=(8, 24))), name="modelB")
    first = idx.search(texts=["q2"], k=40)[0]
    cand = np.array(_ids(first))
    scores_b = b.table.numpy()[cand].astype(np.float64) @ b.queries.numpy()[2].astype(np.float64)
    order = np.lexsort((cand, -scores_b))[:10]
    hits = idx.search(texts=["q2"], k=10, rerank_model=b, rerank_k=40)[0]
    assert _ids(hits) == list(cand[order])
    np.testing.assert_allclose([h.score for h in hits], scores_b[order], atol=1e-6)
    assert all(h.stage == "rerank:modelB" and h.first_stage_score is not None for h in hits)
    by_id = {h.id: h.score for h in first}
    assert all(abs(h.first_stage_score - by_id[h.id]) < 1e-12 for h in hits)
    paired = idx.search(texts=["q2"], k=5, rerank_model=_PairScorer(), rerank_k=300)[0]
    assert _ids(paired)[0] == 7 and paired[0].stage == "rerank:pairs"
    with pytest.raises(EqvlError, match="`rerank_k`"):
        idx.search(texts=["q2"], k=10, rerank_model=b, rerank_k=5)


def test_query_errors(tied):
    root, _, enc, _, _, _ = tied
    idx = Index.open(root / "idx", encoder=enc)
    for bad in ("", "   "):
        with pytest.raises(EqvlError, match="query text is empty"):
            idx.search(texts=[bad], k=3)
    for k in (0, -1):
        with pytest.raises(EqvlError, match="k must be a positive integer"):
            idx.search(texts=["q0"], k=k)
    with pytest.raises(EqvlError, match="over the limit"):
        idx.search(texts=["q0"], k=10**6)
    (root / "broken.png").write_bytes(b"not an image")
    with pytest.raises(EqvlError, match="query image: .*broken.png: unreadable image"):
        idx.search(images=[root / "broken.png"], k=3)
    with pytest.raises(EqvlError, match="query image: .*nothing.png: image file not found"):
        idx.search(images=[root / "nothing.png"], k=3)
    other = TableEncoder(np.ones((2, 16)), np.ones((1, 16)), name="other-model")
    with pytest.raises(EqvlError, match=r"built with table .*but the query model is other-model"):
        Index.open(root / "idx", encoder=other)
    with pytest.raises(EqvlError, match="is not an eqvl index"):
        Index.open(root)


def test_index_override_takes_a_faiss_factory_string(tied, tmp_path):
    root, csv, enc, table, queries, _ = tied
    report = _build(tmp_path / "ivf", csv, enc, kind="IVF4,Flat")
    idx = Index.open(tmp_path / "ivf", encoder=enc)
    assert report.index == "IVF4,Flat" and idx.spec.kind == "factory" and idx.faiss.ntotal == 300
    truth = brute_force(table, queries, 10)
    found = idx.search(texts=[f"q{j}" for j in range(len(queries))], k=10)
    assert search_mod.recall_at([[(h.id, h.score) for h in f] for f in found], truth, 10) >= 0.95
    with pytest.raises(EqvlError, match="not flat, ivf, hnsw, ivfpq, auto or a FAISS factory string"):
        _build(tmp_path / "bad", csv, enc, kind="HNSW-please")
