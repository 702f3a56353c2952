"""`eqvl index` writes and their refusals (issue 23, defects 4, 5, 9, 10): the index's own model is
accepted whatever the query precision and another is refused naming every differing field; new
metadata for known content is applied and each path of one content is its own removable row; corrupt
files and impossible index types are one-line errors, refused before embedding, leaving nothing behind;
filtered approximate queries name the stage they really ran; filter columns are indexed in SQLite."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from eqvl.errors import EqvlError
from eqvl.index import EmbedOptions, Index
from eqvl.index.metadata import MetaStore

from tests.helpers.index import TableEncoder, index_images, table_index, unit  # noqa: E402

OPTS = EmbedOptions(batch_size=256, workers=0, progress=False)


class PrecisionTable(TableEncoder):
    """A TableEncoder whose identity records a precision, as open_clip's does."""

    def __init__(self, table, queries, precision: str, name: str = "table"):
        super().__init__(table, queries, name)
        self._id = json.dumps({**json.loads(self._id), "precision": precision, "preprocess": "pixel(0,0)"})


def test_the_index_model_is_accepted_at_any_precision_and_another_is_refused_by_field(tmp_path):
    table = unit(np.random.default_rng(0).normal(size=(20, 8)))
    amp = PrecisionTable(table, table, "amp")
    Index.build(tmp_path / "idx", index_images(tmp_path, 20), "table", encoder=amp, precision="amp", options=OPTS)
    idx = Index.open(tmp_path / "idx", encoder=PrecisionTable(table, table, "fp32"))  # same model, other precision
    assert idx.search(texts=["q3"], k=1)[0][0].id == 3
    other = PrecisionTable(table[::-1].copy(), table, "fp32", name="other")
    with pytest.raises(EqvlError) as err:
        Index.open(tmp_path / "idx", encoder=other)
    msg = str(err.value)
    assert "\n" not in msg and "they differ in name: index table, query other; weights: index " in msg
    assert "precision" not in msg.split("they differ in")[1] and "preprocess" not in msg.split("they differ in")[1]


def test_known_content_new_metadata_is_applied_and_every_path_is_its_own_row(tmp_path):
    root, enc = table_index(tmp_path, 12)
    csv = tmp_path / "again.csv"
    csv.write_text("filepath\ttitle\ttag\n" + "".join(f"img/{i:06d}.png\tnew caption {i}\tt{i % 2}\n" for i in range(6)))
    with Index.open(root, encoder=enc) as idx:
        report = idx.add(csv, options=OPTS)
        assert (report.added, report.updated, report.copies, report.count) == (0, 6, 0, 12)
        hits = idx.search(texts=["q4"], k=3, where=["tag=t0"])[0]
        assert hits[0].id == 4 and hits[0].caption == "new caption 4" and hits[0].meta["tag"] == "t0"
        assert idx.meta.rows([7])[7]["tag"] is None  # rows not listed keep their (absent) value
        shutil.copy(tmp_path / "img" / "000003.png", tmp_path / "img" / "copy_a.png")
        shutil.copy(tmp_path / "img" / "000003.png", tmp_path / "img" / "copy_b.png")
        (tmp_path / "copies.csv").write_text("filepath\ttitle\nimg/copy_a.png\tA\nimg/copy_b.png\tB\n")
        report = idx.add(tmp_path / "copies.csv", options=OPTS)
        assert (report.added, report.copies, report.count) == (0, 2, 14)
        same = idx.search(texts=["q3"], k=3)[0]
        assert sorted(h.path.rsplit("/", 1)[1] for h in same) == ["000003.png", "copy_a.png", "copy_b.png"]
        assert len({round(h.score, 9) for h in same}) == 1  # one content, one vector (copied, not re-embedded)
        idx.remove([str(tmp_path / "img" / "copy_a.png")])
        idx.remove([str(tmp_path / "img" / "000003.png")])
        left = idx.search(texts=["q3"], k=1)[0][0]
        assert left.path.endswith("copy_b.png") and left.caption == "B" and idx.count == 12
        kept = idx.add(csv, options=OPTS, update=False)
        assert kept.updated == 0


def test_corrupt_files_are_one_line_errors(tmp_path):
    root, _ = table_index(tmp_path, 10)
    gen = Index.open(root).generation
    saved = (gen / "deleted.npy").read_bytes()
    np.save(gen / "deleted.npy", np.array([{"x": 1}], dtype=object))
    with pytest.raises(EqvlError, match=r"deleted.npy: not a readable id list .*corrupt index") as err:
        Index.open(root)
    assert "\n" not in str(err.value)
    (gen / "deleted.npy").write_bytes(saved)
    (gen / "meta.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(EqvlError, match=r"meta.sqlite: not a readable eqvl metadata file .*corrupt index") as err:
        Index.open(root)
    assert "\n" not in str(err.value)


class CountingTable(TableEncoder):
    calls = 0

    def encode_images(self, pixels):
        CountingTable.calls += 1
        return super().encode_images(pixels)


def test_untrainable_index_is_refused_before_embedding_and_leaves_nothing(tmp_path):
    table = unit(np.random.default_rng(1).normal(size=(300, 8)))
    enc = CountingTable(table, table)
    csv = index_images(tmp_path, 300)
    for factory in ("IVF4096,Flat", "IVF8,PQ4x10"):
        with pytest.raises(EqvlError, match=r"needs? at least .* to train") as err:
            Index.build(tmp_path / "idx", csv, "table", index=factory, encoder=enc, options=OPTS)
        assert "\n" not in str(err.value)
    assert CountingTable.calls == 0 and not (tmp_path / "idx").exists()


def test_skip_bad_with_every_image_bad_says_so_and_leaves_nothing(tmp_path):
    (tmp_path / "img").mkdir()
    for i in range(3):
        (tmp_path / "img" / f"bad{i}.png").write_bytes(b"not a png")
    csv = tmp_path / "bad.csv"
    csv.write_text("filepath\ttitle\n" + "".join(f"img/bad{i}.png\tx\n" for i in range(3)))
    enc = TableEncoder(np.eye(4), np.eye(4))
    with pytest.raises(EqvlError, match=r"nothing to index: all 3 listed image\(s\) were skipped as unreadable, "
                                        r"e\.g\. .*bad.csv:2: .*bad0.png"):
        Index.build(tmp_path / "idx", csv, "table", encoder=enc,
                    options=EmbedOptions(batch_size=4, workers=0, progress=False, skip_bad=True))
    assert not (tmp_path / "idx").exists()


def test_filtered_approximate_queries_name_the_exact_stage(tmp_path):
    root, enc = table_index(tmp_path, 120, kind="hnsw")
    csv = tmp_path / "tags.csv"
    csv.write_text("filepath\ttitle\tpart\n" + "".join(f"img/{i:06d}.png\timage {i}\tp{i % 4}\n" for i in range(120)))
    with Index.open(root, encoder=enc) as idx:
        idx.add(csv, options=OPTS)
        assert {h.stage for h in idx.search(texts=["q1"], k=5)[0]} == {"hnsw+exact-rescore"}
        assert {h.stage for h in idx.search(texts=["q1"], k=5, where=["part=p1"])[0]} == {"exact"}
        meta = MetaStore.open_readonly(idx.generation / "meta.sqlite")
        plan = " ".join(str(r) for r in meta.conn.execute("EXPLAIN QUERY PLAN SELECT id FROM items WHERE part IN (?)",
                                                          ("p1",)).fetchall())
        meta.close()
    assert "items_col_part" in plan, plan
