"""The encoding layer: the embedding cache heals and never fails a run, writes off the critical
path, and torchrun shards split bulk encoding; encoder abilities are declared protocols."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from tests.helpers.encoders import FakeEncoder, FakePairScorer, make_twins

from eqvl.data.records import ImageRef
from eqvl.encode import EmbeddingCache, EncodeConfig, encode_image_shard, encode_images, shard_range, wait_for_writes
from eqvl.evaluation import evaluate
from eqvl.models.base import Encoder, OnDevice, PairScorer, RowScorer, is_pair_scorer


def _shards(cache_root):
    wait_for_writes()  # shards are written in the background; look only once they are down
    return sorted(cache_root.glob("*/*.npz"))


@pytest.mark.faults
def test_cache__unreadable_shards_warn_are_removed_and_reencoded(tmp_path, caplog):
    make_twins(tmp_path, n=6)
    cache = tmp_path / "cache"
    first = evaluate(FakeEncoder(), "twins", tmp_path, cache_dir=cache, progress=False)
    image_shard = next(p for p in _shards(cache) if p.name.startswith("image-"))
    text_shard = next(p for p in _shards(cache) if p.name.startswith("text-"))
    image_shard.write_bytes(b"")  # zero bytes: numpy raises EOFError
    text_shard.write_bytes(b"PK\x03\x04 not really a zip")
    enc = FakeEncoder()
    with caplog.at_level(logging.WARNING, logger="eqvl.encode.cache"):
        second = evaluate(enc, "twins", tmp_path, cache_dir=cache, progress=False)
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert image_shard.name in warned and text_shard.name in warned and "encoded again" in warned
    assert enc.image_rows == 5 and enc.text_rows == 5  # everything the bad shards held, once
    assert not image_shard.exists() and not text_shard.exists()
    np.testing.assert_array_equal(np.stack(first.scores), np.stack(second.scores))
    third = FakeEncoder()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="eqvl.encode.cache"):
        evaluate(third, "twins", tmp_path, cache_dir=cache, progress=False)
    assert third.image_rows == 0 and third.text_rows == 0 and not caplog.records  # healed


@pytest.mark.faults
def test_cache__failed_write_is_a_warning_not_a_failure(tmp_path, caplog, monkeypatch):
    make_twins(tmp_path, n=6)
    reference = evaluate(FakeEncoder(), "twins", tmp_path, progress=False)

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("eqvl.encode.cache.np.savez", full_disk)
    cache = tmp_path / "cache"
    with caplog.at_level(logging.WARNING, logger="eqvl.encode.cache"):
        res = evaluate(FakeEncoder(), "twins", tmp_path, cache_dir=cache, progress=False)
        wait_for_writes()  # the writer thread logs the warning
    assert "No space left on device" in caplog.text and "goes on without caching" in caplog.text
    np.testing.assert_array_equal(np.stack(res.scores), np.stack(reference.scores))
    assert res.results["metrics"] == reference.results["metrics"]
    assert _shards(cache) == [] and list(cache.glob("*/.*.tmp")) == []  # _shards waited for the writer  # nothing half-written left


@pytest.mark.faults
def test_cache__unusable_folder_is_a_warning(tmp_path, caplog):
    make_twins(tmp_path, n=3)
    (tmp_path / "cache").write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING, logger="eqvl.encode.cache"):
        res = evaluate(FakeEncoder(), "twins", tmp_path, cache_dir=tmp_path / "cache", progress=False)
    assert "without caching" in caplog.text and res.results["config"]["cache"] is None


@pytest.mark.faults
def test_cache__killed_writers_temporaries_are_cleaned_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    cache = EmbeddingCache(tmp_path, "some-encoder")
    stale = cache.dir / f".image-0123.npz.{dead_pid}.tmp"
    live = cache.dir / f".image-4567.npz.{os.getpid()}.tmp"
    stale.write_bytes(b"\0" * 1000)
    live.write_bytes(b"\0" * 1000)
    EmbeddingCache(tmp_path, "some-encoder")  # the next run
    assert not stale.exists() and live.exists()


def test_cache_is_written_by_the_background_thread(tmp_path, monkeypatch):
    import eqvl.encode.cache as cache_mod

    threads = []
    real = cache_mod.write_shard

    def spy(*args):
        threads.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(cache_mod, "write_shard", spy)
    monkeypatch.setattr(cache_mod, "SHARD_ROWS", 2)  # several shards while encoding goes on
    make_twins(tmp_path, n=6)
    evaluate(FakeEncoder(), "twins", tmp_path, batch_size=2, cache_dir=tmp_path / "cache", progress=False)
    assert set(threads) <= {"eqvl-cache-writer"}  # written off the critical path, maybe still writing now
    again = FakeEncoder()
    evaluate(again, "twins", tmp_path, cache_dir=tmp_path / "cache", progress=False)
    assert again.image_rows == 0 and again.text_rows == 0  # a reader waits for this process's pending shards
    assert len(threads) >= 4 and set(threads) == {"eqvl-cache-writer"}
    assert len(_shards(tmp_path / "cache")) == len(threads)


def test_shards_split_work_without_gaps(tmp_path, monkeypatch):
    for n, world in ((10, 3), (2, 4), (0, 2), (7, 1)):
        parts = [shard_range(n, r, world) for r in range(world)]
        assert [i for p in parts for i in p] == list(range(n))
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
    with pytest.raises(ValueError):
        shard_range(5, 2, 2)
    make_twins(tmp_path, n=5)
    refs = [ImageRef(str(tmp_path / f"c{k}.png")) for k in range(5)]
    full = encode_images(FakeEncoder(), refs, EncodeConfig(progress=False))
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    enc = FakeEncoder()
    shard = encode_image_shard(enc, refs, EncodeConfig(progress=False))
    assert shard.rows == range(3, 5) and enc.image_rows == 2
    np.testing.assert_array_equal(shard.encoded.emb, full.emb[3:5])


def test_abilities_are_declared_protocols():
    from eqvl.models import load_encoder

    fake, itm = FakeEncoder(), FakePairScorer()
    assert isinstance(fake, Encoder) and not isinstance(fake, RowScorer) and not isinstance(fake, OnDevice)
    assert isinstance(itm, PairScorer) and is_pair_scorer(itm) and not is_pair_scorer(fake)
    real = load_encoder("eqvl-tiny-rn", "none")
    assert isinstance(real, Encoder) and isinstance(real, RowScorer) and isinstance(real, OnDevice)
    assert not is_pair_scorer(real)
