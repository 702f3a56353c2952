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


#: functions that print on purpose: the crash tests' fault-injection hook, which they wait for on stderr
FAULT_HOOKS = ("pause_point",)


def test_no_library_notice_or_built_message_names_a_flag_and_nothing_prints():
    """Beyond the error calls above: every other string the library builds for a person (log records,
    notes returned to the CLI, messages assembled before the raise) names parameters too, and the
    library writes nothing to stderr itself (it logs; the CLI's command_voice prints). Left out: docstrings,
    help text (TrainConfig field docs, loss options, benchmark layouts describe the command line), a flag
    inside a quoted command (`eqvl index rebuild --target-recall`), the served API's replies to HTTP
    clients (they name the operator's flags), and the demo's generated report (it shows commands)."""
    import ast
    import re
    from pathlib import Path

    flag = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
    command = re.compile(r"`eqvl [^`]*`")
    help_files = ("train/config.py", "losses/", "benchmarks/", "demo/report.py", "index/guard.py", "index/server.py",
                  "progress.py", "videotwins/review.py")
    src = Path(__file__).resolve().parents[1] / "src" / "eqvl"
    flags, prints = [], []
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src).as_posix()
        if rel.startswith("commands/") or rel == "cli.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        hooks = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name in FAULT_HOOKS
                 for n in ast.walk(f)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print" and id(node) not in hooks and any(
                    k.arg == "file" and "stderr" in ast.unparse(k.value) for k in node.keywords):
                prints.append(f"{rel}:{node.lineno}")
            if rel.startswith(help_files) or not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            if id(node) not in docs and flag.search(command.sub("", node.value)):
                flags.append(f"{rel}:{node.lineno}: {node.value[:80]!r}")
    assert not flags, "library strings that name a flag (write the parameter in backticks):\n" + "\n".join(flags)
    assert not prints, "library code printing to stderr (use logging):\n" + "\n".join(prints)
