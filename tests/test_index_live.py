"""A served index follows the writers (issue 23, defects 1-3): `serve` answers from the newest committed
generation at the next request, removed ids vanish from results and /thumb at once, a request in
flight finishes on its generation, readers never fail while a writer commits, and `remove` leaves
no removed vector or metadata row anywhere under the index folder."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from eqvl.index import EmbedOptions, Index
from eqvl.index.live import LiveIndex
from eqvl.index.server import Limits, create_app

from tests.helpers.index import Uvicorn, index_images, table_index, unit  # noqa: E402

OPTS = EmbedOptions(batch_size=256, workers=0, progress=False)


def _img(root: Path, i: int) -> str:
    return str(root / "img" / f"{i:06d}.png")


def test_serve_sees_add_and_remove_at_the_next_request(tmp_path):
    root, enc = table_index(tmp_path, 60, extra_rows=20)
    app = create_app(Index.open(root, encoder=enc), Limits(max_k=20))
    writer = Index.open(root, encoder=enc)
    with Uvicorn(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        health = client.get("/health").json()
        assert (health["count"], health["generation"]) == (60, "gen-000001")
        assert client.get("/search", params={"text": "q5", "k": 1}).json()["hits"][0]["id"] == 5
        assert client.get("/thumb/5").status_code == 200 and client.get("/thumb/70").status_code == 404
        writer.add(index_images(tmp_path, 20, start=60), options=OPTS)  # ids 60..79
        health = client.get("/health").json()
        assert (health["count"], health["generation"]) == (80, "gen-000002")
        hit = client.get("/search", params={"text": "q70", "k": 1}).json()
        assert hit["hits"][0]["id"] == 70 and hit["generation"] == "gen-000002"
        assert client.get("/thumb/70").status_code == 200
        writer.remove([_img(tmp_path, 5), _img(tmp_path, 70), _img(tmp_path, 71)])
        after = client.get("/search", params={"text": "q5", "k": 20}).json()
        assert after["generation"] == "gen-000003" and not {5, 70, 71} & {h["id"] for h in after["hits"]}
        for gone in (5, 70, 71):
            assert client.get(f"/thumb/{gone}").status_code == 404
        assert client.get("/health").json()["count"] == 77
    writer.close()


def test_request_in_flight_finishes_on_its_generation(tmp_path):
    root, enc = table_index(tmp_path, 30)
    live = LiveIndex(Index.open(root, encoder=enc))
    writer = Index.open(root, encoder=enc)
    with live.use() as old:
        writer.remove([_img(tmp_path, 3)])
        with live.use() as new:
            assert (old.generation.name, new.generation.name) == ("gen-000001", "gen-000002")
            assert 3 in [h.id for h in old.search(texts=["q3"], k=1)[0]]  # the old request still sees its state
            assert 3 not in [h.id for h in new.search(texts=["q3"], k=5)[0]]
        assert old.generation.is_dir()  # leased by the request in flight: not deleted under it
    assert not (root / "gen-000001").exists()  # its last request ended: released and removed
    live.close()
    writer.close()


def test_readers_never_fail_while_a_writer_commits(tmp_path):
    """Bounded stress: 12 remove+add cycles beside 3 threads opening and searching in a loop."""
    root, enc = table_index(tmp_path, 40)
    cycles, stop = 12, threading.Event()
    opens, failures = [0], []

    def reader() -> None:
        while not stop.is_set():
            try:
                with Index.open(root, encoder=enc) as idx:
                    assert len(idx.search(texts=["q1"], k=3)[0]) == 3
                opens[0] += 1
            except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                failures.append(repr(exc))

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        with Index.open(root, encoder=enc) as writer:
            for cycle in range(cycles):
                writer.remove([_img(tmp_path, 30 + cycle % 10)])
                writer.add(index_images(tmp_path, 1, start=30 + cycle % 10), options=OPTS)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert failures == [] and opens[0] >= 10, (opens[0], failures[:3])
    gens = sorted(p.name for p in root.glob("gen-*"))
    assert gens == [f"gen-{2 * cycles + 1:06d}"]  # every replaced generation was removed in the end


def _scan(root: Path, needles: dict[str, bytes]) -> set[str]:
    """Which needles occur in any file under root."""
    found = set()
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found |= {name for name, needle in needles.items() if needle in data}
    return found


@pytest.mark.parametrize("kind", ["flat", "hnsw", "IVF2,Flat"])
def test_remove_purges_vectors_and_rows_from_every_file(tmp_path, kind):
    root, enc = table_index(tmp_path, 40, kind=kind)
    table = enc.table.numpy()
    gone = list(range(0, 40, 3))  # 14 ids
    needles = {}
    for i in gone:
        needles[f"f16-{i}"] = table[i].astype(np.float16).tobytes()
        needles[f"f32-{i}"] = table[i].astype(np.float32).tobytes()
        needles[f"path-{i}"] = _img(tmp_path, i).encode()
    before = _scan(root, needles)
    assert {f"f16-{i}" for i in gone} <= before and {f"path-{i}" for i in gone} <= before  # the scan can see them
    with Index.open(root, encoder=enc) as idx:
        report = idx.remove([_img(tmp_path, i) for i in gone])
        assert report.removed == 14 and idx.count == 26 and idx.faiss.ntotal == 26
        assert idx.info(recall_queries=0)["rows"] == {"live": 26, "stored_vectors": 26, "faiss_vectors": 26}
        with pytest.raises(Exception, match="no stored vector"):
            idx.vectors.get(np.array([0]))
        keep = [i for i in range(40) if i not in gone]
        assert [h.id for h in idx.search(texts=["q1"], k=26)[0]] == sorted(
            keep, key=lambda i: (-float(table[i].astype(np.float16).astype(np.float64) @ table[1]), i))
    assert _scan(root, needles) == set()


def test_a_leased_generation_keeps_its_vectors_until_its_reader_closes(tmp_path):
    root, enc = table_index(tmp_path, 20)
    reader = Index.open(root, encoder=enc)
    old_shards = set(reader.manifest["shards"])
    with Index.open(root, encoder=enc) as writer:
        writer.remove([_img(tmp_path, 4)])
    assert all((root / "vectors" / f"vec-{s}.npy").exists() for s in old_shards)  # the reader may still read them
    assert reader.search(texts=["q4"], k=1)[0][0].id == 4
    reader.close()
    assert not any((root / "vectors" / f"vec-{s}.npy").exists() for s in old_shards)
    assert sorted(p.name for p in root.glob("gen-*")) == ["gen-000002"]


READER = """
import sys, time
sys.path.insert(0, sys.argv[2])
import numpy as np
from eqvl.index import Index
from tests.helpers.index import TableEncoder
table = np.load(sys.argv[3])
enc = TableEncoder(table, table)
Index.open(sys.argv[1], encoder=enc).close()
print("ready", flush=True)
opens = failed = 0
first = ""
deadline = time.time() + 120
while time.time() < deadline and not __import__("os").path.exists(sys.argv[4]):
    try:
        with Index.open(sys.argv[1], encoder=enc) as idx:
            assert len(idx.search(texts=["q1"], k=3)[0]) == 3
        opens += 1
    except Exception as exc:
        failed += 1
        first = first or repr(exc)[:200]
