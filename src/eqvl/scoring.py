"""The scoring engine: the only place in evaluation that calls an encoder.

A benchmark is a list of small items (2x2 twins, 2x1 foils, ...) that share many
images and captions. We collect the UNIQUE images and captions, encode each exactly
once in batches (DataLoader workers decode images), keep the rows in a content-keyed
on-disk cache, and then gather just the [captions x images] scores each item needs.
Pair scorers (ITM heads) cannot embed separately, so they get exactly the unique
(image, caption) pairs the items need.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from eqvl.cache import EmbeddingCache
from eqvl.data.images import image_content_key, load_image, load_image_keyed, text_content_key
from eqvl.data.records import ImageRef, ScoreItem
from eqvl.errors import DataError, EqvlError

log = logging.getLogger(__name__)


@dataclass
class EncodeStats:
    """How much work one kind of input took: unique count, cache hits, rows encoded."""

    unique: int = 0
    cached: int = 0
    encoded: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"unique": self.unique, "cached": self.cached, "encoded": self.encoded, "failed": self.failed}


@dataclass
class Encoded:
    """Embeddings of a list of inputs in input order; rows of failed inputs are NaN."""

    emb: np.ndarray
    bad: dict[int, str] = field(default_factory=dict)
    stats: EncodeStats = field(default_factory=EncodeStats)


@dataclass
class ItemScores:
    """What `score_items` returns: scores of the kept items, and the skipped ones."""

    scores: list[np.ndarray]
    kept: list[int]
    skipped: list[dict[str, str]]
    stats: dict[str, dict[str, int]]


@dataclass
class EngineConfig:
    batch_size: int = 64
    workers: int = 0
    cache: EmbeddingCache | None = None
    skip_bad: bool = False
    progress: bool = True


# ---------------------------------------------------------------- image decoding in workers


class _ImageSet(Dataset):
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


def _loader(dataset: Dataset, cfg: EngineConfig, device: torch.device | None) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        shuffle=False,
        num_workers=cfg.workers,
        collate_fn=_collate,
        pin_memory=bool(device is not None and device.type == "cuda"),
        persistent_workers=False,
    )


def _device_of(encoder: Any) -> torch.device | None:
    model = getattr(encoder, "model", None)
    if isinstance(model, torch.nn.Module):
        try:
            return next(model.parameters()).device
        except StopIteration:
            return None
    return None


# ---------------------------------------------------------------- unique-item encoding


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
    encoder: Any,
    refs: Sequence[ImageRef],
    cfg: EngineConfig,
    on_bad: Callable[[int, str], None] | None = None,
) -> Encoded:
    """Embed each image in `refs` once (cache first). `on_bad(i, msg)` may raise to stop early."""
    stats = EncodeStats(unique=len(refs))
    rows: dict[int, np.ndarray] = {}
    bad: dict[int, str] = {}
    keys: list[str | None] = [None] * len(refs)
    # hash files up front only when the cache may hold some of them; a fresh cache hashes while decoding
    upfront = cfg.cache is not None and cfg.cache.has("image")
    if upfront:
        keys, bad = content_keys(refs, workers=max(2, cfg.workers))
        for i, msg in bad.items():
            if on_bad:
                on_bad(i, msg)
        hits = cfg.cache.lookup("image", [k for k in keys if k is not None])
        for i, k in enumerate(keys):
            if k is not None and k in hits:
                rows[i] = hits[k]
        stats.cached = len(rows)
    # identical bytes under two paths are encoded once (when hashed up front)
    todo: dict[str, list[int]] = defaultdict(list)
    for i, ref in enumerate(refs):
        if i not in rows and i not in bad:
            todo[keys[i] or ref.key()].append(i)
    firsts = [group[0] for group in todo.values()]
    dataset = _ImageSet([refs[i] for i in firsts], encoder.preprocess, with_keys=cfg.cache is not None and not upfront)
    loader = _loader(dataset, cfg, _device_of(encoder)) if firsts else []
    bar = tqdm(total=len(firsts), desc="encoding images", unit="img", disable=not cfg.progress or not firsts)
    try:
        for local_index, pixels, failures, worker_keys in loader:
            for j, msg in failures:
                bad[firsts[j]] = msg
                if on_bad:
                    on_bad(firsts[j], msg)
            if pixels is not None:
                emb = _as_rows(encoder.encode_images(pixels), len(local_index), "encode_images")
                for j, row in zip(local_index, emb):
                    rows[firsts[j]] = row
                stats.encoded += len(local_index)
                if cfg.cache is not None:
                    batch_keys = [keys[firsts[j]] or wk for j, wk in zip(local_index, worker_keys)]
                    cfg.cache.add("image", batch_keys, emb)
            bar.update(len(local_index) + len(failures))
    finally:
        bar.close()
        if cfg.cache is not None:
            cfg.cache.flush("image")
    for group in todo.values():
        for i in group[1:]:
            if group[0] in rows:
                rows[i] = rows[group[0]]
            elif group[0] in bad:
                bad[i] = bad[group[0]]
    stats.failed = len(bad)
    return Encoded(_stack(rows, len(refs)), bad, stats)


def encode_texts(encoder: Any, texts: Sequence[str], cfg: EngineConfig) -> Encoded:
    """Embed each caption once (cache first), in batches."""
    stats = EncodeStats(unique=len(texts))
    rows: dict[int, np.ndarray] = {}
    keys = [text_content_key(t) for t in texts] if cfg.cache is not None else [None] * len(texts)
    if cfg.cache is not None:
        hits = cfg.cache.lookup("text", keys)
        rows = {i: hits[k] for i, k in enumerate(keys) if k in hits}
        stats.cached = len(rows)
    todo = [i for i in range(len(texts)) if i not in rows]
    bar = tqdm(total=len(todo), desc="encoding texts", unit="txt", disable=not cfg.progress or not todo)
    try:
        for start in range(0, len(todo), cfg.batch_size):
            chunk = todo[start : start + cfg.batch_size]
            emb = _as_rows(encoder.encode_texts([texts[i] for i in chunk]), len(chunk), "encode_texts")
            rows.update(zip(chunk, emb))
            stats.encoded += len(chunk)
            if cfg.cache is not None:
                cfg.cache.add("text", [keys[i] for i in chunk], emb)
            bar.update(len(chunk))
    finally:
        bar.close()
        if cfg.cache is not None:
            cfg.cache.flush("text")
    return Encoded(_stack(rows, len(texts)), {}, stats)


def _as_rows(out: torch.Tensor, n: int, what: str) -> np.ndarray:
    out = out.detach().float().cpu()
    if out.ndim != 2 or out.shape[0] != n:
        raise EqvlError(f"encoder.{what} returned shape {tuple(out.shape)} for {n} inputs; expected [{n}, D]")
    return out.numpy()


def _stack(rows: dict[int, np.ndarray], n: int) -> np.ndarray:
    if not rows:
        return np.full((n, 0), np.nan, dtype=np.float32)
    dim = len(next(iter(rows.values())))
    out = np.full((n, dim), np.nan, dtype=np.float32)
    for i, row in rows.items():
        out[i] = row
    return out


# ---------------------------------------------------------------- items -> scores


@dataclass
class _Unique:
    """The benchmark's unique images / captions and, per item, indices into them."""

    refs: list[ImageRef]
    texts: list[str]
    image_idx: list[list[int]]
    text_idx: list[list[int]]
    owners: dict[int, list[str]]  # image index -> ids of the items that use it


