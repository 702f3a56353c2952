"""`eqvl index` at scale: --embeddings input equals encoding the same images; budget choice and
recall tuning measured against exact search (or a plain "cannot"); on-disk lists give the same
top-k as the in-memory index of the same factory; growth advice; rebuild keeps ids and results."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from eqvl.cli import main
from eqvl.data.records import ImageRef
from eqvl.encode import EncodeConfig, encode_images
from eqvl.errors import EqvlError
from eqvl.index import EmbedOptions, Index, SourceFormat, ann, budget, read_items
from eqvl.index import search as search_mod
from eqvl.index.core import model_info
from eqvl.index.embeddings_input import build_index, read_embedding_input
from eqvl.index.rebuild import growth_advice, rebuild
from eqvl.index.tuning import IndexPlan, given_queries

from tests.helpers.index import TableEncoder, clustered, index_images, shape_images, unit  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_faiss_thread")

OPTS = dict(batch_size=256, workers=0, progress=False)
TINY = ["--model", "eqvl-tiny-rn", "--pretrained", "none"]


def cli(*argv) -> int:
    return main(["index", *map(str, argv)])


def _build(root, csv, enc, kind="flat"):
    return Index.build(root, csv, "table", index=kind, encoder=enc, options=EmbedOptions(**OPTS))


def _from_vectors(root, enc, n, kind):
    """An index over enc's first n table rows through --embeddings (no images: fast at 20k rows);
    paths img/<i>.png as index_images names them, so a later add of images continues the ids."""
    root.mkdir(parents=True, exist_ok=True)
    np.save(root / "emb.npy", enc.table.numpy()[:n])
    (root / "meta.csv").write_text("filepath\ttitle\n" + "".join(f"img/{i:06d}.png\timage {i}\n" for i in range(n)))
    inp = read_embedding_input(root / "emb.npy", root / "meta.csv", SourceFormat())
    return build_index(root / "idx", inp, enc, model_info(enc, "table", "none", "fp32", 0), kind, probe_text="q0")


def _results(idx, n_queries, k=10):
    return [[(h.id, round(h.score, 9), h.path.split("/img/")[-1], h.caption) for h in hits]
            for hits in idx.search(texts=[f"q{j}" for j in range(n_queries)], k=k)]


def _clip_layout(root, emb, items, parts=2):
    """clip-retrieval's inference output: img_emb/img_emb_<n>.npy + metadata/metadata_<n>.parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (root / "img_emb").mkdir(parents=True)
    (root / "metadata").mkdir()
    bounds = np.linspace(0, len(items), parts + 1).astype(int)
    for n, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        np.save(root / "img_emb" / f"img_emb_{n}.npy", emb[lo:hi].astype(np.float16))
        table = {"image_path": [it.path for it in items[lo:hi]], "caption": [it.caption for it in items[lo:hi]],
                 **{c: [it.extra[c] for it in items[lo:hi]] for c in items[0].extra}}
        pq.write_table(pa.table(table), root / "metadata" / f"metadata_{n}.parquet")
    return root


def test_embeddings_input_equals_encoding_the_same_images(tmp_path):
    rng = np.random.default_rng(3)
    enc = TableEncoder(rng.normal(size=(120, 16)), rng.normal(size=(6, 16)))
    csv = index_images(tmp_path, 120, extra={"subset": [("a", "b")[i % 2] for i in range(120)]})
    _build(tmp_path / "from_images", csv, enc)
    items = read_items(csv)
    emb = encode_images(enc, [ImageRef(it.path) for it in items], EncodeConfig(progress=False)).emb
    layout = _clip_layout(tmp_path / "clip_out", emb, items)
    report = build_index(tmp_path / "from_emb", read_embedding_input(layout), enc,
                         model_info(enc, "table", "none", "fp32", 0), probe_text="q0")
    assert report.count == report.added == 120
    a, b = Index.open(tmp_path / "from_images", encoder=enc), Index.open(tmp_path / "from_emb", encoder=enc)
    assert _results(a, 6) == _results(b, 6)
    assert a.meta.rows(list(range(120))) == b.meta.rows(list(range(120)))  # paths, captions, content hashes, columns
    assert b.search(texts=["q0"], k=5, where={"subset": "b"})[0] == a.search(texts=["q0"], k=5, where={"subset": "b"})[0]
    with pytest.raises(EqvlError, match="embeddings of different models"):  # the model identity is checked
        Index.open(tmp_path / "from_emb", encoder=TableEncoder(rng.normal(size=(120, 16)), rng.normal(size=(6, 16))))


