"""SugarCrepe: the seven official subset files, per subset / category (micro) / overall."""

import numpy as np
import pytest

from tests.helpers.bench import png, write_json
from eqvl.benchmarks import get_benchmark
from eqvl.benchmarks.sugarcrepe import SUBSETS
from eqvl.errors import DataError, EqvlError

RIGHT, TIE, WRONG = np.array([[0.3], [0.2]]), np.array([[0.3], [0.3]]), np.array([[0.1], [0.2]])


def _sugar(tmp_path):
    png(tmp_path / "coco" / "val2017" / "000000000139.jpg")
    for k, sub in enumerate(SUBSETS):
        n = 2 if sub == "replace_obj" else 1
        write_json(tmp_path / "data" / f"{sub}.json",
                   {str(i): {"filename": "000000000139.jpg", "caption": f"A man sits on a bench {i}", "negative_caption": f"A bench sits on a man {i}"}
                    for i in range(n)})


def test_load_and_metrics(tmp_path):
    _sugar(tmp_path)
    bench = get_benchmark("sugarcrepe")
    data = bench.load(tmp_path)
    assert len(data.items) == 8
    assert data.items[0].images[0].path == str(tmp_path / "coco" / "val2017" / "000000000139.jpg")
    assert data.items[0].captions == ["A man sits on a bench 0", "A bench sits on a man 0"]
    # replace_obj: right, tie; replace_att: right; replace_rel: wrong; swap_obj: right; swap_att: tie; add_obj: right; add_att: right
    scores = [RIGHT, TIE, RIGHT, WRONG, RIGHT, TIE, RIGHT, RIGHT]
    res = bench.evaluate(data, scores)
    assert res["metrics"]["acc"] == pytest.approx(5 / 8)
    assert res["metrics"]["replace_acc"] == pytest.approx(2 / 4)  # micro: 2 of 4 replace items
    assert res["metrics"]["swap_acc"] == 0.5 and res["metrics"]["add_acc"] == 1.0
    assert res["subsets"]["replace_obj"] == {"acc": 0.5, "n": 2}
    assert res["categories"]["replace"]["n"] == 4
    assert list(res["subsets"]) == list(SUBSETS)


def test_options_and_errors(tmp_path):
    _sugar(tmp_path)
    bench = get_benchmark("sugarcrepe")
    assert len(bench.load(tmp_path, subset="swap_obj", image_root="/imgs").items) == 1
    assert bench.load(tmp_path, coco_root="/c", subset="add_att").items[0].images[0].path == "/c/val2017/000000000139.jpg"
    with pytest.raises(EqvlError, match=r"^sugarcrepe: unknown subset\(s\) swap_rel; valid: replace_obj, replace_att, replace_rel, "
                       r"swap_obj, swap_att, add_obj, add_att$"):
        bench.load(tmp_path, subset=" add_att , swap_rel")
    (tmp_path / "data" / "add_att.json").unlink()
    with pytest.raises(DataError, match="missing add_att.json"):
        bench.load(tmp_path)
    write_json(tmp_path / "data" / "add_att.json", {"0": {"filename": "x.jpg", "caption": "a", "negative_caption": ""}})
    with pytest.raises(DataError, match=r"add_att.json \(field \"\['0'\].negative_caption\"\): empty string"):
        bench.load(tmp_path)
    (tmp_path / "data" / "add_att.json").write_text('{"0": {"filename": "x.jpg", "caption": "a", "negative_caption": "b"},\n'
                                                    ' "0": {"filename": "y.jpg", "caption": "c", "negative_caption": "d"}}')
    with pytest.raises(DataError, match=r"add_att.json \(field '0'\): duplicate key '0'"):
        bench.load(tmp_path)
    (tmp_path / "data" / "add_att.json").write_text('{"0": {"filename": "x.jpg",\n"caption": }}')
    with pytest.raises(DataError, match=r"add_att.json:2: malformed JSON"):
        bench.load(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(DataError, match="not a sugarcrepe folder"):
        bench.load(other)
