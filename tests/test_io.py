import json

import pytest

from eqvl.errors import DataError, EqvlError
from eqvl.io import atomic_open, read_json, read_jsonl, write_json_atomic


def test_write_json_refuses_overwrite(tmp_path):
    out = tmp_path / "r.json"
    write_json_atomic(out, {"a": 1}, overwrite=False)
    with pytest.raises(EqvlError, match="--overwrite"):
        write_json_atomic(out, {"a": 2}, overwrite=False)
    assert json.loads(out.read_text()) == {"a": 1}
    write_json_atomic(out, {"a": 3}, overwrite=True)
    assert json.loads(out.read_text()) == {"a": 3}


def test_atomic_open_keeps_old_file_on_failure(tmp_path):
    out = tmp_path / "keep.txt"
    out.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(out) as handle:
            handle.write("new")
            raise RuntimeError("boom")
    assert out.read_text() == "old"
    assert list(tmp_path.iterdir()) == [out]


def test_malformed_json_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{\n "a": 1,\n "b": }\n')
    with pytest.raises(DataError, match=r"bad.json:3"):
        read_json(bad)


def test_malformed_jsonl_names_line(tmp_path):
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"a": 1}\n\n{"a": \n')
    with pytest.raises(DataError, match=r"x.jsonl:3"):
        list(read_jsonl(bad))


def test_atomic_files_get_umask_mode(tmp_path):
    import os

    out = tmp_path / "mode.json"
    old = os.umask(0o022)
    try:
        write_json_atomic(out, {})
    finally:
        os.umask(old)
    assert (out.stat().st_mode & 0o777) == 0o644


def test_read_jsonl_collects_every_bad_line_when_asked(tmp_path):
    f = tmp_path / "mixed.jsonl"
    f.write_text('{"a": 1}\n[1, 2]\n{"a": \n\n{"a": 4}\n')
    bad: list = []
    rows = list(read_jsonl(f, bad=bad))
    assert [line for line, _ in rows] == [1, 5]
    assert [line for line, _ in bad] == [2, 3]
    assert "JSON object" in bad[0][1] and "malformed JSON" in bad[1][1]
