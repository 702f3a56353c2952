"""Retrieval: Karpathy JSON / CLIP_benchmark / CSV readers; chunked recall against CLIP_benchmark's
zeroshot_retrieval protocol (re-implemented here from its definition) and a brute-force strict count."""

import numpy as np
import pytest
import torch

from tests.helpers.bench import write_json
from eqvl.benchmarks import get_benchmark
from eqvl.errors import DataError, EqvlError
from eqvl.metrics import retrieval_recalls


def _brute_strict(img, txt, owner, ks=(1, 5, 10)):
    """Strict ranks from the full matrix: a positive's rank = negatives scoring >= it."""
    s = img @ txt.T  # [N, M]
    owner = np.asarray(owner)
    i2t, t2i = [], []
    for i in range(s.shape[0]):
        pos = s[i, owner == i].max()
        i2t.append(int((s[i, owner != i] >= pos).sum()))
    for t in range(s.shape[1]):
        pos = s[owner[t], t]
        t2i.append(int((np.delete(s[:, t], owner[t]) >= pos).sum()))
    out = {f"image_retrieval_recall@{k}_strict": float(np.mean(np.array(t2i) < k)) for k in ks}
    out.update({f"text_retrieval_recall@{k}_strict": float(np.mean(np.array(i2t) < k)) for k in ks})
    return out


def _clip_benchmark(img, txt, owner, ks=(1, 5, 10)):
    """CLIP_benchmark's zeroshot_retrieval on given embeddings: scores = texts @ images.T over the whole
    matrix, per K the indices of torch.topk, recall = true positives among them / positives, a hit when > 0."""
    scores = torch.as_tensor(txt) @ torch.as_tensor(img).T
    positive = torch.zeros_like(scores, dtype=torch.bool)
    positive[torch.arange(len(scores)), torch.as_tensor(owner)] = True

    def hits(sc, pos, k):
        onehot = torch.nn.functional.one_hot(torch.topk(sc, k, dim=1)[1], num_classes=sc.shape[1])
        return (onehot * pos[:, None, :]).sum(dim=(1, 2)) / pos.sum(dim=1) > 0

    out = {}
    for k in ks:
        out[f"image_retrieval_recall@{k}"] = hits(scores, positive, k).float().mean().item()
        out[f"text_retrieval_recall@{k}"] = hits(scores.T, positive.T, k).float().mean().item()
    return out, scores


def _ties(scores, positive):
    """Queries (rows) whose best positive scores exactly as some negative does."""
    best = np.where(positive, scores, -np.inf).max(axis=1)
    return int(((scores == best[:, None]) & ~positive).any(axis=1).sum())


def test_chunked_recall_matches_brute_force():
    rng = np.random.default_rng(0)
    img = rng.normal(size=(37, 8)).astype(np.float32)
    owner = np.repeat(np.arange(37), 5)
    txt = (img[owner] + rng.normal(scale=1.5, size=(185, 8))).astype(np.float32)
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    txt /= np.linalg.norm(txt, axis=1, keepdims=True)
    got = retrieval_recalls(torch.from_numpy(img), torch.from_numpy(txt), owner, chunk=7, strict=True)
    want = _brute_strict(img.astype(np.float64), txt.astype(np.float64), owner)
    assert {k: v for k, v in got.items() if k.endswith("_strict")} == pytest.approx(want)
    assert got["image_retrieval_ties"] == 0 and got["text_retrieval_ties"] == 0
    for k in (1, 5, 10):  # without ties the two countings agree
        assert got[f"text_retrieval_recall@{k}"] == got[f"text_retrieval_recall@{k}_strict"]
    assert 0 < got["text_retrieval_recall@1"] < 1


def test_duplicate_captions_follow_clip_benchmark_and_count_ties():
    """The issue's case: 120 images, 5 captions each, some caption strings shared by two images (as in real
    COCO / Flickr30k). Identical strings have identical embeddings, so the image->text ranking ties; eqvl must give
    CLIP_benchmark's R@K under its keys, count the tied queries, and keep the strict figure under *_strict."""
    rng = np.random.default_rng(3)
    n_img, per, dim = 120, 5, 16
    owner = np.repeat(np.arange(n_img), per)
    text_ids = np.arange(n_img * per)
    for a in range(0, n_img, 4):  # every 4th image's first caption is also the next image's first caption
        text_ids[(a + 1) * per] = text_ids[a * per]
    vocab = rng.normal(size=(n_img * per, dim)).astype(np.float32)
    txt = vocab[text_ids]
    # each image looks most like its first caption (the shared one, for the images that share one)
    img = np.stack([txt[owner == i].mean(axis=0) + txt[i * per] for i in range(n_img)]) + rng.normal(scale=0.9, size=(n_img, dim))
    img = img.astype(np.float32)
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    txt = txt / np.linalg.norm(txt, axis=1, keepdims=True)
    want, scores = _clip_benchmark(img, txt, owner)
    got = retrieval_recalls(img, txt, owner, strict=True)
    # same hits query for query: the float32 mean CLIP_benchmark takes differs only past 1e-7 (1 query = 1/600)
    assert {k: got[k] for k in want} == pytest.approx(want, rel=1e-6, abs=0)
    assert retrieval_recalls(img, txt, owner, chunk=7) == {k: v for k, v in got.items() if not k.endswith("_strict")}
    positive = np.zeros(scores.shape, dtype=bool)
    positive[np.arange(len(owner)), owner] = True
    assert got["text_retrieval_ties"] == _ties(scores.numpy().T, positive.T) == 60  # both images of each of 30 pairs
    assert got["image_retrieval_ties"] == _ties(scores.numpy(), positive) == 0
    # the tie-break matters here: strict counting loses image->text hits that CLIP_benchmark's top-k keeps
    assert got["text_retrieval_recall@1_strict"] < got["text_retrieval_recall@1"]
    assert got["image_retrieval_recall@1_strict"] == got["image_retrieval_recall@1"]


