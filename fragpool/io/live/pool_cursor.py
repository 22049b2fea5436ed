"""The receive cursor of a live capture: the free tail of one compound page, bias trick.

Live receive packs many packets into one compound page, like a multi-packet RX buffer (an
mlx5 striding RQ, or the capture-file reader's chunk). The cursor owns the current page:
when it takes a page it raises the refcount once by the page size and keeps that many
references in ``bias``; each skb built on the page only decrements ``bias`` (no refcount
operation per packet), and the skb's free is a plain page_frag_free. When the tail is too
short for the next frame the cursor drops its remaining bias (page_ref_sub_and_test): if
that reaches zero every skb of the page is gone and the page is reused in place; otherwise
the cursor forgets it (the last skb's free releases it) and takes another.

Kernel counterparts: page_frag_cache's refill/reuse (__page_frag_alloc_align's slow path),
__page_frag_cache_drain on teardown.
"""

from __future__ import annotations

from ...mm.allocator import PageAllocator

#: Packets start on a cache-line boundary inside a page (SKB_DATA_ALIGN).
ALIGN = 64


class PoolCursor:
    """The free tail of the current compound page of ``pa`` (order ``order``).

    ``mv``/``mbase`` are the arena view and its address; ``start`` is the page's offset in
    ``mv``; ``off`` the first free byte of the page. Receive paths read these fields
    directly and commit a packet with ``off += align(n)`` and ``bias -= 1``.
    """

    __slots__ = (
        "pa",
        "order",
        "page",
        "mv",
        "mbase",
        "start",
        "size",
        "off",
        "bias",
        "pfmemalloc",
        "pages_taken",
        "pages_reused",
        "pages_forgotten",
        "alloc_fail",
    )

    def __init__(self, pa: PageAllocator, order: int) -> None:
        self.pa = pa
        self.order = min(order, pa.max_order)
        self.page = None
        self.mv: memoryview | None = None
        self.mbase = 0
        self.start = 0
        self.size = 0
        self.off = 0
        self.bias = 0
        self.pfmemalloc = False
        self.pages_taken = self.pages_reused = self.pages_forgotten = self.alloc_fail = 0

    @property
    def block_size(self) -> int:
        """Bytes in the compound pages this cursor takes."""
        return self.pa.page_size << self.order

    def refill(self, need: int) -> bool:
        """Make the tail at least ``need`` bytes: reuse the page in place or take another.

        False when the allocator's budget is used up (GFP_ATOMIC failure, counted): the
        caller drops the packet as a NIC with an empty RX ring does.
        """
        page = self.page
        if page is not None:
            if self.size - self.off >= need:
                return True
            pa = self.pa
            if pa.page_ref_sub_and_test(page, self.bias) and not page.pfmemalloc:
                pa.set_page_count(page, page.size + 1)
                self.bias = page.size + 1
                self.off = 0
                self.pages_reused += 1
                return need <= self.size
            if page.ref == 0:  # a pfmemalloc page nobody holds: never reuse reserves
                pa.set_page_count(page, 1)
                pa.put_page(page)
            else:
                self.pages_forgotten += 1
            self.page = None
        return self._take(need)

    def _take(self, need: int) -> bool:
        pa = self.pa
        page = None
        for order in range(self.order, -1, -1):
            if pa.page_size << order < need:
                break
            page = pa.alloc_pages(order)
            if page is not None:
                break
        if page is None:
            self.alloc_fail += 1
            return False
        pa.page_ref_add(page, page.size)
        arena = page.arena
        self.page = page
        self.bias = page.size + 1
        self.mv = arena.view
        self.mbase = arena.raw_addr
        self.start = page.addr - arena.raw_addr
        self.size = page.size
        self.off = 0
        self.pfmemalloc = page.pfmemalloc
        self.pages_taken += 1
        return True

    def copy_in(self, src: memoryview) -> int | None:
        """Copy ``src`` to the tail (one reference taken); its address, or None without memory."""
        n = len(src)
        if (self.page is None or self.size - self.off < n) and not self.refill(n):
            return None
        at = self.start + self.off
        self.mv[at : at + n] = src
        self.off += (n + ALIGN - 1) & -ALIGN
        self.bias -= 1
        return self.mbase + at

    def close(self) -> None:
        """page_frag_cache_drain(): give back the cursor's bias and forget the page."""
        page, self.page = self.page, None
        if page is not None:
            self.pa.drain(page, self.bias)
        self.mv = None
        self.bias = 0

    def stats(self) -> dict[str, int]:
        return {
            "pages_taken": self.pages_taken,
            "pages_reused": self.pages_reused,
            "pages_forgotten": self.pages_forgotten,
            "alloc_fail": self.alloc_fail,
        }
