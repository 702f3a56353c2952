"""eqvl.evaluation's pieces without the CLI: run plans, provenance checks, summaries, score files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.helpers.encoders import FakeEncoder, make_twins

from eqvl.errors import DataError, EqvlError
from eqvl.evaluation import evaluate, read_score_file, write_score_file
from eqvl.evaluation.plan import plan_runs, slug
from eqvl.evaluation.provenance import check_same_run
from eqvl.evaluation.summary import summary_csv, summary_markdown


def test_plan_pairs_every_model_with_every_benchmark():
    runs = plan_runs(["ViT-B-32", "/ckpts/run 1/epoch_3.pt"], ["openai"], ["twins", "eqben"], ["d1", "d2"],
                     "out/{benchmark}_{model}_{pretrained}.json", scores_out="out/{benchmark}_{model}.npz")
    assert [(r.model, r.benchmark, r.data) for r in runs] == [
        ("ViT-B-32", "twins", "d1"), ("ViT-B-32", "eqben", "d2"),
        ("/ckpts/run 1/epoch_3.pt", "twins", "d1"), ("/ckpts/run 1/epoch_3.pt", "eqben", "d2")]
    assert runs[2].output == Path("out/twins_epoch_3.pt_openai.json") and runs[1].scores_out == Path("out/eqben_ViT-B-32.npz")
    assert slug("hf-hub:org/model") == "hf-hub_org_model"
    with pytest.raises(EqvlError, match="would share one file"):
        plan_runs(["a", "b"], ["none"], ["twins"], ["d"], "out/{benchmark}.json")
    with pytest.raises(EqvlError, match="one folder per `benchmark`"):
        plan_runs(["a"], ["none"], ["twins", "eqben"], ["d"], "{benchmark}.json")
    with pytest.raises(EqvlError, match="one per `model`"):
        plan_runs(["a", "b", "c"], ["x", "y"], ["twins"], ["d"], "{model}.json")
    with pytest.raises(EqvlError, match=r"unknown placeholder 'dataset'.*\{benchmark\}"):
        plan_runs(["a"], ["none"], ["twins"], ["d"], "{dataset}.json")
    with pytest.raises(EqvlError, match="must be different files"):
        plan_runs(["a"], ["none"], ["twins"], ["d"], "x.npz", scores_out="x.npz")


def test_provenance_tells_runs_apart(tmp_path):
    make_twins(tmp_path, n=6)
    first = evaluate(FakeEncoder(), "twins", tmp_path, progress=False)
    again = evaluate(FakeEncoder(), "twins", tmp_path, progress=False)
    made = first.results["provenance"]
    assert again.results["provenance"] == made
    check_same_run(made, 6, first.results, "s.npz", "r.json")  # the same run passes

    class Other(FakeEncoder):
        def identity(self):
            return "other weights"

    other = evaluate(Other(), "twins", tmp_path, progress=False).results["provenance"]
    with pytest.raises(DataError, match="model_hash"):
        check_same_run(other, 6, first.results, "s.npz", "r.json")
    (tmp_path / "twins.jsonl").write_text((tmp_path / "twins.jsonl").read_text().replace("a red square", "a red box"))
    edited = evaluate(FakeEncoder(), "twins", tmp_path, progress=False).results["provenance"]
    with pytest.raises(DataError, match="data_hash"):
        check_same_run(edited, 6, first.results, "s.npz", "r.json")
    with pytest.raises(DataError, match=r"s.npz: these scores come from another run than r.json: benchmark 'triplets' vs 'twins'"):
        check_same_run({**made, "benchmark": "triplets"}, 6, first.results, "s.npz", "r.json")
    old_results = {"dataset": "twins", "n_items": 6, "metrics": {}}  # written before provenance existed
    check_same_run(None, 6, old_results, "s.npz", "r.json")
    with pytest.raises(DataError, match="n_items 5 vs 6"):
        check_same_run(None, 5, old_results, "s.npz", "r.json")


def test_score_file_round_trip_keeps_the_stored_gaps(tmp_path):
    make_twins(tmp_path, n=5)
    res = evaluate(FakeEncoder(), "twins", tmp_path, progress=False)
    path = write_score_file(tmp_path / "s.npz", res)
    back = read_score_file(path)
    assert back.provenance == res.results["provenance"]
    np.testing.assert_array_equal(back.arrays["scores"], np.stack(res.scores))
    gaps = back.equivariance
    np.testing.assert_array_equal(gaps["text"], back.arrays["equivariance_text"])
    np.savez(tmp_path / "old.npz", scores=back.arrays["scores"])  # an older file: gaps computed from scores
    np.testing.assert_allclose(read_score_file(tmp_path / "old.npz").equivariance["image"], gaps["image"])
    (tmp_path / "zero.npz").write_bytes(b"")
    with pytest.raises(DataError, match="zero.npz: not an eqvl score file"):
        read_score_file(tmp_path / "zero.npz")


def test_summary_tables():
    runs = [{"dataset": "twins", "model": "m1", "pretrained": "none", "n_items": 4,
             "metrics": {"group": 0.25, "equivariance_text_mean": 0.1234, "text": float("nan")}},
            {"dataset": "foils", "model": "m1", "pretrained": "none", "n_items": 3, "metrics": {"acc": 2 / 3}}]
    assert summary_csv(runs).splitlines() == [
        "model,pretrained,benchmark,n_items,group,equivariance_text_mean,text,acc",
        "m1,none,twins,4,0.25,0.1234,nan,", "m1,none,foils,3,,,,0.6666666666666666"]
    md = summary_markdown(runs)
    assert "| m1 | none | 4 | 25.0 | 0.1234 | n/a |" in md and "| m1 | none | 3 | 66.7 |" in md


def test_subset_option_for_readers_without_subset_files(tmp_path):
    make_twins(tmp_path, n=6)
    res = evaluate(FakeEncoder(), "twins", tmp_path, options={"subset": "odd"}, progress=False)
    assert res.results["n_items"] == 3 and [it.id for it in res.data.items] == ["tw1", "tw3", "tw5"]
    both = evaluate(FakeEncoder(), "twins", tmp_path, options={"subset": "odd,even"}, progress=False)
    assert both.results["n_items"] == 6
    with pytest.raises(EqvlError, match="no subset nope; valid: even, odd"):
        evaluate(FakeEncoder(), "twins", tmp_path, options={"subset": "nope"}, progress=False)