def collect_unique(items: Sequence[ScoreItem]) -> _Unique:
    image_pos: dict[str, int] = {}
    text_pos: dict[str, int] = {}
    refs: list[ImageRef] = []
    texts: list[str] = []
    owners: dict[int, list[str]] = defaultdict(list)
    image_idx, text_idx = [], []
    for item in items:
        ii = []
        for ref in item.images:
            k = ref.key()
            if k not in image_pos:
                image_pos[k] = len(refs)
                refs.append(ref)
            ii.append(image_pos[k])
            owners[image_pos[k]].append(item.id)
        ci = []
        for text in item.captions:
            if text not in text_pos:
                text_pos[text] = len(texts)
                texts.append(text)
            ci.append(text_pos[text])
        image_idx.append(ii)
        text_idx.append(ci)
    return _Unique(refs, texts, image_idx, text_idx, owners)


def _bad_image_error(owners: dict[int, list[str]], i: int, msg: str) -> DataError:
    ids = owners.get(i, [])
    who = f"record {ids[0]!r}" + (f" (and {len(ids) - 1} more)" if len(ids) > 1 else "") if ids else "an image"
    return DataError(f"{who}: {msg} (pass --skip-bad to skip such records)", path=None)


def score_items(encoder: Any, items: Sequence[ScoreItem], cfg: EngineConfig) -> ItemScores:
    """Scores [len(captions), len(images)] for every item; with skip_bad, items with a bad image are dropped."""
    uniq = collect_unique(items)

    def on_bad(i: int, msg: str) -> None:
        if not cfg.skip_bad:
            raise _bad_image_error(uniq.owners, i, msg)

    if _is_pair_scorer(encoder):
        return _score_pairs(encoder, items, uniq, cfg, on_bad)
    texts = encode_texts(encoder, uniq.texts, cfg)
    images = encode_images(encoder, uniq.refs, cfg, on_bad)
    kept = [n for n, ii in enumerate(uniq.image_idx) if not any(i in images.bad for i in ii)]
    skipped = _skipped(items, uniq, images.bad, kept)
    scores = gather_scores(
        encoder,
        images.emb,
        texts.emb,
        [uniq.image_idx[n] for n in kept],
        [uniq.text_idx[n] for n in kept],
    )
    return ItemScores(scores, kept, skipped, {"images": images.stats.as_dict(), "texts": texts.stats.as_dict()})


