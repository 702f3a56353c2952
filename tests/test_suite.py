"""`eqvl eval --benchmark suite`: every benchmark found under a root (one missing: skipped), per-benchmark
JSONs from the output pattern, and the summary table with one row per model and the mean column."""

import csv
import json

import numpy as np
import pytest

from eqvl.cli import main
from eqvl.evaluation.suite import find_benchmarks, headline, suite_markdown, write_suite_summary
from tests.test_bench_vl_checklist import _checklist
from tests.test_bench_whatsup import _whatsup
from tests.test_eval import make_triplets, make_twins


def _root(tmp_path):
    root = tmp_path / "compo"
    (root / "twins").mkdir(parents=True)
    make_twins(root / "twins")
    (root / "triplets").mkdir()
    make_triplets(root / "triplets")
    _checklist(root / "vl_checklist")  # the underscore spelling is accepted too
    _whatsup(root / "whatsup")  # items of 4 and of 2 captions: flat scores in --scores-out
    return root


def test_find_benchmarks_lists_the_missing_as_skipped(tmp_path):
    root = _root(tmp_path)
    plan = find_benchmarks(root)
    assert [n for n, _ in plan.found] == ["triplets", "twins", "vl-checklist", "whatsup"]
    assert plan.found[2][1] == root / "vl_checklist"
    assert "sugarcrepe" in plan.skipped and "winoground" in plan.skipped and "twins" not in plan.skipped


def test_suite_end_to_end_two_models(tmp_path, capsys):
    root = _root(tmp_path)
    out = tmp_path / "out"
    args = ["eval", "--model", "eqvl-tiny-rn", "eqvl-tiny-vit", "--pretrained", "none", "--benchmark", "suite",
            "--data", str(root), "--output", str(out / "{benchmark}_{model}.json"), "--summary", str(out / "suite.md"),
            "--scores-out", str(out / "{benchmark}_{model}.npz"),
            "--no-cache", "--workers", "0", "--no-progress"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "suite: triplets, twins, vl-checklist, whatsup" in err and "skipped (no folder): " in err and "sugarcrepe" in err
    table = (out / "suite.md").read_text()
    lines = table.splitlines()
    assert lines[0] == "| model | pretrained | triplets (joint_acc) | twins (group) | vl-checklist (acc) | whatsup (acc) | mean |"
    for model, line in zip(("eqvl-tiny-rn", "eqvl-tiny-vit"), lines[2:4]):
        heads = [json.loads((out / f"{b}_{model}.json").read_text())["metrics"][m]
                 for b, m in (("triplets", "joint_acc"), ("twins", "group"), ("vl-checklist", "acc"), ("whatsup", "acc"))]
        cells = line.strip("|").split("|")
        assert cells[0].strip() == model
        assert [float(c) for c in cells[2:6]] == pytest.approx([round(100 * h, 1) for h in heads], abs=0.051)
        assert float(cells[6]) == pytest.approx(100 * sum(heads) / 4, abs=0.051)
    with np.load(out / "whatsup_eqvl-tiny-vit.npz") as npz:  # per-sample scores of every run, mixed shapes flattened
        assert npz["shapes"].tolist()[:1] == [[4, 1]] and len(npz["ids"]) == 11 and npz["scores_flat"].size == 8 * 4 + 3 * 2
    assert "skipped (no folder under the suite root):" in table and "winoground" in table
    # outputs are not overwritten without --overwrite (refused before any model is built)
    assert main(args) == 2 and "exist" in capsys.readouterr().err
    # the CSV flavour of the same table, from the per-benchmark JSONs
    results = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    write_suite_summary(out / "suite.csv", results)
    rows = list(csv.DictReader((out / "suite.csv").open()))
    assert [r["model"] for r in rows] == ["eqvl-tiny-rn", "eqvl-tiny-vit"] and set(rows[0]) >= {"vl-checklist", "whatsup", "mean"}
    assert float(rows[1]["mean"]) == pytest.approx(np.mean([float(rows[1][b]) for b in ("triplets", "twins", "vl-checklist", "whatsup")]))


def test_suite_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    base = ["eval", "--model", "eqvl-tiny-rn", "--pretrained", "none", "--output", str(tmp_path / "{benchmark}.json")]
    assert main(base + ["--benchmark", "suite", "--data", str(tmp_path / "empty")]) == 2
    assert "no benchmark folder found" in capsys.readouterr().err
    assert main(base + ["--benchmark", "suite", "twins", "--data", str(tmp_path), str(tmp_path)]) == 2
    assert "runs alone" in capsys.readouterr().err


def test_headline_rules_and_mean_excludes_other_tasks():
    runs = [{"dataset": "aro", "model": "m", "pretrained": "p", "task": "compositionality",
             "metrics": {"vg_relation": 0.6, "vg_attribution": 0.8}},
            {"dataset": "retrieval", "model": "m", "pretrained": "p", "task": "zeroshot_retrieval",
             "metrics": {"image_retrieval_recall@1": 0.1}},
            {"dataset": "winoground", "model": "m", "pretrained": "p", "task": "compositionality", "metrics": {"text": 0.3, "group": 0.2}}]
    assert headline(runs[0]) == ("mean(vg_relation,vg_attribution)", pytest.approx(0.7))
    assert headline(runs[2]) == ("group", 0.2)
    line = suite_markdown(runs, ["vl-checklist"]).splitlines()[2]
    assert line == "| m | p | 70.0 | 10.0 | 20.0 | 45.0 |"  # retrieval shown, not in the mean


def test_benchmarks_lists_every_reader_and_the_suite(capsys):
    assert main(["benchmarks"]) == 0
    out = capsys.readouterr().out
    assert "vl-checklist  (compositionality)" in out and "corpus/v1/<type>/<source>.yaml" in out
    for name, layout_bit in (("sugarcrepe++", "caption2"), ("whatsup", "controlled_images_dataset.json"), ("mmvp-vlm", "Questions.csv"),
                             ("crepe", "prod_vg_hard_negs_"), ("svo-probes", "svo_probes.csv")):
        assert f"{name}  (compositionality)" in out and layout_bit in out
    assert "--benchmark suite --data ROOT" in out
