"""Where an RX ring's pages come from and go back to: the ring's buffer source.

igb_alloc_mapped_page() asks for a fresh page only when a descriptor's buffer was not
reused; igb_put_rx_buffer() releases a page it cannot reuse. The three sources differ in
where those pages come from and in how the driver counts the references it hands out:

``frag``
    igb as it is: order-0 pages from the page allocator (dev_alloc_pages). The driver takes
    USHRT_MAX - 1 extra references once per page and keeps them as ``pagecnt_bias``; each
    half page handed to the stack only decrements the bias, and a page it cannot reuse goes
    back with __page_frag_cache_drain(page, pagecnt_bias). The ring's NAPI context holds a
    bias-counting PageFragCache for skb heads.
``naive``
    The scheme pagecnt_bias replaced (igb before v4.13): the same pages, one get_page for
    every buffer handed to the stack, the driver's single reference dropped with put_page.
    The ring's NAPI context holds the naive PageFragCache.
``page_pool``
    Pages from a PagePool per ring (page_pool_dev_alloc_pages) bound to the ring's NAPI
    context, with the same bias counting as ``frag``. A page the driver lets go is first
    brought down to one reference and then handed back with page_pool_put_full_page: it is
    recycled into the pool's cache when no skb holds it any more, else the pool releases it
    (``released_refcnt``) and the last skb's free returns it to the allocator.
"""

from __future__ import annotations

from ..mm import NapiContext, Page, PageAllocator
from ..mm.page_pool import PagePool
from ..stats import Snapshot
from .constants import POOL_KINDS


class BufferSource:
    """dev_alloc_pages() and __page_frag_cache_drain() for one ring, with counters."""

    kind = "frag"
    #: False for the naive source: one get_page per buffer instead of a pagecnt_bias.
    uses_bias = True

    def __init__(self, pa: PageAllocator, napi: NapiContext) -> None:
        self.pa = pa
        self.napi = napi
        self.pages_alloc = 0
        self.pages_released = 0
        self.alloc_fail = 0

    def alloc_page(self) -> Page | None:
        """dev_alloc_pages(0): a fresh page with refcount 1, or None when memory is short."""
        page = self.pa.alloc_pages(0)
        if page is None:
            self.alloc_fail += 1
            return None
        self.pages_alloc += 1
        return page

    def release(self, page: Page, bias: int) -> None:
        """__page_frag_cache_drain(page, pagecnt_bias): drop every reference the driver holds."""
        self.pages_released += 1
        self.pa.drain(page, bias)

    def destroy(self) -> int:
        """Tear the source down; the pages it still counts as in flight (0 for plain pages)."""
        return 0

    def stats(self) -> Snapshot:
        return Snapshot(
            kind=self.kind,
            pages_alloc=self.pages_alloc,
            pages_released=self.pages_released,
            alloc_fail=self.alloc_fail,
        )


class NaiveSource(BufferSource):
    """Pre-pagecnt_bias igb: the driver holds one reference; each hand-up is a get_page."""

    kind = "naive"
    uses_bias = False


class PagePoolSource(BufferSource):
    """page_pool_dev_alloc_pages() / page_pool_put_full_page() on a PagePool per ring."""

    kind = "page_pool"

    def __init__(self, pa: PageAllocator, napi: NapiContext) -> None:
        super().__init__(pa, napi)
        self.pool = PagePool(pa, order=0, napi=napi)
        self.inflight_at_destroy = 0

    def alloc_page(self) -> Page | None:
        page = self.pool.alloc_page()
        if page is None:
            self.alloc_fail += 1
            return None
        self.pages_alloc += 1
        return page

    def release(self, page: Page, bias: int) -> None:
        """Drop all but one driver reference, then page_pool_put_full_page() the page."""
        self.pages_released += 1
        if bias > 1:
            self.pa.drain(page, bias - 1)
        self.pool.recycle_page(page)

    def destroy(self) -> int:
        """page_pool_destroy(): empty the cache and ring; pages the pool still counts out."""
        self.inflight_at_destroy = self.pool.destroy()
        return self.inflight_at_destroy

    def stats(self) -> Snapshot:
        snap = super().stats()
        snap["page_pool"] = Snapshot(self.pool.stats())
        snap["page_pool_hold_cnt"] = self.pool.hold_cnt
        snap["page_pool_release_cnt"] = self.pool.release_cnt
        return snap


def make_source(kind: str, pa: PageAllocator, napi: NapiContext) -> BufferSource:
    """The buffer source named ``kind`` (one of POOL_KINDS) for a ring."""
    if kind == "frag":
        return BufferSource(pa, napi)
    if kind == "naive":
        return NaiveSource(pa, napi)
    if kind == "page_pool":
        return PagePoolSource(pa, napi)
    raise ValueError(f"unknown buffer pool {kind!r}; one of {', '.join(POOL_KINDS)}")