def _skipped(items, uniq: _Unique, bad: dict[int, str], kept: list[int]) -> list[dict[str, str]]:
    keep = set(kept)
    out = []
    for n, item in enumerate(items):
        if n in keep:
            continue
        i = next(i for i in uniq.image_idx[n] if i in bad)
        out.append({"id": item.id, "path": uniq.refs[i].path, "error": bad[i]})
    return out


def gather_scores(
    encoder: Any,
    image_emb: np.ndarray,
    text_emb: np.ndarray,
    image_idx: Sequence[Sequence[int]],
    text_idx: Sequence[Sequence[int]],
) -> list[np.ndarray]:
    """Only the pair scores each item needs, vectorised over items of the same shape."""
    out: list[np.ndarray | None] = [None] * len(image_idx)
    img_t, txt_t = torch.from_numpy(image_emb), torch.from_numpy(text_emb)
    by_shape: dict[tuple[int, int], list[int]] = defaultdict(list)
    for n, (ii, ci) in enumerate(zip(image_idx, text_idx)):
        by_shape[(len(ci), len(ii))].append(n)
    rowwise = getattr(encoder, "score_rows", None)
    for (nc, ni), members in by_shape.items():
        if rowwise is None:
            for n in members:
                s = encoder.score(img_t[list(image_idx[n])], txt_t[list(text_idx[n])])
                out[n] = s.detach().float().cpu().numpy().astype(np.float64)
            continue
        ii = torch.tensor([image_idx[n] for n in members], dtype=torch.long)  # [K, ni]
        ci = torch.tensor([text_idx[n] for n in members], dtype=torch.long)  # [K, nc]
        ci_grid = ci[:, :, None].expand(-1, nc, ni).reshape(-1)
        ii_grid = ii[:, None, :].expand(-1, nc, ni).reshape(-1)
        s = rowwise(img_t[ii_grid], txt_t[ci_grid]).detach().float().cpu().numpy().astype(np.float64)
        s = s.reshape(len(members), nc, ni)
        for k, n in enumerate(members):
            out[n] = s[k]
    return out  # type: ignore[return-value]


# ---------------------------------------------------------------- pair scorers (ITM heads)


def _is_pair_scorer(encoder: Any) -> bool:
    return hasattr(encoder, "score_pairs") and not hasattr(encoder, "encode_images")


