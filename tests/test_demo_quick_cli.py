"""CI smoke run of the real `eqvl demo --quick` (the preset users run, through the CLI), ~1 minute."""

import json

import pytest

from eqvl.cli import main

# the demo runs whole pipelines in spawned processes: a larger hang guard than the 300 s default
pytestmark = pytest.mark.timeout(900)

pytest.importorskip("eqvl.synth.writer")


def test_eqvl_demo_quick_cli(tmp_path, capsys):
    out = tmp_path / "dq"
    assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "C1" in printed and "C2" in printed and "C3" in printed
    saved = json.loads((out / "results.json").read_text())
    assert set(saved["table"]) == {"pre-trained start", "itc", "itc+eqsim", "itc+ce", "itc+ce+hardpos"}
    assert [v["status"] for v in saved["verdicts"]] and all(v["status"] != "not tested" for v in saved["verdicts"])
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html  # self-contained: plots are embedded
    # a second run refuses to replace the report without --overwrite, and loses nothing
    before = (out / "results.json").read_bytes()
    assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 2
    assert (out / "results.json").read_bytes() == before
