"""eqvl's own twins / triplets / foils JSONL readers and their metrics."""

import numpy as np
import pytest

from tests.helpers.bench import GOOD, TEXT_ONLY, TIE, png, write_jsonl
from eqvl.benchmarks import get_benchmark
from eqvl.errors import DataError, EqvlError


def _twins(tmp_path):
    png(tmp_path / "img" / "a.png")
    png(tmp_path / "img" / "b.png", (0, 0, 255))
    rows = [
        {"id": "t0", "subset": "relation", "image_0": "img/a.png", "image_1": "img/b.png",
         "caption_0": "a red cube left of a blue ball", "caption_1": "a blue ball left of a red cube", "scene_0": {"k": 1}},
        {"id": "t1", "subset": "relation", "image_0": "img/b.png", "image_1": "img/a.png", "caption_0": "x", "caption_1": "y"},
        {"id": "t2", "subset": "count", "image_0": "img/a.png", "image_1": "img/b.png", "caption_0": "two", "caption_1": "three"},
    ]
    return write_jsonl(tmp_path / "twins.jsonl", rows)


def test_twins_load_folder_and_file(tmp_path):
    path = _twins(tmp_path)
    bench = get_benchmark("twins")
    data = bench.load(tmp_path)
    assert [it.id for it in data.items] == ["t0", "t1", "t2"]
    first = data.items[0]
    assert first.images[0].path == str(tmp_path / "img" / "a.png")
    assert first.captions == ["a red cube left of a blue ball", "a blue ball left of a red cube"]
    assert first.subset == "relation" and first.meta == {"scene_0": {"k": 1}}
    assert len(bench.load(path).items) == 3


def test_twins_metrics_hand_computed(tmp_path):
    _twins(tmp_path)
    bench = get_benchmark("twins")
    data = bench.load(tmp_path)
    res = bench.evaluate(data, [GOOD, TEXT_ONLY, TIE])
    m = res["metrics"]
    assert m["text"] == pytest.approx(2 / 3)
    assert m["image"] == pytest.approx(1 / 3)
    assert m["group"] == pytest.approx(1 / 3)
    # GOOD: text gap |(.9-.2)-(.8-.1)| = 0; TEXT_ONLY: |(.5-.4)-(.6-.55)| = .05; TIE: 0
    assert m["equivariance_text_mean"] == pytest.approx(0.05 / 3)
    assert res["subsets"]["relation"] == pytest.approx(
        {"text": 1.0, "image": 0.5, "group": 0.5, "n": 2,
         "equivariance_text_mean": 0.025, "equivariance_image_mean": res["subsets"]["relation"]["equivariance_image_mean"]}
    )
    assert res["subsets"]["count"]["n"] == 1 and res["subsets"]["count"]["group"] == 0.0


def test_twins_bad_inputs(tmp_path):
    bench = get_benchmark("twins")
    (tmp_path / "twins.jsonl").write_text('{"id": "a", "subset": "s", "image_0": "x", "image_1": "y", "caption_0": "c", "caption_1": "d"}\n{oops\n')
    with pytest.raises(DataError, match=r"twins.jsonl:2: malformed JSON"):
        bench.load(tmp_path)
    write_jsonl(tmp_path / "twins.jsonl", [{"id": "a", "subset": "s", "image_0": "x", "image_1": "y", "caption_0": "  ", "caption_1": "d"}])
    with pytest.raises(DataError, match=r"twins.jsonl:1 \(field 'caption_0'\): empty string"):
        bench.load(tmp_path)
    row = {"id": "a", "subset": "s", "image_0": "x", "image_1": "y", "caption_0": "c", "caption_1": "d"}
    write_jsonl(tmp_path / "twins.jsonl", [row, row])
    with pytest.raises(DataError, match=r"twins.jsonl:2 \(field 'id'\): duplicate id 'a'"):
        bench.load(tmp_path)
    write_jsonl(tmp_path / "twins.jsonl", [{k: v for k, v in row.items() if k != "image_1"}])
    with pytest.raises(DataError, match=r"field 'image_1'\): missing"):
        bench.load(tmp_path)


def test_wrong_layout_and_unknown_option(tmp_path):
    (tmp_path / "other.txt").write_text("x")
    with pytest.raises(DataError, match="expected:\ntwins.jsonl"):
        get_benchmark("twins").load(tmp_path)
    with pytest.raises(DataError, match="expected:\ntriplets.jsonl"):
        get_benchmark("triplets").load(tmp_path)
    _twins(tmp_path)
    with pytest.raises(EqvlError, match="unknown option"):
        get_benchmark("twins").load(tmp_path, split="x")


def test_twins_score_shape_checked(tmp_path):
    _twins(tmp_path)
    bench = get_benchmark("twins")
    data = bench.load(tmp_path)
    with pytest.raises(EqvlError, match="3 items"):
        bench.evaluate(data, [GOOD])
    with pytest.raises(EqvlError, match="shaped"):
        bench.evaluate(data, [GOOD, GOOD, np.zeros((2, 1))])


def test_triplets(tmp_path):
    png(tmp_path / "a.png")
    rows = [
        {"id": 1, "subset": "replace", "image": "a.png", "caption": "c", "positive": "cp", "negative": "cn"},
        {"id": 2, "subset": "replace", "image": "a.png", "caption": "c", "positive": "cp", "negative": "cn"},
        {"id": 3, "subset": "swap", "image": "a.png", "caption": "c", "positive": "cp", "negative": "cn", "note": "x"},
    ]
    write_jsonl(tmp_path / "triplets.jsonl", rows)
    bench = get_benchmark("triplets")
    data = bench.load(tmp_path)
    assert data.items[2].captions == ["c", "cp", "cn"] and data.items[2].meta == {"note": "x"}
    scores = [np.array([[0.9], [0.8], [0.1]]), np.array([[0.9], [0.1], [0.5]]), np.array([[0.5], [0.9], [0.5]])]
    res = bench.evaluate(data, scores)
    assert res["metrics"] == pytest.approx({"orig_acc": 2 / 3, "aug_acc": 2 / 3, "joint_acc": 1 / 3, "brittle": 1 / 3})
    assert res["subsets"]["replace"] == pytest.approx({"orig_acc": 1.0, "aug_acc": 0.5, "joint_acc": 0.5, "brittle": 0.5, "n": 2})
    assert res["counts"] == {"n": 3, "orig_correct": 2, "aug_correct": 2, "joint_correct": 1, "brittle": 1}
    write_jsonl(tmp_path / "triplets.jsonl", [{**rows[0], "positive": ""}])
    with pytest.raises(DataError, match="field 'positive'"):
        bench.load(tmp_path)


def test_foils(tmp_path):
    rows = [
        {"id": "a", "subset": "count", "image": "a.png", "caption": "two cats", "foil": "three cats"},
        {"id": "b", "subset": "count", "image": "a.png", "caption": "two cats", "foil": "one cat"},
        {"id": "c", "subset": "rel", "image": "/abs/b.png", "caption": "x", "foil": "y"},
    ]
    path = write_jsonl(tmp_path / "foils.jsonl", rows)
    bench = get_benchmark("foils")
    data = bench.load(path)
    assert data.items[2].images[0].path == "/abs/b.png"
    res = bench.evaluate(data, [np.array([[0.3], [0.2]]), np.array([[0.3], [0.3]]), np.array([[0.1], [0.2]])])
    assert res["metrics"]["acc"] == pytest.approx(1 / 3)
    assert res["subsets"] == {"count": {"acc": 0.5, "n": 2}, "rel": {"acc": 0.0, "n": 1}}
