"""Running the `eqvl` CLI in-process the way a user meets a mistake: one line, no traceback."""

from __future__ import annotations

from eqvl.cli import main


def cli_error(capsys, argv: list[str], *needles: str) -> str:
    """Run `eqvl ARGV`, expect exit 2 and exactly one stderr line (no traceback) holding every needle."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err
