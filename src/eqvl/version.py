"""The package version, in its own module so library code can read it without importing the package root."""

__version__ = "0.1.0"
