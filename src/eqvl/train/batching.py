"""Batches: the sampler that fixes which rows form each global batch, and the collate that pads
hard negatives / positives to fixed shapes and tokenises every text of a batch in one call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import torch

from eqvl.errors import EqvlError
from eqvl.train.dataset import seed_of
from eqvl.train.records import UNTYPED, Row


@dataclass
class Batch:
    """One process's share of a global batch, texts tokenised in one tensor: [captions; negatives; positives]."""

    images: torch.Tensor
    tokens: torch.Tensor
    n: int
    neg_slots: torch.Tensor  # [Mn] flat index b*K + k of each encoded negative
    neg_mask: torch.Tensor  # [n, K] bool
    neg_type: torch.Tensor  # [n, K] long (-1 = pad)
    pos_slots: torch.Tensor
    pos_mask: torch.Tensor  # [n, P]
    indices: torch.Tensor

    def to(self, device: torch.device) -> "Batch":
        return Batch(**{k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v)
                        for k, v in self.__dict__.items()})


class Collate:
    """Pads hard negatives / positives to fixed K / P (same shapes on every rank, so they can be gathered)."""

    def __init__(self, tokenizer: Callable, k: int, p: int, type_ids: dict[str, int], cache: bool = False):
        self.tokenizer, self.k, self.p, self.type_ids = tokenizer, k, p, type_ids
        #: text -> token row; on for preloaded (small) datasets, where every epoch repeats the same texts
        self.cache: dict[str, torch.Tensor] | None = {} if cache else None

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        if self.cache is None:
            return self.tokenizer(texts)
        todo = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if todo:
            self.cache.update(zip(todo, self.tokenizer(todo)))
        return torch.stack([self.cache[t] for t in texts])

    def __call__(self, items: Sequence[dict[str, Any]]) -> Batch:
        n = len(items)
        texts = [it["caption"] for it in items]
        neg_mask = torch.zeros(n, self.k, dtype=torch.bool)
        neg_type = torch.full((n, self.k), -1, dtype=torch.long)
        pos_mask = torch.zeros(n, self.p, dtype=torch.bool)
        neg_slots, pos_slots, pos_texts = [], [], []
        for b, it in enumerate(items):
            for k, (text, typ) in enumerate(it["negatives"][: self.k]):
                texts.append(text)
                neg_slots.append(b * self.k + k)
                neg_mask[b, k] = True
                neg_type[b, k] = self.type_ids.get(typ, self.type_ids[UNTYPED])
            for p, text in enumerate(it["positives"][: self.p]):
                pos_texts.append(text)
                pos_slots.append(b * self.p + p)
                pos_mask[b, p] = True
        return Batch(images=torch.stack([it["image"] for it in items]), tokens=self.tokenize(texts + pos_texts), n=n,
                     neg_slots=torch.tensor(neg_slots, dtype=torch.long), neg_mask=neg_mask, neg_type=neg_type,
                     pos_slots=torch.tensor(pos_slots, dtype=torch.long), pos_mask=pos_mask,
                     indices=torch.tensor([it["index"] for it in items], dtype=torch.long))


class GlobalBatchSampler(torch.utils.data.Sampler):
    """Epoch permutation from (seed, epoch); global batch g -> this rank's slice [rank*b, (rank+1)*b).

    One process with batch W*b and W processes with batch b see the same global batches, in the
    same order; `skip` drops the first batches (resume) without loading them.
    """

    def __init__(self, n: int, batch_size: int, world: int, rank: int, seed: int, groups: int = 1):
        self.n, self.b, self.world, self.rank, self.seed, self.groups = n, batch_size, world, rank, seed, groups
        self.epoch, self.skip = 0, 0
        if self.n < self.b * world:
            raise EqvlError(f"{n} usable rows are fewer than one global batch ({batch_size} x {world} processes); "
                            "lower --batch-size")
        if batch_size % groups:
            raise EqvlError(f"--batch-size {batch_size} must be a multiple of --batch-groups {groups}")

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def __len__(self) -> int:
        return (self.n - self.n % self.groups) // (self.b * self.world) - self.skip

    def __iter__(self) -> Iterator[list[int]]:
        g = torch.Generator().manual_seed(seed_of(self.seed, self.epoch, 7))
        # whole blocks of `groups` consecutive rows in random block order (groups=1: a plain permutation;
        # a short last block is dropped)
        blocks = torch.randperm(self.n // self.groups, generator=g).tolist()
        perm = [blk * self.groups + j for blk in blocks for j in range(self.groups)]
        gb = self.b * self.world
        for i in range(self.skip, len(perm) // gb):
            start = i * gb + self.rank * self.b
            yield perm[start: start + self.b]


def type_vocabulary(rows: list[Row], generated: bool) -> list[str]:
    """Negative type names seen in the data (plus the augmenter's when generating); index = CE's tau slot."""
    names = {t for r in rows for t in r.pair.negative_types}
    if generated:
        names |= {"swap", "replace", "negate", "count", "attribute_swap"}
    names.add(UNTYPED)
    return sorted(names)
