"""Winoground: examples.jsonl + images/, metrics overall / per collapsed tag / tag / secondary tag."""

import pytest

from tests.helpers.bench import GOOD, TEXT_ONLY, TIE, png, write_jsonl
from eqvl.benchmarks import get_benchmark
from eqvl.errors import DataError


def _wino(tmp_path):
    rows = []
    spec = [("Object", "Noun", "Symbolic"), ("Relation", "Verb", "Pragmatics, Symbolic"), ("Relation", "Verb", ""), ("Both", "Scope", None)]
    for k, (collapsed, tag, sec) in enumerate(spec):
        for j in (0, 1):
            png(tmp_path / "images" / f"ex_{k}_img_{j}.png", (k * 40, j * 200, 0))
        rows.append({"id": k, "image_0": f"ex_{k}_img_0", "image_1": f"ex_{k}_img_1", "caption_0": f"some plants surrounding a lightbulb {k}",
                     "caption_1": f"a lightbulb surrounding some plants {k}", "tag": tag, "secondary_tag": sec,
                     "num_main_preds": 1, "collapsed_tag": collapsed})
    return write_jsonl(tmp_path / "examples.jsonl", rows)


def test_load_and_metrics(tmp_path):
    _wino(tmp_path)
    bench = get_benchmark("winoground")
    data = bench.load(tmp_path)
    assert len(data.items) == 4
    assert data.items[0].images[1].path == str(tmp_path / "images" / "ex_0_img_1.png")
    assert data.items[1].meta["secondary_tag"] == ["Pragmatics", "Symbolic"]
    res = bench.evaluate(data, [GOOD, TEXT_ONLY, TIE, GOOD])
    assert res["metrics"]["text"] == 0.75 and res["metrics"]["image"] == 0.5 and res["metrics"]["group"] == 0.5
    assert list(res["subsets"]) == ["Object", "Relation", "Both"]
    assert res["subsets"]["Relation"]["text"] == 0.5 and res["subsets"]["Relation"]["group"] == 0.0 and res["subsets"]["Relation"]["n"] == 2
    assert res["per_tag"]["tag"]["Verb"] == pytest.approx({"text": 0.5, "image": 0.0, "group": 0.0, "n": 2})
    sec = res["per_tag"]["secondary_tag"]
    assert sec["Symbolic"] == pytest.approx({"text": 1.0, "image": 0.5, "group": 0.5, "n": 2})
    assert sec["Pragmatics"]["n"] == 1


def test_hf_layout_variant_and_errors(tmp_path):
    (tmp_path / "data").mkdir()
    _wino(tmp_path / "data")
    assert len(get_benchmark("winoground").load(tmp_path).items) == 4
    (tmp_path / "data" / "examples.jsonl").write_text('{"id": 0, "image_0": "a", "image_1": "b", "caption_0": "x", "caption_1": "y"}\n'
                                                       '{"id": 0, "image_0": "a", "image_1": "b", "caption_0": "x", "caption_1": "y"}\n')
    with pytest.raises(DataError, match=r"examples.jsonl:2 \(field 'id'\): duplicate id '0'"):
        get_benchmark("winoground").load(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="not a winoground folder; expected:\nexamples.jsonl"):
        get_benchmark("winoground").load(empty)
    (empty / "dataset_info.json").write_text("{}")
    try:
        import datasets  # noqa: F401
    except ImportError:
        with pytest.raises(DataError, match="`datasets` package is not installed"):
            get_benchmark("winoground").load(empty)
