"""Subcommands of the `eqvl` CLI, one module each."""
