"""IVF indexes whose inverted lists live in a file, memory-mapped at query time (past RAM on one box).

The way clip-retrieval serves LAION-5B: train the IVF quantiser once, fill copies of the empty
trained index shard by shard (each shard written to its own file), then merge the shards' lists
into one `OnDiskInvertedLists` file with `faiss.contrib.ondisk.merge_ondisk`. Only the coarse
quantiser and list offsets stay in RAM; the OS pages in the nprobe lists a query reads.

The lists file `lists.ivfdata` sits beside `index.faiss` in the generation folder and is found
there by `IO_FLAG_ONDISK_SAME_DIR`, so the folder can be renamed (staging -> gen-N). A generation's
lists file is never written once live: writers copy the lists into memory (`lists_to_memory`) and
write a new file into the next generation (`write_lists_beside`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from eqvl.errors import EqvlError

log = logging.getLogger(__name__)

LISTS_FILE = "lists.ivfdata"
#: vectors per shard file merged by merge_ondisk (a torchrun build would write one per rank)
SHARD_VECTORS = 500_000


def _faiss():
    try:
        import faiss
    except ImportError:
        raise EqvlError("eqvl index needs FAISS: pip install 'eqvl[serve]' (faiss-cpu)") from None
    return faiss


def _ivf(index):
    faiss = _faiss()
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None:
        raise EqvlError(f"on-disk lists need an IVF index (IVF...,PQ... or IVF...,SQ8), not {type(index).__name__}")
    return ivf


@contextlib.contextmanager
def quiet_c_stdout() -> Iterator[None]:
    """FAISS's on-disk lists printf() notes ("resizing ...", "updating ondisk filename ...") to the C
    stdout, which would corrupt a command's --json output: send fd 1 to /dev/null meanwhile."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        fd = sys.stdout.fileno()
    except (OSError, AttributeError, ValueError):
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), fd)
            try:
                yield
            finally:
                libc.fflush(None)
                os.dup2(saved, fd)
    finally:
        os.close(saved)


def is_on_disk(index) -> bool:
    faiss = _faiss()
    ivf = faiss.try_extract_index_ivf(index)
    return ivf is not None and isinstance(faiss.downcast_InvertedLists(ivf.invlists), faiss.OnDiskInvertedLists)


def build_on_disk(factory: str, dim: int, train_sample: Callable[[], np.ndarray],
                  chunks: Iterable[tuple[np.ndarray, np.ndarray]], out: Path, niter: int = 10) -> Any:
    """Train `factory` (an IVF), fill one shard file per SHARD_VECTORS vectors, merge their lists into
    `out.parent/lists.ivfdata` and write the index to `out`. Returns the (on-disk) index."""
    import faiss.contrib.ondisk as contrib

    faiss = _faiss()
    trained = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    _ivf(trained).cp.niter = niter
    sample = np.ascontiguousarray(train_sample(), dtype=np.float32)
    if len(sample) == 0:
        raise EqvlError(f"index {factory} needs training vectors; the collection is empty")
    trained.train(sample)
    shard_dir = out.parent / ".shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    shard, filled = faiss.clone_index(trained), 0
    for ids, rows in chunks:
        shard.add_with_ids(np.ascontiguousarray(rows, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64))
        filled += len(ids)
        if filled >= SHARD_VECTORS:
            names.append(_write_shard(shard, shard_dir, len(names)))
            shard, filled = faiss.clone_index(trained), 0
    if filled or not names:
        names.append(_write_shard(shard, shard_dir, len(names)))
    with quiet_c_stdout():
        contrib.merge_ondisk(trained, names, str(out.parent / LISTS_FILE))
        faiss.write_index(trained, str(out))
    shutil.rmtree(shard_dir, ignore_errors=True)
    log.info("on-disk IVF: %d vectors in %d shard(s) merged into %s", trained.ntotal, len(names), LISTS_FILE)
    return trained


def _write_shard(shard, shard_dir: Path, n: int) -> str:
    path = shard_dir / f"shard-{n:05d}.faiss"
    _faiss().write_index(shard, str(path))
    return str(path)


def no_prefetch_threads(index) -> None:
    """Memory-mapped lists (on-disk ones, and any IVF index read with IO_FLAG_MMAP, which FAISS 1.15 maps as
    OnDiskInvertedLists) start 32 prefetch threads per search call by default: measured 14x fewer single
    queries/s (1,300 vs 19,000 at 200k vectors, pages resident). The kernel's readahead pages lists in."""
    ivf = _faiss().try_extract_index_ivf(index)
    if ivf is not None and is_on_disk(index):
        _faiss().downcast_InvertedLists(ivf.invlists).prefetch_nthread = 0


def lists_to_memory(index) -> bool:
    """Replace on-disk lists by an in-memory copy (for a writer); True if the lists were on disk."""
    if not is_on_disk(index):
        return False
    faiss = _faiss()
    ivf = _ivf(index)
    src = ivf.invlists
    mem = faiss.ArrayInvertedLists(ivf.nlist, ivf.code_size)
    for lst in range(ivf.nlist):
        size = src.list_size(lst)
        if size:
            mem.add_entries(lst, size, src.get_ids(lst), src.get_codes(lst))
    ivf.replace_invlists(mem, True)
    mem.this.disown()
    return True


def write_lists_beside(index, out: Path) -> None:
    """Write `index` to `out` with its lists moved into a new `out.parent/lists.ivfdata`."""
    faiss = _faiss()
    ivf = _ivf(index)
    with quiet_c_stdout():
        target = faiss.OnDiskInvertedLists(ivf.nlist, ivf.code_size, str(out.parent / LISTS_FILE))
        sources = faiss.InvertedListsPtrVector()
        sources.push_back(ivf.invlists)
        target.merge_from_multiple(sources.data(), sources.size(), False)
        ivf.replace_invlists(target, True)
        target.this.disown()
        faiss.write_index(index, str(out))


def lists_bytes(folder: Path) -> int:
    path = folder / LISTS_FILE
    return path.stat().st_size if path.is_file() else 0
