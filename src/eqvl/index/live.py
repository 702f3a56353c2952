"""A served index that follows the writers: the newest committed generation, swapped between requests.

`eqvl index serve` answers every request from a `LiveIndex`. Before a request starts it reads
CURRENT (one small file); when a writer has committed a new generation, that generation is
opened (with the same query model, checked against its manifest) and becomes the one new
requests use. A request that already started finishes on the generation it started on: each
generation is reference-counted, and a replaced one is closed (its lease dropped, so its files
can be deleted) when its last request ends. A new generation that cannot be opened (a model
that does not match, a damaged file) is logged and the previous one keeps serving.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path
from typing import Iterator

from eqvl.errors import EqvlError
from eqvl.index import store
from eqvl.index.core import Index

log = logging.getLogger(__name__)


class _Slot:
    def __init__(self, idx: Index):
        self.idx, self.refs, self.retired = idx, 0, False


class LiveIndex:
    """Thread-safe holder of the generation requests use (see the module docstring)."""

    def __init__(self, idx: Index):
        self.root: Path = idx.root
        self._slot = _Slot(idx)
        self._lock = threading.Lock()  # guards _slot and the reference counts
        self._opening = threading.Lock()  # one reload at a time
        self.last_error = ""

    @property
    def current(self) -> Index:
        """The newest opened generation (for read-only facts: model, limits)."""
        return self._slot.idx

    def refresh(self) -> None:
        """Swap to the committed generation if it is newer than the one served."""
        try:
            name = store.pointer_name(self.root)
        except EqvlError as exc:
            self._note(f"cannot read the generation pointer: {exc}")
            return
        if name == self._slot.idx.generation.name:
            return
        with self._opening:
            old = self._slot
            if name == old.idx.generation.name:
                return
            try:
                new = Index.open(self.root, encoder=old.idx._encoder, device=old.idx.device)
            except EqvlError as exc:
                self._note(f"keeps serving {old.idx.generation.name}: {exc}")
                return
            with self._lock:
                self._slot = _Slot(new)
                old.retired = True
                close = old.refs == 0
            self.last_error = ""
            log.info("serving %s (%d images)", new.generation.name, new.count)
        if close:
            old.idx.close()

    def _note(self, message: str) -> None:
        if message != self.last_error:
            log.error("%s: %s", self.root, message)
        self.last_error = message

    @contextlib.contextmanager
    def use(self) -> Iterator[Index]:
        """The generation for one request: the newest committed one, held until the request ends."""
        self.refresh()
        with self._lock:
            slot = self._slot
            slot.refs += 1
        try:
            yield slot.idx
        finally:
            with self._lock:
                slot.refs -= 1
                close = slot.retired and slot.refs == 0
            if close:
                slot.idx.close()

    def close(self) -> None:
        with self._lock:
            slot = self._slot
            slot.retired = True
            close = slot.refs == 0
        if close:
            slot.idx.close()
