"""Retrieval: Karpathy JSON / CSV readers and chunked recall against a brute-force matrix."""

import numpy as np
import pytest
import torch

from bench_fixtures import write_json
from eqvl.benchmarks import get_benchmark
from eqvl.errors import DataError, EqvlError
from eqvl.retrieval.recall import image_retrieval_ranks, retrieval_recalls, text_retrieval_ranks


def _brute(img, txt, owner, ks=(1, 5, 10)):
    s = img @ txt.T  # [N, M]
    owner = np.asarray(owner)
    i2t, t2i = [], []
    for i in range(s.shape[0]):
        pos = s[i, owner == i].max()
        i2t.append(int((s[i, owner != i] >= pos).sum()))
    for t in range(s.shape[1]):
        pos = s[owner[t], t]
        t2i.append(int((np.delete(s[:, t], owner[t]) >= pos).sum()))
    out = {f"image_retrieval_recall@{k}": float(np.mean(np.array(t2i) < k)) for k in ks}
    out.update({f"text_retrieval_recall@{k}": float(np.mean(np.array(i2t) < k)) for k in ks})
    return out


def test_chunked_recall_matches_brute_force():
    rng = np.random.default_rng(0)
    img = rng.normal(size=(37, 8)).astype(np.float32)
    owner = np.repeat(np.arange(37), 5)
    txt = (img[owner] + rng.normal(scale=1.5, size=(185, 8))).astype(np.float32)
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    txt /= np.linalg.norm(txt, axis=1, keepdims=True)
    got = retrieval_recalls(torch.from_numpy(img), torch.from_numpy(txt), owner, chunk=7)
    want = _brute(img.astype(np.float64), txt.astype(np.float64), owner)
    assert got == pytest.approx(want)
    assert 0 < got["text_retrieval_recall@1"] < 1


def test_ties_count_as_misses():
    img = np.ones((3, 2), dtype=np.float32)
    txt = np.ones((6, 2), dtype=np.float32)
    owner = [0, 0, 1, 1, 2, 2]
    assert image_retrieval_ranks(img, txt, owner).tolist() == [2] * 6
    assert text_retrieval_ranks(img, txt, owner).tolist() == [4] * 3
    rec = retrieval_recalls(img, txt, owner, ks=(1,))
    assert rec == {"image_retrieval_recall@1": 0.0, "text_retrieval_recall@1": 0.0}


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
