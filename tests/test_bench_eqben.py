"""EqBen: every official annotation layout, its metric and the official-order export."""

import random

import numpy as np
import pytest

from tests.helpers.bench import GOOD, TEXT_ONLY, TIE, jpg, npy_bgr, png, write_json
from eqvl.benchmarks import get_benchmark
from eqvl.benchmarks.eqben import subset_name
from eqvl.errors import DataError, EqvlError


def _per_subset(tmp_path):
    img = tmp_path / "image"
    for sub in ("eqbenag", "eqbengebc", "eqbenkubric_loc", "eqbenkubric_cnt", "eqbenkubric_attr", "eqbensd"):
        png(img / sub / "v" / "0.png")
        png(img / sub / "v" / "1.png", (0, 0, 255))
    npy_bgr(img / "eqbenyoucook2" / "v" / "0.npy")
    npy_bgr(img / "eqbenyoucook2" / "v" / "1.npy", (0, 0, 255))
    pair = {"image0": "v/0.png", "image1": "v/1.png", "caption0": "a person holds a cup", "caption1": "a person drinks from a cup"}
    write_json(tmp_path / "eqbenag.json", {"vid1": {"subj1": [{**pair, "caption0": ["first c0", "second c0"], "caption1": ["first c1", "x"]}],
                                                    "subj2": [pair]}})
    write_json(tmp_path / "eqbenyoucook2.json", {"vidA": [{**pair, "image0": "v/0.npy", "image1": "v/1.npy"}]})
    write_json(tmp_path / "eqbengebc.json", {"vidB": [pair]})
    for name in ("eqbenkubric_loc", "eqbenkubric_cnt", "eqbenkubric_attr", "eqbensd"):
        write_json(tmp_path / f"{name}.json", [pair])


def test_subset_names():
    assert subset_name("eqbenkubric_cnt") == "kubric_counting"
    assert subset_name("kubric_attr") == "kubric_attribute"
    assert subset_name("eqbenag") == "ag" and subset_name("youcook2") == "youcook2" and subset_name("sd") == "sd"
    assert subset_name("examples") is None


def test_per_subset_layout(tmp_path):
    _per_subset(tmp_path)
    bench = get_benchmark("eqben")
    data = bench.load(tmp_path)
    assert data.meta["layout"] == "subsets"
    subsets = [it.subset for it in data.items]
    assert subsets == ["ag", "ag", "youcook2", "gebc", "kubric_location", "kubric_counting", "kubric_attribute", "sd"]
    ag = data.items[0]
    assert ag.captions == ["first c0", "first c1"]  # first caption of each list
    assert ag.images[0].path == str(tmp_path / "image" / "eqbenag" / "v" / "0.png")
    yc = data.items[2]
    assert yc.images[1].path.endswith("eqbenyoucook2/v/1.npy")
    arr = np.load(yc.images[1].path)
    assert arr[0, 0].tolist() == [255, 0, 0]  # stored BGR: blue frame -> B channel first
    scores = [GOOD, TEXT_ONLY, GOOD, TIE, GOOD, TEXT_ONLY, TIE, GOOD]
    res = bench.evaluate(data, scores)
    assert res["metrics"]["text"] == pytest.approx(6 / 8)
    assert res["metrics"]["image"] == pytest.approx(4 / 8)
    assert res["metrics"]["group"] == pytest.approx(4 / 8)
    assert res["subsets"]["ag"]["n"] == 2 and res["subsets"]["ag"]["group"] == 0.5
    assert list(res["subsets"]) == ["ag", "youcook2", "gebc", "kubric_location", "kubric_counting", "kubric_attribute", "sd"]
    assert res["kubric"]["counting"]["text"] == 1.0 and res["kubric"]["counting"]["image"] == 0.0
    assert res["kubric"]["attribute"]["text"] == 0.0
    only = bench.load(tmp_path, subset="sd,gebc")
    assert [it.subset for it in only.items] == ["gebc", "sd"]
    with pytest.raises(EqvlError, match="unknown subset"):
        bench.load(tmp_path, subset="nope")


