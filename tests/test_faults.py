"""Fault injection: one or more cases per failure class of issue 12, each asserting the clear
one-line error or the correct recovery, and that no output was lost or mixed.

Test names are `test_<class>__<case>`; `scripts/fault_matrix.py` prints the matrix
(class | cases tried | handled | how) from a `pytest -m faults` run of these names.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eqvl.cli import main
from eqvl.data.images import decode_rgb, load_image
from eqvl.data.records import ImageRef
from eqvl.errors import DataError, EqvlError

from tests.helpers.cli import cli_error

pytestmark = pytest.mark.faults

RNG = np.random.default_rng(12)


def _decoded(path: Path) -> np.ndarray:
    image = load_image(ImageRef(str(path)))
    assert image.mode == "RGB"
    return np.asarray(image)


# ---------------------------------------------------------------- 12.5 image decoding

@pytest.mark.parametrize("dtype,fmt", [("<u2", "png"), ("<u2", "tiff"), (">u2", "tiff")])
def test_image_decode__sixteen_bit_grey_keeps_high_byte(tmp_path, dtype, fmt):
    grey = RNG.integers(0, 65536, size=(7, 9), dtype=np.uint32).astype(np.uint16)
    grey[0, :3] = [0, 255, 65535]
    path = tmp_path / f"g16.{fmt}"
    Image.fromarray(grey.astype(dtype)).save(path)
    expected = np.repeat((grey // 256).astype(np.uint8)[:, :, None], 3, axis=2)
    assert np.array_equal(_decoded(path), expected)
    assert _decoded(path).std() > 0  # not the all-white picture Pillow's convert("RGB") gives


def test_image_decode__int32_mode_I_as_sixteen_bit_and_out_of_range_refused(tmp_path):
    grey = RNG.integers(0, 65536, size=(5, 6)).astype(np.int32)
    ok = tmp_path / "i32.tiff"
    Image.fromarray(grey).save(ok)
    assert Image.open(ok).mode == "I"
    assert np.array_equal(_decoded(ok), np.repeat((grey >> 8).astype(np.uint8)[:, :, None], 3, axis=2))
    bad = tmp_path / "neg.tiff"
    Image.fromarray(grey - 70000).save(bad)
    with pytest.raises(DataError, match=r"neg\.tiff: 32-bit integer image"):
        load_image(ImageRef(str(bad)))


def test_image_decode__float_image_refused_with_file_named(tmp_path):
    path = tmp_path / "f.tiff"
    Image.fromarray(RNG.random((4, 4)).astype(np.float32)).save(path)
    with pytest.raises(DataError, match=r"f\.tiff: floating-point image"):
        load_image(ImageRef(str(path)))


def test_image_decode__palette_with_transparency_uses_palette_colours(tmp_path):
    palette = RNG.integers(0, 256, size=(16, 3), dtype=np.uint8)
    index = RNG.integers(0, 16, size=(6, 8), dtype=np.uint8)
    image = Image.fromarray(index, mode="L").convert("P")
    image = Image.frombytes("P", (8, 6), index.tobytes())
    image.putpalette(palette.flatten().tolist())
    path = tmp_path / "p.png"
    image.save(path, transparency=bytes([0, 128] + [255] * 14))
    reopened = Image.open(path)
    assert reopened.mode == "P" and "transparency" in reopened.info
    assert np.array_equal(_decoded(path), palette[index])


def test_image_decode__cmyk_by_the_textbook_formula(tmp_path):
    cmyk = RNG.integers(0, 256, size=(5, 7, 4), dtype=np.uint8)
    path = tmp_path / "c.tiff"
    Image.fromarray(cmyk, mode="CMYK").save(path)
    c, k = cmyk[:, :, :3].astype(np.float64), cmyk[:, :, 3:].astype(np.float64)
    expected = np.round((255 - c) * (255 - k) / 255).astype(np.uint8)
    assert np.array_equal(_decoded(path), expected)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_image_decode__alpha_dropped_like_open_clip(tmp_path, mode):
    channels = 4 if mode == "RGBA" else 2
    pixels = RNG.integers(0, 256, size=(6, 5, channels), dtype=np.uint8)
    pixels[0, 0, -1] = 0  # a fully transparent pixel keeps its stored colour
    path = tmp_path / f"{mode}.png"
    Image.fromarray(pixels, mode=mode).save(path)
    colour = pixels[:, :, :3] if mode == "RGBA" else np.repeat(pixels[:, :, :1], 3, axis=2)
    assert np.array_equal(_decoded(path), colour)


# EXIF orientation -> what the stored pixels need to be shown upright (EXIF 2.3, tag 0x0112)
_UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: a.transpose(1, 0, 2)[:, ::-1],
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
    8: lambda a: a.transpose(1, 0, 2)[::-1, :],
}


@pytest.mark.parametrize("orientation", sorted(_UPRIGHT))
def test_image_decode__exif_orientation_applied(tmp_path, orientation):
    pixels = RNG.integers(0, 256, size=(4, 7, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.png"
    image.save(path, exif=exif)
    assert np.array_equal(_decoded(path), _UPRIGHT[orientation](pixels))


def test_image_decode__train_uses_the_same_decoder(tmp_path):
    from eqvl.train import dataset

    grey = RNG.integers(256, 65536, size=(4, 4), dtype=np.uint32).astype(np.uint16)
    path = tmp_path / "g.png"
    Image.fromarray(grey).save(path)

    class Pair:
        image = str(path)

    class Row:
        blob, pair, where = None, Pair(), "train.csv:2"

    assert np.array_equal(np.asarray(dataset.load_row_image(Row())), _decoded(path))


# ---------------------------------------------------------------- 12.8 one line instead of a traceback

def test_one_line__decompression_bomb_named_in_eval_and_train(tmp_path, monkeypatch):
    from eqvl.train import dataset

    path = tmp_path / "big.png"
    Image.new("RGB", (40, 40)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 1600 px is over twice the limit: Pillow raises
    with pytest.raises(DataError, match=r"big\.png: image too large to decode"):
        load_image(ImageRef(str(path)))
    with pytest.raises(DataError, match=r"big\.png"):
        decode_rgb(open(path, "rb"), str(path))

    class Pair:
        image = str(path)

    class Row:
        blob, pair, where = None, Pair(), "train.csv:2"

    with pytest.raises(DataError, match=r"train\.csv:2.*big\.png.*too large"):
        dataset.load_row_image(Row())


def test_one_line__synth_out_pointing_at_a_file(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    cli_error(capsys, ["synth", "--out", str(target), "--twins", "1", "--size", "32"], "is a file", "folder")
    cli_error(capsys, ["synth", "--out", str(target / "sub"), "--twins", "1", "--size", "32"], "which is a file")
    assert target.read_text() == "keep me"


# ---------------------------------------------------------------- 12.3 locks (synth; train/eval have theirs)

def test_lock__synth_refuses_a_folder_another_run_holds(tmp_path, capsys):
    from eqvl.io import OutputLock

    out = tmp_path / "s"
    with OutputLock(out, command="eqvl synth --out s"):
        cli_error(capsys, ["synth", "--out", str(out), "--twins", "1", "--size", "32", "--subsets", "location",
                                 "--no-progress"], "is locked by pid", "(command eqvl synth --out s)")
    assert [p.name for p in out.iterdir()] == []  # nothing written by the refused run, lock released


# ---------------------------------------------------------------- 12.7 disk full

_LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # the kernel then fails the write with EFBIG, as a full disk does
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
{code}
"""


