"""Hard positives: data/ + swapped_data/ zipped into (c, c_p, c_n) triplets, alignment checks."""

import numpy as np
import pytest

from tests.helpers.bench import png, write_json
from eqvl.benchmarks import get_benchmark
from eqvl.errors import DataError, EqvlError


def _rec(img, c, cn, **extra):
    return {"image_id": img, "true_caption": c, "false_caption": cn, "image_path": f"data/VG_100K/{img}.jpg", **extra}


def _hp(tmp_path):
    png(tmp_path / "data" / "VG_100K" / "1.jpg")
    write_json(tmp_path / "data" / "vl_checklist_relations.json", [_rec("1", "chair in room", "chair out of room"), _rec("2", "kite in sky", "kite out of sky")])
    write_json(tmp_path / "swapped_data" / "vl_checklist_relations.json", [_rec("1", "chair within room", "chair out of room"), _rec("2", "kite within sky", "kite out of sky")])
    write_json(tmp_path / "data" / "visual_genome_attribution.json", [_rec("3", "the white dog and the black cat", "the black dog and the white cat", bbox_x=1, bbox_y=2, bbox_w=3, bbox_h=4)])
    write_json(tmp_path / "swapped_data" / "visual_genome_attribution.json", [_rec("3", "the black cat and the white dog", "the black dog and the white cat", bbox_x=1, bbox_y=2, bbox_w=3, bbox_h=4)])


def test_load_and_metrics(tmp_path):
    _hp(tmp_path)
    bench = get_benchmark("hardpos")
    data = bench.load(tmp_path)
    assert data.meta["sets"] == ["vl_checklist_relations", "visual_genome_attribution"]
    first = data.items[0]
    assert first.captions == ["chair in room", "chair within room", "chair out of room"]
    assert first.images[0].path == str(tmp_path / "data" / "VG_100K" / "1.jpg")
    assert data.items[2].images[0].bbox == (1.0, 2.0, 3.0, 4.0)
    scores = [np.array([[0.9], [0.8], [0.1]]), np.array([[0.9], [0.1], [0.5]]), np.array([[0.5], [0.9], [0.5]])]
    res = bench.evaluate(data, scores)
    assert res["metrics"] == pytest.approx({"orig_acc": 2 / 3, "aug_acc": 2 / 3, "joint_acc": 1 / 3, "brittle": 1 / 3})
    assert res["subsets"]["vl_checklist_relations"] == pytest.approx({"orig_acc": 1.0, "aug_acc": 0.5, "joint_acc": 0.5, "brittle": 0.5, "n": 2})
    assert res["subsets"]["visual_genome_attribution"]["orig_acc"] == 0.0  # tie counts wrong
    assert res["counts"]["brittle"] == 1
    assert len(bench.load(tmp_path, set="visual_genome_attribution", image_root="/vg").items) == 1


def test_misalignment_errors(tmp_path):
    _hp(tmp_path)
    bench = get_benchmark("hardpos")
    swap = tmp_path / "swapped_data" / "vl_checklist_relations.json"
    write_json(swap, [_rec("1", "chair within room", "chair out of room")])
    with pytest.raises(DataError, match="2 records here but 1 in"):
        bench.load(tmp_path)
    write_json(swap, [_rec("1", "chair within room", "chair out of room"), _rec("9", "kite within sky", "kite out of sky")])
    with pytest.raises(DataError, match=r"vl_checklist_relations.json \(field '\[1\].image_path'\): record 1 is for image"):
        bench.load(tmp_path)
    write_json(swap, [_rec("1", "chair within room", "chair off room"), _rec("2", "kite within sky", "kite out of sky")])
    with pytest.raises(DataError, match=r"field '\[0\].false_caption'\): record 0 has negative"):
        bench.load(tmp_path)
    write_json(swap, [_rec("1", "", "chair out of room"), _rec("2", "kite within sky", "kite out of sky")])
    with pytest.raises(DataError, match=r"field '\[0\].true_caption'\): empty string"):
        bench.load(tmp_path)
    (tmp_path / "swapped_data" / "visual_genome_attribution.json").unlink()
    with pytest.raises(DataError, match="no partner swapped_data/visual_genome_attribution.json"):
        bench.load(tmp_path, set="visual_genome_attribution")
    with pytest.raises(EqvlError, match="available"):
        bench.load(tmp_path, set="nope")


def test_wrong_layout(tmp_path):
    with pytest.raises(DataError, match="not a hardpos folder; expected:\na folder with data/<set>.json"):
        get_benchmark("hardpos").load(tmp_path)


def test_partial_bbox_is_an_error_not_an_uncropped_image(tmp_path):
    """hardpos reads VG boxes with ARO's reader: no box fields = whole image, some of them = a named error."""
    _hp(tmp_path)
    write_json(tmp_path / "data" / "visual_genome_attribution.json",
               [_rec("3", "the white dog and the black cat", "the black dog and the white cat", bbox_x=1, bbox_y=2, bbox_w=3)])
    with pytest.raises(DataError, match=r"visual_genome_attribution.json \(field '\[0\].bbox_h'\)"):
        get_benchmark("hardpos").load(tmp_path, set="visual_genome_attribution")
    assert get_benchmark("hardpos").load(tmp_path, set="vl_checklist_relations").items[0].images[0].bbox is None
