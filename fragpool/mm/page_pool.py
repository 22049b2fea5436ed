"""page_pool: per-RX-queue page recycling (net/core/page_pool.c).

A :class:`PagePool` hands out whole compound pages of one order and takes them back. Two
stores sit in front of the page allocator, as in the kernel:

* the alloc cache: a plain stack of up to 128 pages (PP_ALLOC_CACHE_SIZE) that only the
  pool's consumer touches, without a lock;
* the recycle ring (ptr_ring): a FIFO of ``pool_size`` entries (default 1024, at most
  16384) that any thread may recycle into, guarded by a lock.

Allocation tries the cache (``fast``); when it is empty it moves up to 64 pages from the
ring (``refill``; ``empty`` when the ring had none, ``waive`` when it met a page of another
NUMA node) and finally goes to the allocator (``slow``: a bulk of 64 order-0 pages, or
``slow_high_order``: one page of a higher order).

Recycling (page_pool_put_page) keeps a page only when the pool holds its sole reference
(refcount 1) and it is not a pfmemalloc page; anything else is released to the allocator
(``released_refcnt``). A kept page goes straight into the cache when the caller runs in the
pool's own NAPI context (``cached``, or ``cache_full``), otherwise into the ring (``ring``,
or ``ring_full`` when the ring is full and the page is released).

Every page the pool takes from the allocator counts in ``hold_cnt``; every page it gives
back (or that leaves it through a plain put_page reaching zero, reported by the allocator's
``owner.page_released`` hook) counts in ``release_cnt``. In flight = hold - release, which
includes the pages resting in the cache and the ring until ``destroy()`` empties those.

A page in flight has ``page.owner`` set to its pool; a page resting in the cache or the ring
has a marker of the pool instead, so recycling the same page twice is caught.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from threading import get_ident

from .allocator import BadPageError, Page, PageAllocator
from .percpu import NapiContext, default_allocator

#: PP_ALLOC_CACHE_SIZE and PP_ALLOC_CACHE_REFILL of include/net/page_pool/types.h.
PP_ALLOC_CACHE_SIZE = 128
PP_ALLOC_CACHE_REFILL = 64
#: The ring size when the driver asks for none, and the largest the kernel accepts.
PP_RING_DEFAULT = 1024
PP_RING_MAX = 16384
#: BIAS_MAX of page_pool.c: pp_ref_count a fragmented page starts from (LONG_MAX >> 1).
BIAS_MAX = ((1 << 63) - 1) >> 1
#: NUMA_NO_NODE: the pool prefers the node it runs on (fragpool has one: node 0).
NUMA_NO_NODE = -1


def _log():  # noqa: ANN202 - a logging.Logger, imported when first needed (start-up time)
    import logging

    return logging.getLogger("fragpool.mm.page_pool")


_ids = itertools.count(1)

ALLOC_STATS = ("fast", "slow", "slow_high_order", "empty", "refill", "waive")
RECYCLE_STATS = ("cached", "cache_full", "ring", "ring_full", "released_refcnt")


class PagePoolError(RuntimeError):
    """A page_pool used after destroy(), or given a page that is not one of its own."""


class _Parked:
    """``page.owner`` of a page resting in the pool's cache or ring (not in flight)."""

    __slots__ = ("pool",)

    def __init__(self, pool: PagePool) -> None:
        self.pool = pool

    def page_released(self, page: Page) -> None:
        self.pool._parked_page_freed(page)