def _limited(code: str, limit: int, cwd: Path) -> subprocess.CompletedProcess:
    """Run `code` in a fresh Python whose files may not grow beyond `limit` bytes (no root needed)."""
    script = _LIMITED.format(limit=limit, code=code)
    return subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_disk_full__fsync_enospc_is_one_line_and_old_output_kept(tmp_path, monkeypatch):
    from eqvl.errors import StorageFullError
    from eqvl.io import write_json_atomic

    out = tmp_path / "results.json"
    out.write_text('{"old": true}\n')

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(StorageFullError) as err:
        write_json_atomic(out, {"values": list(range(1000))})
    msg = str(err.value)
    assert f"cannot write {out}: no space left on device; needed at least" in msg and "bytes free there" in msg
    assert json.loads(out.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # temp file removed


@pytest.mark.parametrize("writer", ["json", "torch", "numpy"])
def test_disk_full__atomic_writers_under_a_real_write_limit(tmp_path, writer):
    code = {
        "json": "from eqvl.io import write_json_atomic as w; w('out.bin', list(range(100000)))",
        "torch": "import torch; from eqvl.io import atomic_open\n"
                 "with atomic_open('out.bin', 'wb') as h: torch.save({'w': torch.zeros(100000)}, h)",
        "numpy": "import numpy as np; from eqvl.io import atomic_open\n"
                 "with atomic_open('out.bin', 'wb') as h: np.save(h, np.zeros(100000))",
    }[writer]
    wrapped = f"from eqvl.errors import EqvlError\ntry:\n    " + code.replace("\n", "\n    ") + \
        "\nexcept EqvlError as e:\n    print(type(e).__name__, e)\n    sys.exit(2)\n"
    proc = _limited(wrapped, 50_000, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout.startswith("StorageFullError cannot write out.bin: over the file-size limit"), proc.stdout
    assert "needed at least" in proc.stdout
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


def test_disk_full__synth_run_is_one_line_naming_the_file(tmp_path):
    code = ("from eqvl.cli import main\n"
            "sys.exit(main(['synth', '--out', 's', '--twins', '2', '--size', '32', '--subsets', 'location', '--no-progress']))")
    proc = _limited(code, 300, tmp_path)
    err = proc.stderr.strip()
    assert proc.returncode == 2 and "\n" not in err and "Traceback" not in err, err
    assert re.fullmatch(r"eqvl synth: error: cannot write s/\S+: over the file-size limit \(ulimit -f\); needed at least [\d,]+ bytes", err), err
    assert not (tmp_path / "s" / "manifest.json").exists()  # the unfinished folder is not presented as done
    assert not (tmp_path / "s" / ".eqvl.lock").exists()


# ---------------------------------------------------------------- 12.6 encoding errors

BOM = b"\xef\xbb\xbf"


def _png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (10, 20, 30)).save(path)
    return path


def test_encoding__csv_bad_byte_named_by_file_line_and_offset(tmp_path):
    from eqvl.io import read_csv_rows

    data = b"filepath\ttitle\na.png\ta dog\nb.png\ta caf\xe9 table\nc.png\ta cat\n"
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    with pytest.raises(DataError) as err:
        list(read_csv_rows(path))
    offset = data.index(bytes([0xE9]))
    assert str(err.value) == f"{path}:3: not UTF-8 text: byte 0xe9 at byte offset {offset} (re-save the file as UTF-8)"
    bad: list = []
    assert [line for line, _ in read_csv_rows(path, bad=bad)] == [2, 4]  # skipped, later lines keep their numbers
    assert [line for line, _ in bad] == [3]


def test_encoding__jsonl_bad_byte_named_and_skippable(tmp_path):
    from eqvl.io import read_jsonl

    data = BOM + b'{"a": 1}\n{"a": "\xff"}\n{"a": 3}\n'
    path = tmp_path / "t.jsonl"
    path.write_bytes(data)
    offset = data.index(bytes([0xFF]))
    with pytest.raises(DataError, match=rf"t\.jsonl:2: not UTF-8 text: byte 0xff at byte offset {offset}"):
        list(read_jsonl(path))
    bad: list = []
    assert [obj["a"] for _, obj in read_jsonl(path, bad=bad)] == [1, 3] and bad[0][0] == 2


def test_encoding__bom_accepted_by_train_reader(tmp_path):
    from eqvl.train.config import TrainConfig
    from eqvl.train.records import read_pairs

    _png(tmp_path / "a.png")
    path = tmp_path / "train.csv"
    path.write_bytes(BOM + b"filepath\ttitle\na.png\ta small square\n")
    rows, report, _ = read_pairs(path, TrainConfig())
    assert [r.pair.caption for r in rows] == ["a small square"] and report.used == 1
    data = b"filepath\ttitle\na.png\ta small \x80square\n"
    path.write_bytes(data)
    with pytest.raises(DataError, match=rf"train\.csv:2: not UTF-8 text: byte 0x80 at byte offset {data.index(0x80)}"):
        read_pairs(path, TrainConfig())


def test_encoding__eval_readers_name_line_and_accept_bom(tmp_path):
    from eqvl.benchmarks._common import read_json_keyed, read_own_jsonl

    _png(tmp_path / "a.png")
    own = tmp_path / "twins.jsonl"
    data = b'{"id": "1", "image": "a.png", "caption": "ok"}\n{"id": "2", "image": "a.png", "caption": "\xc3("}\n'
    own.write_bytes(data)
    with pytest.raises(DataError, match=rf"twins\.jsonl:2: not UTF-8 text: byte 0xc3 at byte offset {data.index(0xC3)}"):
        read_own_jsonl(own, ["image"], ["caption"])
    js = tmp_path / "ann.json"
    js.write_bytes(BOM + b'{"x": [1, 2]}')
    assert read_json_keyed(js) == {"x": [1, 2]}
    js.write_bytes(b'{"x":\n "\xfe"}')
    with pytest.raises(DataError, match=r"ann\.json:2: not UTF-8 text: byte 0xfe at byte offset 8 "):
        read_json_keyed(js)


def test_encoding__augment_one_line_then_skip_bad_counts_and_bom(tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_bytes(BOM + b"filepath\ttitle\na.jpg\ta brown dog on the grass\nb.jpg\ta red \xff car\nc.jpg\ta white cat\n")
    out = tmp_path / "out.csv"
    cli_error(capsys, ["augment", "--in", str(src), "--out", str(out), "--quiet"],
                    f"{src}:3: not UTF-8 text: byte 0xff at byte offset", "--skip-bad")
    assert not out.exists()
    assert main(["augment", "--in", str(src), "--out", str(out), "--quiet", "--skip-bad"]) == 0
    assert "1 unreadable row(s) dropped" in " ".join(capsys.readouterr().out.split())  # rich wraps lines
    assert [line.split("\t")[0] for line in out.read_text().splitlines()] == ["filepath", "a.jpg", "c.jpg"]


# ---------------------------------------------------------------- 12.10 augment and existing hard captions

def _hard_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    lines = ["filepath\ttitle\thard_negatives"] + [f"img{i}.jpg\t{cap}\t{neg}" for i, (cap, neg) in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_existing_columns__refused_without_a_flag(tmp_path, capsys):
    src = _hard_csv(tmp_path / "in.csv", [("a brown dog on the grass", '["my own negative"]')])
    cli_error(capsys, ["augment", "--in", str(src), "--out", str(tmp_path / "o.csv"), "--quiet"],
                    "already has column(s) hard_negatives (1 row(s) with values)", "--existing merge", "--existing replace")
    assert not (tmp_path / "o.csv").exists()


def test_existing_columns__merge_keeps_them_first_replace_drops_them(tmp_path, capsys):
    src = _hard_csv(tmp_path / "in.csv", [("a brown dog on the grass", '["my own negative"]'), ("a white cat", "")])
    merged, replaced = tmp_path / "m.jsonl", tmp_path / "r.jsonl"
    assert main(["augment", "--in", str(src), "--out", str(merged), "--quiet", "--existing", "merge", "--types"]) == 0
    assert "merged (kept 1 hard negative(s) and 0 hard positive(s) from 1 row(s)" in capsys.readouterr().err
    assert main(["augment", "--in", str(src), "--out", str(replaced), "--quiet", "--existing", "replace", "--types"]) == 0
    assert "replaced (1 row(s) had values, now dropped)" in capsys.readouterr().err
    m = [json.loads(line) for line in merged.read_text().splitlines()]
    r = [json.loads(line) for line in replaced.read_text().splitlines()]
    assert m[0]["hard_negatives"][0] == "my own negative" and m[0]["hard_negative_types"][0] == "untyped"
    assert m[0]["hard_negatives"][1:] == r[0]["hard_negatives"] and "my own negative" not in r[0]["hard_negatives"]
    assert m[1]["hard_negatives"] == r[1]["hard_negatives"]


def test_existing_columns__malformed_values_named_by_line(tmp_path, capsys):
    src = _hard_csv(tmp_path / "in.csv", [("a brown dog on the grass", '["ok"]'), ("a white cat", "[not json"),
                                          ("a red car", '{"a": 1}')])
    out = tmp_path / "o.csv"
    cli_error(capsys, ["augment", "--in", str(src), "--out", str(out), "--quiet", "--existing", "merge"],
                    f"{src}:3: hard_negatives is not a JSON list", "--skip-bad")
    assert main(["augment", "--in", str(src), "--out", str(out), "--quiet", "--existing", "merge", "--skip-bad"]) == 0
    assert "2 malformed value(s), first at line 3" in capsys.readouterr().err
    assert [line.split("\t")[0] for line in out.read_text().splitlines()] == ["filepath", "img0.jpg"]
    assert main(["augment", "--in", str(src), "--out", str(out), "--quiet", "--existing", "replace", "--overwrite"]) == 0
    assert "replaced (3 row(s) had values, now dropped); 2 malformed value(s), first at line 3" in capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 4


# ---------------------------------------------------------------- 12.11 paths escaping the data root

def test_outside_root__resolver_rule(tmp_path):
    from eqvl.data.paths import resolve_data_path, root_policy

    root = tmp_path / "data"
    inside, up, absolute = "img/a.png", "../../x.png", str(tmp_path / "elsewhere" / "b.png")
    assert resolve_data_path(root, up) == str(root / up)  # no policy active: library callers own their inputs
    with root_policy(allow_outside=False):
        assert resolve_data_path(root, inside) == str(root / inside)
        assert resolve_data_path(root, str(root / "img" / "c.png")) == str(root / "img" / "c.png")  # absolute, inside
        assert resolve_data_path(root, "img/../img/a.png") == str(root / "img/../img/a.png")  # .. that stays inside
        for bad in (up, absolute, "img/../../data2/x.png"):
            with pytest.raises(DataError, match=rf"f\.csv:3: path '{re.escape(bad)}' is outside the data root .*`allow_outside_root`"):
                resolve_data_path(root, bad, "f.csv:3")
    with root_policy(allow_outside=True) as policy:
        resolve_data_path(root, up, "f.csv:3")
        resolve_data_path(root, absolute, "f.csv:4")
        resolve_data_path(root, inside, "f.csv:5")
    assert [w for w, _ in policy.outside] == ["f.csv:3", "f.csv:4"]
    assert policy.summary().startswith("2 path(s) outside their data root, allowed by `allow_outside_root` (first: f.csv:3 -> ")


def test_outside_root__train_reader_refuses_then_counts(tmp_path):
    from eqvl.data.paths import root_policy
    from eqvl.train.config import TrainConfig
    from eqvl.train.records import read_pairs

    _png(tmp_path / "outside.png")
    _png(tmp_path / "data" / "in.png")
    csv_path = tmp_path / "data" / "train.csv"
    csv_path.write_text(f"filepath\ttitle\nin.png\ta square\n../outside.png\ta square too\n")
    with root_policy(allow_outside=False):
        with pytest.raises(DataError, match=r"train\.csv:3: path '\.\./outside\.png' is outside the data root"):
            read_pairs(csv_path, TrainConfig())
    with root_policy(allow_outside=True) as policy:
        rows, _, _ = read_pairs(csv_path, TrainConfig())
    assert len(rows) == 2 and len(policy.outside) == 1 and policy.outside[0][0].endswith("train.csv:3")


def test_outside_root__eval_command_refuses_then_allows_and_counts(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    lines = ["filepath\ttitle"]
    for color in ("red", "blue"):
        Image.new("RGB", (16, 16), color).save(tmp_path / "data" / f"{color}.png")
        lines.append(f"{color}.png\ta {color} square")
    Image.new("RGB", (16, 16), "green").save(tmp_path / "green.png")
    lines.append("../green.png\ta green square")
    data = tmp_path / "data" / "pairs.csv"
    data.write_text("\n".join(lines) + "\n")
    argv = ["eval", "--model", "eqvl-tiny-rn", "--pretrained", "none", "--benchmark", "retrieval", "--data", str(data),
            "--output", str(tmp_path / "r.json"), "--no-cache", "--no-progress", "--workers", "0"]
    cli_error(capsys, argv, "'../green.png' is outside the data root", "--allow-outside-root")
    assert not (tmp_path / "r.json").exists()
    assert main(argv + ["--allow-outside-root"]) == 0
    assert "eqvl eval: 1 path(s) outside their data root, allowed by --allow-outside-root" in capsys.readouterr().err
    assert json.loads((tmp_path / "r.json").read_text())["encoding"]["images"]["encoded"] == 3


def test_lock__killed_holder_is_taken_over_by_the_next_synth(tmp_path, capsys, caplog):
    out = tmp_path / "s"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom eqvl.io import OutputLock\n"
                               "with OutputLock(sys.argv[1], command='killed run'):\n    print('locked', flush=True)\n"
                               "    time.sleep(120)\n", str(out)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    holder.kill()  # kill -9: the lock file stays, its flock goes with the process
    holder.wait()
    with caplog.at_level("WARNING"):
        assert main(["synth", "--out", str(out), "--twins", "1", "--size", "32", "--subsets", "location", "--no-progress"]) == 0
    assert f"taking over a stale lock left by pid {holder.pid}" in caplog.text and "(command killed run)" in caplog.text
    assert (out / "manifest.json").exists() and not (out / ".eqvl.lock").exists()


def test_lock__check_outputs_refuses_before_any_write(tmp_path):
    from eqvl.io import check_outputs

    first, second = tmp_path / "results.json", tmp_path / "scores.npz"
    second.write_bytes(b"an earlier run's scores")
    with pytest.raises(EqvlError, match=r"scores\.npz already exists; pass `overwrite`"):
        check_outputs([first, second], overwrite=False)
    assert not first.exists() and second.read_bytes() == b"an earlier run's scores"


def test_image_decode__in_memory_images_of_the_python_api_follow_the_same_rules():
    from eqvl.api import _as_pil

    grey = RNG.integers(256, 65536, size=(3, 5), dtype=np.uint32).astype(np.uint16)
    decoded = np.asarray(_as_pil(Image.fromarray(grey)))
    assert np.array_equal(decoded, np.repeat((grey >> 8).astype(np.uint8)[:, :, None], 3, axis=2))


def test_lock__augment_refuses_an_out_another_run_holds(tmp_path, capsys):
    from eqvl.io import OutputLock

    src = tmp_path / "in.csv"
    src.write_text("filepath\ttitle\na.jpg\ta brown dog on the grass\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    with OutputLock([out], command="eqvl augment --out out.csv"):
        cli_error(capsys, ["augment", "--in", str(src), "--out", str(out), "--quiet"], "out.csv is locked by pid")
    assert not out.exists()
    assert main(["augment", "--in", str(src), "--out", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]  # lock released


def test_resume__synth_killed_before_its_state_file_restarts_cleanly(tmp_path, capsys):
    """A kill between taking the lock and writing the state file leaves only bookkeeping files:
    the folder counts as empty, so the plain re-run (or --resume) just starts."""
    out = tmp_path / "s"
    out.mkdir()
    (out / ".eqvl.lock").write_text('{"pid": 1, "host": "elsewhere"}')  # flock gone: stale
    (out / "..eqvl-synth-state.json.abc123.tmp").write_text('{"argu')  # atomic_open temp name, cut by the kill
    argv = ["synth", "--out", str(out), "--twins", "1", "--size", "32", "--subsets", "location", "--no-progress"]
    assert main(argv + ["--resume"]) == 0
    assert (out / "manifest.json").exists()
