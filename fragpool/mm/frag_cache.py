"""page_frag_cache: fragments carved from one cached compound page, counted with a bias.

fragpool follows the v6.13 layout: fragments are carved upward from offset 0. The cache
raises the page's refcount by PAGE_FRAG_CACHE_MAX_SIZE once at refill and keeps the same
amount plus one as ``pagecnt_bias``; each fragment only decrements the bias, so handing out
a fragment touches no refcount. Fragments outstanding = page refcount - pagecnt_bias.

Sizes follow the allocator's page size the way the kernel's follow PAGE_SIZE: the cache
refills with the smallest compound page of at least PAGE_FRAG_CACHE_MAX_SIZE (32 KiB, or one
page when pages are larger), capped at the allocator's ``max_order``, and its bias is that
size plus one, so even 1-byte fragments can never use up the bias of a page. ``align`` must
be a power of two no larger than one page: a fallback page is only page-aligned, so a larger
alignment could not be honoured after an order-0 refill.

When a request does not fit, the slow path drops the cache's remaining bias
(page_ref_sub_and_test). If fragments are still out the cache forgets the page (their last
page_frag_free frees it); if none are and the page is pfmemalloc it is freed; otherwise it
is reused in place. Only then is ``fragsz`` compared with the size of the page now cached:
a request larger than that page returns None and the cache keeps its page (the 2025 fix of
__page_frag_alloc_align's refill order).

:class:`NaivePageFragCache` behaves the same but takes one page reference per fragment
(get_page), the scheme the bias trick replaced, so the saving can be measured.
"""

from __future__ import annotations

from ..stats import Snapshot
from .allocator import Page, PageAllocator
from .constants import PAGE_FRAG_CACHE_MAX_SIZE

#: pagecnt_bias after a refill with the default 4 KiB pages (PAGE_FRAG_CACHE_MAX_SIZE + 1).
BIAS = PAGE_FRAG_CACHE_MAX_SIZE + 1


