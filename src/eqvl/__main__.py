"""`python -m eqvl ...` (also what `torchrun -m eqvl train ...` runs)."""

from eqvl.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
