"""MMVP-VLM: Questions.csv pairs, evaluate_vlm.py's position categories (15 pairs each, divided by
num_pairs // 9), odd-id ground truth, the > 0.5 rule (a tie predicts image 2), by hand."""

import numpy as np
import pytest

from tests.helpers.bench import jpg, twin_scores
from eqvl.benchmarks import get_benchmark
from eqvl.benchmarks.mmvp import CATEGORIES
from eqvl.errors import DataError, EqvlError

GOOD = twin_scores(0.9, 0.1, 0.2, 0.8)  # statement 1 -> image 1 (odd id), statement 2 -> image 2
TIE2 = twin_scores(0.9, 0.1, 0.5, 0.5)  # statement 2 ties: predicts image 2, its right answer
BAD = twin_scores(0.1, 0.9, 0.2, 0.8)


def _mmvp(root, folder="MLLM_VLM Images"):
    lines = ["Question ID,Type,Statement"]
    for q in range(1, 37):
        pattern = "Orientation" if q <= 30 else "Presence"
        lines.append(f'{q},{pattern},"the dog, facing {"left" if q % 2 else "right"} {q}"')
        jpg(root / folder / pattern / f"{q}.jpg")
    (root / "Questions.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


SCORES = [GOOD, TIE2] + [BAD] * 13 + [GOOD, BAD, BAD]


def test_official_position_categories_by_hand(tmp_path):
    _mmvp(tmp_path)
    bench = get_benchmark("mmvp-vlm")
    data = bench.load(tmp_path)
    assert len(data.items) == 18 and data.items[0].captions == ["a photo of the dog, facing left 1", "a photo of the dog, facing right 2"]
    assert data.items[16].images[1].path == str(tmp_path / "MLLM_VLM Images" / "Presence" / "34.jpg")
    assert data.items[15].subset == CATEGORIES[1] and data.items[14].subset == CATEGORIES[0]
    res = bench.evaluate(data, SCORES)
    # 18 pairs -> denominator 18 // 9 = 2; Orientation: GOOD + TIE2 right = 2/2; Presence 1/2; 7 empty patterns 0
    assert res["subsets"][CATEGORIES[0]] == {"acc": 1.0, "n": 15} and res["subsets"][CATEGORIES[1]]["acc"] == 0.5
    assert len(res["subsets"]) == 9 and res["subsets"][CATEGORIES[8]] == {"acc": 0.0, "n": 0}
    assert res["metrics"]["acc"] == pytest.approx(1.5 / 9) and res["metrics"]["pair_acc"] == pytest.approx(3 / 18)


def test_column_categories_and_strict_ties(tmp_path):
    _mmvp(tmp_path, folder="MMVP_VLM_Images")
    bench = get_benchmark("mmvp-vlm")
    data = bench.load(tmp_path, category="column")
    assert data.items[0].images[0].path == str(tmp_path / "MMVP_VLM_Images" / "Orientation" / "1.jpg")
    res = bench.evaluate(data, SCORES)
    assert res["subsets"]["Orientation"] == {"acc": 2 / 15, "n": 15} and res["subsets"]["Presence"] == {"acc": 1 / 3, "n": 3}
    assert res["metrics"]["acc"] == pytest.approx((2 / 15 + 1 / 3) / 2)
    strict = bench.evaluate(bench.load(tmp_path, category="column", ties="strict"), SCORES)
    assert strict["subsets"]["Orientation"]["acc"] == 1 / 15


def test_errors(tmp_path):
    _mmvp(tmp_path)
    bench = get_benchmark("mmvp-vlm")
    with pytest.raises(EqvlError, match="category= is position or column"):
        bench.load(tmp_path, category="tag")
    text = (tmp_path / "Questions.csv").read_text().replace("\n5,Orientation,", "\nfive,Orientation,")
    (tmp_path / "Questions.csv").write_text(text)
    with pytest.raises(DataError, match=r"Questions.csv:6 \(field 'id'\): question id 'five' is not an integer"):
        bench.load(tmp_path)
    (tmp_path / "Questions.csv").unlink()
    with pytest.raises(DataError, match="not a mmvp-vlm folder"):
        bench.load(tmp_path)


def test_missing_image_names_record_and_path_or_is_skipped(tmp_path):
    from eqvl.evaluation import evaluate
    from eqvl.models import load_encoder

    _mmvp(tmp_path)
    (tmp_path / "MLLM_VLM Images" / "Orientation" / "4.jpg").unlink()
    enc = load_encoder("eqvl-tiny-vit", "none", device="cpu", seed=0, precision="fp32")
    with pytest.raises(DataError, match=r"record '3-4'.*Orientation/4.jpg.*`skip_bad`"):
        evaluate(enc, "mmvp-vlm", tmp_path, workers=0, progress=False)
    res = evaluate(enc, "mmvp-vlm", tmp_path, workers=0, progress=False, skip_bad=True).results
    assert res["skipped"]["n"] == 1 and res["skipped"]["examples"][0]["id"] == "3-4" and res["n_items"] == 17
