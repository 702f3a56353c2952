"""Scoring engine: each unique item encoded once, cache hits and resumes, bad images, pair scorers.

A fake encoder (deterministic features from pixels / characters) counts every call,
so these tests check the engine's bookkeeping, not a model.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from eqvl.data.images import crop_bbox, load_image
from eqvl.data.records import ImageRef, ScoreItem
from eqvl.errors import DataError
from eqvl.encode import EncodeConfig
from eqvl.evaluation import collect_unique, evaluate, gather_scores, score_items

from tests.helpers.encoders import COLORS, FakeEncoder, FakePairScorer, to_tensor, make_twins


def _unique(rows):
    images = {r[k] for r in rows for k in ("image_0", "image_1")}
    texts = {r[k] for r in rows for k in ("caption_0", "caption_1")}
    return images, texts


def test_each_unique_item_encoded_exactly_once(tmp_path):
    rows = make_twins(tmp_path, n=10)
    images, texts = _unique(rows)
    enc = FakeEncoder()
    res = evaluate(enc, "twins", tmp_path, batch_size=3, progress=False)
    assert enc.image_rows == len(images) == 5
    assert enc.text_rows == len(texts) == 5
    assert sorted(enc.seen_texts) == sorted(texts)
    assert res.results["encoding"]["images"] == {"unique": 5, "cached": 0, "encoded": 5, "failed": 0}
    assert len(res.scores) == 10 and all(s.shape == (2, 2) for s in res.scores)


def test_gathered_scores_equal_brute_force(tmp_path):
    rows = make_twins(tmp_path, n=7)
    enc = FakeEncoder()
    res = evaluate(enc, "twins", tmp_path, progress=False)
    for row, s in zip(rows, res.scores):
        pix = torch.stack([to_tensor(Image.open(tmp_path / row[f"image_{k}"]).convert("RGB")) for k in (0, 1)])
        want = enc.score(enc.encode_images(pix), enc.encode_texts([row["caption_0"], row["caption_1"]]))
        np.testing.assert_allclose(s, want.numpy(), rtol=1e-6, atol=1e-6)
    # the per-item fallback (no score_rows) and the vectorised path agree
    items = res.data.items
    uniq = collect_unique(items)
    img = np.random.default_rng(0).normal(size=(len(uniq.refs), 4)).astype(np.float32)
    txt = np.random.default_rng(1).normal(size=(len(uniq.texts), 4)).astype(np.float32)

    class Rowwise(FakeEncoder):
        def score_rows(self, i, t):
            return (i * t).sum(-1)

    a = gather_scores(FakeEncoder(), img, txt, uniq.image_idx, uniq.text_idx)
    b = gather_scores(Rowwise(), img, txt, uniq.image_idx, uniq.text_idx)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-5)


def test_second_run_hits_cache_with_identical_scores(tmp_path):
    make_twins(tmp_path, n=8)
    first = evaluate(FakeEncoder(), "twins", tmp_path, cache_dir=tmp_path / "cache", progress=False)
    enc = FakeEncoder()
    second = evaluate(enc, "twins", tmp_path, cache_dir=tmp_path / "cache", progress=False)
    assert enc.image_calls == 0 and enc.text_calls == 0
    assert second.results["encoding"]["images"]["cached"] == 5
    np.testing.assert_array_equal(np.stack(first.scores), np.stack(second.scores))
    assert second.results["metrics"] == first.results["metrics"]


def test_cache_is_keyed_by_content_and_identity(tmp_path):
    make_twins(tmp_path, n=5)
    cache = tmp_path / "cache"
    evaluate(FakeEncoder(), "twins", tmp_path, cache_dir=cache, progress=False)
    Image.new("RGB", (24, 16), (0, 0, 0)).save(tmp_path / "c0.png")  # same path, new bytes
    enc = FakeEncoder()
    evaluate(enc, "twins", tmp_path, cache_dir=cache, progress=False)
    assert enc.image_rows == 1 and enc.text_rows == 0

    class Other(FakeEncoder):
        def identity(self):
            return "another-model"

    other = Other()
    evaluate(other, "twins", tmp_path, cache_dir=cache, progress=False)
    assert other.image_rows == 5 and other.text_rows == 5


def test_interrupted_run_resumes(tmp_path, monkeypatch):
    for k in range(12):
        Image.new("RGB", (8, 8), (20 * k, 255 - 20 * k, 7 * k)).save(tmp_path / f"u{k}.png")
    rows = [{"id": f"r{i}", "image_0": f"u{2 * i}.png", "image_1": f"u{2 * i + 1}.png",
             "caption_0": f"cap {i} a", "caption_1": f"cap {i} b"} for i in range(6)]
    (tmp_path / "twins.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    monkeypatch.setattr("eqvl.encode.cache.SHARD_ROWS", 4)
    broken = FakeEncoder(fail_after_image_batches=2)
    with pytest.raises(KeyboardInterrupt):
        evaluate(broken, "twins", tmp_path, batch_size=4, cache_dir=tmp_path / "cache", progress=False)
    assert broken.image_rows == 8
    enc = FakeEncoder()
    res = evaluate(enc, "twins", tmp_path, batch_size=4, cache_dir=tmp_path / "cache", progress=False)
    assert enc.image_rows == 4 and enc.text_rows == 0  # only the unfinished work
    assert res.results["encoding"]["images"]["cached"] == 8
    fresh = evaluate(FakeEncoder(), "twins", tmp_path, batch_size=4, progress=False)
    np.testing.assert_array_equal(np.stack(res.scores), np.stack(fresh.scores))


def test_missing_image_names_record_and_path(tmp_path):
    make_twins(tmp_path, n=4)
    (tmp_path / "c2.png").unlink()
    for cache in (None, tmp_path / "cache"):
        with pytest.raises(DataError) as exc:
            evaluate(FakeEncoder(), "twins", tmp_path, cache_dir=cache, progress=False)
        msg = str(exc.value)
        assert "record 'tw1'" in msg and "c2.png" in msg and "not found" in msg and "`skip_bad`" in msg and exc.value.params == ("skip_bad",)


def test_skip_bad_drops_counts_and_reports(tmp_path):
    make_twins(tmp_path, n=6)
    (tmp_path / "c3.png").write_bytes(b"not an image")
    enc = FakeEncoder()
    res = evaluate(enc, "twins", tmp_path, skip_bad=True, progress=False, workers=0)
    skipped = res.results["skipped"]
    assert skipped["n"] == 2 and {s["id"] for s in skipped["examples"]} == {"tw2", "tw3"}
    assert all("c3.png" in s["path"] and "unreadable" in s["error"] for s in skipped["examples"])
    assert [it.id for it in res.data.items] == ["tw0", "tw1", "tw4", "tw5"]
    assert res.results["n_items"] == 4 and len(res.scores) == 4
    assert sum(s["n"] for s in res.results["subsets"].values()) == 4


def test_pair_scorer_scores_exactly_the_needed_pairs(tmp_path):
    rows = make_twins(tmp_path, n=5)
    scorer = FakePairScorer()
    res = evaluate(scorer, "twins", tmp_path, batch_size=3, progress=False, cache_dir=tmp_path / "cache")
    needed = {(r[f"image_{i}"], r[f"caption_{c}"]) for r in rows for i in (0, 1) for c in (0, 1)}
    assert len(needed) == 15 < 4 * len(rows)  # neighbouring twins share (image, caption) pairs
    assert sorted(scorer.pairs) == sorted(c for _, c in needed)
    assert res.results["config"]["score_kind"] == "probability"
    s0 = res.scores[0]  # tw0: red / blue images, red / blue captions
    assert s0[0, 0] > s0[0, 1]  # "red" caption prefers the red image
    again = FakePairScorer()
    res2 = evaluate(again, "twins", tmp_path, progress=False, cache_dir=tmp_path / "cache")
    assert again.pairs == [] and np.array_equal(np.stack(res.scores), np.stack(res2.scores))


def test_workers_decode_images(tmp_path):
    make_twins(tmp_path, n=6)
    a = evaluate(FakeEncoder(), "twins", tmp_path, workers=2, batch_size=2, progress=False)
    b = evaluate(FakeEncoder(), "twins", tmp_path, workers=0, progress=False)
    np.testing.assert_array_equal(np.stack(a.scores), np.stack(b.scores))


def test_score_items_direct_shapes(tmp_path):
    Image.new("RGB", (10, 10), "red").save(tmp_path / "a.png")
    ref = ImageRef(str(tmp_path / "a.png"))
    items = [ScoreItem("f", [ref], ["a red thing", "a blue thing", "x"]), ScoreItem("g", [ref, ref], ["y"])]
    out = score_items(FakeEncoder(), items, EncodeConfig(progress=False))
    assert [s.shape for s in out.scores] == [(3, 1), (1, 2)]


# ------------------------------------------------------------------ image loading


def test_npy_frames_are_bgr_and_flipped(tmp_path):
    bgr = np.zeros((6, 8, 3), dtype=np.uint8)
    bgr[..., 0] = 255  # blue in BGR
    np.save(tmp_path / "f.npy", bgr)
    img = load_image(ImageRef(str(tmp_path / "f.npy")))
    assert img.mode == "RGB" and img.size == (8, 6) and img.getpixel((0, 0)) == (0, 0, 255)
    np.save(tmp_path / "g.npy", np.zeros((6, 8), dtype=np.uint8))
    with pytest.raises(DataError, match="H x W x 3"):
        load_image(ImageRef(str(tmp_path / "g.npy")))


def test_keyed_loading_matches_upfront_hash(tmp_path):
    """A fresh cache hashes while decoding; a later run hashes up front: the keys must agree."""
    from eqvl.data.images import image_content_key, load_image_keyed

    Image.new("RGB", (12, 9), "teal").save(tmp_path / "a.png")
    np.save(tmp_path / "b.npy", np.full((5, 4, 3), 7, dtype=np.uint8))
    for ref in (ImageRef(str(tmp_path / "a.png")), ImageRef(str(tmp_path / "a.png"), bbox=(1, 1, 5, 5)),
                ImageRef(str(tmp_path / "b.npy"))):
        image, key = load_image_keyed(ref)
        assert key == image_content_key(ref)
        assert image.tobytes() == load_image(ref).tobytes()
    with pytest.raises(DataError, match="not found"):
        load_image_keyed(ImageRef(str(tmp_path / "nope.png")))


def test_bbox_crop_and_modes(tmp_path):
    img = Image.new("L", (20, 10), 128)
    img.paste(255, (5, 2, 9, 6))
    img.save(tmp_path / "gray.png")
    out = load_image(ImageRef(str(tmp_path / "gray.png"), bbox=(5, 2, 4, 4)))
    assert out.mode == "RGB" and out.size == (4, 4) and out.getpixel((0, 0)) == (255, 255, 255)
    assert crop_bbox(Image.new("RGB", (10, 10)), (-5, -5, 8, 8)).size == (8, 8)  # PIL pads, as ARO crops
    with pytest.raises(DataError, match="empty"):
        crop_bbox(Image.new("RGB", (10, 10)), (2, 0, 0, 5), "x.png")
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8garbage")
    with pytest.raises(DataError, match="bad.jpg.*unreadable"):
        load_image(ImageRef(str(tmp_path / "bad.jpg")))


# ------------------------------------------------------------------ full-matrix benchmarks


from eqvl.benchmarks import Benchmark, BenchmarkData, register_benchmark  # noqa: E402


@register_benchmark("_test_full_matrix_scoring")
class _FullMatrix(Benchmark):
    """Test-only retrieval-style benchmark: every image against every caption."""

    layout = "a folder of c*.png; caption = the file's color name"
    full_matrix = True
    task = "retrieval"

    def load(self, data_dir, **options):
        paths = [data_dir / f"c{k}.png" for k in range(len(COLORS))]
        refs = [ImageRef(str(p)) for p in paths] + [ImageRef(str(paths[0]))]  # a duplicate image
        captions = [f"color {p.stem}" for p in paths] * 2  # duplicate captions
        return BenchmarkData(items=[], meta={"images": refs, "captions": captions})

    def evaluate_embeddings(self, data, image_emb, text_emb):
        type(self).got = (image_emb, text_emb)
        sim = text_emb @ image_emb.T
        return {"metrics": {"n_images": float(image_emb.shape[0]), "top1_self": float((sim.argmax(1) == 0).float().mean())}}


def test_full_matrix_gets_embeddings_in_meta_order(tmp_path):
    make_twins(tmp_path, n=2)
    enc = FakeEncoder()
    res = evaluate(enc, "_test_full_matrix_scoring", tmp_path, progress=False, cache_dir=tmp_path / "cache")
    assert res.results["metrics"]["n_images"] == 6.0 and res.results["task"] == "retrieval"
    assert enc.image_rows == 5 and enc.text_rows == 5  # duplicates encoded once
    assert res.results["encoding"]["images"]["unique"] == 5 and res.results["encoding"]["texts"]["unique"] == 5
    img, txt = _FullMatrix.got if hasattr(_FullMatrix, "got") else (None, None)
    assert img.shape == (6, 12) and txt.shape == (10, 12)
    assert torch.equal(img[5], img[0]) and torch.equal(txt[5], txt[0])  # meta order, duplicates filled in
    pix = to_tensor(Image.open(tmp_path / "c2.png").convert("RGB"))[None]
    assert torch.allclose(img[2], FakeEncoder().encode_images(pix)[0])
    again = FakeEncoder()
    evaluate(again, "_test_full_matrix_scoring", tmp_path, progress=False, cache_dir=tmp_path / "cache")
    assert again.image_rows == 0 and again.text_rows == 0
    (tmp_path / "c1.png").unlink()
    with pytest.raises(DataError, match="c1.png.*retrieval needs every image"):
        evaluate(FakeEncoder(), "_test_full_matrix_scoring", tmp_path, progress=False, skip_bad=True)
