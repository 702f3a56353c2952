"""VL-CheckList: the official corpus/ + data/ layout, radar.py's aggregation, the silently dropped
missing images, MAX_NUM, and a slice of the real annotation lists (tests/data/vl_checklist)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.bench import jpg, write_json
from eqvl.benchmarks import get_benchmark
from eqvl.errors import DataError, EqvlError

R, W, T = np.array([[0.3], [0.2]]), np.array([[0.1], [0.2]]), np.array([[0.3], [0.3]])
REAL = Path(__file__).parent / "data" / "vl_checklist"


def _corpus(root: Path, type_: str, source: str, anno: str, img_root: str) -> None:
    path = root / "corpus" / "v1" / type_ / f"{source}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'ANNO_PATH: "{anno}"\nIMG_ROOT: "{img_root}"\nTYPE: "TUPLE_JSON"', encoding="utf-8")


def _rec(img: str, k: int, n: int = 1) -> list:
    return [img, {"POS": [f"red car {k} {j}" for j in range(n)], "NEG": [f"blue car {k} {j}" for j in range(n)]}]


def _checklist(root: Path) -> None:
    for name in ("VG_100K/1.jpg", "VG_100K/2.jpg", "VG_100K_2/3.jpg"):
        jpg(root / "vg" / name)
    jpg(root / "swig" / "milking_22.jpg")
    _corpus(root, "Attribute/color", "vg", "data/Attribute/vg/color.json", "vg")
    _corpus(root, "Attribute/color", "vaw", "data/Attribute/vaw/color.json", "vg/")
    _corpus(root, "Relation/spatial", "vg", "data/Relation/vg/spatial.json", "vg/")
    _corpus(root, "Object/Size/large", "vg_obj", "data/Object/Size/vg_size/vg_obj_large.json", "vg/")
    _corpus(root, "Object/Size/large", "vg_subj", "data/Object/Size/vg_size/vg_subj_large.json", "vg/")
    _corpus(root, "Object/Size/large", "swig_agent", "data/Object/Size/swig_size/swig_agent/swig_agent_large.json", "swig/")
    write_json(root / "data/Attribute/vg/color.json", [_rec("VG_100K/1.jpg", 0), _rec("VG_100K/2.jpg", 1)])
    write_json(root / "data/Attribute/vaw/color.json", [_rec("VG_100K/404.jpg", 2), _rec("VG_100K_2/3.jpg", 3)])
    write_json(root / "data/Relation/vg/spatial.json", [_rec("VG_100K/1.jpg", 4), _rec("VG_100K/2.jpg", 5)])
    write_json(root / "data/Object/Size/vg_size/vg_obj_large.json", [_rec("VG_100K/1.jpg", 6)])
    write_json(root / "data/Object/Size/vg_size/vg_subj_large.json", [_rec("VG_100K/2.jpg", 7)])
    write_json(root / "data/Object/Size/swig_size/swig_agent/swig_agent_large.json",
               [_rec("milking_22.jpg", 8, n=3), _rec("milking_22.jpg", 9, n=3)])


def test_radar_aggregation_by_hand(tmp_path):
    _checklist(tmp_path)
    bench = get_benchmark("vl-checklist")
    data = bench.load(tmp_path)
    files = [it.subset for it in data.items]
    # sorted corpus order; vaw's record with the missing VG_100K/404.jpg is dropped as data_loader.py does
    assert files == ["Attribute/color/vaw", "Attribute/color/vg", "Attribute/color/vg", "Object/Size/large/swig_agent",
                     "Object/Size/large/swig_agent", "Object/Size/large/vg_obj", "Object/Size/large/vg_subj",
                     "Relation/spatial/vg", "Relation/spatial/vg"]
    assert data.meta["missing_images"] == {"Attribute/color/vaw": 1}
    assert data.items[3].captions == ["red car 8 0", "blue car 8 0"]  # only POS[0] / NEG[0], as evaluate.py
    assert data.items[0].images[0].path == str(tmp_path / "vg" / "VG_100K_2/3.jpg")
    res = bench.evaluate(data, [R, R, W, W, W, R, W, R, T])
    # files: vaw 1, vg 1/2, swig_agent 0, vg_obj 1, vg_subj 0, spatial 1/2 (the tie is wrong)
    assert res["subsets"]["Attribute/color/vg"] == {"acc": 0.5, "n": 2}
    # spokes: color = mean(vg .5, vaw 1) = .75; large = mean(vg: mean(1, 0), swig: 0) = .25; spatial = .5
    assert res["types"]["Attribute/color"]["acc"] == 0.75 and res["types"]["Object/Size/large"]["acc"] == 0.25
    assert res["metrics"]["attribute"] == 0.75 and res["metrics"]["object"] == 0.25 and res["metrics"]["relation"] == 0.5
    assert res["metrics"]["acc"] == pytest.approx((0.75 + 0.25 + 0.5) / 3)
    assert res["metrics"]["micro_acc"] == pytest.approx(4 / 9)
    assert res["missing_images"] == {"Attribute/color/vaw": 1}


def test_options_max_num_subset_missing(tmp_path):
    _checklist(tmp_path)
    bench = get_benchmark("vl-checklist")
    # MAX_NUM=2 keeps the first 2/2 = 1 record of each file (after the dropped ones)
    assert len(bench.load(tmp_path, max_num="2").items) == 6
    assert {it.subset for it in bench.load(tmp_path, subset="Object").items} == {
        "Object/Size/large/swig_agent", "Object/Size/large/vg_obj", "Object/Size/large/vg_subj"}
    strict = bench.load(tmp_path, missing_images="error")
    assert len(strict.items) == 10 and strict.items[0].images[0].path.endswith("VG_100K/404.jpg")
    with pytest.raises(EqvlError, match="no corpus type matches"):
        bench.load(tmp_path, subset="Nothing")
    with pytest.raises(EqvlError, match="unknown option"):
        bench.load(tmp_path, maxnum=3)


def test_bad_input_names_file_record_field(tmp_path):
    _checklist(tmp_path)
    bench = get_benchmark("vl-checklist")
    write_json(tmp_path / "data/Relation/vg/spatial.json", [_rec("VG_100K/1.jpg", 0), ["VG_100K/1.jpg", {"POS": ["a"], "NEG": []}]])
    with pytest.raises(DataError, match=r"spatial.json \(field '\[1\]\[1\].NEG'\): expected a non-empty list"):
        bench.load(tmp_path)
    (tmp_path / "data/Relation/vg/spatial.json").unlink()
    with pytest.raises(DataError, match=r"spatial.json: annotation list named by .*vg.yaml \(ANNO_PATH\) not found"):
        bench.load(tmp_path)
    with pytest.raises(DataError, match="not a vl-checklist folder; expected"):
        bench.load(tmp_path / "data")


def test_wrong_folder_names_the_benchmark_it_looks_like(tmp_path):
    _checklist(tmp_path)
    with pytest.raises(DataError, match=r"looks like a vl-checklist folder: --benchmark vl-checklist"):
        get_benchmark("sugarcrepe").load(tmp_path)


def test_real_records_excerpt(tmp_path):
    """The first records of four real lists (3-caption SWiG records, HAKE's sub-folders, duplicates)."""
    shutil.copytree(REAL / "corpus", tmp_path / "corpus")
    shutil.copytree(REAL / "data", tmp_path / "data")
    n_records = 0
    for path in (tmp_path / "data").rglob("*.json"):
        records = json.loads(path.read_text(encoding="utf-8"))
        n_records += len(records)
        img_root = "swig" if "swig" in path.name else "hake" if "hake" in path.name else "vg"
        for img, _ in records:
            jpg(tmp_path / img_root / img)
    bench = get_benchmark("vl-checklist")
    data = bench.load(tmp_path)
    assert len(data.items) == n_records and not data.meta["missing_images"]
    first_swig = json.loads((tmp_path / "data/Object/Size/swig_size/swig_destination/swig_destination_small.json").read_text())[0]
    item = next(it for it in data.items if it.subset == "Object/Size/small/swig_destination")
    assert item.captions == [first_swig[1]["POS"][0], first_swig[1]["NEG"][0]]
    res = bench.evaluate(data, [R] * len(data.items))
    assert res["metrics"]["acc"] == 1.0 and set(res["categories"]) == {"Object", "Attribute", "Relation"}