class PagePool:
    """struct page_pool: an alloc cache and a recycle ring in front of the page allocator.

    ``PagePool(allocator, order=0, pool_size=1024, napi=None, nid=NUMA_NO_NODE,
    memalloc=False)``: ``napi`` is the NapiContext of the RX queue the pool serves (direct
    recycling into the cache happens only on the thread inside it); ``memalloc`` lets the
    slow path use the allocator's emergency reserve (such pages are pfmemalloc and are
    never recycled).

    The alloc side (:meth:`alloc`, :meth:`alloc_frag`) belongs to the pool's consumer, as
    in the kernel where it runs in the queue's softirq: it must not run on two threads at
    once. :meth:`recycle` is safe from any thread.
    """

    __slots__ = (
        "pa",
        "order",
        "pool_size",
        "napi",
        "nid",
        "memalloc",
        "id",
        "_cache",
        "_ring",
        "_ring_lock",
        "_memmap",
        "_shift",
        "_parked",
        "_pp_ref",
        "_page_nid",
        "frag_page",
        "frag_offset",
        "frag_users",
        "hold_cnt",
        "release_cnt",
        "alloc_fail",
        "destroyed_at",
        "fast",
        "slow",
        "slow_high_order",
        "empty",
        "refill",
        "waive",
        "cached",
        "cache_full",
        "ring",
        "ring_full",
        "released_refcnt",
    )

    def __init__(
        self,
        allocator: PageAllocator | None = None,
        order: int = 0,
        pool_size: int = PP_RING_DEFAULT,
        napi: NapiContext | None = None,
        *,
        nid: int = NUMA_NO_NODE,
        memalloc: bool = False,
    ) -> None:
        pa = allocator or default_allocator()
        if not 0 <= order <= pa.max_order:
            raise ValueError(f"page_pool order {order} is outside 0..{pa.max_order}")
        pool_size = pool_size or PP_RING_DEFAULT  # the kernel's `pool_size ? : 1024`
        if not 0 < pool_size <= PP_RING_MAX:
            raise ValueError(f"page_pool ring size {pool_size} must be 1..{PP_RING_MAX}")
        if napi is not None and napi.pa is not pa:
            raise ValueError("the pool's NAPI context belongs to another PageAllocator")
        self.pa = pa
        self.order = order
        self.pool_size = pool_size
        self.napi = napi
        self.nid = nid
        self.memalloc = memalloc
        self.id = next(_ids)
        self._cache: list[Page] = []
        self._ring: deque[Page] = deque()
        self._ring_lock = threading.Lock()
        self._memmap = pa.mem_map
        self._shift = pa.page_shift
        self._parked = _Parked(self)
        #: pp_ref_count of the pages whose count is not 1 (fragmented pages).
        self._pp_ref: dict[int, int] = {}
        #: The node each held page was allocated on (page_to_nid).
        self._page_nid: dict[int, int] = {}
        self.frag_page: Page | None = None
        self.frag_offset = 0
        self.frag_users = 0
        self.hold_cnt = 0
        self.release_cnt = 0
        self.alloc_fail = 0
        self.destroyed_at: float | None = None
        for name in ALLOC_STATS + RECYCLE_STATS:
            setattr(self, name, 0)

    # ------------------------------------------------------------------ alloc
    def alloc(self) -> int | None:
        """page_pool_dev_alloc_pages(): the address of a page of the pool's order, or None."""
        cache = self._cache
        if cache:
            page = cache.pop()
            self.fast += 1
            page.owner = self
            return page.addr
        page = self._alloc_cold()
        return None if page is None else page.addr

    def alloc_page(self) -> Page | None:
        """page_pool_alloc_pages(): like :meth:`alloc`, returning the Page itself."""
        cache = self._cache
        if cache:
            page = cache.pop()
            self.fast += 1
            page.owner = self
            return page
        return self._alloc_cold()

    def _alloc_cold(self) -> Page | None:
        if self.destroyed_at is not None:
            raise PagePoolError(f"page_pool {self.id}: alloc after destroy()")
        page = self._refill_alloc_cache()
        if page is None:
            page = self._alloc_slow()
            if page is None:
                self.alloc_fail += 1
                return None
        page.owner = self
        return page

    def _refill_alloc_cache(self) -> Page | None:
        """page_pool_refill_alloc_cache(): up to 64 pages from the ring into the cache."""
        ring = self._ring
        if not ring:  # the kernel peeks without the consumer lock first
            self.empty += 1
            return None
        cache = self._cache
        pref_nid = 0 if self.nid == NUMA_NO_NODE else self.nid
        page_nid = self._page_nid
        waived = None
        with self._ring_lock:
            while ring:
                page = ring.popleft()
                if page_nid.get(page.addr, 0) != pref_nid:
                    # NUMA mismatch: give this page back and let the slow path allocate
                    # on the right node.
                    waived = page
                    break
                cache.append(page)
                if len(cache) >= PP_ALLOC_CACHE_REFILL:
                    break
        if waived is not None:
            self._return_page(waived)
            self.waive += 1
        if not cache:
            return None
        self.refill += 1
        return cache.pop()

    def _alloc_slow(self) -> Page | None:
        """__page_pool_alloc_pages_slow(): a bulk of 64 order-0 pages, or one larger page."""
        pa = self.pa
        nid = 0 if self.nid == NUMA_NO_NODE else self.nid
        if self.order:
            page = pa.alloc_pages(self.order, memalloc=self.memalloc)
            if page is None:
                return None
            self._hold(page, nid)
            self.slow_high_order += 1
            return page
        cache = self._cache
        for _ in range(PP_ALLOC_CACHE_REFILL):
            page = pa.alloc_pages(0, memalloc=self.memalloc)
            if page is None:
                break
            self._hold(page, nid)
            cache.append(page)
        if not cache:
            return None
        self.slow += 1
        return cache.pop()

    def _hold(self, page: Page, nid: int) -> None:
        """page_pool_set_pp_info(): the page is the pool's now (pages_state_hold_cnt++)."""
        page.owner = self._parked
        if nid:
            self._page_nid[page.addr] = nid
        self.hold_cnt += 1

    # ------------------------------------------------------------------ fragments
    def alloc_frag(self, size: int) -> int | None:
        """page_pool_alloc_frag(): ``size`` bytes carved upward from the current page.

        The page's pp_ref_count starts at BIAS_MAX; the unused part of the bias is dropped
        when the page is left behind (page_pool_drain_frag). Each fragment goes back with
        :meth:`recycle` (any address inside the page); the page is recycled with the last.
        """
        max_size = self.pa.page_size << self.order
        if not 0 < size <= max_size:
            raise ValueError(f"page_pool fragment of {size} bytes: must be 1..{max_size}")
        page = self.frag_page
        offset = self.frag_offset
        if page is not None and offset + size > max_size:
            page = self._drain_frag(page)
            if page is not None:
                self.cached += 1
                self.fast += 1
        elif page is not None:
            self.frag_users += 1
            self.frag_offset = offset + size
            return page.addr + offset
        if page is None:
            page = self.alloc_page()
            if page is None:
                self.frag_page = None
                return None
        self.frag_page = page
        self.frag_users = 1
        self.frag_offset = size
        self._pp_ref[page.addr] = BIAS_MAX  # page_pool_fragment_netmem(BIAS_MAX)
        return page.addr

    def _drain_frag(self, page: Page) -> Page | None:
        """page_pool_drain_frag(): drop the unused bias; the page back when nobody holds it."""
        self.frag_page = None
        if self._unref(page, BIAS_MAX - self.frag_users):
            return None
        if page.ref == 1 and not page.pfmemalloc:
            return page
        self._return_page(page)
        return None

    def _unref(self, page: Page, nr: int) -> int:
        """page_pool_unref_netmem(): drop ``nr`` pp references; 0 when the last went."""
        pp_ref = self._pp_ref
        addr = page.addr
        count = pp_ref.get(addr, 1)
        if count == nr:
            pp_ref.pop(addr, None)  # the count is 1 again: not kept
            return 0
        left = count - nr
        if left < 0:
            raise BadPageError(
                f"page_pool {self.id}: page {addr:#x} has pp_ref_count {count}, "
                f"cannot drop {nr} (a fragment recycled twice?)"
            )
        pp_ref[addr] = left
        return left

    # ------------------------------------------------------------------ recycle
    def recycle(self, addr: int, allow_direct: bool = False) -> None:
        """page_pool_put_full_page(): give back the page (or a fragment) at ``addr``.

        Direct recycling into the alloc cache happens when the calling thread is inside the
        pool's NAPI context; a pool without one recycles directly only when the caller says
        it runs as the pool's consumer (``allow_direct``, page_pool_recycle_direct).
        """
        page = self._memmap.get(addr >> self._shift)
        if page is None or page.owner is not self:
            self._not_in_flight(addr, page)
        if self._pp_ref and page.addr in self._pp_ref and self._unref(page, 1):
            return  # other fragments of the page are still out
        napi = self.napi
        direct = napi._owner == get_ident() if napi is not None else allow_direct
        if direct and page.ref == 1 and not page.pfmemalloc and self.destroyed_at is None:
            cache = self._cache
            if len(cache) < PP_ALLOC_CACHE_SIZE:
                page.owner = self._parked
                cache.append(page)
                self.cached += 1
                return
            self.cache_full += 1
        self._put_slow(page)

    def recycle_page(self, page: Page, allow_direct: bool = False) -> None:
        """page_pool_put_full_page() for a caller holding the Page."""
        self.recycle(page.addr, allow_direct)

    def _put_slow(self, page: Page) -> None:
        if self.destroyed_at is not None:
            self._return_page(page)  # the cache and ring are gone: release at once
            return
        if page.ref != 1 or page.pfmemalloc:
            # Someone else still holds the page (or it came from the reserves): the pool
            # lets go of it and the other holders' put_page frees it.
            with self._ring_lock:
                self.released_refcnt += 1
            self._return_page(page)
            return
        with self._ring_lock:
            ring = self._ring
            if len(ring) < self.pool_size:
                page.owner = self._parked
                ring.append(page)
                self.ring += 1
                return
            self.ring_full += 1
        self._return_page(page)

    def _return_page(self, page: Page) -> None:
        """page_pool_return_page(): the page leaves the pool (release_cnt++, put_page)."""
        self._forget(page)
        page.owner = None
        self.pa.put_page(page)

    def _forget(self, page: Page) -> None:
        addr = page.addr
        self._pp_ref.pop(addr, None)
        self._page_nid.pop(addr, None)
        with self._ring_lock:
            self.release_cnt += 1

    def page_released(self, page: Page) -> None:
        """Allocator hook: an in-flight page's refcount reached zero outside the pool.

        The page was put with put_page / page_frag_free instead of being recycled; it goes
        back to the allocator and the pool counts it released, so in-flight stays right.
        """
        if page is self.frag_page:
            self.frag_page = None
        self._forget(page)
        page.owner = None

    def _parked_page_freed(self, page: Page) -> None:
        """A page resting in the cache or ring was put: take it out before it is freed."""
        if page in self._cache:
            self._cache.remove(page)
        else:
            with self._ring_lock:
                if page in self._ring:
                    self._ring.remove(page)
        self._forget(page)
        page.owner = None
        _log().warning(
            "page_pool %d: page %#x was put while resting in the pool (recycled and then "
            "put_page?); released",
            self.id,
            page.addr,
        )

    def _not_in_flight(self, addr: int, page: Page | None) -> None:
        if page is None:
            raise BadPageError(f"page_pool {self.id}: {addr:#x} is not in any fragpool arena")
        if page.owner is self._parked:
            raise BadPageError(
                f"page_pool {self.id}: page {page.addr:#x} is already back in the pool "
                "(recycled twice?)"
            )
        raise BadPageError(
            f"page_pool {self.id}: page {page.addr:#x} is not one of this pool's pages "
            f"in flight (owner {page.owner!r})"
        )

    # ------------------------------------------------------------------ NUMA
    def nid_changed(self, new_nid: int) -> None:
        """page_pool_nid_changed(): the queue moved; pages of the old node get waived."""
        self.nid = new_nid

    # ------------------------------------------------------------------ teardown
    def inflight(self) -> int:
        """page_pool_inflight(): pages held minus pages released."""
        return self.hold_cnt - self.release_cnt

    def _scrub(self) -> None:
        """page_pool_scrub(): release the fragment page's bias, the cache and the ring."""
        page = self.frag_page
        if page is not None:  # page_pool_free_frag()
            self.frag_page = None
            if not self._unref(page, BIAS_MAX - self.frag_users):
                self._return_page(page)
        cache = self._cache
        while cache:
            self._return_page(cache.pop())
        ring = self._ring
        while True:
            with self._ring_lock:
                if not ring:
                    break
                page = ring.popleft()
            self._return_page(page)

    def destroy(self) -> int:
        """page_pool_destroy(): empty the cache and the ring; the pages still in flight.

        Pages in flight are not freed: they stay with their holders, and each one recycled
        after this is released to the allocator. When some are in flight, a warning names
        the pool and the count, in the kernel's words; :meth:`release_retry` repeats it.
        """
        if self.destroyed_at is None:
            self.destroyed_at = time.monotonic()
        self._scrub()
        return self.release_retry()

    def release_retry(self) -> int:
        """page_pool_release_retry(): scrub again and report what is still in flight."""
        self._scrub()
        inflight = self.inflight()
        if inflight:
            since = self.destroyed_at if self.destroyed_at is not None else time.monotonic()
            _log().warning(
                "page_pool_release_retry() stalled pool shutdown: id %d, %d inflight %d sec",
                self.id,
                inflight,
                int(time.monotonic() - since),
            )
        return inflight

    # ------------------------------------------------------------------ stats
    def stats(self) -> dict[str, int]:
        """page_pool_get_stats(): the alloc and recycle counters under the kernel's names."""
        return {name: getattr(self, name) for name in ALLOC_STATS + RECYCLE_STATS}

    def info(self) -> dict[str, int | bool]:
        """What the page-pool netlink family reports: id, in-flight pages and bytes, sizes."""
        inflight = self.inflight()
        return {
            "id": self.id,
            "order": self.order,
            "pool_size": self.pool_size,
            "hold_cnt": self.hold_cnt,
            "release_cnt": self.release_cnt,
            "inflight": inflight,
            "inflight_mem": inflight * (self.pa.page_size << self.order),
            "cache_count": len(self._cache),
            "ring_count": len(self._ring),
            "detached": self.destroyed_at is not None,
        }

    def __repr__(self) -> str:
        return (
            f"<PagePool id {self.id} order {self.order} cache {len(self._cache)} "
            f"ring {len(self._ring)}/{self.pool_size} inflight {self.inflight()}>"
        )
