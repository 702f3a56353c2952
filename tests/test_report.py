import json

import numpy as np
import pytest

from eqvl.cli import main
from eqvl.errors import EqvlError
from eqvl.report.collect import build_eval_report, fmt, load_twin_scores, runs_from_files
from eqvl.report.markdown import render_markdown
from eqvl.report.plots import kde


def _twins_result(model: str, group: float, loc: float) -> dict:
    return {
        "dataset": "twins",
        "model": model,
        "pretrained": "/ckpt/" + model + ".pt",
        "task": "compositionality",
        "metrics": {"text": 0.7, "image": 0.6, "group": group, "equivariance_image_mean": 0.12},
        "subsets": {"location": {"group": loc, "n": 10}, "attribute": {"group": 0.9, "n": 12}},
        "config": {"batch_size": 64},
        "eqvl_version": "0.1.0",
    }


def _write(tmp_path, name, obj):
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return path


def test_report_cli_writes_html_and_markdown(tmp_path):
    a = _write(tmp_path, "a.json", _twins_result("rn-a", 0.5, 0.125))
    b = _write(tmp_path, "b.json", _twins_result("rn-b", 0.25, 0.375))
    trip = _write(tmp_path, "t.json", {"dataset": "triplets", "model": "rn-a", "metrics": {"orig_acc": 0.8, "aug_acc": 0.6, "joint_acc": 0.55},
                                       "subsets": {"replace": {"joint_acc": 0.5, "n": 4}}})
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "a.npz", scores=rng.normal(size=(22, 2, 2)), subsets=np.array(["location"] * 10 + ["attribute"] * 12))
    out = tmp_path / "rep" / "report.html"
    assert main(["report", str(a), str(b), str(trip), "--scores", str(tmp_path / "a.npz"), "--out", str(out)]) == 0
    html = out.read_text()
    md = (tmp_path / "rep" / "report.md").read_text()
    # numbers from the inputs appear as percentages in both renderings
    for text in (html, md):
        assert "12.5" in text and "37.5" in text and "55.0" in text
        assert "rn-a" in text and "rn-b" in text
    assert html.count("data:image/png;base64,") >= 4  # 2 subset charts + 2 equivariance plots
    pngs = sorted(p.name for p in (tmp_path / "rep" / "report_files").iterdir())
    assert "equivariance_image_0.png" in pngs and "subsets_0.png" in pngs
    # refuses to overwrite without the flag, succeeds with it
    assert main(["report", str(a), "--out", str(out)]) == 2
    assert main(["report", str(a), "--out", str(out), "--overwrite"]) == 0
    assert "rn-b" not in out.read_text()


def test_bad_results_file_names_field(tmp_path):
    bad = _write(tmp_path, "bad.json", {"model": "x"})
    with pytest.raises(EqvlError, match="dataset"):
        runs_from_files([bad])


def test_scores_must_be_twins_shaped(tmp_path):
    np.save(tmp_path / "s.npy", np.zeros((3, 3, 1)))
    with pytest.raises(EqvlError, match=r"\[N, 2, 2\]"):
        load_twin_scores(tmp_path / "s.npy")


def test_scores_pairing_by_name_and_labels(tmp_path):
    a = _write(tmp_path, "a.json", _twins_result("m", 0.5, 0.1))
    b = _write(tmp_path, "b.json", _twins_result("m", 0.5, 0.1))
    np.savez(tmp_path / "b.scores.npz", scores=np.ones((2, 2, 2)))
    runs = runs_from_files([a, b], [tmp_path / "b.scores.npz"])
    assert runs[0].twin_scores is None and runs[1].twin_scores.shape == (2, 2, 2)
    assert runs[0].label != runs[1].label  # same model: disambiguated by file stem
    runs = runs_from_files([a, b], labels=["first", "second"])
    assert [r.label for r in runs] == ["first", "second"]


def test_format_and_markdown_table_escape():
    assert fmt("group", 0.5) == "50.0" and fmt("n", 12.0) == "12" and fmt("equivariance_text_mean", 0.1234) == "0.123"
    assert fmt("group", float("nan")) == "–"
    run = runs_from_files.__globals__["Run"](label="a|b", results=_twins_result("m", 0.5, 0.1))
    md, images = render_markdown(build_eval_report([run]), "imgs")
    assert "a\\|b" in md and all(k.startswith("imgs/") for k in images)


def test_kde_integrates_to_one():
    grid = np.linspace(-5, 5, 2001)
    dens = kde(np.random.default_rng(1).normal(size=200), grid)
    assert abs(np.trapezoid(dens, grid) - 1.0) < 0.02
    gaps = np.abs(np.random.default_rng(2).normal(size=300))
    half = np.linspace(0, 6, 1201)
    reflected = kde(gaps, half, reflect_at_zero=True)
    assert abs(np.trapezoid(reflected, half) - 1.0) < 0.02  # all mass stays on [0, inf)
    assert reflected[0] > kde(gaps, half)[0]


def test_tiny_equivariance_gaps_keep_significant_digits_and_scales_apart_get_panels():
    from eqvl.report import plots

    assert fmt("equivariance_image_mean", 2e-4) == "0.0002" and fmt("equivariance_text_mean", 0.1234) == "0.123"
    rng = np.random.default_rng(0)
    small, large = np.abs(rng.normal(size=200)) * 2e-4, np.abs(rng.normal(size=200)) * 0.05
    assert plots.separate_scales({"a": small, "b": large}) and not plots.separate_scales({"a": large, "b": large * 3})
    from PIL import Image
    import io

    png = plots.distribution_plot({"a": small, "b": large}, title="t")
    assert abs(Image.open(io.BytesIO(png)).size[0] - plots.DISPLAY_PX) <= 1
