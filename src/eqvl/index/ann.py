"""The FAISS side: which index for how many vectors, building it, searching it with a filter.

Size rule (documented in docs/guide/index.md, measured by bench/bench_index.py):
  * up to FLAT_MAX vectors: exact inner product (`Flat`) — brute force is fast enough and exact;
  * up to IVF_SQ8_MAX: inverted lists of 8-bit scalar-quantised vectors (`IVF<2 sqrt n>,SQ8`):
    at 1M clustered vectors and the default nprobe, 63-89x exact search at recall@10 0.994-1.000,
    built in 32 s on 2 cores
    (an `HNSW32,SQ8` graph, `--index hnsw`, holds up a little better on unclustered data but took
    687 s to build at 1M on the same 2 cores);
  * beyond: IVF-PQ (`IVF<nlist>,PQ<d/8>`), 64 bytes a vector at 512-d, the only one whose RAM
    stays small at 100M+ (its lists can also live on disk, see the guide).
Approximate candidates are always re-scored exactly from the stored float16 vectors, so
compression costs recall only when a true top-k vector misses the candidate list.
Vectors carry stable int64 ids through `IndexIDMap`; removed ids are masked by an ID selector.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from eqvl.errors import EqvlError

FLAT_MAX = 100_000
IVF_SQ8_MAX = 5_000_000
HNSW_M = 32
#: search-time defaults from bench_index.py (docs/guide/index.md#speed): efSearch 200 reached recall@10 0.955 on
#: 100k unclustered vectors (efSearch 100: 0.857); nprobe 32 gives IVF-SQ8 0.994-1.000 on 1M clustered ones
DEFAULT_EF_SEARCH = 200
DEFAULT_NPROBE = 32
#: approximate candidates re-scored exactly per query: max(RESCORE_MIN, RESCORE_FACTOR * k)
RESCORE_MIN = 100
RESCORE_FACTOR = 4
#: k-means iterations for IVF coarse quantisers (FAISS's default is 25; 10 moves recall little, see the guide)
KMEANS_ITERATIONS = 10
KINDS = ("auto", "flat", "ivf", "hnsw", "ivfpq")


def _faiss():
    try:
        import faiss
    except ImportError:
        raise EqvlError("eqvl index needs FAISS: pip install 'eqvl[serve]' (faiss-cpu)") from None
    return faiss


#: facts about how an index was made, kept in the manifest beside kind/factory/params (all optional):
#: trained_on (vectors it was sized and trained for), chosen_by (size rule | user | budget),
#: budget (memory asked for, size estimated), tuning (the tuner's record: target, measured recall,
#: queries), on_disk (inverted lists in a file beside the index, memory-mapped)
SPEC_FACTS = ("trained_on", "chosen_by", "budget", "tuning", "on_disk")


@dataclass
class IndexSpec:
    """What to build and how to search it; stored in the manifest."""

    kind: str  # flat | ivf | hnsw | ivfpq | factory
    factory: str
    params: dict[str, int] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "factory": self.factory, "params": dict(self.params), **self.facts}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "IndexSpec":
        return cls(d["kind"], d["factory"], dict(d.get("params", {})), {k: d[k] for k in SPEC_FACTS if k in d})

    @property
    def exact(self) -> bool:
        return self.kind == "flat" or self.factory == "Flat"


def choose_spec(requested: str, n: int, dim: int) -> IndexSpec:
    """`--index auto|flat|hnsw|ivfpq|<factory string>` -> a concrete spec for `n` vectors of `dim`
    (records `n` as trained_on and who chose it, so `info` can tell when the collection outgrew it)."""
    kind = (requested or "auto").strip()
    spec = _spec_for(kind, n, dim)
    spec.facts.update(trained_on=int(n), chosen_by="size rule" if kind == "auto" else "user")
    return spec


def size_rule_kind(n: int) -> str:
    """The size rule's tier for `n` vectors: flat, ivf or ivfpq."""
    return "flat" if n <= FLAT_MAX else "ivf" if n <= IVF_SQ8_MAX else "ivfpq"


def _spec_for(kind: str, n: int, dim: int) -> IndexSpec:
    if kind == "auto":
        kind = size_rule_kind(n)
    if kind == "flat":
        return IndexSpec("flat", "Flat")
    if kind == "ivf":
        return IndexSpec("ivf", f"IVF{ivf_lists(n, 2.0)},SQ8", {"nprobe": DEFAULT_NPROBE})
    if kind == "hnsw":
        return IndexSpec("hnsw", f"HNSW{HNSW_M},SQ8", {"efSearch": DEFAULT_EF_SEARCH, "efConstruction": 64})
    if kind == "ivfpq":
        return IndexSpec("ivfpq", ivfpq_factory(n, dim), {"nprobe": DEFAULT_NPROBE})
    faiss = _faiss()
    try:
        faiss.index_factory(dim, kind, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1][:200]
        raise EqvlError(f"`index` {kind!r}: not flat, ivf, hnsw, ivfpq, auto or a FAISS factory string ({first})", params=("index",)) from None
    return IndexSpec("factory", kind, {"efSearch": DEFAULT_EF_SEARCH, "nprobe": DEFAULT_NPROBE})


