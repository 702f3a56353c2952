"""SPEC: <subset>/image2text.json + text2image.json, argmax == label per direction, eval.py's mean over subsets."""

import numpy as np
import pytest
from tests.helpers.bench import png, write_json
from tests.helpers.encoders import FakeEncoder

from eqvl.benchmarks import get_benchmark
from eqvl.errors import DataError, EqvlError
from eqvl.evaluation import evaluate


I2T_LABELS = {"count": [1, 0], "existence": [1]}
T2I_LABELS = {"count": [2, 1], "existence": [0]}


def _spec(root):
    for sub, n_keys, n in (("count", 3, 2), ("existence", 2, 1)):
        for k in range(n_keys * 2):
            png(root / sub / "images" / f"{k}.png", (30 * k, 100, 0))
        write_json(root / sub / "image2text.json",
                   [{"query": f"images/{k}.png", "keys": [f"{j} red apples on {sub} {k}" for j in range(n_keys)], "label": I2T_LABELS[sub][k]}
                    for k in range(n)])
        write_json(root / sub / "text2image.json",
                   [{"query": f"there are {k} apples in {sub}", "keys": [f"images/{j}.png" for j in range(n_keys)], "label": T2I_LABELS[sub][k]}
                    for k in range(n)])


def col(*v):
    return np.array(v, dtype=float).reshape(-1, 1)


def row(*v):
    return np.array(v, dtype=float).reshape(1, -1)


def test_metrics_by_hand_and_ties(tmp_path):
    _spec(tmp_path / "data")
    bench = get_benchmark("spec")
    data = bench.load(tmp_path, subset="count,existence")  # the data/ folder is found
    assert [it.id for it in data.items] == ["count/i2t/0", "count/i2t/1", "count/t2i/0", "count/t2i/1", "existence/i2t/0", "existence/t2i/0"]
    assert data.items[0].images[0].path == str(tmp_path / "data" / "count" / "images" / "0.png") and len(data.items[0].captions) == 3
    assert data.items[2].captions == ["there are 0 apples in count"] and len(data.items[2].images) == 3
    # labels: count i2t 1, 0; count t2i 2, 1; existence i2t 1; existence t2i 0
    scores = [col(0.1, 0.5, 0.2),   # argmax 1 == 1: right
              col(0.3, 0.3, 0.1),   # tie of 0 and 1, label 0: right as torch.argmax (first max), wrong when strict
              row(0.1, 0.2, 0.3),   # argmax 2 == 2: right
              row(0.4, 0.4, 0.1),   # tie, label 1: argmax 0 -> wrong either way
              col(0.6, 0.2),        # label 1: wrong
              row(0.9, 0.1)]        # label 0: right
    res = bench.evaluate(data, scores)
    assert res["subsets"]["count"] == {"i2t_acc": 1.0, "t2i_acc": 0.5, "n_i2t": 2, "n_t2i": 2, "n": 4}
    assert res["subsets"]["existence"]["i2t_acc"] == 0.0 and res["subsets"]["existence"]["t2i_acc"] == 1.0
    m = res["metrics"]
    assert (m["i2t_acc"], m["t2i_acc"]) == (0.5, 0.75)  # eval.py: mean over the two subsets
    assert m["i2t_acc_micro"] == pytest.approx(2 / 3) and m["t2i_acc_micro"] == pytest.approx(2 / 3)
    strict = bench.evaluate(bench.load(tmp_path, subset="count,existence", ties="strict"), scores)
    assert strict["metrics"]["i2t_acc"] == 0.25 and strict["subsets"]["count"]["i2t_acc"] == 0.5


def test_engine_one_subset_folder_and_errors(tmp_path):
    _spec(tmp_path)
    bench = get_benchmark("spec")
    res = evaluate(FakeEncoder(), bench, tmp_path / "count", progress=False)  # a subset's own folder
    assert res.results["n_items"] == 4 and list(res.results["subsets"]) == ["count"]
    with pytest.raises(DataError, match="missing absolute_size/image2text.json"):
        bench.load(tmp_path)  # default: all six subsets
    with pytest.raises(EqvlError, match="unknown subset"):
        bench.load(tmp_path, subset="colour")
    with pytest.raises(EqvlError, match="ties must be"):
        bench.load(tmp_path, subset="count", ties="random")
    write_json(tmp_path / "count" / "text2image.json", [{"query": "x", "keys": ["images/0.png", "images/1.png"], "label": 2}])
    with pytest.raises(DataError, match=r"count/text2image.json \(field '\[0\].label'\): record 0: label must be an index"):
        bench.load(tmp_path, subset="count")
    write_json(tmp_path / "count" / "text2image.json", [{"query": "x", "keys": "images/0.png", "label": 0}])
    with pytest.raises(DataError, match=r"field '\[0\].keys'"):
        bench.load(tmp_path, subset="count")
    (tmp_path / "other").mkdir()
    with pytest.raises(DataError, match="not a spec folder"):
        bench.load(tmp_path / "other")