print(opens, failed, first, flush=True)
"""


def test_reader_processes_never_fail_while_a_writer_commits(tmp_path):
    """The same, with readers in 2 other processes (the kernel's flocks between processes)."""
    import subprocess
    import sys

    root, enc = table_index(tmp_path, 40)
    np.save(tmp_path / "table.npy", unit(np.random.default_rng(0).normal(size=(40, 16))))  # table_index's table
    done = tmp_path / "done"
    repo_root = str(Path(__file__).resolve().parents[1])  # the child imports tests.helpers.index
    readers = [subprocess.Popen([sys.executable, "-c", READER, str(root), repo_root, str(tmp_path / "table.npy"), str(done)],
                                stdout=subprocess.PIPE, text=True, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
               for _ in range(2)]
    try:
        for r in readers:  # wait until each reader has imported everything and opened the index once
            assert r.stdout.readline().strip() == "ready"
        with Index.open(root, encoder=enc) as writer:
            for cycle in range(10):
                writer.remove([_img(tmp_path, 30 + cycle)])
                writer.add(index_images(tmp_path, 1, start=30 + cycle), options=OPTS)
    finally:
        done.touch()
        outs = [r.communicate(timeout=120)[0].split(" ", 2) for r in readers]
    for opens, failed, first in outs:
        assert int(failed) == 0 and int(opens) > 0, (opens, failed, first)