def ivf_lists(n: int, per_sqrt: float) -> int:
    """`per_sqrt` * sqrt(n) inverted lists, at most n/39 so every list gets training points."""
    return max(1, min(int(per_sqrt * math.sqrt(max(n, 1))), n // 39 if n >= 39 else 1))


def ivfpq_factory(n: int, dim: int) -> str:
    """nlist ~ sqrt(n): the low end of FAISS's guideline (4-16 sqrt(n) lists), because k-means training and
    assigning every vector cost O(n * nlist * d) — measured the dominant build cost on 2 cores — and
    exact re-scoring recovers the recall a coarser list costs; at most n/39 so every list gets training
    points. PQ with d/8 sub-quantisers (one byte each), fewer bits when too few vectors train 256 codes."""
    nlist = ivf_lists(n, 1.0)
    m = next(m for m in (dim // 8, dim // 4, dim // 2, dim, 1) if m >= 1 and dim % m == 0)
    nbits = 8 if n >= 256 * 39 else max(1, min(8, int(math.log2(max(n // 39, 2)))))
    return f"IVF{nlist},PQ{m}x{nbits}"


def build(spec: IndexSpec, dim: int, train_sample: Callable[[], np.ndarray],
          chunks: Iterable[tuple[np.ndarray, np.ndarray]]):
    """A FAISS index with the ids of `chunks` ((ids, float32 rows) blocks), trained on `train_sample()` if it needs it."""
    faiss = _faiss()
    index = faiss.index_factory(dim, spec.factory, faiss.METRIC_INNER_PRODUCT)
    inner = faiss.downcast_index(index)
    if isinstance(inner, faiss.IndexHNSW) and "efConstruction" in spec.params:
        inner.hnsw.efConstruction = int(spec.params["efConstruction"])
    if not isinstance(inner, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        index = faiss.IndexIDMap(index)
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.cp.niter = KMEANS_ITERATIONS
    if not index.is_trained:
        sample = train_sample()
        if len(sample) == 0:
            raise EqvlError(f"index {spec.factory} needs training vectors; the collection is empty")
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
    for ids, rows in chunks:
        index.add_with_ids(np.ascontiguousarray(rows, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64))
    return index


def add(index, ids: np.ndarray, rows: np.ndarray) -> None:
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(rows, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64))


#: indexes read for writing whose lists were on disk: written back on disk (beside the new index file)
_FROM_DISK: "weakref.WeakSet[Any]" = weakref.WeakSet()


def write(index, path) -> None:
    """Write `index` to `path`; an index whose lists came from disk gets its own new lists file beside it."""
    if index in _FROM_DISK:
        from eqvl.index import ondisk

        ondisk.write_lists_beside(index, Path(path))
        return
    _faiss().write_index(index, str(path))


def read(path, mmap: bool = False):
    """Read an index file; on-disk inverted lists are found beside it (IO_FLAG_ONDISK_SAME_DIR, so a
    renamed generation folder keeps working). `mmap`: read-only, memory-mapped (queries). Without it
    (writers) on-disk lists are copied into memory, so no write ever touches a live generation's file."""
    from eqvl.index import ondisk

    faiss = _faiss()
    flags = faiss.IO_FLAG_ONDISK_SAME_DIR
    if mmap and not ondisk.lists_bytes(Path(path).parent):  # (READ_ONLY crashes FAISS 1.15 on on-disk lists)
        flags |= faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY
    try:
        with ondisk.quiet_c_stdout():
            index = faiss.read_index(str(path), flags)
    except RuntimeError as exc:
        raise EqvlError(f"{path}: cannot read the FAISS index ({str(exc).strip().splitlines()[-1][:200]})") from None
    if not mmap and ondisk.lists_to_memory(index):
        _FROM_DISK.add(index)
    elif mmap:
        ondisk.no_prefetch_threads(index)
    return index


def memory_bytes(index) -> int:
    """Bytes the index holds in RAM (serialised size: codes + graph/lists + id map)."""
    return int(_faiss().serialize_index(index).nbytes)


def supports_selector(index) -> bool:
    faiss = _faiss()
    inner = faiss.downcast_index(index.index if hasattr(index, "id_map") else index)
    return isinstance(inner, (faiss.IndexFlat, faiss.IndexHNSW, faiss.IndexIVF))


def search(index, queries: np.ndarray, k: int, params: dict[str, int], allowed: np.ndarray | None = None,
           excluded: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """FAISS search for `k` candidates, restricted to `allowed` ids or skipping `excluded` ids."""
    faiss = _faiss()
    inner = faiss.downcast_index(index.index if hasattr(index, "id_map") else index)
    if isinstance(inner, faiss.IndexHNSW):
        sp = faiss.SearchParametersHNSW()
        sp.efSearch = max(int(params.get("efSearch", DEFAULT_EF_SEARCH)), k)
    elif isinstance(inner, faiss.IndexIVF):
        sp = faiss.SearchParametersIVF()
        sp.nprobe = min(int(params.get("nprobe", DEFAULT_NPROBE)), inner.nlist)
    else:
        sp = faiss.SearchParameters()
    keep = []  # the selectors must outlive the search call
    if allowed is not None:
        keep.append(faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64)))
        sp.sel = keep[-1]
    elif excluded is not None and len(excluded):
        keep.append(faiss.IDSelectorBatch(np.ascontiguousarray(excluded, dtype=np.int64)))
        keep.append(faiss.IDSelectorNot(keep[-1]))
        sp.sel = keep[-1]
    k = max(1, min(k, index.ntotal))
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), k, params=sp)


def range_ids(index, query: np.ndarray, threshold: float, excluded: np.ndarray | None = None) -> np.ndarray:
    """Every id whose (index) score exceeds `threshold`: completes a tie group cut by the candidate list."""
    faiss = _faiss()
    sp = faiss.SearchParameters()
    keep = []
    if excluded is not None and len(excluded):
        keep.append(faiss.IDSelectorBatch(np.ascontiguousarray(excluded, dtype=np.int64)))
        keep.append(faiss.IDSelectorNot(keep[-1]))
        sp.sel = keep[-1]
    lims, _, ids = index.range_search(np.ascontiguousarray(query[None], dtype=np.float32), float(threshold), params=sp)
    return ids[lims[0] : lims[1]]
