"""What every `eqvl` command shares on its command line: one name per concept, a declared range
for every number, every default shown in --help, and argparse's errors as one line.

One vocabulary (the older spelling stays accepted, hidden from --help, for a release):
  --output FILE|DIR     where results go            (hidden alias: --out)
  --no-progress         hide progress bars          (hidden alias: --quiet)
  --csv-img-key / --csv-caption-key / --csv-separator   open_clip's CSV spellings
  --precision           open_clip's names, default `amp` in train and eval alike
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import re
import sys
from typing import Any, Callable, Iterator

from eqvl.errors import EqvlError, describe_range

#: train and eval default to what open_clip's trainer and CLIP_benchmark default to: autocast on a
#: GPU, and exactly fp32 on a CPU (eqvl.precision), so CPU numbers do not depend on the flag
DEFAULT_PRECISION = "amp"


class UsageError(SystemExit):
    """A bad command line: the one-line message is already printed; `eqvl.cli.main` returns 2."""


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error naming the command (`eqvl train: error: ...`), no usage dump.

    Subparsers inherit the class, so nested commands (`eqvl index build`) get it too.
    """

    def error(self, message: str) -> None:  # type: ignore[override]
        command = " ".join(self.prog.split()[:2])
        message = re.sub(r"^one of the arguments (\S+) is required$", r"the following arguments are required: \1", message)
        found = re.match(r"argument ([^:]+): (.*)", message, re.S)
        if found and any(found.group(2).startswith(f"{f} ") for f in found.group(1).split("/")):
            message = found.group(2)  # the range check already names the flag and the value
        print(f"{command}: error: {' '.join(message.split())}", file=sys.stderr)
        raise UsageError(2)


def flag_message(exc: BaseException) -> str:
    """A library error in the command line's words: the parameter it names (`exc.param`, e.g.
    `eqsim_beta`) becomes the flag (`--eqsim-beta`); the rest of the message is the library's."""
    text = str(exc)
    one = getattr(exc, "param", None)
    for param in getattr(exc, "params", None) or ([one] if one else []):
        flag = "--" + param.replace("_", "-")
        quoted = f"`{param}`"
        if quoted in text:  # the library's convention: parameters in backticks, every one shown as a flag
            text = text.replace(f"{quoted}=True", flag).replace(quoted, flag)
        else:
            text = re.sub(rf"(?<![\w-]){re.escape(param)}(?![\w-])", lambda _: flag, text, count=1)
    return text


def _shown(default: Any) -> str:
    if isinstance(default, bool):
        return "on" if default else "off"
    if default == "\t":
        return "tab"
    if isinstance(default, (list, tuple)):
        return ",".join(str(d) for d in default) or "none"
    if isinstance(default, dict):
        return ",".join(f"{k}={v}" for k, v in default.items()) or "none"
    return str(default)


class HelpFormatter(argparse.HelpFormatter):
    """Appends `(default: X)` to every flag that has a default, unless its help already words it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (action.help == argparse.SUPPRESS or "default" in text.lower() or default is None
                or default == argparse.SUPPRESS or default == []
                or isinstance(action, (argparse._HelpAction, argparse._VersionAction))):
            return text
        return f"{text} (default: {_shown(default).replace('%', '%%')})"


class RawHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """HelpFormatter that keeps the description's line breaks (usage examples in a docstring)."""


def use_common_style(parser: argparse.ArgumentParser) -> None:
    """Give `parser` and every nested subparser the shared help formatter (raw descriptions stay raw)."""
    formatter = parser.formatter_class
    raw = isinstance(formatter, type) and issubclass(formatter, argparse.RawDescriptionHelpFormatter)
    parser.formatter_class = RawHelpFormatter if raw else HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                said = helps.get(name)
                if not sub.description and said:  # `eqvl index build --help` says what it does
                    sub.description = said[0].upper() + said[1:] + "."
    for sub in subparsers_of(parser):
        use_common_style(sub)


