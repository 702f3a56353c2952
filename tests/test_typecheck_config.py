"""The type check cannot weaken silently (issue 19, item 4).

`make test` (and so `.ci/run`) runs `mypy` on src/ with pyproject's [tool.mypy] before pytest. These
tests keep that gate honest: no module is excused from checking, no error code is switched off,
missing imports are ignored only for named third-party packages, and each `# type: ignore` names
its error code (mypy itself then reports any that no longer suppress anything).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "eqvl"
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
MYPY = CONFIG["tool"]["mypy"]
OVERRIDES = MYPY.get("overrides", [])

#: settings that turn checking off for a module or an error code
WEAKENING = {"ignore_errors", "disable_error_code", "follow_imports", "ignore_missing_imports",
             "allow_untyped_calls", "disallow_untyped_defs", "check_untyped_defs", "strict_optional",
             "implicit_optional", "exclude", "disable_error_codes"}


def test_the_check_runs_on_src_and_reports_stale_ignores():
    assert MYPY["files"] == ["src/eqvl"]
    assert MYPY.get("warn_unused_ignores") is True
    assert "ignore-without-code" in MYPY.get("enable_error_code", [])


def test_no_global_weakening():
    assert sorted(WEAKENING & set(MYPY)) == []


def test_overrides_only_excuse_missing_third_party_types():
    assert OVERRIDES, "the [[tool.mypy.overrides]] table for untyped packages is gone"
    for override in OVERRIDES:
        modules = override["module"] if isinstance(override["module"], list) else [override["module"]]
        assert set(override) == {"module", "ignore_missing_imports"}, override
        assert override["ignore_missing_imports"] is True
        assert [m for m in modules if m == "eqvl" or m.startswith("eqvl.")] == [], "an eqvl module may not be excused"


def test_every_type_ignore_names_its_code():
    bare = []
    for path in sorted(SRC.rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"#\s*type:\s*ignore(?!\[[a-z-]+(,\s*[a-z-]+)*\])", line):
                bare.append(f"{path.relative_to(ROOT)}:{n}")
            if re.search(r"#\s*(mypy|pyright):\s*(ignore|basic|strict)|#\s*type:\s*ignore-file", line):
                bare.append(f"{path.relative_to(ROOT)}:{n} (file-level switch)")
    assert bare == []


def test_make_test_runs_mypy_before_pytest():
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M)
    assert recipe, "no test target in the Makefile"
    lines = [line.strip() for line in recipe.group(1).splitlines()]
    assert any(re.fullmatch(r"\$\(PY\) -m mypy", line) for line in lines), lines
    assert [i for i, line in enumerate(lines) if "mypy" in line][0] < [i for i, line in enumerate(lines) if "pytest" in line][0]