def test_per_subset_errors(tmp_path):
    write_json(tmp_path / "eqbenag.json", {"vid1": {"subj1": [{"image0": "a", "image1": "b", "caption0": [], "caption1": ["x"]}]}})
    with pytest.raises(DataError, match=r"eqbenag.json \(field \"\[\'vid1\'\]\[\'subj1\'\]\[0\].caption0\"\): empty caption list"):
        get_benchmark("eqben").load(tmp_path)
    write_json(tmp_path / "eqbenag.json", [{"image0": "a", "image1": "b", "caption0": "x", "caption1": ""}])
    with pytest.raises(DataError, match=r"\[0\].caption1.*empty string"):
        get_benchmark("eqben").load(tmp_path)
    (tmp_path / "eqbenag.json").write_text('[\n{"image0": "a",\n oops}\n]')
    with pytest.raises(DataError, match=r"eqbenag.json:3: malformed JSON"):
        get_benchmark("eqben").load(tmp_path)


def test_winoground_style_png_to_jpg(tmp_path):
    jpg(tmp_path / "image" / "eqbengebc" / "a.jpg")
    jpg(tmp_path / "image" / "eqbengebc" / "b.jpg")
    rows = [{"image0": "eqbengebc/a.png", "image1": "eqbengebc/b.png", "caption0": "c0", "caption1": "c1"},
            {"image0": "eqbenkubric_cnt/x.png", "image1": "eqbenkubric_cnt/y.png", "caption0": "two", "caption1": "three"}]
    write_json(tmp_path / "eqben_subset_10percent_final.json", rows)
    bench = get_benchmark("eqben")
    data = bench.load(tmp_path)
    assert data.meta["layout"] == "winoground"
    assert data.items[0].images[0].path == str(tmp_path / "image" / "eqbengebc" / "a.jpg")  # .png resolved to the shipped .jpg
    assert data.items[1].images[0].path.endswith("x.png")  # nothing on disk: left as written
    assert [it.subset for it in data.items] == ["gebc", "kubric_counting"]
    res = bench.evaluate(data, [GOOD, TIE])
    assert res["metrics"]["group"] == 0.5 and res["subsets"]["gebc"]["group"] == 1.0
    with pytest.raises(EqvlError, match="shuffled layout"):
        bench.export_official_scores(data, [GOOD, TIE])


def _random_rows(twins, seed=0):
    rows = []
    for im0, im1, c0, c1 in twins:
        rows += [{"image": im, "caption": c} for im in (im0, im1) for c in (c0, c1)]
    random.Random(seed).shuffle(rows)
    return rows


def test_random_layout_export_round_trip(tmp_path):
    twins = [
        ("eqbenag/v1/0.png", "eqbenag/v1/1.png", "a man opens a door", "a man closes a door"),
        ("eqbenag/v2/0.png", "eqbenag/v2/1.png", "a man opens a door", "a man closes a door"),  # same captions, other twin
        ("eqbenyoucook2/v/0.npy", "eqbenyoucook2/v/1.npy", "cut the onion", "fry the onion"),
        ("eqbensd/a.png", "eqbensd/b.png", "a red cup", "a blue cup"),
        ("eqbensd/b.png", "eqbensd/c.png", "a blue cup", "a green cup"),  # an image in two twins
    ]
    rows = _random_rows(twins)
    write_json(tmp_path / "ann_json_finegrained_random.json", rows)
    bench = get_benchmark("eqben")
    data = bench.load(tmp_path)
    assert data.meta["layout"] == "random"
    assert sum(len(it.images) == 2 and len(it.captions) == 2 for it in data.items) >= 3
    assert all(it.meta.get("oriented") is False for it in data.items)

    def f(image_path, caption):  # a deterministic "scorer"
        return (hash(image_path.rsplit("image", 1)[-1]) % 997) / 997 + len(caption) / 100

    scores = [np.array([[f(im.path, c) for im in it.images] for c in it.captions]) for it in data.items]
    out = bench.export_official_scores(data, scores)
    assert out.shape == (len(rows),) and out.ndim == 1
    assert data.meta["image_root"] == str(tmp_path)
    expected = np.array([f(str(tmp_path / r["image"]), r["caption"]) for r in rows], dtype=np.float32)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    # after --skip-bad drops an item, the export refuses rather than misplace scores
    from eqvl.benchmarks.base import BenchmarkData
    short = BenchmarkData(items=data.items[1:], meta=data.meta)
    with pytest.raises(EqvlError, match="skipped"):
        bench.export_official_scores(short, scores[1:])
    res = bench.evaluate(data, scores)
    assert res["metrics"] == {} and res["subsets"]["ag"]["n"] == 8 and res["subsets"]["sd"]["n"] == 8
    with pytest.raises(EqvlError, match="random layout"):
        bench.load(tmp_path, subset="ag")