def test_cli_embeddings_with_a_real_model_equal_its_image_build(tmp_path, capsys):
    rows = shape_images(tmp_path, 24)
    csv = tmp_path / "list.csv"
    csv.write_text("filepath\ttitle\n" + "".join(f"{r}\t{c}\n" for r, c, _, _ in rows))
    assert cli("build", *TINY, "--images", csv, "--out", tmp_path / "a", "--workers", "0", "--no-progress") == 0
    idx = Index.open(tmp_path / "a")
    items = read_items(csv)
    emb = encode_images(idx.encoder, [ImageRef(it.path) for it in items], EncodeConfig(progress=False)).emb
    np.save(tmp_path / "emb.npy", emb)
    (tmp_path / "meta.csv").write_text("filepath,title\n" + "".join(f"{r},{c}\n" for r, c, _, _ in rows))
    capsys.readouterr()
    assert cli("build", *TINY, "--embeddings", tmp_path / "emb.npy", "--metadata", tmp_path / "meta.csv",
                 "--csv-separator", ",", "--out", tmp_path / "b", "--json") == 0
    assert json.loads(capsys.readouterr().out)["count"] == 24
    b = Index.open(tmp_path / "b")
    for text in ("a red square", "a blue circle"):
        ha, hb = idx.search(texts=[text], k=8)[0], b.search(texts=[text], k=8)[0]
        assert [(h.id, h.path) for h in ha] == [(h.id, h.path) for h in hb]
        np.testing.assert_allclose([h.score for h in ha], [h.score for h in hb], atol=2e-3)  # float16 twice


