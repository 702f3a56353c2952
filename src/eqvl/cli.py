"""The `eqvl` command line: thin. Each subcommand lives in `eqvl/commands/<name>.py`
with `add_parser(subparsers)` that registers its flags and sets `func(args) -> int`.

Adding a command = adding its module and its name to `COMMANDS`. The list is explicit (like
the loss and benchmark registries, see `eqvl.registry`): a listed module that is missing is an
ImportError when the parser is built, never a command that silently disappears from `--help`;
tests/test_cli.py checks that every command module (one with `add_parser`) is listed;
shared helpers such as `commands/common.py` live beside them unlisted.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from eqvl.version import __version__
from eqvl.commands.common import (Parser, UsageError, command_voice, flag_message, resolve_device,
                                   use_common_style)
from eqvl.errors import EqvlError

#: every subcommand, in the order `eqvl --help` lists them (each one is `eqvl/commands/<name>.py`)
COMMANDS = ["benchmarks", "eval", "report", "synth", "augment", "train", "demo", "build", "ground", "index"]
#: commands whose data files name images; they take --allow-outside-root (rule in eqvl.data.paths)
ROOT_CHECKED = ("eval", "train")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="eqvl", description="Equivariant, compositional image-text similarity.")
    parser.add_argument("--version", action="version", version=f"eqvl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"eqvl.commands.{name}").add_parser(sub)
    for name in ROOT_CHECKED:
        sub.choices[name].add_argument(
            "--allow-outside-root", action="store_true",
            help="allow image paths in data files that point outside their data root (../x.png, absolute paths "
                 "elsewhere); they are counted in the summary. Without it such a path is an error")
    use_common_style(parser)  # every command: defaults shown in --help (eqvl.commands.common)
    return parser


def _run(args: argparse.Namespace) -> int:
    """Run the command; data-reading commands under the outside-root rule of eqvl.data.paths. `--device
    auto` (every command's default) is resolved here, once, by one rule (commands.common.resolve_device)."""
    if getattr(args, "device", None) == "auto":
        args.device = resolve_device(args.device)
    if not hasattr(args, "allow_outside_root"):
        return int(args.func(args) or 0)
    from eqvl.data.paths import root_policy

    with root_policy(args.allow_outside_root) as policy:
        code = int(args.func(args) or 0)
    if policy.outside:
        print(f"eqvl {args.command}: {flag_message(EqvlError(policy.summary(), param='allow_outside_root'))}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:  # a bad flag: its one-line message is printed already
        return int(exc.code or 2)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with command_voice(args.command):
            return _run(args)
    except EqvlError as exc:
        print(f"eqvl {args.command}: error: {flag_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"eqvl {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # backstop for writers outside eqvl.io that ran out of disk: still one line
        from eqvl.io import is_storage_full, storage_full

        if not is_storage_full(exc):
            raise
        print(f"eqvl {args.command}: error: {storage_full(exc.filename or '(a file)', exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
