"""What'sUp: Controlled-A (four captions, pair / set accuracy from file names), COCO-QA / VG-QA
([id, true, false]); argmax ties as the official evaluate_scores (and ties=strict), by hand."""

import numpy as np
import pytest

from tests.helpers.bench import jpg, write_json
from eqvl.benchmarks import get_benchmark
from eqvl.errors import DataError, EqvlError

PREPS = ("left_of", "right_of", "on", "under")


def _whatsup(root):
    recs = []
    for a, b in (("mug", "plate"), ("cup", "table")):
        for p in PREPS:
            name = f"{a}_{p}_{b}.jpeg"
            jpg(root / "controlled_images" / name)
            others = [q for q in PREPS if q != p]
            recs.append({"image_path": f"data/controlled_images/{name}",
                         "caption_options": [f"A {a} {p.replace('_', ' ')} a {b}"] + [f"A {a} {q.replace('_', ' ')} a {b}" for q in others]})
    write_json(root / "controlled_images_dataset.json", recs)
    write_json(root / "coco_qa_one_obj.json", [[139, "a dog on the left", "a dog on the right"], [285, "a cat on the right", "a cat on the left"]])
    write_json(root / "vg_qa_two_obj.json", [[2354, "a cup in front of a plate", "a cup behind a plate"]])
    for rel in ("val2017/000000000139.jpg", "val2017/000000000285.jpg", "vg_images/2354.jpg"):
        jpg(root / rel, color=(40, 90, 200))


def _col(*v):
    return np.array(v, dtype=float)[:, None]


RIGHT4, TIE4, WRONG4 = _col(0.9, 0.1, 0.2, 0.3), _col(0.5, 0.5, 0.1, 0.1), _col(0.1, 0.5, 0.2, 0.3)
RIGHT2, WRONG2 = _col(0.6, 0.4), _col(0.4, 0.6)


def test_official_argmax_pair_set_by_hand(tmp_path):
    _whatsup(tmp_path)
    bench = get_benchmark("whatsup")
    data = bench.load(tmp_path)
    assert [it.subset for it in data.items] == ["controlled_a"] * 8 + ["coco_qa_one"] * 2 + ["vg_qa_two"]
    assert data.items[0].images[0].path == str(tmp_path / "controlled_images" / "mug_left_of_plate.jpeg")
    assert data.items[8].images[0].path == str(tmp_path / "val2017" / "000000000139.jpg")
    assert data.items[10].images[0].path == str(tmp_path / "vg_images" / "2354.jpg")
    # mug: all four right; cup: left right, right TIED with a wrong caption, on wrong, under right
    scores = [RIGHT4] * 4 + [RIGHT4, TIE4, WRONG4, RIGHT4] + [RIGHT2, WRONG2] + [RIGHT2]
    res = bench.evaluate(data, scores)
    a = res["subsets"]["controlled_a"]
    assert a["acc"] == 7 / 8  # the tie counts as right (np.argmax returns index 0)
    assert a["pair_acc"] == 3 / 4  # mug: 2 pairs; cup: left+right only; over N/2 = 4
    assert a["set_acc"] == 1 / 2  # mug only; over N/4 = 2
    assert a["prepositions"]["on"] == {"acc": 0.5, "n": 2} and a["prepositions"]["left_of"]["acc"] == 1.0
    assert res["subsets"]["coco_qa_one"]["prepositions"] == {"left": {"acc": 1.0, "n": 1}, "right": {"acc": 0.0, "n": 1}}
    assert res["subsets"]["vg_qa_two"]["prepositions"] == {"front": {"acc": 1.0, "n": 1}}
    assert res["metrics"]["acc"] == pytest.approx((7 / 8 + 0.5 + 1.0) / 3)
    assert res["metrics"]["controlled"] == 7 / 8 and res["metrics"]["coco_qa"] == 0.5 and res["metrics"]["vg_qa"] == 1.0
    assert res["metrics"]["controlled_a_pair_acc"] == 0.75
    strict = bench.load(tmp_path, ties="strict")
    s = bench.evaluate(strict, scores)["subsets"]["controlled_a"]
    assert (s["acc"], s["pair_acc"], s["set_acc"]) == (6 / 8, 2 / 4, 1 / 2)


def test_options_and_errors(tmp_path):
    _whatsup(tmp_path)
    bench = get_benchmark("whatsup")
    assert len(bench.load(tmp_path, subset="coco_qa_one").items) == 2
    assert bench.load(tmp_path, subset="coco_qa_one", image_root="/coco").items[0].images[0].path == "/coco/000000000139.jpg"
    with pytest.raises(DataError, match="missing vg_qa_one_obj.json"):
        bench.load(tmp_path, subset="vg_qa_one")
    with pytest.raises(EqvlError, match="ties=random"):
        bench.load(tmp_path, ties="random")
    write_json(tmp_path / "coco_qa_two_obj.json", [[1, "a dog left of a cat", "a dog right of a cat"], [2, "x"]])
    with pytest.raises(DataError, match=r"coco_qa_two_obj.json \(field '\[1\]'\): expected \[image_id, true_caption, false_caption\]"):
        bench.load(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not a whatsup folder"):
        bench.load(tmp_path / "empty")
    with pytest.raises(DataError, match="looks like a whatsup folder"):
        get_benchmark("vl-checklist").load(tmp_path)
