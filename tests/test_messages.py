"""The library names its parameters (`overwrite`, in backticks, carried on the error as data); the CLI
shows them as flags. A notebook user sees the keyword they passed, a shell user the flag they typed."""

from eqvl.commands.common import flag_message
from eqvl.errors import DataError, EqvlError


def test_backticked_parameters_become_flags_everywhere_in_the_message():
    exc = EqvlError("out already exists; pass `overwrite` to replace it or `resume` to finish it",
                    params=("overwrite", "resume"))
    assert exc.param == "overwrite" and exc.params == ("overwrite", "resume")
    assert flag_message(exc) == "out already exists; pass --overwrite to replace it or --resume to finish it"
    assert flag_message(EqvlError("set `skip_bad`=True to skip them", params=("skip_bad",))) == "set --skip-bad to skip them"


def test_a_bare_parameter_name_is_replaced_once_and_paths_are_left_alone():
    exc = EqvlError("eqsim_beta -1: must be >= 0", param="eqsim_beta")
    assert flag_message(exc) == "--eqsim-beta -1: must be >= 0"
    data = DataError("missing column(s) 'filepath' (see csv_img_key / csv_separator)", path="/tmp/out/train.csv",
                     line=1, params=("csv_img_key", "csv_separator"))
    assert flag_message(data) == ("/tmp/out/train.csv:1: missing column(s) 'filepath' (see --csv-img-key / "
                                  "--csv-separator)")
    assert flag_message(EqvlError("no parameter here")) == "no parameter here"


def test_no_library_error_message_names_a_command_line_flag():
    """Library errors name parameters (`workers`), never flags (--workers): the CLI adds the dashes.
    commands/ and cli.py are the CLI layer and may say --flag."""
    import ast
    import re
    from pathlib import Path

    flag = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
    src = Path(__file__).resolve().parents[1] / "src" / "eqvl"
    found = []
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src).as_posix()
        if rel.startswith("commands/") or rel == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", "")
            if name not in ("EqvlError", "DataError"):
                continue
            literal = node.args[0]
            parts = literal.values if isinstance(literal, ast.JoinedStr) else [literal]
            text = "".join(p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str))
            if flag.search(text):
                found.append(f"{rel}:{node.lineno}: {flag.search(text).group(0)}")
    assert not found, "library errors that name a flag (write the parameter in backticks, params=...):\n" + "\n".join(found)
