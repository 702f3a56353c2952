import json

import pytest

from eqvl.errors import DataError, EqvlError
from eqvl.io import atomic_open, read_json, read_jsonl, write_json_atomic


def test_write_json_refuses_overwrite(tmp_path):
    out = tmp_path / "r.json"
    write_json_atomic(out, {"a": 1}, overwrite=False)
    with pytest.raises(EqvlError, match="`overwrite`"):
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


# ---------------------------------------------------------------- output locks and checks

import os
import socket
import subprocess
import sys

from eqvl.io import LOCK_NAME, OutputLock, OutputLockedError, check_outputs, current_umask

_HOLD = """
import sys, time
from eqvl.io import OutputLock
with OutputLock(sys.argv[1], command="holder"):
    print("locked", flush=True)
    time.sleep(120)
"""


def _holder(target):
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(target)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


@pytest.mark.faults
def test_lock__file_names_pid_host_command_and_is_removed_on_exit(tmp_path):
    with OutputLock(tmp_path / "run", command="eqvl train --output run") as lock:
        info = json.loads((tmp_path / "run" / LOCK_NAME).read_text())
        assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()
        assert info["command"] == "eqvl train --output run" and info["started"]
        assert lock.taken_over == []
    assert not (tmp_path / "run" / LOCK_NAME).exists()
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temp files left


@pytest.mark.faults
def test_lock__second_run_on_locked_folder_gets_one_line_naming_the_holder(tmp_path):
    proc = _holder(tmp_path / "out")
    try:
        with pytest.raises(OutputLockedError) as err:
            with OutputLock(tmp_path / "out"):
                pass
        msg = str(err.value)
        assert "\n" not in msg
        assert f"is locked by pid {proc.pid} since " in msg and "(command holder)" in msg
        assert json.loads((tmp_path / "out" / LOCK_NAME).read_text())["pid"] == proc.pid  # holder's lock untouched
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.faults
def test_lock__killed_run_is_taken_over_with_a_warning(tmp_path, caplog):
    proc = _holder(tmp_path / "out")
    proc.kill()  # SIGKILL: no cleanup ran, the lock file stays behind
    proc.wait()
    assert (tmp_path / "out" / LOCK_NAME).exists()
    with caplog.at_level("WARNING"):
        with OutputLock(tmp_path / "out", command="second") as lock:
            assert json.loads((tmp_path / "out" / LOCK_NAME).read_text())["command"] == "second"
    assert [h["pid"] for h in lock.taken_over] == [proc.pid]
    assert f"stale lock left by pid {proc.pid}" in caplog.text
    assert not (tmp_path / "out" / LOCK_NAME).exists()


@pytest.mark.faults
def test_lock__hand_written_lock_of_a_dead_pid_is_stale(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock_file = tmp_path / "r.npz.lock"
    lock_file.write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(), "started": "x", "command": "c"}))
    with OutputLock([tmp_path / "r.npz"]) as lock:
        assert lock.taken_over[0]["pid"] == int(dead.stdout)


@pytest.mark.faults
def test_lock__released_when_the_block_raises(tmp_path):
    with pytest.raises(RuntimeError):
        with OutputLock([tmp_path / "a.json", tmp_path / "b.npz"]):
            assert (tmp_path / "a.json.lock").exists() and (tmp_path / "b.npz.lock").exists()
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    with OutputLock([tmp_path / "a.json"]):  # free again
        pass


@pytest.mark.faults
def test_lock__file_set_overlapping_a_locked_one_is_refused_and_takes_nothing(tmp_path):
    with OutputLock([tmp_path / "b.npz", tmp_path / "a.json"]):
        with pytest.raises(OutputLockedError, match=r"b\.npz is locked by pid"):
            with OutputLock([tmp_path / "a0.json", tmp_path / "b.npz", tmp_path / "c.json"]):
                pass
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json.lock", "b.npz.lock"]


@pytest.mark.faults
def test_lock__check_outputs_names_every_existing_output_before_writing(tmp_path):
    (tmp_path / "a.json").write_text("1")
    (tmp_path / "b.npz").write_text("2")
    outs = [tmp_path / "a.json", None, tmp_path / "new.txt", tmp_path / "b.npz"]
    with pytest.raises(EqvlError) as err:
        check_outputs(outs, overwrite=False)
    assert "a.json" in str(err.value) and "b.npz" in str(err.value) and "`overwrite`" in str(err.value)
    assert not (tmp_path / "new.txt").exists()
    assert check_outputs(outs, overwrite=True) == [tmp_path / "a.json", tmp_path / "new.txt", tmp_path / "b.npz"]


@pytest.mark.faults
def test_lock__check_outputs_refuses_folders_and_file_parents_even_with_overwrite(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("x")
    with pytest.raises(EqvlError, match="is a folder") as err:
        check_outputs([tmp_path / "d", tmp_path / "f" / "x.json"], overwrite=True)
    assert "is a file, not a folder" in str(err.value)


def test_current_umask_reads_without_changing(tmp_path):
    old = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        assert current_umask() == 0o027
    finally:
        os.umask(old)