def test_all_equal_scores_top_k_vs_strict():
    """Every score equal: top-k picks the same position for every (identical) row, so exactly one image (and
    that image's captions) is retrieved; strict counting retrieves nothing. Every query has a tie."""
    img = np.ones((3, 2), dtype=np.float32)
    txt = np.ones((6, 2), dtype=np.float32)
    owner = [0, 0, 1, 1, 2, 2]
    rec = retrieval_recalls(img, txt, owner, ks=(1,), strict=True)
    assert rec == pytest.approx({"image_retrieval_recall@1": 1 / 3, "text_retrieval_recall@1": 1 / 3,
                                 "image_retrieval_recall@1_strict": 0.0, "text_retrieval_recall@1_strict": 0.0,
                                 "image_retrieval_ties": 6, "text_retrieval_ties": 3})
    assert {k: rec[k] for k in ("image_retrieval_recall@1", "text_retrieval_recall@1")} == pytest.approx(
        _clip_benchmark(img, txt, owner, ks=(1,))[0], rel=1e-6, abs=0)


def _karpathy(tmp_path):
    imgs = [{"filename": f"{k}.jpg", "filepath": "val2014", "split": "test" if k < 3 else "train",
             "sentences": [{"raw": f"caption {k} {j}", "tokens": []} for j in range(2)]} for k in range(4)]
    return write_json(tmp_path / "dataset_coco.json", {"images": imgs, "dataset": "coco"})


def test_karpathy_load_and_evaluate_embeddings(tmp_path):
    _karpathy(tmp_path)
    bench = get_benchmark("retrieval")
    assert bench.full_matrix
    data = bench.load(tmp_path)
    assert [r.path for r in data.meta["images"]] == [str(tmp_path / "val2014" / f"{k}.jpg") for k in range(3)]
    assert data.meta["captions"][:3] == ["caption 0 0", "caption 0 1", "caption 1 0"]
    assert data.meta["text_to_image"].tolist() == [0, 0, 1, 1, 2, 2]
    assert len(bench.load(tmp_path, split="all").meta["images"]) == 4
    img = torch.eye(3)
    txt = torch.eye(3)[[0, 0, 1, 1, 2, 2]]
    res = bench.evaluate_embeddings(data, img, txt)
    assert res["metrics"]["image_retrieval_recall@1"] == 1.0 and res["metrics"]["text_retrieval_recall@1"] == 1.0
    assert res["subsets"]["test"]["n"] == 3 and res["subsets"]["test"]["n_captions"] == 6
    with pytest.raises(EqvlError, match="embeddings"):
        bench.evaluate_embeddings(data, img[:2], txt)


def test_csv_and_errors(tmp_path):
    (tmp_path / "caps.csv").write_text("filepath\ttitle\na.jpg\ta red cube\na.jpg\ta cube that is red\nb.jpg\ta blue ball\n")
    data = get_benchmark("retrieval").load(tmp_path / "caps.csv", image_root="/r")
    assert [r.path for r in data.meta["images"]] == ["/r/a.jpg", "/r/b.jpg"]
    assert data.meta["text_to_image"].tolist() == [0, 0, 1]
    (tmp_path / "caps.csv").write_text("filepath\ttitle\na.jpg\t\n")
    with pytest.raises(DataError, match=r"caps.csv:2 \(field 'title'\): empty string"):
        get_benchmark("retrieval").load(tmp_path / "caps.csv")
    _karpathy(tmp_path)
    with pytest.raises(DataError, match="no images in split 'val'"):
        get_benchmark("retrieval").load(tmp_path / "dataset_coco.json", split="val")
    write_json(tmp_path / "dataset_coco.json", {"images": [{"filename": "a.jpg", "split": "test", "sentences": [{"raw": ""}]}]})
    with pytest.raises(DataError, match=r"field 'images\[0\].sentences\[0\].raw'\): empty string"):
        get_benchmark("retrieval").load(tmp_path / "dataset_coco.json")
    empty = tmp_path / "e"
    empty.mkdir()
    with pytest.raises(DataError, match="not a retrieval folder"):
        get_benchmark("retrieval").load(empty)


