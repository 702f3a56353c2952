"""`eqvl index` commands with the shipped tiny models (issue 23, defects 4, 9, 10): search with the
index's own model at another precision, refusals as one line (another model, a reranker's weights
without its model, a non-loopback bind without a key, a taken port, a busy index before the model
loads), `--wait`, `| head -1` without BrokenPipeError, and `info`'s stored vs live rows."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from eqvl.cli import main
from eqvl.index import Index
from eqvl.index.store import writer_lock

from tests.helpers.index import index_error as one_line_error
from tests.helpers.index import run_index as run
from tests.helpers.train import make_images  # noqa: E402

VIT = ["--model", "eqvl-tiny-vit", "--pretrained", "none"]
FAST = ["--workers", "0", "--no-progress"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmds")
    rows = make_images(root, n=12)
    csv = root / "photos.csv"
    csv.write_text("filepath\ttitle\n" + "".join(f"{r}\t{c}\n" for r, c, _, _ in rows))
    assert main(["index", "build", *VIT, "--images", str(csv), "--out", str(root / "idx"), *FAST]) == 0  # precision amp
    return root, csv, rows


def test_search_accepts_the_index_model_and_refuses_another_by_field(built, capsys):
    root, _, _ = built
    code, out, _ = run(capsys, "search", root / "idx", "--text", "a red square", *VIT)
    assert code == 0 and "rank" in out
    code, out, _ = run(capsys, "search", root / "idx", "--text", "a red square", *VIT, "--precision", "fp32")
    assert code == 0
    msg = one_line_error(capsys, "search", root / "idx", "--text", "red", "--model", "eqvl-tiny-rn", "--pretrained", "none")
    assert "they differ in name: index eqvl-tiny-vit, query eqvl-tiny-rn;" in msg and "weights: index" in msg


def test_one_line_refusals(built, capsys):
    root, _, _ = built
    msg = one_line_error(capsys, "search", root / "idx", "--text", "x", "--rerank-pretrained", "none")
    assert "--rerank-pretrained needs --rerank-model" in msg
    assert "--api-key" in one_line_error(capsys, "serve", root / "idx", "--host", "0.0.0.0")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert f"cannot listen on 127.0.0.1:{port}" in one_line_error(capsys, "serve", root / "idx", "--port", port)


def test_a_busy_index_is_refused_before_the_model_loads_and_wait_waits(built, capsys, monkeypatch, tmp_path):
    root, csv, _ = built
    import eqvl.models

    def no_model(*a, **k):
        raise AssertionError("the model was loaded before the lock was checked")

    with writer_lock(root / "idx"):
        monkeypatch.setattr(eqvl.models, "load_encoder", no_model)
        msg = one_line_error(capsys, "add", root / "idx", "--images", csv, *FAST)
        assert "is locked by pid" in msg and "--wait" in msg
        monkeypatch.undo()
    holder = threading.Thread(target=lambda: _hold(root / "idx", 1.5))
    holder.start()
    time.sleep(0.3)
    started = time.perf_counter()
    code, _, err = run(capsys, "add", root / "idx", "--images", csv, *FAST, "--wait", "60")
    holder.join()
    assert code == 0, err
    assert time.perf_counter() - started >= 1.0


def _hold(path, seconds: float) -> None:
    with writer_lock(path):
        time.sleep(seconds)


def test_search_into_head_has_no_broken_pipe(built):
    root, _, _ = built
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = (f"{sys.executable} -m eqvl index search {root / 'idx'} --text 'a red square' -k 12 --json | head -c 10; "
           "echo; echo rc=${PIPESTATUS[0]}")
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env, timeout=240)
    assert "BrokenPipe" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout.strip().endswith("rc=0")


def test_info_shows_stored_and_live_rows_and_no_purge_keeps_vectors(built, tmp_path, capsys):
    root, _, rows = built
    import shutil

    shutil.copytree(root / "idx", tmp_path / "idx")
    (tmp_path / "gone.txt").write_text(f"{root / rows[0][0]}\n")
    assert run(capsys, "remove", tmp_path / "idx", "--paths", tmp_path / "gone.txt", "--no-purge")[0] == 0
    code, out, _ = run(capsys, "info", tmp_path / "idx", "--recall-queries", "0")
    assert code == 0 and "rows: live / stored vectors / in FAISS  11 / 12 / 12" in out
    (tmp_path / "gone.txt").write_text(f"{root / rows[1][0]}\n")
    assert run(capsys, "remove", tmp_path / "idx", "--paths", tmp_path / "gone.txt")[0] == 0  # purges both
    with Index.open(tmp_path / "idx") as idx:
        assert idx.info(recall_queries=0)["rows"] == {"live": 10, "stored_vectors": 10, "faiss_vectors": 10}


def test_corrupt_index_files_are_one_line_cli_errors(built, tmp_path, capsys):
    import shutil

    import numpy as np

    root, _, _ = built
    shutil.copytree(root / "idx", tmp_path / "idx")
    gen = Index.open(tmp_path / "idx").generation
    np.save(gen / "deleted.npy", np.array([None], dtype=object))
    assert "deleted.npy: not a readable id list" in one_line_error(capsys, "search", tmp_path / "idx", "--text", "x")
    np.save(gen / "deleted.npy", np.zeros(0, np.int64))
    (gen / "meta.sqlite").write_bytes(b"\x00garbage" * 64)
    for action in (["search", tmp_path / "idx", "--text", "x"], ["info", tmp_path / "idx"]):
        assert "meta.sqlite: not a readable eqvl metadata file" in one_line_error(capsys, *action)


def test_serve_takes_the_key_from_the_environment_and_warns_on_a_remote_bind(built, capsys, monkeypatch):
    import eqvl.index.server

    root, _, _ = built
    seen = {}
    monkeypatch.setattr(eqvl.index.server, "serve", lambda idx, **kw: seen.update(kw))
    monkeypatch.setenv("EQVL_INDEX_API_KEY", "from-env")
    code, _, err = run(capsys, "serve", root / "idx", "--host", "0.0.0.0", "--allow-host", "search.example.org")
    assert code == 0 and "every request needs the API key" in err
    policy = seen["policy"]
    assert policy.api_key == "from-env" and policy.allowed_hosts == {"localhost", "search.example.org"}
    monkeypatch.delenv("EQVL_INDEX_API_KEY")
    code, _, err = run(capsys, "serve", root / "idx", "--host", "0.0.0.0", "--allow-remote")
    assert code == 0 and "WARNING: listening on 0.0.0.0 WITHOUT an API key" in err and seen["policy"].api_key is None
