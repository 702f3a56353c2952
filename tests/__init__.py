"""The test suite is a package so that shared helpers import by their full name (tests.helpers.*);
pytest's default (prepend) import mode puts the repository root on sys.path for it."""
