"""VALSE: per-instrument files, vote filter, pairwise accuracy, probability metrics and refusal."""

import numpy as np
import pytest

from tests.helpers.bench import write_json
from eqvl.benchmarks import get_benchmark
from eqvl.errors import DataError, EqvlError

RIGHT, TIE, WRONG = np.array([[0.8], [0.3]]), np.array([[0.6], [0.6]]), np.array([[0.4], [0.7]])


def _ex(dataset, img, caption, foil, votes):
    return {"dataset": dataset, "dataset_idx": img, "image_file": img, "linguistic_phenomena": "x", "caption": caption,
            "foil": foil, "classes": "a", "classes_foil": "b", "mturk": {"foil": 0, "caption": votes, "other": 0}}


def _valse(tmp_path):
    write_json(tmp_path / "data" / "existence.json", {
        "e0": _ex("visual7w", "v7w_1.jpg", "There are no animals.", "There are animals.", 3),
        "e1": _ex("visual7w", "v7w_2.jpg", "There is a dog.", "There is no dog.", 1),  # dropped: 1 vote
    })
    write_json(tmp_path / "data" / "actant-swap.json", {
        "a0": _ex("SWiG", "exercising_255.jpg", "A man exercises his torso.", "A torso exercises for a man.", 2),
        "a1": {**_ex("SWiG", "x.jpg", ["A woman cuts bread.", "other"], "Bread cuts a woman.", 3)},
    })
    write_json(tmp_path / "data" / "counting-hard.json", {"c0": {**_ex("visual7w", "c.jpg", "two dogs", "three dogs", 2)}})


def test_load_filter_and_pairwise(tmp_path):
    _valse(tmp_path)
    bench = get_benchmark("valse")
    data = bench.load(tmp_path, image_dirs="SWiG=/swig,visual7w=/v7w")
    assert [it.id for it in data.items] == ["existence/e0", "counting-hard/c0", "actant-swap/a0", "actant-swap/a1"]
    assert data.meta["dropped_unvalidated"]["existence"] == 1
    assert data.items[0].images[0].path == "/v7w/v7w_1.jpg" and data.items[2].images[0].path == "/swig/exercising_255.jpg"
    assert data.items[3].captions == ["A woman cuts bread.", "Bread cuts a woman."]
    data.score_kind = "cosine"
    res = bench.evaluate(data, [RIGHT, TIE, RIGHT, WRONG])
    assert res["metrics"]["pairwise_acc"] == 0.5
    assert res["metrics"]["pairwise_acc_macro"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert res["subsets"]["actant-swap"] == {"pairwise_acc": 0.5, "n": 2}
    assert res["phenomena"]["counting"] == {"pairwise_acc": 0.0, "pairwise_acc_pooled": 0.0, "n": 1, "instruments": 1}
    assert "acc" not in res["metrics"]
    assert len(bench.load(tmp_path, validated_only="false").items) == 5


def test_probability_metrics_and_refusal(tmp_path):
    _valse(tmp_path)
    bench = get_benchmark("valse")
    data = bench.load(tmp_path, probability_metrics=True)
    data.score_kind = "cosine"
    with pytest.raises(EqvlError, match="meaningless for a cosine-valued scorer"):
        bench.evaluate(data, [RIGHT, TIE, RIGHT, WRONG])
    data.score_kind = "probability"
    res = bench.evaluate(data, [RIGHT, TIE, RIGHT, WRONG])
    # p(caption) > .5: .8, .6, .8, .4 -> pc = 3/4; p(foil) < .5: .3, .6, .3, .7 -> pf = 2/4
    assert res["metrics"]["pc"] == 0.75 and res["metrics"]["pf"] == 0.5
    assert res["metrics"]["acc"] == 0.625 and res["metrics"]["min_pc_pf"] == 0.5
    assert res["subsets"]["existence"]["min_pc_pf"] == 1.0


def test_errors(tmp_path):
    bench = get_benchmark("valse")
    with pytest.raises(DataError, match="not a valse folder; expected:"):
        bench.load(tmp_path)
    _valse(tmp_path)
    with pytest.raises(EqvlError, match="unknown instrument"):
        bench.load(tmp_path, instrument="colour")
    with pytest.raises(DataError, match="no file for instrument"):
        bench.load(tmp_path, instrument="plurals")
    with pytest.raises(EqvlError, match="name=path"):
        bench.load(tmp_path, image_dirs="oops")
    write_json(tmp_path / "data" / "existence.json", {"e0": _ex("visual7w", "a.jpg", "cap", " ", 3)})
    with pytest.raises(DataError, match=r"existence.json \(field \"\['e0'\].foil\"\): empty string"):
        bench.load(tmp_path)


def test_phenomenon_row_is_the_mean_of_its_instruments(tmp_path):
    """VALSE reports each instrument on its own and averages instruments, not items: actions =
    mean(action-replacement 1/1, actant-swap 1/3) = 2/3, not the pooled 2/4; counting likewise over 3 files."""
    write_json(tmp_path / "action-replacement.json", {"r0": _ex("SWiG", "r.jpg", "A man cuts bread.", "A man eats bread.", 3)})
    write_json(tmp_path / "actant-swap.json", {f"a{k}": _ex("SWiG", f"a{k}.jpg", f"A man lifts box {k}.", f"A box lifts man {k}.", 3)
                                               for k in range(3)})
    for name, n in (("counting-hard", 2), ("counting-small-quant", 1), ("counting-adversarial", 5)):
        write_json(tmp_path / f"{name}.json", {f"{name}{k}": _ex("visual7w", f"{name}{k}.jpg", f"{k} dogs", f"{k + 1} dogs", 2)
                                               for k in range(n)})
    bench = get_benchmark("valse")
    data = bench.load(tmp_path)
    data.score_kind = "cosine"
    by_id = {"action-replacement/r0": RIGHT, "actant-swap/a0": RIGHT, "actant-swap/a1": WRONG, "actant-swap/a2": TIE,
             "counting-hard/counting-hard0": RIGHT, "counting-hard/counting-hard1": WRONG,
             "counting-small-quant/counting-small-quant0": RIGHT}
    scores = [by_id.get(it.id, WRONG) for it in data.items]  # every counting-adversarial item wrong
    res = bench.evaluate(data, scores)
    inst = {name: row["pairwise_acc"] for name, row in res["subsets"].items()}
    assert inst == pytest.approx({"counting-hard": 0.5, "counting-small-quant": 1.0, "counting-adversarial": 0.0,
                                  "action-replacement": 1.0, "actant-swap": 1 / 3})
    actions, counting = res["phenomena"]["actions"], res["phenomena"]["counting"]
    assert actions["pairwise_acc"] == pytest.approx((1.0 + 1 / 3) / 2) and actions["pairwise_acc_pooled"] == 0.5
    assert actions["n"] == 4 and actions["instruments"] == 2
    assert counting["pairwise_acc"] == pytest.approx((0.5 + 1.0 + 0.0) / 3) and counting["pairwise_acc_pooled"] == pytest.approx(2 / 8)
    assert list(res["phenomena"]) == ["counting", "actions"]
