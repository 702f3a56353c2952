"""Many images -> normalised embeddings: each unique file decoded once in DataLoader workers,
encoded in batches, looked up in / written to the embedding cache by content hash."""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from eqvl.progress import progress_bar

from eqvl.data.images import image_content_key, load_image, load_image_keyed
from eqvl.data.records import ImageRef
from eqvl.encode.types import EncodeConfig, Encoded, EncodeStats, as_rows, check_embeds, device_of, stack_rows
from eqvl.errors import DataError
from eqvl.processes import data_loader

if TYPE_CHECKING:
    from eqvl.models.base import Encoder


class ImageSet(Dataset):
    """Decodes + preprocesses images in DataLoader workers; a failure is returned, not raised,
    so the main process can name the record (or skip it) instead of a worker traceback."""

    def __init__(self, refs: Sequence[ImageRef], preprocess: Callable, with_keys: bool = False):
        self.refs, self.preprocess, self.with_keys = list(refs), preprocess, with_keys

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, index: int):
        ref, key = self.refs[index], None
        try:
            if self.with_keys:  # cold cache: hash the bytes read for decoding, not in a separate pass
                image, key = load_image_keyed(ref)
            else:
                image = load_image(ref)
            return index, self.preprocess(image), None, key
        except DataError as exc:
            return index, None, str(exc), None
        except Exception as exc:  # a broken transform on a strange image must still name the file
            return index, None, f"{ref.path}: cannot preprocess image: {exc}", None


def _collate(batch):
    good = [(i, p, k) for i, p, err, k in batch if err is None]
    bad = [(i, err) for i, _, err, _ in batch if err is not None]
    index = [i for i, _, _ in good]
    pixels = torch.stack([p for _, p, _ in good]) if good else None
    return index, pixels, bad, [k for _, _, k in good]


def image_batches(dataset: ImageSet, cfg: EncodeConfig, device: torch.device | None) -> DataLoader:
    """Batches of (indices, pixels [B, 3, H, W] or None, [(index, error)], content keys)."""
    return data_loader(
        dataset,
        batch_size=cfg.batch_size,
        shuffle=False,
        num_workers=cfg.workers,
        collate_fn=_collate,
        pin_memory=bool(device is not None and device.type == "cuda"),
        persistent_workers=False,
    )


def content_keys(refs: Sequence[ImageRef], workers: int = 4) -> tuple[list[str | None], dict[int, str]]:
    """Hash every image file (threads: hashing releases the GIL); unreadable files are reported."""
    keys: list[str | None] = [None] * len(refs)
    bad: dict[int, str] = {}

    def one(i: int) -> None:
        try:
            keys[i] = image_content_key(refs[i])
        except DataError as exc:
            bad[i] = str(exc)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(one, range(len(refs))))
    return keys, bad


def encode_images(
    encoder: Encoder,
    refs: Sequence[ImageRef],
    cfg: EncodeConfig,
    on_bad: Callable[[int, str], None] | None = None,
    between: Callable[[], object] | None = None,
) -> Encoded:
    """Embed each image in `refs` once (cache first). `on_bad(i, msg)` may raise to stop early;
    `between()` runs after each encoded batch, while the decode workers prepare the next ones.

    Rows are handed to the cache's background writer as they come; the caller owning the
    cache calls `cache.close()` at the end of its run (evaluation does)."""
    check_embeds(encoder)
    stats = EncodeStats(unique=len(refs))
    rows: dict[int, np.ndarray] = {}
    bad: dict[int, str] = {}
    keys: list[str | None] = [None] * len(refs)
    # hash files up front only when the cache may hold some of them; a fresh cache hashes while decoding
    upfront = cfg.cache is not None and cfg.cache.has("image")
    if upfront and cfg.cache is not None:
        keys, bad = content_keys(refs, workers=max(2, cfg.workers))
        for i, msg in bad.items():
            if on_bad:
                on_bad(i, msg)
        hits = cfg.cache.lookup("image", [k for k in keys if k is not None])
        rows = {i: hits[k] for i, k in enumerate(keys) if k is not None and k in hits}
        stats.cached = len(rows)
    # identical bytes under two paths are encoded once (when hashed up front)
    todo: dict[str, list[int]] = defaultdict(list)
    for i, ref in enumerate(refs):
        if i not in rows and i not in bad:
            todo[keys[i] or ref.key()].append(i)
    firsts = [group[0] for group in todo.values()]
    if firsts:
        dataset = ImageSet([refs[i] for i in firsts], encoder.preprocess, with_keys=cfg.cache is not None and not upfront)
        _encode_new(encoder, dataset, firsts, keys, cfg, rows, bad, stats, on_bad, between)
    for group in todo.values():
        for i in group[1:]:
            if group[0] in rows:
                rows[i] = rows[group[0]]
            elif group[0] in bad:
                bad[i] = bad[group[0]]
    stats.failed = len(bad)
    return Encoded(stack_rows(rows, len(refs)), bad, stats)


def _encode_new(encoder, dataset: ImageSet, firsts: list[int], keys: list[str | None], cfg: EncodeConfig,
                rows: dict[int, np.ndarray], bad: dict[int, str], stats: EncodeStats, on_bad, between) -> None:
    """The decode -> encode -> cache loop over the images not found in the cache."""
    bar = progress_bar(total=len(firsts), desc="encoding images", unit="img", disable=not cfg.progress)
    try:
        for local_index, pixels, failures, worker_keys in image_batches(dataset, cfg, device_of(encoder)):
            for j, msg in failures:
                bad[firsts[j]] = msg
                if on_bad:
                    on_bad(firsts[j], msg)
            if pixels is not None:
                emb = as_rows(encoder.encode_images(pixels), len(local_index), "encode_images")
                for j, row in zip(local_index, emb):
                    rows[firsts[j]] = row
                stats.encoded += len(local_index)
                if cfg.cache is not None:
                    cfg.cache.add("image", [keys[firsts[j]] or wk for j, wk in zip(local_index, worker_keys)], emb)
            bar.update(len(local_index) + len(failures))
            if between is not None:
                between()
    finally:
        bar.close()
        if cfg.cache is not None:
            cfg.cache.flush("image")
