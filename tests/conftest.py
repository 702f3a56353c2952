"""Shared pytest fixtures. Plain helpers (file writers, stub encoders, tiny models, a live server) live in
tests/helpers/ and are imported by their full name, e.g. `from tests.helpers.train import make_csv`.

A test module opts into a fixture here with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""

from __future__ import annotations

from typing import Iterator

import pytest


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """The test machines are small and shared: one intra-op thread avoids oversubscription stalls."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def one_faiss_thread() -> Iterator[None]:
    """OpenMP threads spin on a loaded 2-core machine: small indexes build faster on one."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)
