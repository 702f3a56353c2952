"""ColorSwap: the Drive JSON release and the Hub copy (parquet / save_to_disk, images embedded), Winoground metrics."""

import numpy as np
import pytest
from tests.helpers.bench import GOOD, TEXT_ONLY, TIE, png, write_json
from tests.helpers.tables import png_bytes, write_parquet, write_saved_split
from tests.helpers.encoders import FakeEncoder

from eqvl.benchmarks import get_benchmark
from eqvl.data.images import load_image
from eqvl.errors import DataError, EqvlError
from eqvl.evaluation import evaluate

COLORS = [(255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 255, 0), (0, 255, 255), (255, 0, 255)]


def _record(k, source="midjourney"):
    return {"id": k, "caption_1": f"a yellow umbrella and a white dress {k}", "caption_2": f"a white umbrella and a yellow dress {k}",
            "image_1": f"images/img_{k}_1.png", "image_2": f"images/img_{k}_2.png", "image_source": source, "caption_source": "human"}


def _drive(tmp_path):
    for k in range(4):
        for j in (1, 2):
            png(tmp_path / "data" / "images" / f"img_{k}_{j}.png", COLORS[(2 * k + j) % len(COLORS)])
    write_json(tmp_path / "data" / "test.json", [_record(0), _record(1, "dalle3"), _record(2)])
    write_json(tmp_path / "data" / "train.json", [_record(3)])


def test_drive_json_metrics_by_hand(tmp_path):
    _drive(tmp_path)
    bench = get_benchmark("colorswap")
    data = bench.load(tmp_path)  # default split: test (the paper's ITM numbers)
    assert [it.id for it in data.items] == ["test/0", "test/1", "test/2"]
    first = data.items[0]
    assert first.captions == ["a yellow umbrella and a white dress 0", "a white umbrella and a yellow dress 0"]
    assert first.images[1].path == str(tmp_path / "data" / "images" / "img_0_2.png")
    res = bench.evaluate(data, [GOOD, TEXT_ONLY, TIE])
    # GOOD: text, image, group right; TEXT_ONLY: text only; TIE: nothing -> text 2/3, image 1/3, group 1/3
    assert res["metrics"]["text"] == pytest.approx(2 / 3)
    assert res["metrics"]["image"] == pytest.approx(1 / 3) and res["metrics"]["group"] == pytest.approx(1 / 3)
    assert res["subsets"]["test"]["n"] == 3
    assert res["per_image_source"]["midjourney"] == {"text": 0.5, "image": 0.5, "group": 0.5, "n": 2}
    assert res["per_image_source"]["dalle3"]["text"] == 1.0 and res["per_image_source"]["dalle3"]["image"] == 0.0
    both = bench.load(tmp_path, split="all")
    assert [it.subset for it in both.items] == ["test"] * 3 + ["train"]
    assert [it.id for it in bench.load(tmp_path / "data" / "train.json").items] == ["train/3"]


def test_hub_copy_with_embedded_images(tmp_path):
    rows = [{"id": k, "image_1": png_bytes(COLORS[k]), "image_2": png_bytes(COLORS[k + 3]),
             "caption_1": f"a red cube on a blue ball {k}", "caption_2": f"a blue cube on a red ball {k}",
             "image_source": "midjourney", "caption_source": "human"} for k in range(3)]
    write_parquet(tmp_path / "hub" / "data" / "test-00000-of-00001.parquet", rows)
    write_parquet(tmp_path / "hub" / "data" / "train-00000-of-00001.parquet", rows[:1])
    bench = get_benchmark("colorswap")
    data = bench.load(tmp_path / "hub", extract_dir=str(tmp_path / "x"))
    assert len(data.items) == 3 and bench.detect(tmp_path / "hub")
    assert np.asarray(load_image(data.items[2].images[1]))[0, 0].tolist() == list(COLORS[5])
    assert all(r.path.startswith(str(tmp_path / "x")) for it in data.items for r in it.images)
    # the engine reads the extracted files like any others
    res = evaluate(FakeEncoder(), bench, tmp_path / "hub", options={"extract_dir": str(tmp_path / "x")}, progress=False)
    assert res.results["n_items"] == 3 and set(res.results["metrics"]) >= {"text", "image", "group"}
    write_saved_split(tmp_path / "saved", "test", rows)
    saved = bench.load(tmp_path / "saved")  # default extraction folder: <data>/eqvl_images
    assert [it.captions for it in saved.items] == [it.captions for it in data.items]
    assert saved.items[0].images[0].path.startswith(str(tmp_path / "saved" / "eqvl_images"))
    with pytest.raises(DataError, match="no train split"):
        bench.load(tmp_path / "saved", split="train")


def test_bad_input(tmp_path):
    _drive(tmp_path)
    bench = get_benchmark("colorswap")
    with pytest.raises(EqvlError, match="unknown split"):
        bench.load(tmp_path, split="val")
    bad = _record(9)
    del bad["caption_2"]
    write_json(tmp_path / "data" / "test.json", [_record(0), bad])
    with pytest.raises(DataError, match=r"test.json \(field '\[1\].caption_2'\): missing required field"):
        bench.load(tmp_path)
    write_json(tmp_path / "data" / "test.json", [_record(0), _record(0)])
    with pytest.raises(DataError, match="record 1: duplicate id 'test/0'"):
        bench.load(tmp_path)
    (tmp_path / "vlc" / "corpus" / "v1").mkdir(parents=True)
    with pytest.raises(DataError, match=r"(?s)not a colorswap folder \(it looks like a vl-checklist folder.*test.json"):
        bench.load(tmp_path / "vlc")
    assert bench.detect(tmp_path) and not bench.detect(tmp_path / "vlc")
    # a missing image names the record; --skip-bad skips and counts it
    write_json(tmp_path / "data" / "test.json", [_record(0), _record(1), {**_record(2), "image_2": "images/nope.png"}])
    with pytest.raises(DataError, match="record 'test/2'.*image file not found"):
        evaluate(FakeEncoder(), bench, tmp_path, progress=False)
    res = evaluate(FakeEncoder(), bench, tmp_path, skip_bad=True, progress=False)
    assert res.results["skipped"]["n"] == 1 and res.results["n_items"] == 2
