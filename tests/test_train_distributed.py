"""2 processes (gloo, CPU) give the same loss and gradients as 1 process on the global batch."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from eqvl.train import TrainConfig, build_loss
from eqvl.train.batching import Batch
from eqvl.distributed import DistInfo
from eqvl.train.loop import forward_loss

N, K, P, D, WORLD = 8, 2, 1, 6, 2
LOSS = dict(loss="itc+eqsim+ce+hardpos", eqsim_k=3, eqsim_alpha=0.0, eqsim_close="sample", train_data="x")


def _global():
    g = torch.Generator().manual_seed(0)
    return dict(img=torch.randn(N, D, generator=g), cap=torch.randn(N, D, generator=g), neg=torch.randn(N, K, D, generator=g),
                pos=torch.randn(N, P, D, generator=g), neg_mask=torch.rand(N, K, generator=g) > 0.3,
                pos_mask=torch.rand(N, P, generator=g) > 0.3, neg_type=torch.randint(0, 3, (N, K), generator=g),
                scale=torch.tensor(2.5))


class Feats(torch.nn.Module):
    """Stands in for a CLIP model: its parameters *are* the features of this process's rows."""

    def __init__(self, img, txt, scale):
        super().__init__()
        self.img, self.txt, self.scale = (torch.nn.Parameter(x.clone()) for x in (img, txt, scale))

    def forward(self, images, tokens):
        return F.normalize(self.img, dim=-1), F.normalize(self.txt, dim=-1), self.scale.exp()


def _shard(g, rows):
    """Model + Batch for the given global rows, texts laid out as the collate does."""
    n = len(rows)
    nm, pm = g["neg_mask"][rows], g["pos_mask"][rows]
    neg_slots = torch.nonzero(nm.reshape(-1)).flatten()
    pos_slots = torch.nonzero(pm.reshape(-1)).flatten()
    txt = torch.cat([g["cap"][rows], g["neg"][rows].reshape(-1, D)[neg_slots], g["pos"][rows].reshape(-1, D)[pos_slots]])
    batch = Batch(images=torch.zeros(n), tokens=torch.zeros(n), n=n, neg_slots=neg_slots, neg_mask=nm,
                  neg_type=torch.where(nm, g["neg_type"][rows], -1), pos_slots=pos_slots, pos_mask=pm,
                  indices=torch.tensor(rows))
    return Feats(g["img"][rows], txt, g["scale"]), batch


def _run(info: DistInfo, rows):
    g = _global()
    model, batch = _shard(g, rows)
    loss_fn = build_loss(TrainConfig.from_dict(LOSS), n_types=3)
    total, parts = forward_loss(model, loss_fn, batch, info, k=K, p=P, step=3, seed=1)
    total.backward()
    return {"total": total.detach(), "parts": {k: v.detach() for k, v in parts.items()}, "tau": loss_fn.terms["ce"].tau.clone() if "ce" in loss_fn.terms else None,
            "img": model.img.grad, "txt": model.txt.grad, "scale": model.scale.grad, "neg_slots": batch.neg_slots,
            "pos_slots": batch.pos_slots}


def _worker(rank: int, path: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{path}/pg", rank=rank, world_size=WORLD)
    try:
        n = N // WORLD
        out = _run(DistInfo(rank=rank, world=WORLD), list(range(rank * n, (rank + 1) * n)))
        torch.save(out, f"{path}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _split_txt(grad, n, neg_slots, pos_slots):
    mn = neg_slots.numel()
    return grad[:n], grad[n:n + mn], grad[n + mn:]


def test_two_gloo_processes_equal_one_process(tmp_path: Path):
    mp.spawn(_worker, args=(str(tmp_path),), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    single = _run(DistInfo(), list(range(N)))
    # the loss each rank back-propagates averages (as DDP averages gradients) to the global-batch loss
    assert torch.allclose(sum(r["total"] for r in ranks) / WORLD, single["total"], atol=1e-5)
    for name in single["parts"]:
        assert torch.allclose(sum(r["parts"][name] for r in ranks) / WORLD, single["parts"][name], atol=1e-5), name
    assert single["parts"]["eqsim"] > 0 and single["parts"]["ce_rank"] > 0
    for r in ranks:
        assert torch.allclose(r["tau"], single["tau"], atol=1e-6)  # CE margins are identical on every rank
    # gradients: each rank's features get WORLD x the global gradient (all_gather's backward sums over
    # ranks); DDP divides by WORLD when it averages parameter gradients
    n = N // WORLD
    s_cap, s_neg, s_pos = _split_txt(single["txt"], N, single["neg_slots"], single["pos_slots"])
    neg_rows = single["neg_slots"] // K
    pos_rows = single["pos_slots"] // P
    for rank, r in enumerate(ranks):
        rows = slice(rank * n, (rank + 1) * n)
        assert torch.allclose(r["img"] / WORLD, single["img"][rows], atol=1e-5)
        cap, neg, pos = _split_txt(r["txt"], n, r["neg_slots"], r["pos_slots"])
        assert torch.allclose(cap / WORLD, s_cap[rows], atol=1e-5)
        mine = (neg_rows >= rank * n) & (neg_rows < (rank + 1) * n)
        assert torch.allclose(neg / WORLD, s_neg[mine], atol=1e-5)
        mine = (pos_rows >= rank * n) & (pos_rows < (rank + 1) * n)
        assert torch.allclose(pos / WORLD, s_pos[mine], atol=1e-5)
    assert torch.allclose(sum(r["scale"] for r in ranks) / WORLD, single["scale"], atol=1e-5)
