"""What every live capture is to its user: an iterator of skbs and a context manager.

A capture class supplies ``recv_batch(budget, timeout)``, ``close()``, ``_closed`` and a
``_backlog`` (fragpool.io.backlog.Backlog: the skbs of a batch not handed out yet, which
close() frees); this mixin builds the iteration on them, the way pcap_loop sits on
pcap_dispatch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from ...skb import SkBuff

#: How long the iterator waits per poll before it checks whether close() was called.
ITER_SLICE = 0.25


class SkbStream:
    """packets(), iteration and ``with`` over a capture's recv_batch and close."""

    # what the capture class supplies (see the module docstring)
    _closed: bool
    _backlog: Any
    recv_batch: Callable[[int, float | None], list[SkBuff]]
    close: Callable[[], object]

    def packets(self, count: int | None = None, timeout: float | None = None) -> Iterator[SkBuff]:
        """skbs as they come: stops after ``count`` packets, after ``timeout`` seconds without
        a packet, or when the capture is closed (from another thread, or a signal handler).
        """
        left = count
        while left is None or left > 0:
            deadline = None if timeout is None else time.monotonic() + timeout
            batch: list[SkBuff] = []
            while not batch:
                if self._closed:
                    return
                wait = ITER_SLICE
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait < 0:
                        return
                batch = self.recv_batch(64 if left is None else min(64, left), wait)
            if left is not None:
                left -= len(batch)
            it = self._backlog.cur = iter(batch)
            yield from it
            self._backlog.cur = None

    def __iter__(self) -> Iterator[SkBuff]:
        return self.packets()

    def __next__(self) -> SkBuff:
        while True:
            batch = self.recv_batch(1, ITER_SLICE)
            if batch:
                return batch[0]
            if self._closed:
                raise StopIteration

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
