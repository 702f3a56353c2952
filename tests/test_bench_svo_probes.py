"""SVO-Probes: the DeepMind CSV, rows with exactly one negative type, positive image must beat the negative
image (strict), per type; rows without local images dropped and counted; the notebook's Avg/Pos/Neg
accuracy for probability scores; by hand."""

import csv

import numpy as np
import pytest

from tests.helpers.bench import jpg, png, write_json
from eqvl.benchmarks import get_benchmark
from eqvl.errors import DataError, EqvlError

HEAD = ["sentence", "pos_triplet", "neg_triplet", "subj_neg", "verb_neg", "obj_neg", "pos_url", "neg_url", "pos_image_id", "neg_image_id"]


def _row(sentence, kind, pos, neg):
    flags = {t: str(t == kind) for t in ("subj", "verb", "obj")}
    return [sentence, "man,ride,horse", "woman,ride,horse", flags["subj"], flags["verb"], flags["obj"],
            f"http://x/{pos}.jpg", f"http://x/{neg}.jpg", pos, neg]


def _svo(root):
    rows = [_row("A man rides a horse.", "subj", 1, 2), _row("A man rides a horse.", "subj", 1, 3),
            _row("A dog catches a ball.", "verb", 4, 5), _row("A dog catches a ball.", "obj", 4, 6),
            _row("A girl eats cake.", "verb", 7, 99),  # image 99 is missing: dropped, counted
            ["Two types.", "a,b,c", "a,b,d", "True", "True", "False", "u", "v", "8", "9"]]
    root.mkdir(parents=True, exist_ok=True)
    with (root / "svo_probes.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEAD)
        writer.writerows(rows)
    for i in (1, 2, 4, 5, 6, 7, 8, 9):
        jpg(root / "images" / f"{i}.jpg")
    png(root / "images" / "3.png")


def test_pairwise_accuracy_by_hand(tmp_path):
    _svo(tmp_path)
    bench = get_benchmark("svo-probes")
    data = bench.load(tmp_path)
    assert [it.subset for it in data.items] == ["subj", "subj", "verb", "obj"]
    assert data.items[1].images[1].path == str(tmp_path / "images" / "3.png")
    assert data.meta["missing_images"] == 1 and data.meta["rows_other_types"] == 1
    res = bench.evaluate(data, [np.array([[0.3, 0.2]]), np.array([[0.3, 0.3]]), np.array([[0.1, 0.2]]), np.array([[0.5, 0.4]])])
    # subj: right, tie (wrong); verb: wrong; obj: right
    assert res["metrics"] == {"acc": 0.5, "subj_acc": 0.5, "verb_acc": 0.0, "obj_acc": 1.0}
    assert res["subsets"]["subj"] == {"acc": 0.5, "n": 2} and res["missing_images"] == 1


def test_notebook_metrics_for_probabilities(tmp_path):
    _svo(tmp_path)
    bench = get_benchmark("svo-probes")
    data = bench.load(tmp_path)
    data.score_kind = "probability"
    # unique (sentence, image) pairs: positives (man,1) (dog,4); negatives (man,2) (man,3) (dog,5) (dog,6)
    res = bench.evaluate(data, [np.array([[0.9, 0.2]]), np.array([[0.9, 0.7]]), np.array([[0.4, 0.1]]), np.array([[0.4, 0.6]])])
    nb = res["notebook"]["all"]
    assert nb["pos_acc"] == 0.5 and nb["neg_acc"] == 0.5 and nb["avg_acc"] == 0.5  # pos: 1 of 2; neg: (man,2), (dog,5) right
    assert res["notebook"]["subj"] == {"avg_acc": 0.75, "pos_acc": 1.0, "neg_acc": 0.5}


def test_options_and_errors(tmp_path):
    _svo(tmp_path)
    bench = get_benchmark("svo-probes")
    assert len(bench.load(tmp_path, missing_images="error").items) == 5
    write_json(tmp_path / "map.json", {"99": "images/7.jpg"})
    assert len(bench.load(tmp_path, image_map=str(tmp_path / "map.json")).items) == 5
    with pytest.raises(EqvlError, match="missing_images=maybe"):
        bench.load(tmp_path, missing_images="maybe")
    text = (tmp_path / "svo_probes.csv").read_text().replace(",True,False,False,", ",yes,False,False,", 1)
    (tmp_path / "svo_probes.csv").write_text(text)
    with pytest.raises(DataError, match=r"svo_probes.csv:2 \(field 'subj_neg'\): expected True/False"):
        bench.load(tmp_path)
    (tmp_path / "svo_probes.csv").unlink()
    with pytest.raises(DataError, match="not a svo-probes folder"):
        bench.load(tmp_path)
