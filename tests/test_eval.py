"""`eqvl eval` / `eqvl benchmarks` end to end through eqvl.cli.main on a tiny random-init model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from eqvl import __version__
from eqvl.cli import main


def make_twins(root, n: int = 4) -> None:
    rows = []
    for i in range(n):
        for k, color in enumerate(("red", "blue")):
            img = Image.new("RGB", (48, 40), color)
            img.paste((40 * i, 255 - 40 * i, 90), (4 * i, 4, 20, 30))
            img.save(root / f"t{i}_{k}.png")
        rows.append({"id": f"t{i}", "subset": "relation" if i % 2 else "count",
                     "image_0": f"t{i}_0.png", "image_1": f"t{i}_1.png",
                     "caption_0": f"a red cube left of ball {i}", "caption_1": f"a blue ball left of cube {i}"})
    (root / "twins.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def _eval(tmp_path, *extra, data=None):
    args = ["eval", "--model", "eqvl-tiny-vit", "--pretrained", "none", "--benchmark", "twins",
            "--data", str(data or tmp_path), "--output", str(tmp_path / "out.json"),
            "--cache-dir", str(tmp_path / "cache"), "--workers", "0", "--batch-size", "3", "--no-progress", *extra]
    return main(args)


def test_eval_end_to_end(tmp_path, capsys):
    make_twins(tmp_path)
    assert _eval(tmp_path, "--scores-out", str(tmp_path / "scores.npz")) == 0
    out = capsys.readouterr().out
    assert "overall" in out and "relation" in out and "count" in out
    res = json.loads((tmp_path / "out.json").read_text())
    assert (res["dataset"], res["model"], res["pretrained"], res["task"]) == ("twins", "eqvl-tiny-vit", "none", "compositionality")
    assert res["eqvl_version"] == __version__
    for key in ("text", "image", "group"):
        assert 0.0 <= res["metrics"][key] <= 1.0
    assert "equivariance_text_mean" in res["metrics"]
    assert res["subsets"]["count"]["n"] == 2 and res["subsets"]["relation"]["n"] == 2
    assert res["config"]["seed"] == 0 and res["config"]["batch_size"] == 3 and res["config"]["device"] == "cpu"
    assert res["encoding"]["images"] == {"unique": 8, "cached": 0, "encoded": 8, "failed": 0}
    with np.load(tmp_path / "scores.npz") as z:
        assert list(z["ids"]) == ["t0", "t1", "t2", "t3"]
        assert list(z["subsets"]) == ["count", "relation", "count", "relation"]
        s = z["scores"]
        assert s.shape == (4, 2, 2)
        eq_text = np.abs((s[:, 0, 0] - s[:, 1, 0]) - (s[:, 1, 1] - s[:, 0, 1]))
        np.testing.assert_allclose(z["equivariance_text"], eq_text)
        text_ok = (s[:, 0, 0] > s[:, 1, 0]) & (s[:, 1, 1] > s[:, 0, 1])
        assert res["metrics"]["text"] == pytest.approx(text_ok.mean())

    # a second run (new output name) is served entirely from the cache, same numbers
    (tmp_path / "first.json").write_text((tmp_path / "out.json").read_text())
    assert _eval(tmp_path, "--overwrite") == 0
    again = json.loads((tmp_path / "out.json").read_text())
    assert again["encoding"]["images"]["encoded"] == 0 and again["encoding"]["texts"]["encoded"] == 0
    assert again["metrics"] == res["metrics"]


def test_existing_output_needs_overwrite_before_any_work(tmp_path, capsys, monkeypatch):
    make_twins(tmp_path)
    (tmp_path / "out.json").write_text("{}")

    def boom(*a, **k):
        raise AssertionError("model was built before the output check")

    monkeypatch.setattr("eqvl.models.load_encoder", boom)
    assert _eval(tmp_path) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "out.json").read_text() == "{}"
    (tmp_path / "s.npz").write_bytes(b"keep")
    (tmp_path / "out.json").unlink()
    assert _eval(tmp_path, "--scores-out", str(tmp_path / "s.npz")) == 2
    assert not (tmp_path / "out.json").exists() and (tmp_path / "s.npz").read_bytes() == b"keep"


def test_unknown_model_and_benchmark(tmp_path, capsys):
    make_twins(tmp_path)
    assert main(["eval", "--model", "eqvl-tiny-vit", "--benchmark", "nope", "--data", str(tmp_path),
                 "--output", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert "unknown benchmark 'nope'" in err and "twins" in err
    assert main(["eval", "--model", "not-a-model", "--benchmark", "twins", "--data", str(tmp_path),
                 "--output", str(tmp_path / "o.json"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'not-a-model'" in err and "eqvl-tiny-rn" in err
    assert not (tmp_path / "o.json").exists()


def test_missing_image_fails_then_skip_bad_reports(tmp_path, capsys):
    make_twins(tmp_path)
    (tmp_path / "t2_1.png").unlink()
    assert _eval(tmp_path) == 2
    err = capsys.readouterr().err
    assert "record 't2'" in err and "t2_1.png" in err
    assert not (tmp_path / "out.json").exists()
    assert _eval(tmp_path, "--skip-bad") == 0
    res = json.loads((tmp_path / "out.json").read_text())
    assert res["skipped"]["n"] == 1 and res["skipped"]["examples"][0]["id"] == "t2"
    assert res["n_items"] == 3 and res["subsets"]["count"]["n"] == 1
    assert "skipped 1 record" in capsys.readouterr().out


def test_bad_flags(tmp_path, capsys):
    make_twins(tmp_path)
    assert _eval(tmp_path, "--option", "nokey") == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert _eval(tmp_path, "--option", "foo=1") == 2
    assert "unknown option" in capsys.readouterr().err
    assert _eval(tmp_path, "--export-official-scores", str(tmp_path / "x.npy")) == 2
    assert "no official score layout" in capsys.readouterr().err
    assert _eval(tmp_path, data=tmp_path / "missing") == 2
    assert "missing" in capsys.readouterr().err
    assert _eval(tmp_path, "--no-cache", "--batch-size", "0") == 2
    assert "--batch-size" in capsys.readouterr().err


def test_benchmarks_lists_layouts(capsys):
    from eqvl.benchmarks import list_benchmarks

    assert main(["benchmarks"]) == 0
    out = capsys.readouterr().out
    for name, cls in list_benchmarks().items():
        assert name in out
        assert cls.layout.strip().splitlines()[0].strip() in out
    assert "twins.jsonl" in out


def test_retrieval_full_matrix_end_to_end(tmp_path):
    from eqvl.benchmarks import list_benchmarks

    if "retrieval" not in list_benchmarks():
        pytest.skip("retrieval reader not registered")
    lines = ["filepath\ttitle"]
    for color in ("red", "blue", "green"):
        Image.new("RGB", (30, 30), color).save(tmp_path / f"{color}.png")
        lines += [f"{color}.png\ta {color} square", f"{color}.png\ta square that is {color}"]
    (tmp_path / "pairs.csv").write_text("\n".join(lines) + "\n")
    assert main(["eval", "--model", "eqvl-tiny-rn", "--benchmark", "retrieval", "--data", str(tmp_path / "pairs.csv"),
                 "--output", str(tmp_path / "r.json"), "--no-cache", "--no-progress", "--workers", "0"]) == 0
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["encoding"]["images"]["encoded"] == 3 and res["encoding"]["texts"]["encoded"] == 6
    assert all(0.0 <= v <= 1.0 for v in res["metrics"].values())
    assert res["metrics"]["text_retrieval_recall@5"] == 1.0  # only 3 images: every query's match is in the top 5


def test_export_official_scores_writes_npy(tmp_path, capsys):
    from eqvl.benchmarks import get_benchmark, list_benchmarks, register_benchmark
    from eqvl.benchmarks.twins import TwinsBenchmark

    if "_test_twins_official_export" not in list_benchmarks():

        @register_benchmark("_test_twins_official_export")
        class _Export(TwinsBenchmark):
            """Twins plus an 'official' layout: the four scores of each twin, flattened in reverse item order."""

            def export_official_scores(self, data, scores):
                return np.concatenate([s.reshape(-1) for s in reversed(scores)]).astype(np.float32)

    assert get_benchmark("_test_twins_official_export")
    make_twins(tmp_path)
    assert _eval(tmp_path, "--benchmark", "_test_twins_official_export", "--scores-out", str(tmp_path / "s.npz"),
                 "--export-official-scores", str(tmp_path / "official.npy")) == 0
    official = np.load(tmp_path / "official.npy")
    with np.load(tmp_path / "s.npz") as z:
        np.testing.assert_allclose(official, z["scores"][::-1].reshape(-1), rtol=1e-6)
    assert _eval(tmp_path, "--benchmark", "_test_twins_official_export", "--overwrite", "--output",
                 str(tmp_path / "o2.json"), "--export-official-scores", str(tmp_path / "o2.json")) == 2
    assert "must be different files" in capsys.readouterr().err
