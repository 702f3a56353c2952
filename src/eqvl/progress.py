"""Progress for terminals and for logs: a tqdm bar on a TTY, plain periodic lines elsewhere.

Why: tqdm redraws with carriage returns and escape codes; in a log file (nohup, a batch job, CI) that is
one unreadable line per update, and two bars (eval's images and texts) interleave. When the stream is
not a terminal, `progress_bar` prints `eqvl: encoding images 1200/5000 (24%), 35.2/s` at most every
`interval` seconds, plus one line at the end.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

#: seconds between two plain lines (logs stay short; a stalled run still shows it is alive)
PLAIN_INTERVAL = 30.0


class PlainProgress:
    """The part of tqdm's interface eqvl uses (update, set_postfix, close, n, total), as plain lines."""

    def __init__(self, total: int | None = None, desc: str = "", unit: str = "it", initial: int = 0,
                 file: TextIO | None = None, interval: float = PLAIN_INTERVAL, **_: Any) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.file = file or sys.stderr
        self.interval = interval
        self.start = self.last = time.monotonic()
        self.start_n = initial
        self.postfix = ""
        self.closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._line()

    def set_postfix(self, values: dict[str, Any] | None = None, refresh: bool = True, **kw: Any) -> None:
        items = {**(values or {}), **kw}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def _line(self) -> None:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        done = f"{self.n}/{self.total}" if self.total else str(self.n)
        pct = f" ({self.n / self.total:.0%})" if self.total else ""
        rate = (self.n - self.start_n) / elapsed
        tail = f"; {self.postfix}" if self.postfix else ""
        print(f"eqvl: {self.desc} {done} {self.unit}{pct}, {rate:.3g} {self.unit}/s{tail}", file=self.file, flush=True)

    def close(self) -> None:
        if not self.closed and self.n > self.start_n:
            self._line()
        self.closed = True

    def __enter__(self) -> "PlainProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(total: int | None = None, *, desc: str = "", unit: str = "it", disable: bool = False,
                 file: TextIO | None = None, **kw: Any) -> Any:
    """tqdm on a terminal, `PlainProgress` when the stream is a file or a pipe, a silent tqdm when disabled."""
    from tqdm import tqdm

    stream = file or sys.stderr
    if disable:
        return tqdm(total=total, disable=True)
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    if tty:
        return tqdm(total=total, desc=desc, unit=unit, file=stream, **kw)
    return PlainProgress(total=total, desc=desc, unit=unit, file=stream, initial=kw.get("initial", 0))
