"""Benchmark readers, one file each, found through a registry (`base.READERS`, the explicit
list of reader modules, imported on the first lookup).
"""

from eqvl.benchmarks.base import Benchmark, BenchmarkData, get_benchmark, list_benchmarks, register_benchmark

__all__ = ["Benchmark", "BenchmarkData", "get_benchmark", "list_benchmarks", "register_benchmark"]