def _score_pairs(encoder: Any, items, uniq: _Unique, cfg: EngineConfig, on_bad) -> ItemScores:
    """Score exactly the unique (image, caption) pairs the items need, cache first."""
    pair_pos: dict[tuple[int, int], int] = {}
    for ii, ci in zip(uniq.image_idx, uniq.text_idx):
        for c in ci:
            for i in ii:
                pair_pos.setdefault((i, c), len(pair_pos))
    pairs = list(pair_pos)
    values = np.full(len(pairs), np.nan, dtype=np.float64)
    bad: dict[int, str] = {}
    stats = EncodeStats(unique=len(pairs))
    keys: list[str | None] = [None] * len(pairs)
    if cfg.cache is not None:
        img_keys, bad = content_keys(uniq.refs, workers=max(2, cfg.workers))
        for i, msg in bad.items():
            on_bad(i, msg)
        txt_keys = [text_content_key(t) for t in uniq.texts]
        keys = [f"{img_keys[i]}|{txt_keys[c]}" if img_keys[i] else None for i, c in pairs]
        hits = cfg.cache.lookup("pair", [k for k in keys if k])
        for p, k in enumerate(keys):
            if k in hits:
                values[p] = float(hits[k][0])
        stats.cached = len(hits)
    todo = [p for p, (i, _) in enumerate(pairs) if np.isnan(values[p]) and i not in bad]
    refs = [uniq.refs[pairs[p][0]] for p in todo]
    loader = _loader(_ImageSet(refs, encoder.preprocess), cfg, _device_of(encoder)) if todo else []
    bar = tqdm(total=len(todo), desc="scoring pairs", unit="pair", disable=not cfg.progress or not todo)
    try:
        for local_index, pixels, failures, _ in loader:
            for j, msg in failures:
                img = pairs[todo[j]][0]
                bad[img] = msg
                on_bad(img, msg)
            if pixels is None:
                bar.update(len(failures))
                continue
            texts = [uniq.texts[pairs[todo[j]][1]] for j in local_index]
            s = encoder.score_pairs(pixels, texts).detach().float().cpu().numpy().reshape(-1)
            if len(s) != len(texts):
                raise EqvlError(f"score_pairs returned {len(s)} scores for {len(texts)} pairs")
            for j, v in zip(local_index, s):
                values[todo[j]] = v
            stats.encoded += len(local_index)
            if cfg.cache is not None:
                cfg.cache.add("pair", [keys[todo[j]] for j in local_index], s.reshape(-1, 1))
            bar.update(len(local_index) + len(failures))
    finally:
        bar.close()
        if cfg.cache is not None:
            cfg.cache.flush("pair")
    stats.failed = len(bad)
    kept = [n for n, ii in enumerate(uniq.image_idx) if not any(i in bad for i in ii)]
    scores = []
    for n in kept:
        ii, ci = uniq.image_idx[n], uniq.text_idx[n]
        scores.append(np.array([[values[pair_pos[(i, c)]] for i in ii] for c in ci], dtype=np.float64))
    return ItemScores(scores, kept, _skipped(items, uniq, bad, kept), {"pairs": stats.as_dict()})


# ---------------------------------------------------------------- full-matrix (retrieval)


def embed_all(encoder: Any, refs: Sequence[ImageRef], texts: Sequence[str], cfg: EngineConfig):
    """Embeddings of every listed image and caption (retrieval); a bad image is always an error."""
    if _is_pair_scorer(encoder):
        raise EqvlError(f"{encoder.name} is a pair scorer; full-matrix (retrieval) benchmarks need a dual encoder")
    def on_bad(i: int, msg: str) -> None:
        raise DataError(f"{msg} (retrieval needs every image; --skip-bad cannot drop it)", path=None)

    uniq_text: dict[str, int] = {}
    for t in texts:
        uniq_text.setdefault(t, len(uniq_text))
    uniq_image: dict[str, int] = {}
    image_refs: list[ImageRef] = []
    for ref in refs:
        if uniq_image.setdefault(ref.key(), len(image_refs)) == len(image_refs):
            image_refs.append(ref)
    text_enc = encode_texts(encoder, list(uniq_text), cfg)
    image_enc = encode_images(encoder, image_refs, cfg, on_bad)
    text_emb = text_enc.emb[[uniq_text[t] for t in texts]]
    image_emb = image_enc.emb[[uniq_image[r.key()] for r in refs]]
    for what, emb in (("image", image_emb), ("text", text_emb)):
        if emb.size == 0 or not np.isfinite(emb).all():
            raise EqvlError(f"the encoder produced empty or non-finite {what} embeddings; refusing to rank them")
    stats = {"images": image_enc.stats.as_dict(), "texts": text_enc.stats.as_dict()}
    return torch.from_numpy(image_emb), torch.from_numpy(text_emb), stats
