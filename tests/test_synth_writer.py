"""The synth folder: formats, determinism across workers, resume/overwrite/refuse, readers, CLI."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from eqvl.cli import main
from eqvl.errors import EqvlError
from eqvl.io import write_json_atomic
from eqvl.synth.checker import check
from eqvl.synth.config import SynthConfig
from eqvl.synth.scene import Scene
from eqvl.synth.twins import make_twin
from eqvl.synth.writer import STATE_FILE, generate, item_rng, train_subset


def small(out: Path, **kw) -> SynthConfig:
    opts = dict(out=str(out), twins=3, train=7, size=40, seed=11, progress=False)
    opts.update(kw)
    return SynthConfig(**opts)


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "set"
    generate(small(out))
    return out


def test_layout_and_formats(folder):
    names = files_of(folder)
    assert {"twins.jsonl", "triplets.jsonl", "train.csv", "manifest.json"} <= set(names)
    assert STATE_FILE not in names
    twins = [json.loads(line) for line in (folder / "twins.jsonl").read_text().splitlines()]
    assert len(twins) == 9 and {t["subset"] for t in twins} == {"location", "counting", "attribute"}
    for t in twins:
        assert {"id", "subset", "image_0", "image_1", "caption_0", "caption_1", "scene_0", "scene_1"} <= set(t)
        for k in (0, 1):
            assert (folder / t[f"image_{k}"]).is_file() and t[f"image_{k}"].startswith("images/")
            scene = Scene.from_dict(t[f"scene_{k}"])
            assert check(t[f"caption_{k}"], scene) is True
            assert check(t[f"caption_{1 - k}"], scene) is False
    triplets = [json.loads(line) for line in (folder / "triplets.jsonl").read_text().splitlines()]
    assert len(triplets) == 18
    scenes = {(t["id"], k): Scene.from_dict(t[f"scene_{k}"]) for t in twins for k in (0, 1)}
    for tr in triplets:
        assert {"id", "subset", "image", "caption", "positive", "negative"} <= set(tr)
        scene = scenes[(tr["twin"], int(tr["id"][-1]))]
        assert check(tr["positive"], scene) is True and check(tr["negative"], scene) is False
    with open(folder / "train.csv", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) == 7
    assert list(rows[0]) == ["filepath", "title", "hard_negatives", "hard_positives", "hard_negative_types", "hard_positive_types"]
    for row in rows:
        assert (folder / row["filepath"]).is_file()
        negs, ntypes = json.loads(row["hard_negatives"]), json.loads(row["hard_negative_types"])
        poss, ptypes = json.loads(row["hard_positives"]), json.loads(row["hard_positive_types"])
        assert len(negs) == len(ntypes) > 0 and len(poss) == len(ptypes) > 0
        assert set(ntypes) <= {"relation", "count", "attribute", "twin"}
        assert row["title"] not in negs


def test_manifest_hash_covers_everything(folder):
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["seed"] == 11 and manifest["eqvl_version"]
    assert manifest["counts"]["twins_total"] == 9 and manifest["counts"]["train_rows"] == 7
    assert manifest["counts"]["images"] == 18 + 7
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"):
        lines.append(f"{path.relative_to(folder)}\t{hashlib.sha256(path.read_bytes()).hexdigest()}\n")
    assert hashlib.sha256("".join(sorted(lines)).encode()).hexdigest() == manifest["content_hash"]
    assert "workers" not in manifest["arguments"]


def test_training_scenes_are_disjoint_from_twin_scenes(folder):
    cfg = small(folder)
    twin_scenes = {
        json.dumps(json.loads(line)[f"scene_{k}"], sort_keys=True)
        for line in (folder / "twins.jsonl").read_text().splitlines()
        for k in (0, 1)
    }
    for index in range(4):
        rng = item_rng(cfg.seed, "train", "", index)
        twin = make_twin(rng, train_subset(rng, cfg.mix()), cfg)
        for scene in twin.scenes:
            assert json.dumps(scene.to_dict(), sort_keys=True) not in twin_scenes


def test_byte_identical_whatever_the_workers(folder, tmp_path):
    generate(small(tmp_path / "w2", workers=2))
    assert files_of(tmp_path / "w2") == files_of(folder)


def test_refuse_overwrite_and_resume(folder, tmp_path):
    out = tmp_path / "again"
    generate(small(out))
    with pytest.raises(EqvlError, match="`overwrite`"):
        generate(small(out))
    generate(small(out, overwrite=True))
    assert files_of(out) == files_of(folder)
    # simulate an interrupted run: no manifest, a state file, some images missing or broken
    args = json.loads((out / "manifest.json").read_text())["arguments"]
    (out / "manifest.json").unlink()
    (out / "train.csv").unlink()
    write_json_atomic(out / STATE_FILE, {"arguments": args})
    images = sorted((out / "images").rglob("*.png"))
    images[0].unlink()
    images[1].write_bytes(images[1].read_bytes()[:50])
    intact = images[2].stat().st_mtime_ns
    with pytest.raises(EqvlError, match="different arguments"):
        generate(small(out, resume=True, seed=12))
    generate(small(out, resume=True))
    assert files_of(out) == files_of(folder)
    assert images[2].stat().st_mtime_ns == intact  # valid images are kept, not rendered again


def test_refuse_foreign_folder(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    for flags in ({}, {"overwrite": True}, {"resume": True}):
        with pytest.raises(EqvlError):
            generate(small(out, **flags))
    assert (out / "notes.txt").read_text() == "keep me"


def test_benchmark_readers_read_the_folder(folder):
    from eqvl.benchmarks import get_benchmark

    twins = get_benchmark("twins").load(folder)
    assert len(twins.items) == 9
    item = twins.items[0]
    assert len(item.images) == 2 and len(item.captions) == 2
    assert all(Path(ref.path).is_file() for it in twins.items for ref in it.images)
    assert {it.subset for it in twins.items} == {"location", "counting", "attribute"}
    triplets = get_benchmark("triplets").load(folder)
    assert len(triplets.items) == 18
    assert all(len(it.captions) == 3 and len(it.images) == 1 for it in triplets.items)
    assert all(Path(it.images[0].path).is_file() for it in triplets.items)


def test_cli_writes_refuses_and_draws_a_gallery(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["synth", "--out", str(out), "--twins", "1", "--train", "2", "--size", "32", "--subsets", "counting", "--no-progress"]
    assert main(argv) == 0
    assert "1 twins" in capsys.readouterr().out
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    gallery = tmp_path / "g.png"
    assert main(["synth", "--gallery", str(gallery), "--gallery-per-subset", "1", "--size", "64", "--subsets", "location,counting"]) == 0
    assert gallery.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["synth", "--gallery", str(gallery), "--size", "64"]) == 2  # an existing file needs --overwrite
    assert main(["synth", "--twins", "1"]) == 2


def test_train_mix_and_single_scenes(tmp_path):
    out = tmp_path / "mix"
    manifest = generate(small(out, twins=0, train=12, train_mix={"counting": 1.0}, train_twins=False))
    assert manifest["counts"]["train_subsets"] == {"counting": 12}
    assert manifest["counts"]["images"] == 12 and not (out / "twins.jsonl").exists()
    with open(out / "train.csv", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) == 12 and len({r["filepath"] for r in rows}) == 12
    assert all("count" in json.loads(r["hard_negative_types"]) for r in rows)


def test_twin_line_is_plain_json_dumps():
    from eqvl.synth.work_units import twin_line

    cfg = SynthConfig()
    for subset in cfg.subsets:
        for i in range(5):
            twin = make_twin(item_rng(5, "twins", subset, i), subset, cfg)
            head = {"id": f"{subset}-{i}", "caption_0": twin.captions[0], "change": twin.change}
            want = json.dumps({**head, "scene_0": twin.scenes[0].to_dict(), "scene_1": twin.scenes[1].to_dict()}) + "\n"
            assert twin_line(head, twin.scenes) == want
            # nothing shared by identity (scenes read back from JSON): same text
            copies = [Scene.from_dict(json.loads(json.dumps(s.to_dict()))) for s in twin.scenes]
            assert twin_line(head, copies) == want
