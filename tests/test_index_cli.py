"""`eqvl index ...` end to end with the shipped tiny models: CLI round trip, re-ranking with a real
second model, and every bad input of the issue as a one-line error."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from eqvl.cli import main
from eqvl.index import Index

from tests.helpers.index import index_error as one_line_error
from tests.helpers.index import run_index as run
from tests.helpers.train import make_images  # noqa: E402

TINY = ["--model", "eqvl-tiny-rn", "--pretrained", "none"]
FAST = ["--workers", "0", "--no-progress"]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    rows = make_images(root, n=12)
    csv = root / "photos.csv"
    csv.write_text("filepath\ttitle\tcolour\n" + "".join(f"{r}\t{c}\t{col}\n" for r, c, col, _ in rows))
    return root, csv, rows


@pytest.fixture(scope="module")
def built(shapes, tmp_path_factory):
    root, csv, _ = shapes
    out = tmp_path_factory.mktemp("built") / "idx"
    assert main(["index", "build", *TINY, "--images", str(csv), "--out", str(out), *FAST]) == 0
    return out


def test_cli_build_search_info_round_trip(shapes, built, capsys):
    root, _, rows = shapes
    code, out, _ = run(capsys, "search", built, "--text", "a red square", "-k", "5", "--json")
    assert code == 0
    result = json.loads(out)
    assert len(result["hits"]) == 5 and all(h["stage"] == "exact" for h in result["hits"])
    py = Index.open(built).search(texts=["a red square"], k=5)[0]
    assert [h["id"] for h in result["hits"]] == [h.id for h in py]
    code, out, _ = run(capsys, "search", built, "--text", "a red square", "-k", "3", "--where", "colour=blue", "--json")
    hits = json.loads(out)["hits"]
    assert len(hits) == 3 and all(h["meta"]["colour"] == "blue" for h in hits)
    code, out, _ = run(capsys, "search", built, "--image", root / rows[4][0], "-k", "3", "--json")
    by_image = json.loads(out)["hits"]
    assert [h["id"] for h in by_image] == [h.id for h in Index.open(built).search(images=[root / rows[4][0]], k=3)[0]]
    assert by_image[0]["score"] > 0.99  # (a random-init model maps all images close together; the image itself is there)
    code, out, _ = run(capsys, "info", built, "--json")
    info = json.loads(out)
    assert (info["count"], info["dim"], info["index"]["kind"], info["recall_at_10_vs_exact"]) == (12, 64, "flat", 1.0)
    assert info["columns"] == ["path", "caption", "hash", "colour"]
    code, out, _ = run(capsys, "info", built)
    assert "eqvl-tiny-rn (pretrained none, weights" in out and "recall@10 vs exact" in out


def test_cli_folder_and_jsonl_inputs_and_remove(shapes, tmp_path, capsys):
    root, _, rows = shapes
    assert run(capsys, "build", *TINY, "--images", root / "images", "--out", tmp_path / "a", *FAST)[0] == 0
    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text("".join(json.dumps({"image": str(root / r), "caption": c, "shape": s}) + "\n" for r, c, _, s in rows[:4]))
    code, out, _ = run(capsys, "add", tmp_path / "a", "--images", jsonl, *FAST, "--json")
    assert code == 0 and json.loads(out)["already_indexed"] == 4 and json.loads(out)["added"] == 0
    (tmp_path / "gone.txt").write_text(f"{root / rows[0][0]}\n\n{root / rows[1][0]}\n")
    code, out, _ = run(capsys, "remove", tmp_path / "a", "--paths", tmp_path / "gone.txt")
    assert code == 0 and Index.open(tmp_path / "a").count == 10


def test_rerank_with_a_second_real_model_equals_its_brute_force(shapes, built):
    from eqvl.data.images import load_image
    from eqvl.data.records import ImageRef
    from eqvl.models import load_encoder

    idx = Index.open(built)
    model_b = load_encoder("eqvl-tiny-vit", "none", seed=5)
    first = idx.search(texts=["a green circle"], k=8)[0]
    hits = idx.search(texts=["a green circle"], k=4, rerank_model=model_b, rerank_k=8)[0]
    with torch.no_grad():
        img = model_b.encode_images(torch.stack([model_b.preprocess(load_image(ImageRef(h.path))) for h in first]))
        txt = model_b.encode_texts(["a green circle"])
    scores = (img.double() @ txt.double()[0]).numpy()
    ids = np.array([h.id for h in first])
    order = np.lexsort((ids, -scores))[:4]
    assert [h.id for h in hits] == list(ids[order])
    np.testing.assert_allclose([h.score for h in hits], scores[order], atol=1e-5)
    assert {h.stage for h in hits} == {"rerank:eqvl-tiny-vit"}


def test_bad_images_are_named_or_skipped_and_listed(shapes, tmp_path, capsys):
    root, _, rows = shapes
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG not really")
    csv = tmp_path / "bad.csv"
    csv.write_text("filepath\ttitle\n" + f"{root / rows[0][0]}\tok\n" + "missing.png\tgone\n" + "corrupt.png\tbroken\n")
    msg = one_line_error(capsys, "build", *TINY, "--images", csv, "--out", tmp_path / "x", *FAST)
    assert f"{tmp_path / 'missing.png'}: image file not found" in msg and f"{csv}:3" in msg
    assert not (tmp_path / "x" / "CURRENT").exists()
    only_corrupt = tmp_path / "corrupt.csv"
    only_corrupt.write_text("filepath\ttitle\n" + f"{root / rows[0][0]}\tok\n" + "corrupt.png\tbroken\n")
    msg = one_line_error(capsys, "build", *TINY, "--images", only_corrupt, "--out", tmp_path / "y", *FAST)
    assert "corrupt.png: unreadable image" in msg and f"{only_corrupt}:3" in msg and "--skip-bad" in msg
    code, out, _ = run(capsys, "build", *TINY, "--images", csv, "--out", tmp_path / "z", *FAST, "--skip-bad", "--json")
    report = json.loads(out)
    assert code == 0 and report["count"] == 1 and len(report["bad"]) == 2
    manifest = json.loads((Index.open(tmp_path / "z").generation / "manifest.json").read_text())
    assert sorted(os.path.basename(s["path"]) for s in manifest["skipped"]) == ["corrupt.png", "missing.png"]


def test_bad_listings_and_targets(shapes, built, tmp_path, capsys):
    root, csv, rows = shapes
    dup = tmp_path / "dup.csv"
    dup.write_text(f"filepath\ttitle\n{root / rows[0][0]}\ta\n{root / rows[1][0]}\tb\n{root / rows[0][0]}\tc\n")
    assert "duplicate image path" in one_line_error(capsys, "build", *TINY, "--images", dup, "--out", tmp_path / "d")
    empty = tmp_path / "empty.csv"
    empty.write_text("filepath\ttitle\n")
    assert "no images listed (empty input)" in one_line_error(capsys, "build", *TINY, "--images", empty, "--out", tmp_path / "e")
    (tmp_path / "blank.csv").write_text("")
    assert "empty file" in one_line_error(capsys, "build", *TINY, "--images", tmp_path / "blank.csv", "--out", tmp_path / "e")
    assert "is not an eqvl index" in one_line_error(capsys, "search", tmp_path, "--text", "x")
    assert "is not an eqvl index" in one_line_error(capsys, "add", root, "--images", csv)
    assert "already an index; pass --overwrite" in one_line_error(capsys, "build", *TINY, "--images", csv, "--out", built)
    assert "--index 'IVF9,Nope'" in one_line_error(capsys, "build", *TINY, "--images", csv, "--out", tmp_path / "f",
                                                  "--index", "IVF9,Nope")


def test_bad_queries(shapes, built, tmp_path, capsys):
    assert "query text is empty" in one_line_error(capsys, "search", built, "--text", "  ")
    assert "argument -k: must be an integer >= 1, got '0'" in one_line_error(capsys, "search", built, "--text", "x", "-k", "0")
    assert "over the limit" in one_line_error(capsys, "search", built, "--text", "x", "-k", "100000")
    (tmp_path / "q.jpg").write_bytes(b"nope")
    assert "query image: " in one_line_error(capsys, "search", built, "--image", tmp_path / "q.jpg")
    msg = one_line_error(capsys, "search", built, "--text", "x", "--where", "color=red")
    assert "unknown column 'color'; columns: path, caption, hash, colour" in msg
    msg = one_line_error(capsys, "search", built, "--text", "x", "--model", "eqvl-tiny-vit", "--pretrained", "none")
    assert "built with eqvl-tiny-rn (pretrained none" in msg and "query model is eqvl-tiny-vit" in msg


def test_writer_lock_names_the_holder_and_ignores_a_dead_one(shapes, built, tmp_path, capsys):
    _, csv, _ = shapes
    idx = tmp_path / "locked"
    shutil.copytree(built, idx)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom eqvl.index.store import writer_lock\n"
                               "with writer_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(120)\n", str(idx)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        msg = one_line_error(capsys, "add", idx, "--images", csv, *FAST)
        assert f"index {idx} is locked by pid {holder.pid}" in msg
    finally:
        holder.kill()
        holder.wait()
    dead = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom eqvl.index.store import writer_lock\n"
                             "with writer_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(120)\n", str(idx)],
                            stdout=subprocess.PIPE, text=True)
    assert dead.stdout.readline().strip() == "held"
    dead.kill()  # SIGKILL: its lock file stays behind, naming a dead pid
    dead.wait()
    assert str(dead.pid) in (idx / ".eqvl.lock").read_text()
    code, out, _ = run(capsys, "add", idx, "--images", csv, *FAST, "--json")
    assert code == 0 and json.loads(out)["already_indexed"] == 12
