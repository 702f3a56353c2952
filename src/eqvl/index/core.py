"""`Index`: open a built index, search it by text or image, add and remove images.

    from eqvl.index import Index
    idx = Index.open("idx/")
    hits = idx.search(texts=["a red car left of a bus"], k=10)[0]

An opened index is one generation: later writes by other processes are not seen until the
index is opened again (`eqvl index serve` does that on its own, see `eqvl.index.live`). The
open generation is leased (`store.open_generation`): no writer deletes it until `close()`.
The query model is the one named in the manifest; an encoder passed in must have the same
identity (`eqvl.index.identity`: name, weights hash, preprocessing; not precision), or the
query is refused with every field that differs.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import torch

from eqvl.encode.types import check_embeds
from eqvl.errors import EqvlError
from eqvl.index import ann, rerank, search, store
from eqvl.index.embedding import EmbedOptions
from eqvl.index.identity import describe_model, model_info, refusal
from eqvl.index.metadata import MetaStore
from eqvl.index.purge import check_trainable
from eqvl.index.sources import Item, SourceFormat, read_items
from eqvl.index.vectors import VectorStore
from eqvl.index.search import Ranked
from eqvl.index.query import MAX_TEXT_CHARS, check_text, load_query_image, parse_where
from eqvl.index.writer import WriteReport, remove_paths, write_items

if TYPE_CHECKING:
    from eqvl.models.base import Encoder, PairScorer

__all__ = ["Hit", "Index", "MAX_TEXT_CHARS", "check_text", "describe_model", "load_query_image", "parse_where"]
#: the most hits one query may ask for (a guard against a typo asking for the whole collection)
MAX_K = 10_000


@dataclass
class Hit:
    """One result: stable id, score, which stage produced the score, and the image's metadata."""

    id: int
    score: float
    stage: str
    path: str
    caption: str
    meta: dict[str, Any] = field(default_factory=dict)
    first_stage_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Index:
    """A read-only view of one generation, plus the writes that create the next one."""

    def __init__(self, root: Path, encoder: Encoder | PairScorer | None = None, device: str = "cpu", mmap: bool = False):
        self.root = Path(root)
        self.device = device
        self._encoder: Encoder | None = None
        self._lease: store.Lease | None = store.open_generation(self.root)
        try:
            self._load(mmap)
            if encoder is not None:
                self.check_encoder(encoder)
                self._encoder = check_embeds(encoder)
        except BaseException:
            store.Lease.release(self._lease)
            raise

    def _load(self, mmap: bool) -> None:
        assert self._lease is not None
        self.generation = gen = self._lease.gen
        self.manifest = store.read_manifest(gen)
        try:
            self.spec = ann.IndexSpec.from_dict(self.manifest["index"])
            shards, dim = list(self.manifest["shards"]), int(self.manifest["dim"])
        except (KeyError, TypeError, ValueError) as exc:
            raise EqvlError(f"{gen / store.MANIFEST}: incomplete manifest ({exc}) (corrupt index)") from None
        self.meta = MetaStore.open_readonly(gen / store.META)
        self.vectors = VectorStore(self.root / store.VECTORS, shards, dim)
        self.faiss = ann.read(gen / store.FAISS_FILE, mmap=mmap or bool(self.spec.facts.get("on_disk")))
        self.deleted = store.load_deleted(gen)

    def close(self) -> None:
        """Release this generation (a replaced one is then removed if no other reader holds it)."""
        lease = getattr(self, "_lease", None)
        if lease is not None:
            self.meta.close()
            self._lease = None
            store.release(self.root, lease)

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ opening, building

    @classmethod
    def open(cls, root: str | os.PathLike, encoder: Encoder | PairScorer | None = None, device: str = "cpu", mmap: bool = False) -> "Index":
        """Open the live generation (leased, so no writer deletes it while it is open; a generation
        switch while opening is retried)."""
        return cls(Path(root), encoder, device, mmap)

    @classmethod
    def build(cls, root: str | os.PathLike, images: str | os.PathLike | Sequence[Item], model: str,
              pretrained: str | None = None, *, index: Any = "auto", overwrite: bool = False, device: str = "cpu",
              precision: str = "amp", seed: int = 0, fmt: SourceFormat | None = None,
              options: EmbedOptions | None = None, ranks: Any = None, encoder: Encoder | None = None) -> WriteReport | None:
        """Embed `images` with `model` and write a new index at `root` (see `eqvl index build`).
        `encoder`: the already-built `model` (saves building it again); its identity goes into the manifest."""
        from eqvl.models import load_encoder

        root = check_output(root, overwrite)
        items = read_items(images, fmt) if isinstance(images, (str, os.PathLike)) else list(images)
        if isinstance(index, str) and index not in ann.KINDS:  # a bad or untrainable --index fails before embedding
            check_trainable(ann.choose_spec(index, len(items), 8).factory, len(items))
        if pretrained and os.path.exists(pretrained):
            pretrained = os.path.abspath(pretrained)  # the index must find its model from any folder
        if encoder is None:
            encoder = check_embeds(load_encoder(model, pretrained, device=device, seed=seed, precision=precision))
        if getattr(encoder, "multi_vector", False):  # BLIP-2's ITC: Q vectors per image, scored by their max
            raise EqvlError(f"{model}: its image embedding is several vectors scored by their best match; an index "
                            "holds one vector per image: use it with eqvl eval or as `rerank_model`", params=("rerank_model",))
        info = model_info(encoder, model, pretrained, precision, seed)
        opts = replace(options) if options is not None else EmbedOptions()  # never mutate the caller's options
        created = not root.exists()
        if opts.cache is None:
            opts.cache = _staging_cache(root, encoder)
        try:
            return write_items(root, encoder, info, items, opts, index, ranks)
        except EqvlError:
            if created and root.is_dir() and not any(root.iterdir()):
                root.rmdir()  # a refused first build leaves not even its folder
            raise

    # ------------------------------------------------------------ model

    @property
    def model(self) -> dict[str, Any]:
        return dict(self.manifest["model"])

    @property
    def encoder(self) -> Encoder:
        """The query model named in the manifest (loaded on first use, checked against the index)."""
        if self._encoder is None:
            from eqvl.models import load_encoder

            m = self.model
            enc = load_encoder(m["name"], m["pretrained"], device=self.device, seed=int(m.get("seed", 0)),
                               precision=m.get("precision", "fp32"))
            self.check_encoder(enc, what="the index's own model as loaded now")
            self._encoder = check_embeds(enc)
        return self._encoder

    def check_encoder(self, encoder: Encoder | PairScorer, what: str = "the query model") -> None:
        message = refusal(self.root, self.model, encoder, what)
        if message:
            raise EqvlError(message)

    # ------------------------------------------------------------ properties

    @property
    def count(self) -> int:
        return int(self.manifest["count"])

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    def columns(self) -> list[str]:
        return [c for c in self.meta.columns() if c != "id"]

    def image_path(self, id_: int) -> str | None:
        """Stored path of an indexed id (None for an id not in the index)."""
        row = self.meta.rows([int(id_)]).get(int(id_))
        return row["path"] if row else None

    # ------------------------------------------------------------ search

    def embed_query(self, texts: Sequence[str] | None = None, images: Sequence[Any] | None = None) -> np.ndarray:
        """Normalised query embeddings of texts, or of images (PIL images or paths)."""
        from eqvl.encode import EncodeConfig, encode_texts

        if texts is not None and images is None:
            for text in texts:
                check_text(text)
            return encode_texts(self.encoder, list(texts), EncodeConfig(progress=False)).emb
        if images is not None and texts is None:
            pixels = torch.stack([self.encoder.preprocess(load_query_image(im)) for im in images])
            return self.encoder.encode_images(pixels).detach().float().cpu().numpy()
        raise EqvlError("give a query: texts or images (not both)")

    def search(self, texts: Sequence[str] | None = None, images: Sequence[Any] | None = None, k: int = 10,
               where: Mapping[str, Any] | Sequence[str] | None = None, rerank_model: Encoder | PairScorer | None = None,
               rerank_k: int = 100) -> list[list[Hit]]:
        """Top-k hits per query (filtered by `where` before the cut; re-ranked by `rerank_model` if given)."""
        if not isinstance(k, int) or k <= 0:
            raise EqvlError(f"k must be a positive integer, got {k!r}")
        if k > MAX_K:
            raise EqvlError(f"k = {k} is over the limit of {MAX_K}")
        if rerank_model is not None and rerank_k < k:
            raise EqvlError(f"`rerank_k` ({rerank_k}) must be at least k ({k})", params=("rerank_k",))
        filters = parse_where(where)
        allowed = self.meta.filter_ids(filters) if filters else None
        queries = self.embed_query(texts, images)
        depth = rerank_k if rerank_model is not None else k
        stages: list[str] = []
        ranked = search.search(self.faiss, self.spec, self.vectors, queries, depth, self.count, self.deleted,
                               allowed, live_ids=self.meta.live_ids, stages=stages)
        out = []
        for n, found in enumerate(ranked):
            hits = self._hits(found, stages[n])
            if rerank_model is not None:
                hits = self._rerank(hits, rerank_model, _query_at(texts, images, n), k)
            out.append(hits[:k])
        return out

    def _hits(self, found: Ranked, stage: str) -> list[Hit]:
        rows = self.meta.rows([i for i, _ in found])
        hits = []
        for id_, score in found:
            row = rows[id_]
            extra = {c: v for c, v in row.items() if c not in ("id", "path", "caption", "hash")}
            hits.append(Hit(id_, score, stage, row["path"], row["caption"], extra))
        return hits

    def _rerank(self, hits: list[Hit], model: Encoder | PairScorer, query: dict[str, Any], k: int) -> list[Hit]:
        scores = rerank.rerank_scores(model, [h.path for h in hits], **query)
        order = rerank.reorder(np.array([h.id for h in hits], dtype=np.int64), scores, k)
        stage = rerank.stage_name(model)
        out = []
        for i in order:
            h = hits[i]
            ok = not np.isnan(scores[i])
            out.append(Hit(h.id, float(scores[i]) if ok else h.score, stage if ok else f"{h.stage} (unreadable for re-rank)",
                           h.path, h.caption, h.meta, h.score))
        return out

    # ------------------------------------------------------------ writes (each opens the next generation)

    def add(self, images: str | os.PathLike | Sequence[Item], *, fmt: SourceFormat | None = None,
            options: EmbedOptions | None = None, ranks: Any = None, update: bool = True,
            wait: float = 0.0) -> WriteReport | None:
        """Add images; this object then shows the new state. Content already indexed is not embedded
        again: under its indexed path its caption / columns are updated (`update`), under a new path
        it gets its own id and row with a copy of the stored vector (each path removable on its own)."""
        items = read_items(images, fmt) if isinstance(images, (str, os.PathLike)) else list(images)
        opts = replace(options) if options is not None else EmbedOptions()  # never mutate the caller's options
        if opts.cache is None:
            opts.cache = _staging_cache(self.root, self.encoder)
        report = write_items(self.root, self.encoder, self.model, items, opts, None, ranks, update=update,
                             wait=wait)
        self._reopen()
        return report

    def remove(self, paths: Sequence[str], ignore_missing: bool = False, purge: bool = True,
               wait: float = 0.0) -> WriteReport:
        """Drop the listed paths. `purge` (default): their vectors are deleted from the shards and the
        FAISS index, their metadata rows overwritten, in the same commit; False only masks them."""
        report = remove_paths(self.root, [os.path.abspath(p) for p in paths], ignore_missing, purge=purge, wait=wait)
        self._reopen()
        return report

    def _reopen(self) -> None:
        encoder = self._encoder
        self.close()
        Index.__init__(self, self.root, encoder, self.device)

    def info(self, recall_queries: int = 100, k: int = 10) -> dict[str, Any]:
        """Count, model, index type, memory, and recall@k of this index against exact search."""
        gen = self.generation
        faiss_bytes = (gen / store.FAISS_FILE).stat().st_size
        recall, took = self.estimate_recall(recall_queries, k)
        return {
            "path": str(self.root), "generation": gen.name, "count": self.count, "dim": self.dim,
            "model": self.model, "index": self.spec.to_dict(), "deleted_masked": int(len(self.deleted)),
            "rows": {"live": self.count, "stored_vectors": self.vectors.stored_rows(),
                     "faiss_vectors": int(self.faiss.ntotal)},
            "skipped_at_build": len(self.manifest.get("skipped", [])), "columns": self.columns(),
            "memory": {"faiss_index_bytes": faiss_bytes, "vectors_bytes_on_disk_mmap": self.vectors.nbytes(),
                       "metadata_bytes": (gen / store.META).stat().st_size,
                       "index_bytes_per_vector": round(faiss_bytes / max(1, self.faiss.ntotal), 1)},
            f"recall_at_{k}_vs_exact": recall, "recall_queries": min(recall_queries, self.count),
            "recall_seconds": round(took, 3), "created": self.manifest.get("created"),
            "updated": self.manifest.get("updated"),
        }

    def estimate_recall(self, n_queries: int = 100, k: int = 10, seed: int = 0) -> tuple[float, float]:
        """Queries near stored vectors (noise added, so none is an exact copy): this index vs brute force."""
        live = self.meta.live_ids()
        rng = np.random.default_rng(seed)
        picked = np.sort(rng.choice(live, size=min(n_queries, len(live)), replace=False))
        q = self.vectors.get(picked) + rng.normal(0, 0.5 / np.sqrt(self.dim), (len(picked), self.dim))
        q = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)
        started = time.perf_counter()
        found = search.search(self.faiss, self.spec, self.vectors, q, k, self.count, self.deleted, None,
                              live_ids=self.meta.live_ids)
        took = time.perf_counter() - started
        truth = search.exact_topk(self.vectors, q, live, k)
        return search.recall_at(found, truth, k), took


