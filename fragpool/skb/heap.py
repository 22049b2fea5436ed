"""Heap-backed skb heads: what __alloc_skb gets from kmalloc when a frag head does not fit.

A head that is too small or too large for the page-fragment path lives in its own ctypes
buffer, so it still has a real address and the skb code treats every head alike. The
buffer is kept alive here until the skb releases its head.
"""

from __future__ import annotations

import ctypes

from .. import _native
from ..stats import Snapshot
from .head_owner import HeadOwner

#: Freed buffers kept per size for reuse (a slab's per-CPU array cache), at most this many.
SPARE_PER_SIZE = 64


class HeapHeads(HeadOwner):
    """kmalloc for skb heads: ``alloc(size)`` gives an address; ``frag_free`` releases it.

    A freed buffer waits in a small per-size cache and serves the next request of its size,
    zeroed again, as a slab cache's object array does; more than SPARE_PER_SIZE go back.
    """

    def __init__(self) -> None:
        self._bufs: dict[int, tuple[ctypes.Array, memoryview]] = {}
        self._spare: dict[int, list[tuple[int, ctypes.Array, memoryview]]] = {}
        self.nr_alloc = 0
        self.nr_free = 0
        self.bytes_alloc = 0

    def alloc(self, size: int) -> tuple[int, memoryview]:
        """A zeroed buffer of ``size`` bytes: its address and a view of all of it."""
        spare = self._spare.get(size)
        if spare:
            addr, buf, mv = spare.pop()
            _native.zero(mv, addr, size)
        else:
            buf = (ctypes.c_char * size)()
            addr = ctypes.addressof(buf)
            mv = memoryview(buf).cast("B")
        self._bufs[addr] = (buf, mv)
        self.nr_alloc += 1
        self.bytes_alloc += size
        return addr, mv

    def frag_free(self, addr: int) -> None:
        """kfree() of a head."""
        try:
            buf, mv = self._bufs.pop(addr)
        except KeyError:
            raise ValueError(f"kfree({addr:#x}): not a live heap head (double free?)") from None
        self.nr_free += 1
        size = len(mv)
        spare = self._spare.get(size)
        if spare is None:
            spare = self._spare[size] = []
        if len(spare) < SPARE_PER_SIZE:
            spare.append((addr, buf, mv))

    def in_use(self) -> int:
        return len(self._bufs)

    def stats(self) -> Snapshot:
        return Snapshot(
            heap_heads_alloc=self.nr_alloc,
            heap_heads_free=self.nr_free,
            heap_heads_in_use=len(self._bufs),
            heap_bytes_alloc=self.bytes_alloc,
        )


#: The process-wide kmalloc stand-in for skb heads.
heap_heads = HeapHeads()
