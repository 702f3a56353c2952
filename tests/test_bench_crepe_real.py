"""CREPE on REAL productivity rows (tests/data/crepe, source in its SOURCE.md): the reader parses every
released row (the release's extra columns, float boxes, list literals, swap rows listing the caption
itself as a negative), and its metrics equal get_one2many_rank / get_one2many_metrics worked on the
same rows here, with fixed scores and with the tiny model."""

import ast
import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from eqvl.benchmarks import get_benchmark

REAL = Path(__file__).parent / "data" / "crepe"
SUBSETS = [f"productivity/{t}/{c:02d}" for t in ("atom", "negate", "swap") for c in (4, 8, 12)]


def _rows() -> dict[str, list[dict]]:
    """The excerpt read the way crepe_eval_utils reads it: one DataFrame row per CSV row, negatives
    through ast.literal_eval and list() (a set literal's order then follows the string hash)."""
    out = {}
    for subset in SUBSETS:
        _, kind, c = subset.split("/")
        path = REAL / "prod_hard_negatives" / kind / f"prod_vg_hard_negs_{kind}_complexity_{int(c)}.csv"
        with path.open(newline="", encoding="utf-8") as handle:
            out[subset] = [{**r, "negs": list(ast.literal_eval(r["hard_negs"]))} for r in csv.DictReader(handle)]
    return out


def _folder(image_id: str) -> str:
    return "VG_100K" if int(image_id) % 2 else "VG_100K_2"  # both folders get some of the real ids


def _vg(root: Path, rows: dict[str, list[dict]], size=(4, 4)) -> Path:
    rng = np.random.default_rng(0)
    for r in (r for rs in rows.values() for r in rs):
        path = root / _folder(r["image_id"]) / f"{r['image_id']}.jpg"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return root


def official_rank(column: np.ndarray) -> int:
    """get_one2many_rank's lines on one row: argsort descending, where the caption (index 0) lands."""
    ranking = torch.argsort(torch.from_numpy(column.astype(np.float32))[None], descending=True)
    return int(torch.where(ranking == 0)[1][0])


def official_metrics(ranks: np.ndarray) -> dict:
    """get_one2many_metrics' R@k, mean rank and median rank."""
    out = {f"recall@{k}": float(np.mean(ranks < k)) for k in (1, 3, 5, 10)}
    return {**out, "mean_rank": float(ranks.mean() + 1), "median_rank": float(np.floor(np.median(ranks)) + 1), "n": ranks.size}


def _fixed(image_id: str, text: str) -> float:
    """A fixed score per (image, text): equal texts score equally, so the swap rows that list their own
    caption as a negative tie exactly."""
    return int.from_bytes(hashlib.blake2b(f"{image_id}|{text}".encode(), digest_size=4).digest(), "big") / 2**32


def test_every_real_row_parses(tmp_path):
    rows = _rows()
    data = get_benchmark("crepe").load(REAL, vg_root=str(_vg(tmp_path, rows)))
    order = list(dict.fromkeys(it.subset for it in data.items))  # the reader's: file paths sorted (12 before 4)
    assert sorted(order) == sorted(SUBSETS) and [it.subset for it in data.items] == [s for s in order for _ in rows[s]]
    assert len(data.items) == 93
    flat = [r for s in order for r in rows[s]]
    sets = 0
    for item, row in zip(data.items, flat):
        assert item.captions[0] == row["caption"] and len(row["negs"]) == 5
        if row["hard_negs"].startswith("{"):  # a set literal: eqvl keeps the written order
            sets += 1
            assert sorted(item.captions[1:]) == sorted(row["negs"]) and item.captions[1] in row["hard_negs"][:len(item.captions[1]) + 3]
        else:
            assert item.captions[1:] == row["negs"]
        assert item.images[0].bbox == tuple(float(row[k]) for k in ("x", "y", "width", "height"))
        assert item.images[0].path == str(tmp_path / _folder(row["image_id"]) / f"{row['image_id']}.jpg")
    assert flat[0]["x"] == "120.0"  # the release writes boxes as floats
    assert sets == 8  # the released rows written as {...} (3,768 of the copy's 39,715 productivity rows)
    copies = [it.id for it in data.items if it.captions[0] in it.captions[1:]]
    assert sorted(copies) == ["productivity/swap/04/10", "productivity/swap/08/10", "productivity/swap/12/10"]


def test_metrics_equal_the_official_path_on_fixed_scores(tmp_path):
    rows = _rows()
    bench = get_benchmark("crepe")
    vg = str(_vg(tmp_path, rows))
    scores = {s: [np.array([_fixed(r["image_id"], t) for t in [r["caption"]] + r["negs"]]) for r in rows[s]] for s in SUBSETS}
    data = bench.load(REAL, vg_root=vg)
    flat = [col[:, None] for s in dict.fromkeys(it.subset for it in data.items) for col in scores[s]]
    res = bench.evaluate(data, flat)
    strict = bench.evaluate(bench.load(REAL, vg_root=vg, ties="strict"), flat)
    for s in SUBSETS:
        ranks = np.array([official_rank(col) for col in scores[s]])
        assert res["subsets"][s] == pytest.approx(official_metrics(ranks))
        by_count = np.array([int((col[1:] >= col[0]).sum()) for col in scores[s]])  # below every equal negative
        assert strict["subsets"][s] == pytest.approx(official_metrics(by_count))
    assert res["metrics"]["recall@1"] == pytest.approx(np.mean([res["subsets"][s]["recall@1"] for s in SUBSETS]))
    assert res["metrics"]["recall@1"] == res["metrics"]["productivity_recall@1"]  # no systematicity file
    tied = [s for s in SUBSETS if res["subsets"][s] != strict["subsets"][s]]
    assert tied and all(s.startswith("productivity/swap/") for s in tied)  # the caption-as-negative rows


def test_tiny_model_on_real_rows(tmp_path):
    from eqvl.evaluation import evaluate
    from eqvl.models import load_encoder

    rows = _rows()
    vg = _vg(tmp_path, rows, size=(800, 600))  # VG-sized, so the real boxes crop real pixels
    enc = load_encoder("eqvl-tiny-vit", "none", device="cpu", seed=0, precision="fp32")
    picked = ("productivity/swap/04", "productivity/negate/04")  # the caption-as-negative rows and set literals; fewer texts
    result = evaluate(enc, "crepe", REAL, workers=0, progress=False, options={"vg_root": str(vg), "subset": ",".join(picked)})
    cols = [np.asarray(s, dtype=np.float64).reshape(-1) for s in result.scores]
    for item, col in zip(result.data.items, cols):
        assert col.size == len(item.captions)
        for j, text in enumerate(item.captions[1:], 1):
            if text == item.captions[0]:
                assert col[j] == col[0]  # one embedding per unique caption: the copy ties exactly
    assert sorted(result.results["subsets"]) == [s for s in SUBSETS if s.startswith(picked)]
    for s in result.results["subsets"]:
        ranks = np.array([official_rank(c) for it, c in zip(result.data.items, cols) if it.subset == s])
        assert result.results["subsets"][s] == pytest.approx(official_metrics(ranks))
    regions = {(it.images[0].key(), it.captions[0]) for it in result.data.items}
    assert len({c[0] for c in cols}) == len(regions) > 15  # one score per distinct (crop, caption): not constant
