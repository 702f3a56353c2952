"""The README's Python snippet runs as written (on a tiny `eqvl synth` folder made here)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_api_snippet() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "README's Python API section has no python block"
    return blocks[0]


def test_readme_python_snippet_runs(tmp_path, monkeypatch):
    from eqvl.cli import main

    assert main(["synth", "--out", str(tmp_path / "data" / "eqsynth"), "--twins", "2", "--size", "64",
                 "--no-progress"]) == 0
    code = _python_api_snippet()
    env_cache = tmp_path / "cache"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={**__import__("os").environ, "EQVL_CACHE_DIR": str(env_cache)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "(2, 2)"                                   # two images x two captions
    group, subsets = lines[1].split(" ", 1)
    assert 0.0 <= float(group) <= 1.0
    assert "location" in subsets and "counting" in subsets
    assert any(env_cache.rglob("*.npz")), "evaluate() should use the embedding cache by default"
