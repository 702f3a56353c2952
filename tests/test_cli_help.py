"""Every parser of `eqvl` (nested ones too): each flag has help and shows its default, every number
has a declared range refused at parse time in one line, and one spelling per concept (issues 12.2, 13)."""

from __future__ import annotations

import argparse

import pytest

from eqvl.cli import build_parser, main
from eqvl.commands.common import DEFAULT_PRECISION, Bounded, subparsers_of

#: spellings replaced by one vocabulary; still accepted, never shown in --help
HIDDEN_ALIASES = {"--out": "--output", "--quiet": "--no-progress", "--caption-column": "--csv-caption-key",
                  "--sep": "--csv-separator", "--seeds": "--n-seeds",
                  "--strict-data": "--no-skip-bad"}


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, parser) for the root and every nested subparser."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))


PARSERS = list(_walk(build_parser()))
FLAGS = [(path, parser, action) for path, parser in PARSERS for action in parser._actions
         if not isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction))
         and action.help != argparse.SUPPRESS]
NUMERIC = [(path, a) for path, _, a in FLAGS if isinstance(a.type, Bounded)]


def _id(path, action) -> str:
    return " ".join(path) + " " + (action.option_strings[0] if action.option_strings else action.dest)


def test_the_walk_reaches_nested_parsers():
    paths = {p for p, _ in PARSERS}
    assert {("index", "build"), ("index", "search"), ("build", "ag"), ("build", "sd-pairs"), ("train",)} <= paths
    assert len(NUMERIC) > 80  # train's ~40 numbers and the other commands' ones


@pytest.mark.parametrize("path,parser,action", FLAGS, ids=[_id(p, a) for p, _, a in FLAGS])
def test_every_flag_has_help_and_shows_its_default(path, parser, action):
    assert (action.help or "").strip(), f"{_id(path, action)} has no help"
    text = parser._get_formatter()._expand_help(action)
    if action.default is not None and action.default != argparse.SUPPRESS and action.default != []:
        assert "default" in text, f"{_id(path, action)}: default {action.default!r} not shown in {text!r}"


def test_every_number_flag_declares_a_range():
    raw = [_id(p, a) for p, _, a in FLAGS if a.type in (int, float)]
    assert raw == [], "use a range type from eqvl.commands.common (positive_int, finite_float(...), ...)"


@pytest.mark.parametrize("path,action", NUMERIC, ids=[_id(p, a) for p, a in NUMERIC])
@pytest.mark.faults
def test_flags__out_of_range_numbers_fail_at_parse_time_in_one_line(path, action, capsys):
    flag = action.option_strings[0]
    examples = action.type.invalid_examples()
    assert len(examples) >= 2
    for bad in examples:
        assert main([*path, f"{flag}={bad}"]) == 2, f"{flag}={bad} accepted"
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in err, err
        assert lines[0].startswith(f"eqvl {' '.join(path[:1])}: error: ") and flag in lines[0], lines[0]


@pytest.mark.faults
def test_flags__issue_examples_are_refused(capsys):
    for argv, expected in [
        (["train", "--grad-clip-norm=-1"], "--grad-clip-norm -1.0: must be a finite number > 0"),
        (["train", "--max-steps=-1"], "--max-steps -1: must be a finite number >= 1"),
        (["train", "--eqsim-k=-2"], "--eqsim-k -2: must be an integer >= 1"),
        (["train", "--lr=-1"], "--lr -1.0: must be a finite number >= 0"),
        (["train", "--lr", "nan"], "--lr nan: must be a finite number"),
        (["eval", "--workers=-3"], "argument --workers: must be an integer >= 0, got '-3'"),
        (["index", "search", "idx", "-k", "0"], "argument -k: must be an integer >= 1, got '0'"),
    ]:
        assert main(argv) == 2
        assert expected in capsys.readouterr().err


def test_one_vocabulary_old_spellings_hidden_but_accepted():
    visible = {s for _, _, a in FLAGS for s in a.option_strings}
    assert not visible & set(HIDDEN_ALIASES), "old spellings must not show in --help"
    hidden = [(path, a) for path, parser in PARSERS for a in parser._actions
              if a.help == argparse.SUPPRESS and a.option_strings]
    from eqvl.commands.train import REPLACED  # open_clip flags that point at their replacement, not aliases

    for path, alias in hidden:
        if alias.option_strings[0] in REPLACED:
            continue
        new = HIDDEN_ALIASES[alias.option_strings[0]]
        twin = next(a for a in dict(PARSERS)[path]._actions if new in a.option_strings)
        assert twin.dest == alias.dest, f"{' '.join(path)} {alias.option_strings[0]} is not an alias of {new}"
    assert len(hidden) >= 10
    parser = build_parser()
    old = parser.parse_args(["augment", "--in", "a.csv", "--out", "b.csv", "--caption-column", "c", "--sep", ",",
                             "--quiet"])
    new = parser.parse_args(["augment", "--in", "a.csv", "--output", "b.csv", "--csv-caption-key", "c",
                             "--csv-separator", ",", "--no-progress"])
    assert vars(old) == vars(new)


