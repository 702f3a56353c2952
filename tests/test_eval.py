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
    assert main(["eval", "--model", "eqvl-tiny-rn", "--pretrained", "none", "--benchmark", "retrieval", "--data", str(tmp_path / "pairs.csv"),
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


# ------------------------------------------------------------------ several runs, locks, provenance, truncation


def make_triplets(root) -> None:
    root.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), "red").save(root / "r.png")
    rows = [{"id": k, "subset": "swap", "image": "r.png", "caption": f"a red cube {k}",
             "positive": f"a cube that is red {k}", "negative": f"a blue cube {k}"} for k in range(3)]
    (root / "triplets.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_several_models_and_benchmarks_with_summary(tmp_path, capsys):
    make_twins(tmp_path)
    make_triplets(tmp_path / "trip")
    args = ["eval", "--model", "eqvl-tiny-rn", "eqvl-tiny-vit", "--pretrained", "none", "--benchmark", "twins", "triplets",
            "--data", str(tmp_path), str(tmp_path / "trip"), "--output", str(tmp_path / "res" / "{benchmark}_{model}.json"),
            "--scores-out", str(tmp_path / "res" / "{benchmark}_{model}.npz"), "--summary", str(tmp_path / "summary.csv"),
            "--no-cache", "--workers", "0", "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    written = sorted(p.name for p in (tmp_path / "res").glob("*.json"))
    assert written == ["triplets_eqvl-tiny-rn.json", "triplets_eqvl-tiny-vit.json", "twins_eqvl-tiny-rn.json", "twins_eqvl-tiny-vit.json"]
    import csv

    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert [(r["model"], r["benchmark"]) for r in rows] == [
        ("eqvl-tiny-rn", "twins"), ("eqvl-tiny-rn", "triplets"), ("eqvl-tiny-vit", "twins"), ("eqvl-tiny-vit", "triplets")]
    for row in rows:
        res = json.loads((tmp_path / "res" / f"{row['benchmark']}_{row['model']}.json").read_text())
        main_metric = "group" if row["benchmark"] == "twins" else "joint_acc"
        assert float(row[main_metric]) == pytest.approx(res["metrics"][main_metric])
        assert int(row["n_items"]) == res["n_items"]
    assert rows[1]["group"] == "" and rows[0]["joint_acc"] == ""  # a metric a benchmark lacks stays blank
    assert "### twins" in out and "### triplets" in out and "| eqvl-tiny-vit | none | 4 |" in out
    # a template that cannot tell the runs apart is refused before any work
    args[args.index("--output") + 1] = str(tmp_path / "one.json")
    assert main(args + ["--overwrite"]) == 2
    assert "would share one file" in capsys.readouterr().err and not (tmp_path / "one.json").exists()
    md = tmp_path / "summary.md"
    assert main(["eval", "--model", "eqvl-tiny-rn", "--pretrained", "none", "--benchmark", "twins", "--data", str(tmp_path),
                 "--output", str(tmp_path / "o.json"), "--summary", str(md), "--no-cache", "--workers", "0", "--no-progress"]) == 0
    assert md.read_text().startswith("### twins\n")


def test_locked_outputs_stop_a_second_run_and_nothing_is_replaced(tmp_path, capsys):
    from eqvl.io import OutputLock

    make_twins(tmp_path)
    outputs = [tmp_path / "out.json", tmp_path / "s.npz"]
    with OutputLock(outputs, command="eqvl eval (the first run)"):  # what a first, still running eval holds
        assert _eval(tmp_path, "--scores-out", str(tmp_path / "s.npz")) == 2
    err = capsys.readouterr().err
    assert "locked by pid" in err and "the first run" in err
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "s.npz").exists()
    assert _eval(tmp_path, "--scores-out", str(tmp_path / "s.npz")) == 0
    assert not list(tmp_path.glob("*.lock"))  # released at the end
    before = (tmp_path / "s.npz").read_bytes()
    assert _eval(tmp_path, "--scores-out", str(tmp_path / "s.npz"), "--output", str(tmp_path / "new.json")) == 2
    assert "s.npz already exists" in capsys.readouterr().err
    assert (tmp_path / "s.npz").read_bytes() == before and not (tmp_path / "new.json").exists()


def test_report_refuses_scores_of_another_run(tmp_path, capsys):
    for name, n in (("a", 4), ("b", 3)):
        (tmp_path / name).mkdir()
        make_twins(tmp_path / name, n=n)
        assert _eval(tmp_path, "--output", str(tmp_path / f"{name}.json"), "--scores-out", str(tmp_path / f"{name}.npz"),
                     data=tmp_path / name) == 0
    with np.load(tmp_path / "a.npz") as z:
        made = json.loads(str(z["provenance"]))
    res = json.loads((tmp_path / "a.json").read_text())
    assert made == res["provenance"] and made["benchmark"] == "twins" and made["n_items"] == 4
    assert made["data"] == str((tmp_path / "a").resolve()) and len(made["data_hash"]) == 32 and made["model_hash"]
    html = str(tmp_path / "rep.html")
    assert main(["report", str(tmp_path / "a.json"), "--scores", str(tmp_path / "b.npz"), "--out", html]) == 2
    err = capsys.readouterr().err
    assert "b.npz" in err and "another run" in err and "a.json" in err
    assert main(["report", str(tmp_path / "a.json"), "--scores", str(tmp_path / "a.npz"), "--out", html]) == 0


def test_overlong_captions_are_counted_and_warned(tmp_path, capsys):
    make_twins(tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "twins.jsonl").read_text().splitlines()]
    long = " ".join(["a red cube on a table"] * 6)  # 36 words: past the tiny models' 32-token context
    rows[0]["caption_0"], rows[0]["caption_1"] = long + " left of a ball", long + " right of a ball"
    (tmp_path / "twins.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert _eval(tmp_path) == 0
    res = json.loads((tmp_path / "out.json").read_text())
    cut = res["truncated_captions"]
    assert cut["n"] == 2 and cut["of"] == 8 and cut["context_length"] == 32
    assert "2 of 8 captions of twins are longer than the model's 32-token context" in capsys.readouterr().err


def test_subset_option_restricts_twins(tmp_path, capsys):
    make_twins(tmp_path)
    assert _eval(tmp_path, "--option", "subset=relation") == 0
    res = json.loads((tmp_path / "out.json").read_text())
    assert res["n_items"] == 2 and list(res["subsets"]) == ["relation"] and res["config"]["options"] == {"subset": "relation"}
    assert _eval(tmp_path, "--option", "subset=colour", "--overwrite") == 2
    assert "no subset colour; valid: count, relation" in capsys.readouterr().err
    assert _eval(tmp_path, "--option", "twins:subset=count", "--overwrite") == 0  # scoped to one benchmark
    assert json.loads((tmp_path / "out.json").read_text())["n_items"] == 2
    assert _eval(tmp_path, "--option", "eqben:subset=AG", "--overwrite") == 2
    assert "eqben is not one of the --benchmark values (twins)" in capsys.readouterr().err


def test_report_sources_show_the_data_path(tmp_path):
    make_twins(tmp_path)
    assert _eval(tmp_path) == 0
    assert main(["report", str(tmp_path / "out.json"), "--out", str(tmp_path / "r.html")]) == 0
    md = (tmp_path / "r.md").read_text()
    assert str(tmp_path.resolve()) in md.split("Sources", 1)[1]
