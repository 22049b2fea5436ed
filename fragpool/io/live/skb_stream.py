"""What every live capture is to its user: an iterator of skbs and a context manager, in
threads and in asyncio alike.

A capture class supplies ``recv_batch(budget, timeout)``, ``fileno()``, ``close()``,
``_closed`` and a ``_backlog`` (fragpool.io.backlog.Backlog: the skbs of a batch not
handed out yet, which close() frees); this mixin builds the iteration on them, the way
pcap_loop sits on pcap_dispatch. The asyncio half (``async with``, ``async for``,
``await arecv_batch``) waits on ``fileno()`` with the running loop's add_reader, only
while it waits, and takes what is queued without blocking: the kernel's ring or socket
queue is the only buffer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from ...skb import SkBuff
from ...skb.pairs import timestamped_bytes

#: How long the iterator waits per poll before it checks whether close() was called.
ITER_SLICE = 0.25


class SkbStream:
    """packets(), iteration and ``with`` over a capture's recv_batch and close."""

    # what the capture class supplies (see the module docstring)
    _closed: bool
    _backlog: Any
    recv_batch: Callable[[int, float | None], list[SkBuff]]
    fileno: Callable[[], int]
    close: Callable[[], object]

    def packets(
        self, count: int | None = None, timeout: float | None = None, *, idle: float | None = None
    ) -> Iterator[SkBuff]:
        """skbs as they come: stops after ``count`` packets, ``timeout`` seconds after it
        started (the whole capture's time, as scapy's sniff and pyshark take ``timeout``),
        after ``idle`` seconds without a packet, or when the capture is closed (from
        another thread, or a signal handler)."""
        end = None if timeout is None else time.monotonic() + timeout
        left = count
        while left is None or left > 0:
            quiet = None if idle is None else time.monotonic() + idle
            batch: list[SkBuff] = []
            while not batch:
                if self._closed:
                    return
                now = time.monotonic()
                wait = ITER_SLICE
                for limit in (end, quiet):
                    if limit is not None:
                        if limit <= now:
                            return
                        wait = min(wait, limit - now)
                batch = self.recv_batch(64 if left is None else min(64, left), wait)
            if left is not None:
                left -= len(batch)
            it = self._backlog.cur = iter(batch)
            yield from it
            self._backlog.cur = None

    def pairs(
        self, count: int | None = None, timeout: float | None = None, *, idle: float | None = None
    ) -> Iterator[tuple[float, bytes]]:
        """dpkt's loop: ``for ts, buf in cap.pairs()`` gives each packet's time (float
        seconds) and a copy of its bytes, the skb freed at once; stops as packets() does."""
        return timestamped_bytes(self.packets(count, timeout, idle=idle))

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

    # -- asyncio -------------------------------------------------------------------------

    async def arecv_batch(self, budget: int = 64, timeout: float | None = None) -> list[SkBuff]:
        """recv_batch() for asyncio: up to ``budget`` skbs, waiting up to ``timeout``
        seconds (None: until a packet comes) without blocking the loop; [] on timeout or
        when the capture is closed. Cancelled, it leaves no reader behind and the capture
        as it was."""
        batch = self.recv_batch(budget, 0)  # what is already there comes first
        if batch or self._closed:
            return batch
        loop = asyncio.get_running_loop()
        end = None if timeout is None else loop.time() + timeout
        while True:
            wait = ITER_SLICE  # sliced: a close, a gone interface or freed chunks show
            if end is not None:
                wait = min(wait, end - loop.time())
                if wait <= 0:
                    return []
            await self._readable(loop, wait)
            if self._closed:
                return []
            batch = self.recv_batch(budget, 0)
            if batch:
                return batch

    async def _readable(self, loop: asyncio.AbstractEventLoop, wait: float) -> None:
        """Until fileno() is readable or ``wait`` seconds pass; the reader is registered
        only meanwhile."""
        fd = self.fileno()
        ready = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(fd, wake)
        try:
            await asyncio.wait_for(ready, wait)
        except TimeoutError:
            pass
        finally:
            loop.remove_reader(fd)

    async def apackets(
        self, count: int | None = None, timeout: float | None = None, *, idle: float | None = None
    ) -> AsyncIterator[SkBuff]:
        """packets() for ``async for``: the same stops (``count``, ``timeout`` seconds in
        all, ``idle`` seconds without a packet, the capture closed)."""
        loop = asyncio.get_running_loop()
        end = None if timeout is None else loop.time() + timeout
        left = count
        while (left is None or left > 0) and not self._closed:
            wait = idle
            if end is not None:
                remain = end - loop.time()
                if remain <= 0:
                    return
                wait = remain if wait is None else min(wait, remain)
            batch = await self.arecv_batch(64 if left is None else min(64, left), wait)
            if not batch:
                if (idle is not None and wait == idle) or self._closed:
                    return
                continue
            if left is not None:
                left -= len(batch)
            it = self._backlog.cur = iter(batch)
            for skb in it:
                yield skb
            self._backlog.cur = None

    def __aiter__(self) -> AsyncIterator[SkBuff]:
        return self.apackets()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
