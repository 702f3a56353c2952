"""SugarCrepe++: the five official files, ITT (both positives beat the negative) and TOT (text-only)
per file, by hand; the engine's caption embeddings for TOT; a slice of the real records."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.bench import png, write_json
from eqvl.benchmarks import get_benchmark
from eqvl.benchmarks.sugarcrepe_pp import SUBSETS
from eqvl.errors import DataError, EqvlError

A, B, C = np.array([[0.5], [0.4], [0.3]]), np.array([[0.5], [0.2], [0.3]]), np.array([[0.3], [0.3], [0.3]])
REAL = Path(__file__).parent / "data" / "sugarcrepe_pp"


def _rec(k, sub):
    return {"id": k, "filename": "000000000139.jpg", "caption": f"a man on a bench {sub} {k}",
            "caption2": f"a bench with a man on it {sub} {k}", "negative_caption": f"a bench on a man {sub} {k}"}


def _scpp(root):
    png(root / "images" / "000000000139.jpg")
    for sub in SUBSETS:
        write_json(root / "data" / f"{sub}.json", [_rec(k, sub) for k in range(2 if sub == "replace_att" else 1)])


def _unit(*v):
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def test_itt_tot_by_hand(tmp_path):
    _scpp(tmp_path)
    bench = get_benchmark("sugarcrepe++")
    data = bench.load(tmp_path)
    assert [it.subset for it in data.items] == ["replace_att", "replace_att", "replace_obj", "replace_rel", "swap_att", "swap_obj"]
    assert data.items[0].captions == ["a man on a bench replace_att 0", "a bench with a man on it replace_att 0", "a bench on a man replace_att 0"]
    assert data.items[0].images[0].path == str(tmp_path / "images" / "000000000139.jpg")
    # text embeddings: TOT right iff cos(p1,p2) beats cos(p1,neg) and cos(p2,neg)
    good = (_unit(1, 0, 0), _unit(1, 0.1, 0), _unit(0, 1, 0))  # p1p2 ~ .995 > p1n 0, p2n ~ .1
    bad = (_unit(1, 0, 0), _unit(0, 1, 0), _unit(1, 1, 0))  # p1p2 0 < p1n .707
    emb = {}
    for it, vecs in zip(data.items, [good, bad, good, good, bad, good]):
        emb.update(dict(zip(it.captions, vecs)))
    data.meta["text_emb"] = emb
    res = bench.evaluate(data, [A, B, C, A, B, A])
    # ITT: A right, B wrong (p2 < neg), C wrong (ties) -> replace_att 1/2, replace_obj 0, rel 1, swap_att 0, swap_obj 1
    assert res["subsets"]["replace_att"] == {"itt_acc": 0.5, "itt_p1_acc": 1.0, "itt_p2_acc": 0.5, "tot_acc": 0.5, "n": 2}
    assert res["metrics"]["itt_acc"] == pytest.approx(3 / 6)
    assert res["metrics"]["itt_p1_acc"] == pytest.approx(5 / 6) and res["metrics"]["itt_p2_acc"] == pytest.approx(3 / 6)
    assert res["metrics"]["tot_acc"] == pytest.approx(4 / 6)
    assert res["metrics"]["itt_acc_macro"] == pytest.approx((0.5 + 0 + 1 + 0 + 1) / 5)
    assert res["categories"]["replace"]["itt_acc"] == pytest.approx(2 / 4) and res["categories"]["swap"]["n"] == 2
    del data.meta["text_emb"]  # a pair scorer: no TOT
    assert "tot_acc" not in bench.evaluate(data, [A, B, C, A, B, A])["metrics"]


def test_engine_passes_caption_embeddings(tmp_path):
    from eqvl.evaluation import evaluate
    from eqvl.models import load_encoder

    _scpp(tmp_path)
    enc = load_encoder("eqvl-tiny-vit", "none", device="cpu", seed=0, precision="fp32")
    result = evaluate(enc, "sugarcrepe++", tmp_path, workers=0, progress=False, options={"subset": "replace_att,swap_obj"})
    emb = enc.encode_texts([c for it in result.data.items for c in it.captions]).numpy().astype(np.float64)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    p1, p2, neg = emb[0::3], emb[1::3], emb[2::3]
    p1p2, p1n, p2n = (p1 * p2).sum(1), (p1 * neg).sum(1), (p2 * neg).sum(1)
    assert result.results["metrics"]["tot_acc"] == pytest.approx(np.mean((p1p2 > p1n) & (p1p2 > p2n)))
    s = np.stack(result.scores)[:, :, 0]
    assert result.results["metrics"]["itt_acc"] == pytest.approx(np.mean((s[:, 0] > s[:, 2]) & (s[:, 1] > s[:, 2])))


def test_errors_and_options(tmp_path):
    _scpp(tmp_path)
    bench = get_benchmark("sugarcrepe++")
    assert len(bench.load(tmp_path, subset="swap_obj", coco_root="/c").items) == 1
    assert bench.load(tmp_path, subset="swap_obj", coco_root="/c").items[0].images[0].path == "/c/val2017/000000000139.jpg"
    with pytest.raises(EqvlError, match=r"^sugarcrepe\+\+: unknown subset\(s\) add_att; valid: replace_att, replace_obj, "
                       r"replace_rel, swap_att, swap_obj$"):
        bench.load(tmp_path, subset="add_att")
    write_json(tmp_path / "data" / "swap_obj.json", [_rec(0, "x"), {**_rec(1, "x"), "caption2": 7}])
    with pytest.raises(DataError, match=r"swap_obj.json \(field '\[1\].caption2'\): expected a string"):
        bench.load(tmp_path)
    (tmp_path / "data" / "swap_att.json").unlink()
    with pytest.raises(DataError, match="missing swap_att.json"):
        bench.load(tmp_path)
    (tmp_path / "other").mkdir()
    with pytest.raises(DataError, match="not a sugarcrepe\\+\\+ folder"):
        bench.load(tmp_path / "other")


def test_sugarcrepe_pointed_at_sugarcrepe_pp_says_so(tmp_path):
    _scpp(tmp_path)
    shutil.rmtree(tmp_path / "data")
    shutil.copytree(REAL, tmp_path / "x")
    with pytest.raises(DataError, match=r"looks like a sugarcrepe\+\+ folder"):
        get_benchmark("winoground").load(tmp_path / "x")


def test_real_records_excerpt(tmp_path):
    shutil.copytree(REAL, tmp_path / "data")
    bench = get_benchmark("sugarcrepe++")
    data = bench.load(tmp_path, image_root=str(tmp_path / "coco"))
    assert len(data.items) == 16 and data.items[0].id == "replace_att/0"
    assert data.items[0].images[0].path == str(tmp_path / "coco" / "000000331352.jpg")
    same = [it for it in data.items if it.captions[0] == it.captions[1]]
    assert len(same) == 1  # the real record whose two positives are one string
    res = bench.evaluate(data, [A] * 16)
    assert res["metrics"]["itt_acc"] == 1.0 and list(res["subsets"]) == list(SUBSETS)
