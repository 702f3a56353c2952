"""ARO: VG-Relation (macro, symmetric excluded), VG-Attribution (macro over pairs), Order P@1."""

import numpy as np
import pytest

from tests.helpers.bench import write_json
from eqvl.benchmarks import get_benchmark
from eqvl.benchmarks.aro import PERTURBATIONS, order_options, pre_caption
from eqvl.errors import DataError, EqvlError

RIGHT, TIE = np.array([[0.5], [0.4]]), np.array([[0.5], [0.5]])


def _vg(rel, k):
    return {"image_id": str(k), "image_path": f"{k}.jpg", "bbox_x": 1, "bbox_y": 2, "bbox_w": 30, "bbox_h": 40,
            "true_caption": f"the horse is eating the grass {k}", "false_caption": f"the grass is eating the horse {k}", "relation_name": rel}


def _aro(tmp_path):
    write_json(tmp_path / "visual_genome_relation.json", [_vg("eating", 0), _vg("eating", 1), _vg("on", 2), _vg("next to", 3)])
    attr = [{**_vg("x", k), "attributes": pair} for k, pair in enumerate([["white", "black"]] * 3 + [["red", "blue"]])]
    write_json(tmp_path / "visual_genome_attribution.json", attr)
    write_json(tmp_path / "coco_karpathy_test.json", [{"image": "val2014/COCO_val2014_1.jpg",
                                                        "caption": ["A man riding a red bike down a busy street.", "Two dogs play in the green park."]}])


def test_pre_caption_and_perturbations_deterministic():
    assert pre_caption('A Man (riding) a bike!  "Fast".') == "a man riding a bike fast"
    assert pre_caption("one two three four", max_words=2) == "one two"
    cap = "A large brown dog is sitting on a wooden bench next to a red car."
    a, b = order_options(cap, 0, 7), order_options(cap, 0, 7)
    assert a == b and len(a) == 5 and a[0] == pre_caption(cap)
    assert len(set(a)) == 5  # every perturbation differs from the caption
    for opt in a[1:]:
        assert sorted(opt.split()) == sorted(a[0].split())  # same words, other order
    assert order_options(cap, 1, 7) != a
    assert order_options("Dog.", 0, 0) == ["dog"]  # nothing can differ
    assert len(PERTURBATIONS) == 4


def test_load_and_metrics(tmp_path):
    _aro(tmp_path)
    bench = get_benchmark("aro")
    data = bench.load(tmp_path, min_pair_count=2)
    subsets = [it.subset for it in data.items]
    assert subsets.count("vg_relation") == 4 and subsets.count("vg_attribution") == 4 and subsets.count("coco_order") == 2
    first = data.items[0]
    assert first.images[0].bbox == (1.0, 2.0, 30.0, 40.0) and first.images[0].path == str(tmp_path / "images" / "0.jpg")
    assert first.captions[0].startswith("the horse")
    order_item = data.items[8]
    assert len(order_item.captions) == 5 and order_item.images[0].path == str(tmp_path / "val2014" / "COCO_val2014_1.jpg")
    # relation: eating right, eating tie -> 0.5; "on" right (not symmetric) -> 1.0; "next to" tie but symmetric, excluded
    # attribution: white_black right, right, tie -> 2/3; red_blue (1 example < min 2) excluded
    scores = [RIGHT, TIE, RIGHT, TIE, RIGHT, RIGHT, TIE, TIE]
    scores += [np.array([[0.9], [0.1], [0.2], [0.3], [0.4]]), np.array([[0.4], [0.1], [0.4], [0.3], [0.2]])]  # right; tie -> wrong
    res = bench.evaluate(data, scores)
    assert res["metrics"]["vg_relation"] == pytest.approx((0.5 + 1.0) / 2)
    assert res["subsets"]["vg_relation"]["micro_acc"] == 0.5
    assert res["per_relation"]["next to"]["counted"] is False
    assert res["metrics"]["vg_attribution"] == pytest.approx(2 / 3)
    assert res["per_attribute_pair"]["red_blue"] == {"acc": 0.0, "n": 1, "counted": False}
    assert res["metrics"]["coco_order"] == 0.5 and res["subsets"]["coco_order"]["n"] == 2


def test_order_formats_and_errors(tmp_path):
    write_json(tmp_path / "flickr30k_test.json", {"images": [
        {"filename": "1.jpg", "filepath": "flickr30k-images", "split": "test", "sentences": [{"raw": "A girl in a pink dress jumps."}]},
        {"filename": "2.jpg", "split": "train", "sentences": [{"raw": "ignored"}]}]})
    bench = get_benchmark("aro")
    data = bench.load(tmp_path, flickr_root="/f")
    assert len(data.items) == 1 and data.items[0].images[0].path == "/f/flickr30k-images/1.jpg"
    write_json(tmp_path / "flickr30k_test.json", [{"image": "x.jpg", "caption_options": ["a b c", "c b a"]}])
    assert bench.load(tmp_path).items[0].captions == ["a b c", "c b a"]
    with pytest.raises(EqvlError, match=r"^aro: unknown subset\(s\) winoground; valid: vg_relation, vg_attribution, coco_order, "
                       r"flickr30k_order$"):
        bench.load(tmp_path, subset="winoground")
    with pytest.raises(DataError, match="no file for subset"):
        bench.load(tmp_path, subset="vg_relation")
    write_json(tmp_path / "visual_genome_relation.json", [{**_vg("on", 0), "true_caption": ""}])
    with pytest.raises(DataError, match=r"visual_genome_relation.json \(field '\[0\].true_caption'\): empty string"):
        bench.load(tmp_path)
    bad = {**_vg("on", 0)}
    del bad["bbox_w"]
    write_json(tmp_path / "visual_genome_relation.json", [bad])
    with pytest.raises(DataError, match=r"field '\[0\].bbox_w'"):
        bench.load(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="not a aro folder"):
        bench.load(empty)


def test_box_past_the_edge_crops_like_pil(tmp_path):
    """ARO's official loader crops with PIL Image.crop((x, y, x + w, y + h)): corners rounded, the part of
    the box outside the image black. A VG box running past the edge must give those same pixels."""
    from PIL import Image

    from eqvl.data.images import load_image

    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(tmp_path / "images" / "0.png")
    boxes = [(20, 10, 30, 40), (-6.5, -3.2, 12, 9.5), (28.5, 20.5, 7.49, 3.5), (40, 30, 5, 5)]  # last: wholly outside
    recs = [{**_vg("on", k), "image_path": "0.png", "bbox_x": x, "bbox_y": y, "bbox_w": w, "bbox_h": h}
            for k, (x, y, w, h) in enumerate(boxes)]
    write_json(tmp_path / "visual_genome_relation.json", recs)
    data = get_benchmark("aro").load(tmp_path, subset="vg_relation")
    with Image.open(tmp_path / "images" / "0.png") as handle:
        source = handle.convert("RGB")
    for item, (x, y, w, h) in zip(data.items, boxes):
        official = source.crop((x, y, x + w, y + h))
        ours = load_image(item.images[0])
        assert ours.size == official.size and ours.tobytes() == official.tobytes()
    first = np.asarray(load_image(data.items[0].images[0]))
    assert first.shape == (40, 30, 3) and not first[14:].any() and not first[:, 12:].any()  # padded black, not clipped
    assert first[:14, :12].any()
