"""What one epoch is: the global row order a `GlobalBatchSampler` slices into batches.

eqvl's own definition (the default): one pass over the usable rows in a seeded random order, the last
partial global batch dropped. open_clip's webdataset definitions, under open_clip's names:

- `train_num_samples` N: an epoch is ceil(N / global batch) steps (open_clip rounds up and "rolls over
  and repeats a few samples to get the same number of full batches"); when that is more rows than one
  pass has, the order walks on through freshly shuffled passes. open_clip also rounds the steps up to a
  multiple of its DataLoader workers, because each of its webdataset workers counts its own share; eqvl's
  sampler is one global order, so its steps do not depend on `workers`.
- `dataset_resampled`: samples drawn with replacement (open_clip's `ResampledShards2`): shards of tar data
  drawn uniformly with replacement, all of a drawn shard's samples taken and shuffled (open_clip shuffles
  them in a buffer); rows of a CSV / JSONL, which has no shards, each their own unit. Without N an epoch
  draws as many samples as there are usable rows (open_clip takes the size from the shards' info file).

Every order depends only on (seed, epoch): the same on every process and after a resume.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from eqvl.errors import EqvlError
from eqvl.train.dataset import seed_of


def blocks_of(units: Sequence[Sequence[int]], groups: int) -> list[list[int]]:
    """Each unit's rows cut into blocks of `groups` consecutive rows (a short tail is dropped)."""
    return [list(u[i:i + groups]) for u in units for i in range(0, len(u) - groups + 1, groups)]


def one_pass(n: int, groups: int, generator: torch.Generator) -> list[int]:
    """Whole blocks of `groups` consecutive rows in random block order (groups=1: a plain permutation)."""
    blocks = torch.randperm(n // groups, generator=generator).tolist()
    return [blk * groups + j for blk in blocks for j in range(groups)]


def steps_in_epoch(n: int, global_batch: int, groups: int, num_samples: int | None, resampled: bool) -> int:
    if num_samples is None and not resampled:
        return (n - n % groups) // global_batch
    return math.ceil((num_samples or n) / global_batch)


def epoch_order(n: int, global_batch: int, seed: int, epoch: int, *, groups: int = 1, num_samples: int | None = None,
                resampled: bool = False, units: Sequence[Sequence[int]] | None = None) -> list[int]:
    """The epoch's global row order, exactly `steps_in_epoch(...) * global_batch` rows long."""
    need = steps_in_epoch(n, global_batch, groups, num_samples, resampled) * global_batch
    if resampled:
        return _resampled(n, need, seed, epoch, groups, units)
    order: list[int] = []
    extra = 0
    while len(order) < need:  # pass 0 is the default order (same generator), later passes reshuffle
        parts = (seed, epoch, 7) if extra == 0 else (seed, epoch, 7, extra)
        order += one_pass(n, groups, torch.Generator().manual_seed(seed_of(*parts)))
        extra += 1
    return order[:need]


def _resampled(n: int, need: int, seed: int, epoch: int, groups: int,
               units: Sequence[Sequence[int]] | None) -> list[int]:
    g = torch.Generator().manual_seed(seed_of(seed, epoch, 11))
    if units is None:  # rows (or batch-group blocks) drawn with replacement, vectorised
        draws = torch.randint(n // groups, (math.ceil(need / groups),), generator=g).tolist()
        return [blk * groups + j for blk in draws for j in range(groups)][:need]
    per_unit = [blocks_of([u], groups) for u in units]
    if not any(per_unit):
        raise EqvlError(f"no shard holds a whole block of `batch_groups` {groups} rows to draw", param="batch_groups")
    blocks: list[list[int]] = []
    have = 0
    while have < need:  # shards drawn with replacement until the epoch has its samples
        drawn = per_unit[int(torch.randint(len(units), (1,), generator=g))]
        blocks += drawn
        have += len(drawn) * groups
    shuffled = [blocks[i] for i in torch.randperm(len(blocks), generator=g).tolist()]
    return [row for blk in shuffled for row in blk][:need]


def shard_units(shards: Sequence[str | None]) -> list[list[int]] | None:
    """Row indices grouped by their tar shard (in order); None when the rows come from no shards."""
    if not shards or any(s is None for s in shards):
        return None
    units: dict[str, list[int]] = {}
    for i, shard in enumerate(shards):
        units.setdefault(str(shard), []).append(i)
    return list(units.values())