def test_clip_benchmark_karpathy_txt_with_commas(tmp_path):
    """CLIP_benchmark's flickr30k_test_karpathy.txt: header `image,caption`, unquoted commas inside captions.
    Read as CLIP_benchmark does: split at ".jpg,", images in first-seen order, captions in file order."""
    (tmp_path / "flickr30k_test_karpathy.txt").write_text(
        "image,caption\n"
        "1000092795.jpg,Two young guys with shaggy hair look at their hands while hanging out in the yard.\n"
        "1000092795.jpg,\"Two young, White males are outside near many bushes.\"\n"
        "10002456.jpg,Several men in hard hats are operating a giant pulley system.\n"
        "1000092795.jpg,A man in a blue shirt, jeans, and a hat stands near a wall.\n"
        "\n"
        "10002456.jpg,Workers look down from up above on a piece of equipment.\n")
    bench = get_benchmark("retrieval")
    data = bench.load(tmp_path)  # the folder: found by CLIP_benchmark's file name
    assert data.meta["source"] == str(tmp_path / "flickr30k_test_karpathy.txt")
    assert [r.path for r in data.meta["images"]] == [str(tmp_path / "1000092795.jpg"), str(tmp_path / "10002456.jpg")]
    assert data.meta["captions"] == [
        "Two young guys with shaggy hair look at their hands while hanging out in the yard.",
        "\"Two young, White males are outside near many bushes.\"",  # CLIP_benchmark keeps the quotes too
        "A man in a blue shirt, jeans, and a hat stands near a wall.",
        "Several men in hard hats are operating a giant pulley system.",
        "Workers look down from up above on a piece of equipment.",
    ]
    assert data.meta["text_to_image"].tolist() == [0, 0, 0, 1, 1]
    (tmp_path / "f.txt").write_text("image,caption\na.png,a red cube, small\n")
    assert get_benchmark("retrieval").load(tmp_path / "f.txt", image_root="/r").meta["captions"] == ["a red cube, small"]
    (tmp_path / "f.txt").write_text("image,caption\na.png,a red cube, small\nno comma here\n")
    with pytest.raises(DataError, match=r"f.txt:3: expected <image>,<caption>"):
        get_benchmark("retrieval").load(tmp_path / "f.txt")


def test_clip_benchmark_coco_json_order(tmp_path):
    """coco_test_karpathy.json (COCO captions layout) in torchvision CocoCaptions' order: images by id."""
    write_json(tmp_path / "coco_test_karpathy.json", {
        "images": [{"id": 42, "file_name": "COCO_val2014_42.jpg"}, {"id": 7, "file_name": "COCO_val2014_7.jpg"}],
        "annotations": [{"image_id": 42, "id": 1, "caption": "a cat, asleep"}, {"image_id": 7, "id": 2, "caption": "a dog"},
                        {"image_id": 42, "id": 3, "caption": "a sleeping cat"}]})
    data = get_benchmark("retrieval").load(tmp_path, image_root="/coco/val2014")
    assert [r.path for r in data.meta["images"]] == ["/coco/val2014/COCO_val2014_7.jpg", "/coco/val2014/COCO_val2014_42.jpg"]
    assert data.meta["captions"] == ["a dog", "a cat, asleep", "a sleeping cat"]
    assert data.meta["text_to_image"].tolist() == [0, 1, 1]
    write_json(tmp_path / "coco_test_karpathy.json", {"images": [{"id": 1, "file_name": "a.jpg"}],
                                                      "annotations": [{"image_id": 2, "caption": "x"}]})
    with pytest.raises(DataError, match=r"field 'annotations\[0\].image_id'"):
        get_benchmark("retrieval").load(tmp_path)


def test_ties_option_and_result_layout(tmp_path):
    """Default: CLIP_benchmark's keys plus tie counts (integers beside the rates); ties=strict adds *_strict keys."""
    (tmp_path / "c.txt").write_text("image,caption\na.jpg,a dog\nb.jpg,a dog\nc.jpg,a cat\n")
    bench = get_benchmark("retrieval")
    img, txt = torch.eye(3)[[0, 0, 2]], torch.eye(3)[[0, 0, 2]]  # a and b look alike and share their caption
    res = bench.evaluate_embeddings(bench.load(tmp_path / "c.txt"), img, txt)
    assert res["ties"] == {"protocol": "topk", "image_retrieval_ties": 2, "text_retrieval_ties": 2}
    assert res["subsets"]["test"]["text_retrieval_ties"] == 2 and "text_retrieval_ties" not in res["metrics"]
    assert res["metrics"]["text_retrieval_recall@1"] == pytest.approx(2 / 3)  # one of a / b, and c
    assert not any(k.endswith("_strict") for k in res["metrics"])
    strict = bench.evaluate_embeddings(bench.load(tmp_path / "c.txt", ties="strict"), img, txt)
    assert strict["metrics"]["text_retrieval_recall@1_strict"] == pytest.approx(1 / 3)
    assert strict["metrics"]["text_retrieval_recall@1"] == res["metrics"]["text_retrieval_recall@1"]
    with pytest.raises(EqvlError, match="ties='loose'; valid: topk, strict"):
        bench.load(tmp_path / "c.txt", ties="loose")
