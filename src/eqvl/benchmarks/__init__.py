"""Benchmark readers, one file each, found through a registry.

Importing this package imports every reader module so that `@register_benchmark`
has run for all of them.
"""

from __future__ import annotations

import importlib
import pkgutil

from eqvl.benchmarks.base import Benchmark, BenchmarkData, get_benchmark, list_benchmarks, register_benchmark


def _import_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base" and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_import_all()

__all__ = ["Benchmark", "BenchmarkData", "get_benchmark", "list_benchmarks", "register_benchmark"]