def test_embeddings_input_errors_name_the_file(tmp_path, capsys):
    np.save(tmp_path / "emb.npy", np.ones((3, 8), np.float32))
    (tmp_path / "meta.csv").write_text("filepath,title\na.png,x\nb.png,y\n")
    assert cli("build", *TINY, "--embeddings", tmp_path / "emb.npy", "--metadata", tmp_path / "meta.csv",
                 "--csv-separator", ",", "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert "2 metadata rows for 3 embeddings" in err and len(err.strip().splitlines()) == 1
    assert cli("build", *TINY, "--out", tmp_path / "o") == 2
    assert "either --images" in capsys.readouterr().err
    assert cli("build", *TINY, "--images", tmp_path / "meta.csv", "--memory", "1GB", "--index", "flat",
                 "--out", tmp_path / "o") == 2
    assert "--memory picks the index" in capsys.readouterr().err


def _cone(n, dim, seed=0):
    """CLIP-like geometry: vectors in a narrow cone around one direction, clustered, and 'text' queries
    displaced from them by a shared gap vector (the modality gap)."""
    rng = np.random.default_rng(seed)
    mean = unit(rng.normal(size=dim))
    x, centres = clustered(n, dim, 50, seed=seed, spread=0.6)
    gap = unit(rng.normal(size=dim))
    images = unit(2.0 * mean + x)
    texts = unit(2.0 * mean + centres[rng.integers(0, 50, 600)] + 0.5 * rng.normal(size=(600, dim)) / np.sqrt(dim) * 3
                 + 0.8 * gap)
    return images, texts


def test_budget_picks_a_fitting_index_and_tuning_reaches_the_target(tmp_path, capsys):
    images, texts = _cone(20_000, 32)
    assert budget.parse_memory("2GB") == 2 * 1024**3 and budget.parse_memory("1.5M") == int(1.5 * 1024**2)
    with pytest.raises(EqvlError, match="too small"):
        budget.choose(20_000, 32, 1000)
    sq8 = f"IVF{ann.ivf_lists(20_000, 2.0)},SQ8"
    memory = budget.estimate_bytes(sq8, 20_000, 32) + 1000  # Flat (2.7 MB) does not fit, IVF-SQ8 does
    enc = TableEncoder(images, texts)
    plan = IndexPlan(memory=memory, target_recall=0.95, queries=given_queries(texts[:200], "text"))
    _from_vectors(tmp_path, enc, 20_000, plan)
    idx = Index.open(tmp_path / "idx", encoder=enc)
    spec = idx.manifest["index"]
    assert spec["factory"] == sq8 and spec["chosen_by"] == "budget"
    assert ann.memory_bytes(idx.faiss) <= memory  # the estimate holds
    t = spec["tuning"]
    assert t["reached"] and t["recall"] >= 0.95 and spec["params"]["nprobe"] < ann.ivf_lists(20_000, 2.0)
    smaller = [r for r in t["tried"] if r["nprobe"] < spec["params"]["nprobe"] and r["rescore"] == spec["params"]["rescore"]]
    assert all(r["recall"] < 0.95 for r in smaller)  # the smallest nprobe that reaches the target
    held_out = [f"q{j}" for j in range(200, 600)]  # texts the tuner never saw, measured against exact here
    found = [[(h.id, h.score) for h in hits] for hits in idx.search(texts=held_out, k=10)]
    truth = search_mod.exact_topk(idx.vectors, texts[200:600], idx.meta.live_ids(), 10)
    assert search_mod.recall_at(found, truth, 10) >= 0.93
    assert cli("info", tmp_path / "idx", "--recall-queries", "0") == 0
    out = capsys.readouterr().out
    assert "chosen by" in out and "budget at 20,000" in out and f"{t['recall']:.3f} vs target 0.95: reached" in out


def test_tuning_says_when_it_cannot_reach_the_target(tmp_path, monkeypatch, caplog):
    import eqvl.index.tuning as tuning

    images, texts = _cone(3000, 32, seed=1)
    monkeypatch.setattr(tuning, "RESCORE_MAX", 40)
    enc = TableEncoder(images, texts)
    plan = IndexPlan(kind="IVF8,PQ1x4", target_recall=1.0, queries=given_queries(texts[:100], "text"))
    with caplog.at_level(logging.WARNING, logger="eqvl.index.tuning"):
        _from_vectors(tmp_path, enc, 3000, plan)
    t = Index.open(tmp_path / "idx", encoder=enc).manifest["index"]["tuning"]
    assert not t["reached"] and t["recall"] < 1.0
    assert "cannot reach recall@10 1.000" in caplog.text


def test_on_disk_lists_give_the_in_memory_top_k(tmp_path):
    x, _ = clustered(4000, 16, 20, seed=5)
    rng = np.random.default_rng(6)
    enc = TableEncoder(x, rng.normal(size=(20, 16)))
    _from_vectors(tmp_path / "mem", enc, 4000, "IVF32,PQ4x4")
    _from_vectors(tmp_path / "disk", enc, 4000, IndexPlan(kind="IVF32,PQ4x4", on_disk=True))
    mem, disk = (Index.open(tmp_path / name / "idx", encoder=enc) for name in ("mem", "disk"))
    assert (disk.generation / "lists.ivfdata").stat().st_size > 4000 * 8
    assert ann.memory_bytes(disk.faiss) < ann.memory_bytes(mem.faiss) / 2  # the lists are not in RAM
    for params in ({"nprobe": 4, "rescore": 40}, {"nprobe": 32, "rescore": 40}):
        qs = rng.normal(size=(20, 16)).astype(np.float32)
        spec_m, spec_d = (ann.IndexSpec(i.spec.kind, i.spec.factory, params) for i in (mem, disk))
        a = search_mod.search(mem.faiss, spec_m, mem.vectors, unit(qs), 10, mem.count, mem.deleted)
        b = search_mod.search(disk.faiss, spec_d, disk.vectors, unit(qs), 10, disk.count, disk.deleted)
        assert a == b
    assert _results(mem, 20) == _results(disk, 20)
    extra = index_images(tmp_path, 50, start=4000)  # images 4000.. are rows the encoder does not have yet
    enc2 = TableEncoder(np.concatenate([x, rng.normal(size=(50, 16))]), enc.queries.numpy())
    enc2._id = enc._id
    for name in ("mem", "disk"):
        Index.open(tmp_path / name / "idx", encoder=enc2).add(extra, options=EmbedOptions(**OPTS))
    mem, disk = (Index.open(tmp_path / name / "idx", encoder=enc) for name in ("mem", "disk"))
    assert (disk.generation / "lists.ivfdata").is_file() and disk.count == 4050  # still on disk after add
    assert _results(mem, 20) == _results(disk, 20)
    import faiss

    mapped = Index.open(tmp_path / "mem" / "idx", encoder=enc, mmap=True)  # FAISS maps these lists as on-disk ones
    for idx in (disk, mapped):  # memory-mapped lists: no 32 prefetch threads per search call (14x slower queries)
        lists = faiss.downcast_InvertedLists(faiss.try_extract_index_ivf(idx.faiss).invlists)
        assert isinstance(lists, faiss.OnDiskInvertedLists) and lists.prefetch_nthread == 0


def test_growth_advice_and_rebuild_keep_ids_and_results(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(7)
    table, queries = rng.normal(size=(900, 16)), rng.normal(size=(8, 16))
    enc = TableEncoder(table, queries)
    monkeypatch.setattr(ann, "FLAT_MAX", 150)
    _build(tmp_path / "idx", index_images(tmp_path, 100), enc, kind="auto")
    idx = Index.open(tmp_path / "idx", encoder=enc)
    assert idx.manifest["index"]["chosen_by"] == "size rule" and growth_advice(idx.manifest) == []
    idx.add(index_images(tmp_path, 800, start=100), options=EmbedOptions(**OPTS))
    advice = growth_advice(idx.manifest)
    assert any("past the size rule's tier for flat" in a and "would build ivf" in a for a in advice), advice
    assert cli("info", tmp_path / "idx", "--recall-queries", "0") == 0
    assert "note" in (out := capsys.readouterr().out) and "past the size rule's tier" in out
    before = _results(idx, 8, k=900)  # every id, exact: the whole ranking must survive
    idx.remove([idx.image_path(3)])
    before = [[r for r in hits if r[0] != 3] for hits in before]
    report = rebuild(tmp_path / "idx", "flat")
    after = Index.open(tmp_path / "idx", encoder=enc)
    assert report.count == 899 and after.manifest["deleted"] == 0 and after.generation != idx.generation
    assert _results(after, 8, k=900) == before
    rebuild(tmp_path / "idx")  # the size rule at today's count: an IVF over the same ids
    ivf = Index.open(tmp_path / "idx", encoder=enc)
    assert ivf.spec.kind == "ivf" and ivf.spec.facts["trained_on"] == 899 and growth_advice(ivf.manifest) == []
    assert sorted(ivf.meta.live_ids().tolist()) == [i for i in range(900) if i != 3]
    assert ivf.faiss.ntotal == 899
