"""The automatic screen: dHash near-duplicate / duplicate-pair dedup and the image-image similarity band."""

import json
import pickle
import shutil

import numpy as np
from PIL import Image

from eqvl.videotwins.ag import read_ag
from eqvl.videotwins.pipeline import BuildConfig, run_build
from eqvl.videotwins.select import ScreenConfig
from eqvl.cli import main
from tests.helpers.videos import write_ag
from tests.helpers.encoders import MeanColourEncoder


def _rows(folder):
    return [json.loads(x) for x in (folder / "twins.jsonl").read_text().splitlines()]


def _mean_colour_cos(folder, row):
    a, b = (np.asarray(Image.open(folder / row[k]), dtype=np.float64).reshape(-1, 3).mean(0) for k in ("image_0", "image_1"))
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_similarity_band_keeps_exactly_the_pairs_inside(tmp_path):
    ann = write_ag(tmp_path)
    plan = read_ag(ann, frames_dir=tmp_path / "frames")
    everything = run_build(plan, BuildConfig(out=str(tmp_path / "all"), progress=False))
    assert everything["counts"]["kept"] == 2
    sims = [_mean_colour_cos(tmp_path / "all", r) for r in _rows(tmp_path / "all")]
    assert abs(sims[0] - sims[1]) > 0.02  # green/yellow vs yellow/cyan frames
    cut = (sims[0] + sims[1]) / 2
    for band, kept in (((cut, 1.0), [s > cut for s in sims]), ((-1.0, cut), [s < cut for s in sims])):
        out = tmp_path / f"band{band[0]:.3f}"
        screen = ScreenConfig(sim_low=band[0], sim_high=band[1], model="mean-colour", pretrained="none")
        manifest = run_build(read_ag(ann, frames_dir=tmp_path / "frames"), BuildConfig(out=str(out), progress=False, screen=screen),
                             encoder=MeanColourEncoder())
        rows = _rows(out)
        assert [r["frame_id_0"] for r in rows] == [r["frame_id_0"] for r, k in zip(_rows(tmp_path / "all"), kept) if k]
        assert all(abs(r["image_similarity"] - _mean_colour_cos(out, r)) < 1e-3 for r in rows)
        dropped = manifest["counts"]["dropped"]
        assert dropped.get("screen_too_different", 0) + dropped.get("screen_too_similar", 0) == 1
        assert manifest["filters"]["screen"] == {"model": "mean-colour", "pretrained": "none", "image_cosine_band": list(band)}


def test_dhash_near_duplicates_and_duplicate_pairs(tmp_path):
    ann = write_ag(tmp_path)
    frames = tmp_path / "frames" / "AG001.mp4"
    objects = pickle.loads((ann / "object_bbox_and_relationship.pkl").read_bytes())
    for key, objs in objects.items():  # a chair with the cup's relations: the same frame pairs, other captions
        if key.startswith("AG001"):
            objs.append({**objs[0], "class": "chair"})
    (ann / "object_bbox_and_relationship.pkl").write_bytes(pickle.dumps(objects))
    args = ["build", "ag", "--annotations", str(ann), "--frames", str(tmp_path / "frames"), "--no-progress"]
    assert main(args + ["--out", str(tmp_path / "a"), "--dedup-bits", "-1"]) == 0
    assert len(_rows(tmp_path / "a")) == 4  # cup and chair, 2 pairs each
    assert main(args + ["--out", str(tmp_path / "b")]) == 0
    rows = _rows(tmp_path / "b")  # duplicate_images looks per video and object (EqBen's AG layout is per subject)
    assert [(r["object"], r["frame_id_0"], r["frame_id_1"]) for r in rows] == \
        [("chair", 10, 30), ("chair", 30, 50), ("cup/glass/bottle", 10, 30), ("cup/glass/bottle", 30, 50)]
    assert main(args + ["--out", str(tmp_path / "b2"), "--duplicate-scope", "build"]) == 0
    rows = _rows(tmp_path / "b2")  # across the build: the cup may not reuse the chair's pictures, so it takes other partners
    assert [(r["object"], r["frame_id_0"], r["frame_id_1"]) for r in rows] == \
        [("chair", 10, 30), ("chair", 30, 50), ("cup/glass/bottle", 10, 50), ("cup/glass/bottle", 30, 40)]
    assert json.loads((tmp_path / "b2" / "manifest.json").read_text())["counts"]["dropped"]["duplicate_images"] == 1
    shutil.copyfile(frames / "000010.png", frames / "000030.png")  # frames 10 and 30 now show the same picture
    assert main(args + ["--out", str(tmp_path / "c")]) == 0
    rows = _rows(tmp_path / "c")  # anchor 10 skips its near-duplicate partner 30 and takes 50; 30 then pairs with 40
    assert [(r["object"], r["frame_id_0"], r["frame_id_1"]) for r in rows] == \
        [("chair", 10, 50), ("chair", 30, 40), ("cup/glass/bottle", 10, 50), ("cup/glass/bottle", 30, 40)]
    dropped = json.loads((tmp_path / "c" / "manifest.json").read_text())["counts"]["dropped"]
    assert dropped["near_duplicate"] == 2 and "duplicate_images" not in dropped


def test_screen_cli_with_tiny_model(tmp_path):
    write_ag(tmp_path)
    out = tmp_path / "out"
    assert main(["build", "ag", "--annotations", str(tmp_path / "annotations"), "--frames", str(tmp_path / "frames"),
                 "--out", str(out), "--screen-model", "eqvl-tiny-rn", "--screen-pretrained", "none", "--sim-band=-1,1", "--no-progress"]) == 0
    rows = _rows(out)
    assert len(rows) == 2 and all(-1.0 <= r["image_similarity"] <= 1.0 for r in rows)
    screen = json.loads((out / "manifest.json").read_text())["filters"]["screen"]
    assert screen == {"model": "eqvl-tiny-rn", "pretrained": "none", "image_cosine_band": [-1.0, 1.0]}
    assert main(["build", "ag", "--annotations", str(tmp_path / "annotations"), "--frames", str(tmp_path / "frames"),
                 "--out", str(tmp_path / "o2"), "--sim-band", "0.9,0.1", "--no-progress"]) == 2