def check_output(root: str | os.PathLike, overwrite: bool) -> Path:
    """The folder a build may write: not an index unless `overwrite`, not a foreign non-empty folder."""
    root = Path(root)
    if store.is_index(root) and not overwrite:
        raise EqvlError(f"{root} is already an index; pass `overwrite` to replace it (or use `eqvl index add`)", params=("overwrite",))
    if root.exists() and not root.is_dir():
        raise EqvlError(f"`out` {root} exists and is not a folder", params=("out",))
    if root.is_dir() and not store.is_index(root) and any(_foreign(p) for p in root.iterdir()):
        raise EqvlError(f"`out` {root} is a non-empty folder that is not an eqvl index; choose another", params=("out",))
    return root


#: files eqvl itself leaves in an index folder that never finished its first build
_OURS = {store.EMBED_CACHE, store.VECTORS, store.LOCK}


def _foreign(path: Path) -> bool:
    return path.name not in _OURS and not path.name.startswith((".tmp-", "gen-"))


def _query_at(texts: Sequence[str] | None, images: Sequence[Any] | None, n: int) -> dict[str, Any]:
    """The n-th query as the re-ranker takes it (`embed_query` checked that exactly one kind is given)."""
    if texts is not None:
        return {"text": texts[n]}
    if images is None:
        raise EqvlError("give a query: texts or images (not both)")
    return {"image": load_query_image(images[n])}


def _staging_cache(root: Path, encoder: Encoder):
    from eqvl.encode import EmbeddingCache

    return EmbeddingCache(root / store.EMBED_CACHE, encoder.identity())
