"""The ideas several commands share (device, workers, output, seed, skip-bad, caption column, progress):
one spelling and one meaning each, checked by tests/test_cli_help.py and listed in docs/guide/cli.md
by a table generated from the parsers (`python scripts/cli_table.py --write` refreshes it).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import Iterator

from eqvl.commands.common import DEVICE_HELP, WORKERS_MEANING

#: what --skip-bad means in every command (the default is per command: on in train only, see docs/guide/cli.md)
SKIP_BAD_MEANING = "skip (and count)"


@dataclass(frozen=True)
class Idea:
    name: str
    #: visible flags that name this idea, whatever their spelling
    pattern: str
    #: the one spelling (and its --no- form where a command has a switch)
    spellings: tuple[str, ...]
    #: the meaning every command's help must state, or "" when the help is per command
    meaning: str = ""


IDEAS = (
    Idea("device", r"device", ("--device",), DEVICE_HELP),
    Idea("workers", r"^--(num-)?workers?$|^--(procs|processes|num-proc)$", ("--workers",), WORKERS_MEANING),
    Idea("output", r"^--out(put)?([-_](dir|file|path))?$", ("--output",)),
    Idea("seed", r"^--(random-)?seeds?$", ("--seed",)),
    Idea("skip-bad", r"skip.?(bad|broken|invalid)|^--strict", ("--skip-bad", "--no-skip-bad"), SKIP_BAD_MEANING),
    Idea("caption column", r"caption.?(col|column|key|field)", ("--csv-caption-key",)),
    Idea("progress", r"progress|^--quiet$|^--silent$", ("--no-progress", "--progress")),
)

BEGIN, END = "<!-- shared-flags:begin (generated: python scripts/cli_table.py --write) -->", "<!-- shared-flags:end -->"


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, (*path, name))


def shared_flags(root: argparse.ArgumentParser) -> Iterator[tuple[Idea, tuple[str, ...], argparse.Action, str]]:
    """(idea, command path, action, visible spelling) for every visible flag naming a shared idea."""
    for path, parser in walk(root):
        for action in parser._actions:
            if action.help == argparse.SUPPRESS:
                continue
            for flag in action.option_strings:
                for idea in IDEAS:
                    if re.search(idea.pattern, flag):
                        yield idea, path, action, flag


def spelling_problems(root: argparse.ArgumentParser) -> list[str]:
    return [f"eqvl {' '.join(path)} {flag}: the {idea.name} flag is spelled {idea.spellings[0]}"
            for idea, path, _, flag in shared_flags(root) if flag not in idea.spellings]


def meaning_problems(root: argparse.ArgumentParser) -> list[str]:
    out = []
    for idea, path, action, flag in shared_flags(root):
        if idea.meaning and flag == idea.spellings[0] and idea.meaning not in (action.help or ""):
            out.append(f"eqvl {' '.join(path)} {flag}: its help does not say {idea.meaning!r}")
        if idea.name == "device" and flag == "--device" and action.default != "auto":
            out.append(f"eqvl {' '.join(path)} --device: default {action.default!r}, not auto")
    return sorted(set(out))


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def markdown_table(root: argparse.ArgumentParser) -> str:
    """One row per (idea, command): the flag, its default, its help as `--help` shows it."""
    lines = ["| idea | command | flag | default | help |", "|---|---|---|---|---|"]
    seen = set()
    for idea, path, action, flag in shared_flags(root):
        key = (idea.name, path, action.dest)
        if key in seen:
            continue
        seen.add(key)
        flags = "/".join(f"`{f}`" for f in action.option_strings if re.search(idea.pattern, f))
        default = "required" if action.required else ("-" if action.default is None else action.default)
        default = "on" if default is True else "off" if default is False else default
        lines.append(f"| {idea.name} | `eqvl {' '.join(path)}` | {flags} | {_cell(default)} | {_cell(action.help or '')} |")
    return "\n".join(lines)
