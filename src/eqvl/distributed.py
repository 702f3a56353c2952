"""torchrun support for every command, in one place: rank / world from the environment, the
process group (gloo on CPU, nccl on GPU), contiguous shards, and the collectives training
(feature gathering with gradient, means, barriers) and the index build (rank 0's verdict, the
first error of any rank) need.

Training uses open_clip's local-loss pattern: each rank gathers every rank's features through
`torch.distributed.nn.all_gather` (whose backward sums the gradients back to their owner),
computes a loss whose mean over ranks is the global-batch loss, and DDP averages the
parameter gradients. The result equals one process on the global batch.
"""

from __future__ import annotations

import datetime
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Callable, overload

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def init_distributed(device: str = "auto") -> DistInfo:
    """Read RANK / WORLD_SIZE / LOCAL_RANK (torchrun); nccl on GPU, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    if use_cuda:
        dev = torch.device(f"cuda:{local}" if device in ("auto", "cuda") else device)
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=datetime.timedelta(minutes=30))
    if dist.is_initialized():
        world, rank = dist.get_world_size(), dist.get_rank()
    return DistInfo(rank=rank, world=world, local_rank=local, device=dev)


class _ContiguousGrad(torch.autograd.Function):
    """Identity whose backward makes the gradient contiguous.

    The gloo path of `torch.distributed.nn.all_gather`'s backward sends the per-rank slices of
    the incoming gradient through all_to_all as they are; a non-contiguous gradient (einsum's
    backward produces transposed ones) then arrives scrambled. Measured: wrong hard-positive
    gradients under 2 processes until this was added.
    """

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad.contiguous()


@overload
def gather_with_grad(x: torch.Tensor, info: DistInfo) -> torch.Tensor: ...
@overload
def gather_with_grad(x: None, info: DistInfo) -> None: ...
def gather_with_grad(x: torch.Tensor | None, info: DistInfo) -> torch.Tensor | None:
    """Concatenate every rank's tensor along dim 0; gradients flow back to each rank's own rows."""
    if x is None or not info.enabled:
        return x
    import torch.distributed.nn

    with warnings.catch_warnings():
        # deprecated in favour of a private API; it is still the one with a gradient on gloo and nccl
        warnings.simplefilter("ignore", FutureWarning)
        parts = torch.distributed.nn.all_gather(x.contiguous())
    return _ContiguousGrad.apply(torch.cat(parts, dim=0))


@overload
def gather_no_grad(x: torch.Tensor, info: DistInfo) -> torch.Tensor: ...
@overload
def gather_no_grad(x: None, info: DistInfo) -> None: ...
def gather_no_grad(x: torch.Tensor | None, info: DistInfo) -> torch.Tensor | None:
    """Concatenate masks / type ids (no gradient)."""
    if x is None or not info.enabled:
        return x
    out = [torch.empty_like(x) for _ in range(info.world)]
    dist.all_gather(out, x.contiguous())
    return torch.cat(out, dim=0)


def mean_over_ranks(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    """For logging: average scalar values across ranks (one all_reduce)."""
    if not info.enabled or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return {k: float(v) / info.world for k, v in zip(keys, t.tolist())}


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def any_rank(flags: list[bool], info: DistInfo) -> list[bool]:
    """Each flag true on any rank (one all_reduce), so every rank takes the same branch."""
    if not info.enabled:
        return flags
    t = torch.tensor([float(f) for f in flags], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def shard_range(n: int, rank: int, world: int) -> range:
    """Contiguous, disjoint slice of `range(n)` owned by `rank` of `world` (sizes differ by at most one)."""
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank {rank} not in a world of {world}")
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


def rank_and_world() -> tuple[int, int]:
    """(RANK, WORLD_SIZE) as torchrun sets them; (0, 1) when run as a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    shard_range(0, rank, world)  # validates
    return rank, world


def collectives(device: str = "cpu") -> dict[str, Any]:
    """What a sharded writer needs (`eqvl.index.Ranks(**collectives())`): rank, world, a barrier,
    `agree` (every rank gets rank 0's message) and `first_error` (the first non-empty message of
    any rank). Outside torchrun: rank 0 of 1, nothing initialised."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return {}
    info = init_distributed(device)

    def agree(message: str) -> str:
        box = [message]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def first_error(message: str) -> str:
        box: list[str] = [""] * info.world
        dist.all_gather_object(box, message)
        return next((m for m in box if m), "")

    barrier_fn: Callable[[], Any] = dist.barrier
    return {"rank": info.rank, "world": info.world, "barrier": barrier_fn, "agree": agree, "first_error": first_error}


def shutdown() -> None:
    """Leave the process group (a no-op outside torchrun). On a clean exit the ranks meet first: a rank
    that tears down its gloo pairs while a peer still finishes its last collective can abort that peer at
    exit ("terminate called without an active exception"); while an error propagates, no barrier (the
    peers may never arrive, and the launcher stops them)."""
    if dist.is_available() and dist.is_initialized():
        if sys.exc_info()[0] is None:
            dist.barrier()
        dist.destroy_process_group()