def test_output_and_its_alias_together_are_refused(capsys):
    assert main(["synth", "--output", "a", "--out", "b"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_every_output_flag_is_spelled_output():
    commands_writing = {p for p, _, a in FLAGS if "--output" in a.option_strings}
    assert {("eval",), ("train",), ("synth",), ("augment",), ("report",), ("demo",), ("index", "build"),
            ("build", "ag"), ("build", "sd-pairs"), ("build", "gallery")} <= commands_writing


def test_train_and_eval_share_the_default_precision():
    from eqvl.train.config import TrainConfig

    parsers = dict(PARSERS)
    eval_default = next(a.default for a in parsers[("eval",)]._actions if a.dest == "precision")
    assert eval_default == TrainConfig().precision == DEFAULT_PRECISION == "amp"


def test_subparsers_of_lists_each_parser_once():
    parser = build_parser()
    assert len(subparsers_of(parser)) == len(set(map(id, subparsers_of(parser))))


# ---------------------------------------------------------------- issue 26.7 / 26.9: descriptions, shared ideas

def test_every_command_and_sub_subcommand_has_a_description():
    missing = [" ".join(path) for path, parser in PARSERS if path and not (parser.description or "").strip()]
    assert missing == []


def test_shared_ideas_have_one_spelling_in_every_command():
    from eqvl.commands.vocabulary import IDEAS, shared_flags, spelling_problems

    root = build_parser()
    assert spelling_problems(root) == []
    ideas = {idea.name for idea, *_ in shared_flags(root)}
    assert ideas == {idea.name for idea in IDEAS}  # every idea is used by some command


def test_shared_ideas_have_one_documented_meaning():
    from eqvl.commands.vocabulary import meaning_problems

    assert meaning_problems(build_parser()) == []  # every command, no exceptions left (issue 26.7)


def test_cli_guide_table_is_generated_from_the_parsers():
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("cli_table", root / "scripts" / "cli_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    doc = (root / "docs" / "guide" / "cli.md").read_text(encoding="utf-8")
    assert module.refreshed(doc) == doc, "docs/guide/cli.md is stale: run python scripts/cli_table.py --write"
    assert "| device | `eqvl eval` | `--device` | auto |" in doc


def test_dir_of_the_package_shows_the_notebook_api():
    import eqvl

    public = [n for n in dir(eqvl) if not n.startswith("_")]
    assert {"load_model", "evaluate", "train_model", "Index"} <= set(public) and "Any" not in public
    assert eqvl.Index.__name__ == "Index"


def test_synth_with_nothing_to_write_is_refused(tmp_path, capsys):
    assert main(["synth", "--output", str(tmp_path / "s"), "--twins", "0"]) == 2
    assert "nothing to write" in capsys.readouterr().err and not (tmp_path / "s").exists()


def test_demo_seed_count_is_n_seeds_and_the_old_spelling_still_parses():
    parser = build_parser()
    assert parser.parse_args(["demo", "--n-seeds", "2"]).seeds == parser.parse_args(["demo", "--seeds", "2"]).seeds == 2


def test_device_defaults_to_auto_in_every_command_and_resolves_by_one_rule(monkeypatch):
    """26.7: `--device` is `auto` in every command (index, build and ground were `cpu`); cli resolves it once."""
    import torch

    from eqvl.commands.common import resolve_device

    devices = {path: a.default for path, _, a in FLAGS if "--device" in a.option_strings}
    assert {("index", "build"), ("index", "search"), ("build", "ag"), ("build", "sd-pairs"), ("ground",),
            ("eval",), ("train",)} <= set(devices)
    assert set(devices.values()) == {"auto"}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu" and resolve_device("cuda:1") == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert resolve_device("auto") == "cuda"
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("auto") == "cuda:1"  # as eqvl train places each torchrun process


def test_the_cli_hands_commands_a_resolved_device(monkeypatch):
    import torch

    import eqvl.cli as cli

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    seen = {}
    parser = build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser._subparsers._group_actions[0].choices["ground"].set_defaults(func=lambda a: seen.setdefault("d", a.device) and 0)
    assert main(["ground", "--model", "m", "--video", "v.mp4", "--before", "a", "--after", "b"]) == 0
    assert seen["d"] == "cpu"
