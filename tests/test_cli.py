import pytest

from eqvl.cli import build_parser, main


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "COMMAND" in capsys.readouterr().out


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2


def test_parser_builds():
    assert build_parser().prog == "eqvl"


def test_every_listed_command_is_in_help_and_every_module_is_listed(capsys):
    """COMMANDS is the one list of subcommands: each appears in --help, and no command module
    (one with `add_parser`) in eqvl/commands/ is left out of it (it would be unreachable).
    Shared helpers of the commands live beside them without `add_parser`."""
    import ast
    from pathlib import Path

    import eqvl.commands
    from eqvl.cli import COMMANDS

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out
    modules = {p.stem for p in Path(eqvl.commands.__file__).parent.glob("*.py")
               if any(isinstance(node, ast.FunctionDef) and node.name == "add_parser"
                      for node in ast.parse(p.read_text(encoding="utf-8")).body)}
    assert "eval" in modules
    assert sorted(modules - set(COMMANDS)) == [], "add these modules to eqvl.cli.COMMANDS"
    assert len(set(COMMANDS)) == len(COMMANDS)


def test_a_listed_command_without_its_module_is_an_error(monkeypatch):
    import eqvl.cli

    monkeypatch.setattr(eqvl.cli, "COMMANDS", [*eqvl.cli.COMMANDS, "no_such_command"])
    with pytest.raises(ModuleNotFoundError, match="no_such_command"):
        build_parser()