def subparsers_of(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The distinct parsers directly under `parser` (aliases counted once)."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found += [p for p in dict.fromkeys(action.choices.values())]
    return found


def add_output_flag(p: argparse.ArgumentParser, help: str, *, required: bool = False, default: str | None = None,
                    dest: str = "output", metavar: str = "PATH") -> None:
    """`--output` (with `--out` accepted, hidden) — one of the two, never both."""
    group = p.add_mutually_exclusive_group(required=required)
    group.add_argument("--output", dest=dest, default=default, metavar=metavar, help=help)
    group.add_argument("--out", dest=dest, default=default, metavar=metavar, help=argparse.SUPPRESS)


#: what --device means in every command that has it (the default everywhere: auto)
DEVICE_HELP = "auto (cuda when available, else cpu; under torchrun cuda:LOCAL_RANK), cpu, cuda, cuda:N"
#: what --workers means in every command that has it; each command documents its default and why
WORKERS_MEANING = "0 = in this process"


def add_device_flag(p: argparse.ArgumentParser, default: str = "auto") -> None:
    """`--device`, one meaning everywhere: `auto` picks CUDA when this machine has it."""
    p.add_argument("--device", default=default, help=DEVICE_HELP)


def resolve_device(device: str | None) -> str:
    """`auto` (or None) -> "cuda" when available (under torchrun "cuda:LOCAL_RANK", as `eqvl train`
    places each process), else "cpu"; anything else as given."""
    if device in (None, "", "auto"):
        import os

        import torch

        if not torch.cuda.is_available():
            return "cpu"
        return f"cuda:{os.environ['LOCAL_RANK']}" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else "cuda"
    return device


def add_progress_flag(p: argparse.ArgumentParser, help: str = "hide progress bars") -> None:
    """`--no-progress` (with `--quiet` accepted, hidden); read it as `args.no_progress`."""
    p.add_argument("--no-progress", dest="no_progress", action="store_true", help=help)
    p.add_argument("--quiet", dest="no_progress", action="store_true", help=argparse.SUPPRESS)


class Bounded:
    """An argparse `type=` for an int or a finite float in a declared range, checked at parse time.

    `lo` / `hi` are None when unbounded; `lo_open` / `hi_open` exclude the bound itself. The
    attributes stay readable so tests (and help) can see each flag's range.
    """

    def __init__(self, kind: type, lo: float | None = None, hi: float | None = None, *,
                 lo_open: bool = False, hi_open: bool = False) -> None:
        self.kind, self.lo, self.hi, self.lo_open, self.hi_open = kind, lo, hi, lo_open, hi_open
        self.__name__ = kind.__name__  # argparse names the type in its own messages

    def describe(self) -> str:
        return describe_range(self.kind, self.lo, self.hi, lo_open=self.lo_open, hi_open=self.hi_open)

    def parse(self, text: str) -> Any:
        """The value as `kind`, without the range check."""
        try:
            return self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {self.describe()}, got {text!r}") from None

    def ok(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        return self.hi is None or (value < self.hi if self.hi_open else value <= self.hi)

    def __call__(self, text: str) -> Any:
        value = self.parse(text)
        if not self.ok(value):
            raise argparse.ArgumentTypeError(f"must be {self.describe()}, got {text!r}")
        return value

    def invalid_examples(self) -> list[str]:
        """Values this type must refuse (used by the tests that walk every parser)."""
        bad = ["nan", "inf"] if self.kind is float else ["x"]
        if self.lo is not None:
            bad.append(str(self.kind(self.lo) - 1) if not self.lo_open else str(self.kind(self.lo)))
        if self.hi is not None:
            bad.append(str(self.kind(self.hi) + 1) if not self.hi_open else str(self.kind(self.hi)))
        return bad

    def __repr__(self) -> str:
        return f"<{self.describe()}>"


def int_range(lo: int | None = None, hi: int | None = None) -> Bounded:
    return Bounded(int, lo, hi)


def finite_float(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False) -> Bounded:
    return Bounded(float, lo, hi, lo_open=lo_open)


positive_int: Callable[[str], int] = int_range(1)
nonneg_int: Callable[[str], int] = int_range(0)
positive_float: Callable[[str], float] = finite_float(0, lo_open=True)
nonneg_float: Callable[[str], float] = finite_float(0)
probability: Callable[[str], float] = finite_float(0, 1)
#: a TCP port to listen on
port: Callable[[str], int] = int_range(1, 65535)


class _CommandVoice(logging.Handler):
    """Library notices and warnings (`logging`, under the `eqvl` logger) as the command's own lines:
    `eqvl train: resumed from ...`, `eqvl eval: warning: embedding cache: ...`, not `WARNING:eqvl.encode.cache:...`;
    the parameters a record names (`extra={"params": (...)}`) are shown as their flags."""

    def __init__(self, command: str) -> None:
        super().__init__(logging.INFO)
        self.command = command

    def emit(self, record: logging.LogRecord) -> None:
        if any(isinstance(h, logging.NullHandler) for h in logging.getLogger(record.name).handlers):
            return  # a module that prints its message itself and silences its logger's console copy
        text = flag_message(EqvlError(record.getMessage(), params=tuple(getattr(record, "params", ()))))
        level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        print(f"eqvl {self.command}: {level}{text}", file=sys.stderr)


@contextlib.contextmanager
def command_voice(command: str) -> Iterator[None]:
    """While a command runs, library notices (INFO) and warnings reach stderr once, in the command's voice;
    outside a command (a notebook) the library's INFO notices stay silent unless logging is configured."""
    logger = logging.getLogger("eqvl")
    handler = _CommandVoice(command)
    level = logger.level
    logger.addHandler(handler)
    # a root logger without handlers gets a silent one while the command runs: a library's module-level
    # logging.warning (open_clip's "No pretrained weights loaded") would otherwise install a stderr handler
    # (logging.basicConfig) that prints every eqvl notice a second time, as INFO:eqvl.train.loop:...
    root = logging.getLogger()
    guard = logging.NullHandler() if not root.handlers else None
    if guard is not None:
        root.addHandler(guard)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.setLevel(level)
        logger.removeHandler(handler)
        if guard is not None:
            root.removeHandler(guard)
