"""Batches: the sampler that fixes which rows form each global batch, and the collate that pads
hard negatives / positives to fixed shapes and tokenises every text of a batch in one call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from eqvl.errors import EqvlError
from eqvl.train.epochs import epoch_order, steps_in_epoch
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
    #: [negatives, positives] dropped (mask off) because their tokens equal their caption's: a long caption's
    #: rewrite that changed only text after the tokenizer's context is no negative (nor positive) at all
    same_as_caption: torch.Tensor | None = None
    #: --close-cache (ITM models): each anchor's K negatives drawn from the cache, [n K] images and tokens
    #: (anchor b's at b K + k), [n, K] cached probabilities and row ids; None otherwise
    close_images: torch.Tensor | None = None
    close_tokens: torch.Tensor | None = None
    close_scores: torch.Tensor | None = None
    close_rows: torch.Tensor | None = None

    def to(self, device: torch.device) -> "Batch":
        moved: dict[str, Any] = {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v)
                                 for k, v in self.__dict__.items()}
        return Batch(**moved)


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
        tokens = self.tokenize(texts + pos_texts)
        same = drop_same_as_caption(tokens, n, neg_slots, neg_mask, self.k, pos_slots, pos_mask, self.p)
        batch = Batch(images=torch.stack([it["image"] for it in items]), tokens=tokens, n=n,
                      neg_slots=torch.tensor(neg_slots, dtype=torch.long), neg_mask=neg_mask, neg_type=neg_type,
                      pos_slots=torch.tensor(pos_slots, dtype=torch.long), pos_mask=pos_mask,
                      indices=torch.tensor([it["index"] for it in items], dtype=torch.long), same_as_caption=same)
        if "close" in items[0]:
            close = [it["close"] for it in items]
            batch.close_images = torch.stack([im for c in close for im in c["images"]])
            batch.close_tokens = self.tokenize([t for c in close for t in c["captions"]])
            batch.close_scores = torch.from_numpy(np.stack([c["scores"] for c in close])).float()
            batch.close_rows = torch.from_numpy(np.stack([c["rows"] for c in close]).astype(np.int64))
        return batch


def drop_same_as_caption(tokens: Any, n: int, neg_slots: list[int], neg_mask: torch.Tensor, k: int,
                         pos_slots: list[int], pos_mask: torch.Tensor, p: int) -> torch.Tensor:
    """Switch off (in the masks) every hard text whose token row equals its caption's; [negatives, positives]
    switched off. Only token tensors can be compared; other tokenizers' outputs are left as they are."""
    counts = torch.zeros(2, dtype=torch.long)
    if not isinstance(tokens, torch.Tensor) or tokens.ndim != 2:
        return counts
    for which, (slots, mask, width, start) in enumerate(((neg_slots, neg_mask, k, n),
                                                         (pos_slots, pos_mask, p, n + len(neg_slots)))):
        if not slots:
            continue
        rows = torch.tensor(slots, dtype=torch.long) // width
        same = (tokens[start:start + len(slots)] == tokens[rows]).all(dim=1)
        if bool(same.any()):
            flat = mask.view(-1)
            flat[torch.tensor(slots, dtype=torch.long)[same]] = False
            counts[which] = int(same.sum())
    return counts


class SameAsCaption:
    """Counts the hard texts `drop_same_as_caption` switched off; words the warning the run gives once."""

    def __init__(self) -> None:
        self.negatives = self.positives = 0
        self.warned = False

    def add(self, counts: torch.Tensor | None) -> str | None:
        """Add one batch's [negatives, positives]; the warning line the first time any are dropped, else None."""
        if counts is None or not bool(counts.any()):
            return None
        self.negatives += int(counts[0])
        self.positives += int(counts[1])
        if self.warned:
            return None
        self.warned = True
        return (f"{int(counts[0])} hard negative(s) and {int(counts[1])} hard positive(s) of this batch have the same "
                "tokens as their caption (a long caption whose rewrite changed only text past the tokenizer's "
                "context): they are dropped from the loss, and counted in metrics.jsonl's end record")


class GlobalBatchSampler(torch.utils.data.Sampler):
    """Epoch permutation from (seed, epoch); global batch g -> this rank's slice [rank*b, (rank+1)*b).

    One process with batch W*b and W processes with batch b see the same global batches, in the
    same order; `skip` drops the first batches (resume) without loading them.
    """

    def __init__(self, n: int, batch_size: int, world: int, rank: int, seed: int, groups: int = 1, *,
                 num_samples: int | None = None, resampled: bool = False, units: list[list[int]] | None = None):
        self.n, self.b, self.world, self.rank, self.seed, self.groups = n, batch_size, world, rank, seed, groups
        #: open_clip's epoch definitions (--train-num-samples, --dataset-resampled; see eqvl.train.epochs)
        self.num_samples, self.resampled, self.units = num_samples, resampled, units
        self.epoch, self.skip = 0, 0
        if self.n < self.b * world:
            raise EqvlError(f"{n} usable rows are fewer than one global batch ({batch_size} x {world} processes); "
                            "lower `batch_size`", params=("batch_size",))
        if batch_size % groups:
            raise EqvlError(f"`batch_size` {batch_size} must be a multiple of `batch_groups` {groups}", params=("batch_size", "batch_groups"))

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def __len__(self) -> int:
        return steps_in_epoch(self.n, self.b * self.world, self.groups, self.num_samples, self.resampled) - self.skip

    def __iter__(self) -> Iterator[list[int]]:
        # whole blocks of `groups` consecutive rows in random block order (groups=1: a plain permutation;
        # a short last block is dropped), or open_clip's epochs of N samples / drawn with replacement
        perm = epoch_order(self.n, self.b * self.world, self.seed, self.epoch, groups=self.groups,
                           num_samples=self.num_samples, resampled=self.resampled, units=self.units)
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
