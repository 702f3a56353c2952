"""`torchrun --nproc-per-node 2 -m eqvl index build` (gloo, CPU) equals a 1-process build:
same ids for the same paths, vectors within float tolerance, same search results — including a
duplicate whose two copies land on different ranks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np

from eqvl.index import EmbedOptions, Index

from tests.helpers.train import make_images  # noqa: E402


def test_torchrun_two_process_build_equals_one_process(tmp_path):
    rows = make_images(tmp_path, n=11)
    shutil.copy(tmp_path / rows[1][0], tmp_path / "images" / "copy_of_1.png")  # rank 1's slice repeats rank 0's image
    csv = tmp_path / "photos.csv"
    csv.write_text("filepath\ttitle\tshape\n" + "".join(f"{r}\t{c}\t{s}\n" for r, c, _, s in rows)
                   + "images/copy_of_1.png\tsame bytes\tsquare\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "eqvl", "index", "build", "--model", "eqvl-tiny-rn", "--pretrained", "none", "--images", str(csv),
                           "--out", str(tmp_path / "two"), "--workers", "0", "--no-progress", "--batch-size", "4",
                           "--json"], env=env, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report_two = json.loads(proc.stdout[proc.stdout.index("{"):])
    report_one = Index.build(tmp_path / "one", csv, "eqvl-tiny-rn", "none", options=EmbedOptions(batch_size=4, workers=0,
                                                                                       progress=False))
    # the copy is a row of its own (removable by its path): one process copies the stored vector, two embed it twice
    assert (report_two["count"], report_two["duplicates"]) == (report_one.count, report_one.duplicates) == (12, 1)
    assert report_two["copies"] == report_one.copies == 1 and report_two["added"] == report_one.added == 11
    one, two = Index.open(tmp_path / "one"), Index.open(tmp_path / "two")
    assert len(two.manifest["shards"]) == 2 and len(one.manifest["shards"]) == 2  # each rank's shard; one + copies
    ids = one.meta.live_ids()
    assert list(ids) == list(two.meta.live_ids()) == list(range(12))
    assert one.meta.rows(list(ids)) == two.meta.rows(list(ids))  # same id -> same path, caption, hash, shape
    np.testing.assert_allclose(one.vectors.get(ids), two.vectors.get(ids), atol=2e-3)
    assert one.model == two.model
    q = ["a red square", "a green circle"]
    assert [[h.id for h in hits] for hits in one.search(texts=q, k=12)] == \
           [[h.id for h in hits] for hits in two.search(texts=q, k=12)]


def test_torchrun_bad_image_is_one_line_without_gloo_tracebacks(tmp_path):
    rows = make_images(tmp_path, n=6)
    (tmp_path / "images" / "broken.png").write_bytes(b"not a png")
    csv = tmp_path / "photos.csv"
    csv.write_text("filepath\ttitle\n" + "".join(f"{r}\t{c}\n" for r, c, _, _ in rows) + "images/broken.png\tbad\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "eqvl", "index", "build", "--model", "eqvl-tiny-rn", "--pretrained", "none", "--images",
                           str(csv), "--out", str(tmp_path / "two"), "--workers", "0", "--no-progress"],
                          env=env, capture_output=True, text=True, timeout=280)
    ours = [l for l in proc.stderr.splitlines() if l.startswith("eqvl index: error:")]
    assert proc.returncode != 0 and len(ours) == 1 and "broken.png" in ours[0] and "--skip-bad" in ours[0], proc.stderr
    assert "gloo" not in proc.stderr.lower() and "Connection closed by peer" not in proc.stderr, proc.stderr[-3000:]
