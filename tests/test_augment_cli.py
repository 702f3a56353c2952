"""`eqvl augment` end to end: file formats, safety of outputs, bad rows, workers, the --text table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from eqvl.cli import main

DATA = Path(__file__).parent / "data" / "captions_test.txt"
CAPTIONS = [ln.strip() for ln in DATA.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def write_csv(path: Path, captions: list[str], extra_lines: list[str] = ()) -> Path:
    lines = ["filepath\ttitle"] + [f"img{i}.jpg\t{c}" for i, c in enumerate(captions)] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_text_prints_each_rewrite_with_its_type(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # one table row per line
    assert main(["augment", "--text", "a brown dog chasing a white cat on the grass"]) == 0
    out = capsys.readouterr().out
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) >= 6 and cells[1] in ("negative", "positive"):
            rows[(cells[1], cells[2])] = cells[4]
    assert {t for k, t in rows if k == "negative"} == {"swap", "attribute_swap", "replace", "negate", "count"}
    assert rows[("positive", "passive")] == "a white cat being chased by a brown dog on the grass"
    assert rows[("negative", "attribute_swap")] == "a white dog chasing a brown cat on the grass"


def test_csv_roundtrip_with_types(tmp_path):
    inp = write_csv(tmp_path / "train.csv", CAPTIONS)
    out = tmp_path / "train_aug.csv"
    assert main(["augment", "--in", str(inp), "--out", str(out), "--types", "--quiet",
                 "--negatives", "swap,replace,negate", "--positives", "replace,swap"]) == 0
    rows = read_rows(out)
    assert len(rows) == len(CAPTIONS)
    assert list(rows[0]) == ["filepath", "title", "hard_negatives", "hard_positives",
                             "hard_negative_types", "hard_positive_types"]
    n_neg = 0
    for row, cap in zip(rows, CAPTIONS):
        assert row["title"] == cap and row["filepath"].startswith("img")
        neg, pos = json.loads(row["hard_negatives"]), json.loads(row["hard_positives"])
        neg_t, pos_t = json.loads(row["hard_negative_types"]), json.loads(row["hard_positive_types"])
        assert len(neg) == len(neg_t) and len(pos) == len(pos_t)
        assert set(neg_t) <= {"swap", "attribute_swap", "replace", "negate"}
        assert set(pos_t) <= {"replace", "swap", "inverse", "passive"}
        assert cap not in neg + pos
        n_neg += len(neg)
    assert n_neg >= 2 * len(CAPTIONS)


def test_workers_do_not_change_the_output(tmp_path):
    inp = write_csv(tmp_path / "in.csv", CAPTIONS * 3)
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    assert main(["augment", "--in", str(inp), "--out", str(one), "--workers", "1", "--seed", "7", "--quiet"]) == 0
    assert main(["augment", "--in", str(inp), "--out", str(two), "--workers", "2", "--seed", "7", "--quiet"]) == 0
    assert one.read_bytes() == two.read_bytes()
    other = tmp_path / "seed8.csv"
    assert main(["augment", "--in", str(inp), "--out", str(other), "--seed", "8", "--quiet"]) == 0
    assert other.read_bytes() != one.read_bytes()


def test_never_overwrites_input_and_refuses_existing_output(tmp_path, capsys):
    inp = write_csv(tmp_path / "in.csv", CAPTIONS[:3])
    before = inp.read_bytes()
    assert main(["augment", "--in", str(inp), "--out", str(inp), "--overwrite", "--quiet"]) == 2
    assert "never overwrites its input" in capsys.readouterr().err
    assert inp.read_bytes() == before
    out = tmp_path / "out.csv"
    out.write_text("keep me")
    assert main(["augment", "--in", str(inp), "--out", str(out), "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_text() == "keep me"
    assert main(["augment", "--in", str(inp), "--out", str(out), "--overwrite", "--quiet"]) == 0
    assert len(read_rows(out)) == 3


def test_bad_rows_are_reported_with_line_numbers(tmp_path, capsys):
    inp = write_csv(tmp_path / "in.csv", CAPTIONS[:4], ["only-one-field", "img9.jpg\t", "a\tb\tc"])
    out = tmp_path / "out.csv"
    assert main(["augment", "--in", str(inp), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{inp}:6:" in err and f"{inp}:7:" in err and f"{inp}:8:" in err and "--skip-bad" in err
    assert not out.exists()
    assert main(["augment", "--in", str(inp), "--out", str(out), "--skip-bad", "--quiet"]) == 0
    assert "3 row(s) could not be read" in capsys.readouterr().err
    assert [r["title"] for r in read_rows(out)] == CAPTIONS[:4]


def test_jsonl_in_and_out_and_caption_column(tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(json.dumps({"image": f"{i}.png", "caption": c}) for i, c in enumerate(CAPTIONS[:5]))
                   + "\n{broken\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["augment", "--in", str(inp), "--out", str(out), "--caption-column", "caption", "--skip-bad",
                 "--quiet"]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["caption"] for r in rows] == CAPTIONS[:5]
    assert all(isinstance(r["hard_negatives"], list) and isinstance(r["hard_positives"], list) for r in rows)


def test_user_errors_are_one_clear_line(tmp_path, capsys):
    inp = write_csv(tmp_path / "in.csv", CAPTIONS[:2])
    assert main(["augment", "--in", str(inp), "--out", str(tmp_path / "o.csv"), "--negatives", "flip"]) == 2
    assert "unknown negatives type 'flip'" in capsys.readouterr().err
    assert main(["augment", "--in", str(inp), "--out", str(tmp_path / "o.csv"), "--caption-column", "text"]) == 2
    assert "missing column(s) 'text'" in capsys.readouterr().err
    assert main(["augment", "--in", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o.csv")]) == 2
    assert "file not found" in capsys.readouterr().err
    assert main(["augment", "--text", "a dog", "--rewriter", "mlm:/nonexistent/model"]) == 2
    assert "no such directory" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--negatives", "--positives"])
def test_empty_type_list_disables_that_side(tmp_path, flag):
    inp = write_csv(tmp_path / "in.csv", CAPTIONS[:5])
    out = tmp_path / "out.csv"
    assert main(["augment", "--in", str(inp), "--out", str(out), flag, "", "--quiet"]) == 0
    col = "hard_negatives" if flag == "--negatives" else "hard_positives"
    assert all(json.loads(r[col]) == [] for r in read_rows(out))


def test_captions_without_rewrites_are_kept_and_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    inp = write_csv(tmp_path / "in.csv", ["a dog on a couch", "..."])
    out = tmp_path / "out.csv"
    assert main(["augment", "--in", str(inp), "--out", str(out), "--quiet"]) == 0
    assert f"{inp} lines 3" in capsys.readouterr().out
    rows = read_rows(out)
    assert json.loads(rows[1]["hard_negatives"]) == [] and json.loads(rows[0]["hard_negatives"])