def frag_cache_geometry(pa: PageAllocator) -> tuple[int, int]:
    """(refill order, PAGE_FRAG_CACHE_MAX_SIZE) for caches on ``pa``.

    The kernel's max size is 32 KiB rounded up to a whole page and its refill order is
    get_order() of that. An allocator built with a larger ``max_order`` must not hand the
    cache bigger pages than the bias was sized for.
    """
    max_size = max(PAGE_FRAG_CACHE_MAX_SIZE, pa.page_size)
    order = (max_size // pa.page_size - 1).bit_length()
    return min(order, pa.max_order), max_size


def _check_align(align: int, page_size: int) -> None:
    if align < 1 or align & (align - 1) or align > page_size:
        raise ValueError(
            f"align {align} must be a power of two between 1 and the page size {page_size}"
        )


class PageFragCache:
    """struct page_frag_cache with page_frag_alloc / page_frag_alloc_align / drain.

    ``NaivePageFragCache(pa)`` (or ``make_frag_cache(pa, naive=True)``) is the naive
    variant. ``memalloc=True`` lets the order-0 fallback take a page from the allocator's
    emergency reserve (pfmemalloc).
    Not thread-safe: one owner allocates (wrap it as the netdev cache does to share it);
    frees through ``pa.frag_free`` are safe from any thread.
    """

    __slots__ = (
        "pa",
        "memalloc",
        "page",
        "_va",
        "_size",
        "_offset",
        "_bias",
        "pfmemalloc",
        "nr_refill",
        "nr_fallback",
        "nr_reuse",
        "nr_forget",
        "nr_pfmemalloc_release",
        "nr_fail",
        "nr_oversize",
        "_frags_done",
        "_carved_done",
        "_align_waste",
        "refcount_ops",
        "refcount_sets",
        "_aligns",
        "_refill_order",
        "_max_size",
        "_full_bias",
        "_dbg",
        "_real_size",
    )

    def __init__(self, pa: PageAllocator, naive: bool = False, *, memalloc: bool = False) -> None:
        if naive and not self.naive:
            raise TypeError(
                "PageFragCache(pa, naive=True): the naive variant is its own class, "
                "NaivePageFragCache(pa) (or fragpool.mm.frag_cache.make_frag_cache(pa, naive))"
            )
        self.pa = pa
        self.memalloc = memalloc
        self.page: Page | None = None
        self._va = 0
        self._size = 0
        self._offset = 0
        self._bias = 0
        self.pfmemalloc = False
        self.nr_refill = 0
        self.nr_fallback = 0
        self.nr_reuse = 0
        self.nr_forget = 0
        self.nr_pfmemalloc_release = 0
        self.nr_fail = 0
        self.nr_oversize = 0
        self._frags_done = 0
        self._carved_done = 0
        self._align_waste = 0
        self.refcount_ops = 0
        self.refcount_sets = 0
        self._refill_order, self._max_size = frag_cache_geometry(pa)
        #: pagecnt_bias right after a refill or a reuse in place.
        self._full_bias = self._max_size + 1
        #: The alignments alloc() accepts: one set lookup on the fast path checks them all.
        self._aligns = frozenset(1 << i for i in range(pa.page_shift + 1))
        #: Debug mode (the allocator's MemoryDebugger): ``_size`` then stays 0 so that every
        #: allocation takes the slow path, and the page's size waits in ``_real_size``.
        self._dbg = pa.debug
        self._real_size = 0

    @property
    def naive(self) -> bool:
        return False

    # ------------------------------------------------------------------ the fast path
    def alloc(self, fragsz: int, align: int | None = None) -> int | None:
        """page_frag_alloc(_align)(): the address of ``fragsz`` fresh bytes, or None."""
        offset = self._offset
        if align is not None:
            if align not in self._aligns:
                _check_align(align, self.pa.page_size)
            aligned = (offset + align - 1) & -align
            end = aligned + fragsz
            if end > self._size or fragsz < 1:
                return self._alloc_slow(fragsz, align)
            self._align_waste += aligned - offset
            self._bias -= 1
            self._offset = end
            return self._va + aligned
        end = offset + fragsz
        if end > self._size or fragsz < 1:
            return self._alloc_slow(fragsz)
        self._bias -= 1
        self._offset = end
        return self._va + offset

    # ------------------------------------------------------------------ the slow path
    def _alloc_slow(self, fragsz: int, align: int | None = None) -> int | None:
        if self._dbg is not None:  # debug mode: red zone, allocation site (fragpool.mm.debug)
            return self._dbg.frag_alloc(self, fragsz, align)
        if fragsz < 1:
            raise ValueError(
                f"fragment size {fragsz} must be >= 1 (zero-size fragments are refused)"
            )
        page = self.page
        if page is not None:
            self._retire_counts()
            if self._release_bias(page):  # no fragment of this page is still out
                if page.pfmemalloc:
                    self.nr_pfmemalloc_release += 1
                    self.pa._release(page)
                    page = None
                else:
                    self._reuse(page)
            else:
                self.nr_forget += 1
                page = None
            if page is None:
                self.page = None
                self._size = 0
                self.pfmemalloc = False
        if page is None and not self._refill():
            self.nr_fail += 1
            return None
        if fragsz > self._size:
            self.nr_oversize += 1
            return None
        self._bias -= 1
        self._offset = fragsz
        return self._va

    def _release_bias(self, page: Page) -> bool:
        """Drop the cache's remaining claim on the page; True when no fragment is left."""
        self.refcount_ops += 1
        return self.pa.page_ref_sub_and_test(page, self._bias)

    def _reuse(self, page: Page) -> None:
        """Nothing is left on the page: carve it again from offset 0."""
        self.nr_reuse += 1
        self.refcount_sets += 1
        self.pa.set_page_count(page, self._full_bias)
        self._bias = self._full_bias
        self._offset = 0

    def _refill(self) -> bool:
        """__page_frag_cache_refill(): max order without reclaim, then order 0."""
        pa = self.pa
        page = None
        if self._refill_order > 0:
            page = pa.alloc_pages(self._refill_order)
            if page is None:
                self.nr_fallback += 1
        if page is None:
            page = pa.alloc_pages(0, memalloc=self.memalloc)
            if page is None:
                return False
        self.nr_refill += 1
        self._take(page)
        return True

    def _take(self, page: Page) -> None:
        self.refcount_ops += 1
        self.pa.page_ref_add(page, self._max_size)
        self._bias = self._full_bias
        self.page = page
        self._va = page.addr
        self._size = page.size
        self._offset = 0
        self.pfmemalloc = page.pfmemalloc

    def _retire_counts(self) -> None:
        self._frags_done += self._frags_on_page()
        self._carved_done += self._offset

    def _frags_on_page(self) -> int:
        return self._full_bias - self._bias if self.page is not None else 0

    # ------------------------------------------------------------------ drain & stats
    def drain(self) -> None:
        """page_frag_cache_drain(): drop the cache's own claim and forget the page."""
        page = self.page
        if page is None:
            return
        self._retire_counts()
        self.refcount_ops += 1
        self.pa.drain(page, self._bias)
        self.page = None
        self._size = self._offset = self._bias = 0
        self.pfmemalloc = False

    @property
    def pagecnt_bias(self) -> int:
        return self._bias

    @property
    def offset(self) -> int:
        return self._offset

    def outstanding(self) -> int:
        """Fragments of the cached page still held by someone (refcount - bias)."""
        return self.page.ref - self._bias if self.page is not None else 0

    def stats(self) -> Snapshot:
        """Counters of this cache (a Snapshot: a dict; two snapshots subtract)."""
        carved = self._carved_done + (self._offset if self.page is not None else 0)
        return Snapshot(
            naive=self.naive,
            frags_alloc=self._frags_done + self._frags_on_page(),
            refills=self.nr_refill,
            order_fallbacks=self.nr_fallback,
            reuse_in_place=self.nr_reuse,
            forgotten_in_flight=self.nr_forget,
            pfmemalloc_released=self.nr_pfmemalloc_release,
            alloc_fail=self.nr_fail,
            oversize=self.nr_oversize,
            refcount_ops=self.refcount_ops,
            refcount_sets=self.refcount_sets,
            bytes_carved=carved,
            bytes_requested=carved - self._align_waste,
            align_waste=self._align_waste,
        )


class NaivePageFragCache(PageFragCache):
    """The same cache without the bias trick: one get_page per fragment.

    The cache owns one reference; every fragment takes another. A page is reused in place
    when only the cache's reference is left, otherwise the cache puts its reference and
    refills. pagecnt_bias stays at 1 (the cache's own reference) so the invariant
    refcount = outstanding fragments + bias holds for both variants.
    """

    __slots__ = ("_nr_frags",)

    def __init__(self, pa: PageAllocator, naive: bool = True, *, memalloc: bool = False) -> None:
        PageFragCache.__init__(self, pa, memalloc=memalloc)
        self._nr_frags = 0

    @property
    def naive(self) -> bool:
        return True

    def alloc(self, fragsz: int, align: int | None = None) -> int | None:
        """page_frag_alloc() without the bias: get_page for every fragment."""
        offset = self._offset
        if align is not None:
            _check_align(align, self.pa.page_size)
            aligned = (offset + align - 1) & -align
        else:
            aligned = offset
        end = aligned + fragsz
        if end > self._size or fragsz < 1:
            return self._alloc_slow(fragsz, align)
        page = self.page
        n = page.ref + 1
        page.ref = n
        self.refcount_ops += 1
        self._nr_frags += 1
        self._align_waste += aligned - offset
        self._offset = end
        return self._va + aligned

    def _alloc_slow(self, fragsz: int, align: int | None = None) -> int | None:
        if self._dbg is not None:  # the debug path calls alloc(), which takes the reference
            return PageFragCache._alloc_slow(self, fragsz, align)
        addr = PageFragCache._alloc_slow(self, fragsz)
        if addr is not None:  # the base class carved it; the naive cache pays a reference
            page = self.page
            page.ref += 1
            self.refcount_ops += 1
            self._nr_frags += 1
            self._bias += 1
        return addr

    def _release_bias(self, page: Page) -> bool:
        self.refcount_ops += 1
        return self.pa.page_ref_sub_and_test(page, 1)

    def _reuse(self, page: Page) -> None:
        self.nr_reuse += 1
        self.refcount_sets += 1
        self.pa.set_page_count(page, 1)
        self._offset = 0

    def _take(self, page: Page) -> None:
        self._bias = 1
        self.page = page
        self._va = page.addr
        self._size = page.size
        self._offset = 0
        self.pfmemalloc = page.pfmemalloc

    def _frags_on_page(self) -> int:
        return 0

    def drain(self) -> None:
        page = self.page
        if page is None:
            return
        self._retire_counts()
        self.refcount_ops += 1
        self.pa.drain(page, 1)
        self.page = None
        self._size = self._offset = self._bias = 0
        self.pfmemalloc = False

    def stats(self) -> Snapshot:
        snap = PageFragCache.stats(self)
        snap["frags_alloc"] = self._nr_frags
        return snap


def make_frag_cache(
    pa: PageAllocator, naive: bool = False, *, memalloc: bool = False
) -> PageFragCache:
    """A page_frag_cache on ``pa``: with the bias trick, or the naive variant when asked."""
    cls = NaivePageFragCache if naive else PageFragCache
    return cls(pa, memalloc=memalloc)