def test_wrong_layout_and_layout_option(tmp_path):
    write_json(tmp_path / "notes.json", {"x": 1})
    with pytest.raises(DataError, match="not a eqben folder; expected:\na folder with one of"):
        get_benchmark("eqben").load(tmp_path)
    _per_subset(tmp_path)
    write_json(tmp_path / "ann_json_finegrained_random.json", _random_rows([("eqbensd/a.png", "eqbensd/b.png", "x", "y")]))
    assert get_benchmark("eqben").load(tmp_path).meta["layout"] == "subsets"
    assert get_benchmark("eqben").load(tmp_path, layout="random").meta["layout"] == "random"
    with pytest.raises(DataError, match="not a eqben folder"):
        get_benchmark("eqben").load(tmp_path, layout="winoground")
    with pytest.raises(EqvlError, match="unknown option"):
        get_benchmark("eqben").load(tmp_path, split="x")


def test_random_layout_with_answer_key_gives_metrics(tmp_path):
    """private_info.json + private_random_idx.json orient the shuffled rows the way the
    official evaluate_eqben_locally.py does; our metrics must equal its recipe applied to
    our exported scores."""
    twins = [("eqbenag", "eqbenag/v1/0.png", "eqbenag/v1/1.png", "opens a door", "closes a door"),
             ("eqbenag", "eqbenag/v2/0.png", "eqbenag/v2/1.png", "opens a door", "closes a door"),
             ("eqbensd", "eqbensd/a.png", "eqbensd/b.png", "a red cup", "a blue cup")]
    info, private_rows = [], []
    for cnt, (ds, im0, im1, c0, c1) in enumerate(twins):
        for name, im, c in (("c0i0", im0, c0), ("c0i1", im1, c0), ("c1i0", im0, c1), ("c1i1", im1, c1)):
            info.append({"dataset": ds, "name": name, "sample_cnt": cnt})
            private_rows.append({"image": im, "caption": c})
    perm = np.random.default_rng(3).permutation(len(info))
    write_json(tmp_path / "ann_json_finegrained_random.json", [private_rows[p] for p in perm])
    write_json(tmp_path / "src_file" / "private_info.json", info)
    write_json(tmp_path / "src_file" / "private_random_idx.json", perm.tolist())
    bench = get_benchmark("eqben")
    data = bench.load(tmp_path)
    assert data.meta["oriented"] is True
    assert [it.captions for it in data.items] == [["opens a door", "closes a door"]] * 2 + [["a red cup", "a blue cup"]]
    assert data.items[2].images[1].path == str(tmp_path / "eqbensd" / "b.png")
    scores = [GOOD, TEXT_ONLY, TIE]
    res = bench.evaluate(data, scores)
    assert res["subsets"]["ag"]["text"] == 1.0 and res["subsets"]["ag"]["image"] == 0.5
    assert res["subsets"]["sd"]["text"] == 0.0 and res["metrics"]["group"] == pytest.approx(1 / 3)

    exported = bench.export_official_scores(data, scores)  # the official evaluator's recipe on our export
    recovered = exported[np.argsort(perm)]
    cells = {n: np.zeros(len(twins)) for n in ("c0i0", "c0i1", "c1i0", "c1i1")}
    for score, entry in zip(recovered, info):
        cells[entry["name"]][entry["sample_cnt"]] = score
    text = (cells["c0i0"] > cells["c1i0"]) & (cells["c1i1"] > cells["c0i1"])
    image = (cells["c0i0"] > cells["c0i1"]) & (cells["c1i1"] > cells["c1i0"])
    assert res["metrics"]["text"] == pytest.approx(text.mean()) and res["metrics"]["image"] == pytest.approx(image.mean())

    bad = [dict(e) for e in info]
    bad[0]["name"] = "c0i1"  # two c0i1 cells in twin 0
    write_json(tmp_path / "src_file" / "private_info.json", bad)
    with pytest.raises(DataError, match="cell c0i1 twice"):
        bench.load(tmp_path)
    write_json(tmp_path / "src_file" / "private_info.json", info[:-1])
    with pytest.raises(DataError, match="must match"):
        bench.load(tmp_path)
