"""Worker processes that inherit no threads and die with their parent.

Why `spawn` everywhere: a forked child copies the parent's memory but only the calling thread.
By the time eqvl starts a pool the parent usually has other threads — numpy's OpenBLAS pool
exists from `import numpy`, FFmpeg keeps frame / slice thread pools after a video was decoded,
torch has its intra-op pool — and a lock one of them held at the fork stays locked forever in
the child. That is the hang seen in `eqvl build --workers 2` (workers stuck in
`avpriv_slicethread_execute` under `sws_scale_frame`). A spawned worker starts a fresh
interpreter, so it holds no such lock; what it needs is passed explicitly (picklable settings).
The price is one interpreter start + imports per worker (measured in `bench/bench_processes.py`),
paid once per command: every caller makes one pool per command and initialises workers once.

Why the parent watch: a pool's workers wait on a queue whose write end they hold themselves, so
after `kill -9` of the parent they never see EOF and live on with parent 1. Each worker runs a
daemon thread that exits the process as soon as its parent is gone.

The one exception is torch's DataLoader (fork by default), made in one place: `data_loader` below,
which says why it is safe.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:
    from torch.utils.data import DataLoader

#: how often a worker checks that its parent is alive (seconds); an orphan lives at most this long
PARENT_POLL_S = 0.5
START_METHOD = "spawn"


def worker_context() -> multiprocessing.context.BaseContext:
    return multiprocessing.get_context(START_METHOD)


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_S)
    os._exit(70)  # the parent died (kill -9, OOM): nobody will read our results


def init_worker(parent_pid: int, initializer: Callable[..., Any] | None, initargs: tuple) -> None:
    """Runs first in every worker: start the parent watch, then the caller's initializer."""
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="eqvl-parent-watch", daemon=True).start()
    if initializer is not None:
        initializer(*initargs)


def _kill(processes: Any) -> None:
    for proc in list(processes or ()):
        try:
            proc.kill()
        except (OSError, AttributeError, ValueError):
            pass


@contextmanager
def process_executor(workers: int, initializer: Callable[..., Any] | None = None,
                     initargs: tuple = ()) -> Iterator[ProcessPoolExecutor]:
    """A spawn-context ProcessPoolExecutor whose workers watch their parent. On an exception
    (Ctrl-C, a test's timeout) the workers are killed instead of joined, so a stuck worker
    cannot hang the caller's exit as well."""
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=worker_context(), initializer=init_worker,
                               initargs=(os.getpid(), initializer, initargs))
    try:
        yield pool
    except BaseException:
        _kill(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


@contextmanager
def process_pool(workers: int, initializer: Callable[..., Any] | None = None,
                 initargs: tuple = ()) -> Iterator[multiprocessing.pool.Pool]:
    """The same for `multiprocessing.Pool` (imap with chunks): spawned, parent-watched workers,
    terminated on any exit (`Pool.__exit__` terminates too; results were all consumed by then)."""
    pool = worker_context().Pool(workers, initializer=init_worker, initargs=(os.getpid(), initializer, initargs))
    try:
        yield pool
    finally:
        pool.terminate()
        pool.join()


def data_loader(dataset: Any, **options: Any) -> "DataLoader":
    """torch's `DataLoader(dataset, **options)`: every one in eqvl is made here.

    Fork justification: its workers fork (torch's default), the one exception to this module's spawn:
    they only decode images with PIL and collate, and torch makes forked workers single-threaded and
    resets its pool, so no lock held by another parent thread is needed in them. A worker that ran
    FFmpeg, OpenBLAS or a model would need spawn (`multiprocessing_context`)."""
    from torch.utils.data import DataLoader

    return DataLoader(dataset, **options)
