"""`torchrun ... -m eqvl index build`: the collectives a sharded build needs, from torch.distributed.

The process group comes from torchrun's environment (gloo on CPU, nccl on GPU) through the
trainer's `init_distributed`; a build needs only a barrier and rank 0's verdict on the lock.
"""

from __future__ import annotations

import os

from eqvl.index.writer import Ranks


def ranks_from_env(device: str = "cpu") -> Ranks:
    """Rank 0 of 1 outside torchrun; otherwise this process's rank with barrier / broadcast."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Ranks()
    import torch.distributed as dist

    from eqvl.train.distributed import init_distributed

    info = init_distributed(device)

    def agree(message: str) -> str:
        box = [message]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def first_error(message: str) -> str:
        box: list[str] = [""] * info.world
        dist.all_gather_object(box, message)
        return next((m for m in box if m), "")

    return Ranks(rank=info.rank, world=info.world, barrier=dist.barrier, agree=agree, first_error=first_error)


def shutdown() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
