"""CREPE: systematicity / productivity CSVs (list-valued negatives, crop box, VG_100K then VG_100K_2),
get_one2many_metrics' Recall@k and ranks per file and negative type, by hand."""

import csv

import numpy as np
import pytest

from tests.helpers.bench import jpg
from eqvl.benchmarks import get_benchmark
from eqvl.errors import DataError, EqvlError


def _csv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _row(image_id, caption, **negs):
    return {"region_id": "1", "caption": caption, "x": "1", "y": "0", "width": "3", "height": "2", "image_id": image_id,
            **{k: repr(v) for k, v in negs.items()}}


def _crepe(root):
    jpg(root / "VG_100K" / "2.jpg")
    jpg(root / "VG_100K_2" / "7.jpg")
    _csv(root / "syst_hard_negatives" / "syst_vg_hard_negs_seen_compounds_in_laion.csv", [
        _row("2", "a red brick sidewalk", valid_hard_negs_atom=["a brown brick sidewalk", "a white brick sidewalk", "a red stone sidewalk"],
             valid_hard_negs_comp=[], valid_hard_negs_combined=["a brown brick sidewalk"]),
        _row("7", "a man, on a horse", valid_hard_negs_atom=["a horse on a man"], valid_hard_negs_comp=["a man and a blue horse"],
             valid_hard_negs_combined=["a horse on a man", "a man and a blue horse"]),
    ])
    _csv(root / "prod_hard_negatives" / "swap" / "prod_vg_hard_negs_swap_complexity_4.csv",
         [_row("7", "a man on a horse", hard_negs=["a horse on a man", "a man under a horse"])])


def test_load_and_metrics_by_hand(tmp_path):
    _crepe(tmp_path)
    bench = get_benchmark("crepe")
    data = bench.load(tmp_path)
    subsets = [it.subset for it in data.items]
    assert subsets == ["productivity/swap/04"] + [f"systematicity/laion/seen_compounds/{t}" for t in ("atom", "comp", "combined") for _ in (0, 1)]
    first_atom = data.items[1]
    assert first_atom.captions == ["a red brick sidewalk", "a brown brick sidewalk", "a white brick sidewalk", "a red stone sidewalk"]
    assert first_atom.images[0].path == str(tmp_path / "VG_100K" / "2.jpg") and first_atom.images[0].bbox == (1.0, 0.0, 3.0, 2.0)
    assert data.items[2].images[0].path == str(tmp_path / "VG_100K_2" / "7.jpg")  # not in VG_100K: the second folder
    assert data.items[3].captions == ["a red brick sidewalk"]  # an empty negative list: rank 0, as the official code
    col = lambda *v: np.array(v)[:, None]  # noqa: E731
    scores = [col(0.2, 0.5, 0.1),  # prod: rank 1
              col(0.5, 0.6, 0.4, 0.7), col(0.3, 0.2),  # atom: ranks 2, 0
              col(0.5), col(0.1, 0.9),  # comp: ranks 0, 1
              col(0.5, 0.4), col(0.3, 0.35, 0.36)]  # combined: ranks 0, 2
    res = bench.evaluate(data, scores)
    atom = res["subsets"]["systematicity/laion/seen_compounds/atom"]
    assert atom == {"recall@1": 0.5, "recall@3": 1.0, "recall@5": 1.0, "recall@10": 1.0, "mean_rank": 2.0, "median_rank": 2.0, "n": 2}
    assert res["subsets"]["productivity/swap/04"]["recall@1"] == 0.0 and res["subsets"]["productivity/swap/04"]["mean_rank"] == 2.0
    # systematicity R@1 = mean over its three subsets (0.5, 0.5, 0.5); productivity 0; headline = mean of the two
    assert res["metrics"]["systematicity_recall@1"] == 0.5 and res["metrics"]["productivity_recall@1"] == 0.0
    assert res["metrics"]["recall@1"] == 0.25


def test_ties_and_options(tmp_path):
    _crepe(tmp_path)
    bench = get_benchmark("crepe")
    data = bench.load(tmp_path, subset="productivity")
    assert len(data.items) == 1
    tie = [np.array([[0.5], [0.5], [0.1]])]
    assert bench.evaluate(bench.load(tmp_path, subset="productivity", ties="strict"), tie)["subsets"]["productivity/swap/04"]["recall@1"] == 0.0
    assert len(bench.load(tmp_path, train_dataset="cc12m").items) == 1  # only productivity left
    with pytest.raises(EqvlError, match="no CSV matches"):
        bench.load(tmp_path, subset="systematicity", train_dataset="yfcc")


def test_errors(tmp_path):
    _crepe(tmp_path)
    bench = get_benchmark("crepe")
    bad = tmp_path / "prod_hard_negatives" / "swap" / "prod_vg_hard_negs_swap_complexity_4.csv"
    _csv(bad, [_row("7", "a man on a horse", hard_negs=["x"]), {**_row("7", "b", hard_negs=[]), "hard_negs": "[unclosed"}])
    with pytest.raises(DataError, match=r"complexity_4.csv:3 \(field 'hard_negs'\): expected a list of captions"):
        bench.load(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not a crepe folder"):
        bench.load(tmp_path / "empty")
    with pytest.raises(DataError, match="looks like a crepe folder"):
        get_benchmark("whatsup").load(tmp_path)


def test_negatives_as_list_or_set_literals():
    from eqvl.benchmarks.crepe import parse_negatives

    assert parse_negatives("['b', 'a', 'b']") == ["b", "a", "b"]  # a list keeps its repeats (the official list does)
    assert parse_negatives(" {'b', 'a', 'b'}") == ["b", "a"]  # a set: written order, repeats dropped as the set drops them
    assert parse_negatives("set()") == [] and parse_negatives("()") == []
    assert parse_negatives("'a'") is None and parse_negatives("{'a': 1}") is None and parse_negatives("[unclosed") is None
