"""The page allocator: compound pages carved from anonymous mmap arenas (alloc_pages).

Layout. Each arena is one anonymous mmap whose usable part starts on a boundary of the
largest block (``page_size << max_order``), so every compound page is naturally aligned
and the head of the block holding an address is ``addr & ~(block_size - 1)``. Because
blocks of different orders coexist, the allocator keeps a ``mem_map``: a dict from page
frame number (``addr >> page_shift``) to the head :class:`Page` of the block that holds it,
which makes ``virt_to_head_page`` one O(1) lookup whatever the order.

Free blocks are managed as a binary buddy system: one free list per order (a dict used as
an ordered set, popped LIFO so recently freed memory is reused while still warm). An
allocation of order k takes the smallest free block of order >= k and splits it; a freed
block merges with its buddy (``addr ^ block_size``) while the buddy is free, up to the
largest order. Arenas are mapped lazily when no free block is large enough, as long as the
memory budget allows; past the budget an allocation returns None and is counted, the way a
GFP_ATOMIC allocation fails. A small reserve of order-0 pages, mapped on first need outside
the budget, serves callers that may use emergency reserves; those pages are pfmemalloc.

The free lists, the mem_map writes and the arena list are guarded by one lock (the kernel's
``zone->lock``): a page's last reference may be dropped on any thread, so __free_pages can
run on a consumer thread while the producer's cache refills. Only block allocation and
release take the lock; per-fragment work never does.

Reference counts live on the head page (``Page.ref``). They are changed only by
read-modify-write sequences that contain no call, no loop and no function entry, the only
places where CPython's GIL can pass to another thread, so each update is atomic with respect
to other Python threads and frees from any thread never lose an update (see
``fragpool.mm.__init__`` for the interpreter check that backs this).
"""

from __future__ import annotations

import ctypes
import mmap
import threading
from collections.abc import Iterator

from ..stats import Snapshot
from .constants import (
    DEFAULT_ARENA_SIZE,
    DEFAULT_BUDGET,
    DEFAULT_MAX_ORDER,
    DEFAULT_RESERVE_PAGES,
    PAGE_SIZE,
)
from .debug import Leak, MemoryDebugger, enabled_by_environment
from .errors import BadPageError, DoubleFreeError


class RefCount:
    """A reference count on a receive buffer: a pool page's (page_ref) or a ring block's.

    What an skb's head reference is counted on (``skb._page``), so freeing an skb drops it
    the same way whoever owns the buffer.
    """

    __slots__ = ("ref",)

    def __init__(self) -> None:
        self.ref = 0


class Page(RefCount):
    """A compound page (struct page of the head): where it is, its order and its refcount."""

    __slots__ = ("addr", "order", "size", "pfmemalloc", "arena", "owner")

    def __init__(self, addr: int, order: int, size: int, arena: Arena, pfmemalloc: bool) -> None:
        self.addr = addr
        self.order = order
        self.size = size
        self.ref = 1
        self.pfmemalloc = pfmemalloc
        self.arena = arena
        #: Who holds the page beyond plain references (a page_pool marks its pages here).
        self.owner: object = None

    def __repr__(self) -> str:
        flag = " pfmemalloc" if self.pfmemalloc else ""
        return f"<Page {self.addr:#x} order {self.order} ref {self.ref}{flag}>"


class Arena:
    """One anonymous mmap; its usable part starts naturally aligned for the largest block."""

    __slots__ = ("map", "raw_addr", "base", "size", "view", "bytes_view", "_anchor", "reserve")

    def __init__(self, size: int, align: int, reserve: bool = False) -> None:
        length = size + align - PAGE_SIZE if align > PAGE_SIZE else size
        self.map = mmap.mmap(-1, length, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self._anchor = (ctypes.c_char * length).from_buffer(self.map)
        self.raw_addr = ctypes.addressof(self._anchor)
        self.base = (self.raw_addr + align - 1) & -align
        self.size = size
        self.view = memoryview(self.map)
        #: The same bytes for code that copies into them (typed once when compiled).
        self.bytes_view = self.view
        self.reserve = reserve

    @property
    def mapped_bytes(self) -> int:
        return len(self.map)

    def close(self) -> None:
        self.bytes_view = None
        self.view.release()
        self._anchor = None
        self.map.close()


#: A page that contains no address: what the last-page check of head_page starts from.
_NO_PAGE = Page(0, 0, 0, None, False)
_NO_PAGE.ref = 0


class PageAllocator:
    """alloc_pages / __free_pages over lazily mapped arenas, with refcounts and a mem_map.

    Keyword options: ``page_size`` (a power of two, default 4096), ``max_order`` (default 3,
    32 KiB blocks), ``budget`` (usable bytes that may be mapped, default 1 GiB),
    ``arena_size`` (usable bytes per mmap, default 1 MiB), ``reserve_pages`` (order-0 pages
    for pfmemalloc callers, default 16), ``debug`` (True: debug mode's checks, see
    fragpool.mm.debug; None, the default, follows ``FRAGPOOL_DEBUG``).
    """

    def __init__(
        self,
        *,
        page_size: int = PAGE_SIZE,
        max_order: int = DEFAULT_MAX_ORDER,
        budget: int = DEFAULT_BUDGET,
        arena_size: int = DEFAULT_ARENA_SIZE,
        reserve_pages: int = DEFAULT_RESERVE_PAGES,
        debug: bool | None = None,
    ) -> None:
        if page_size < mmap.PAGESIZE or page_size & (page_size - 1):
            raise ValueError(
                f"page_size {page_size} must be a power of two of at least {mmap.PAGESIZE}"
            )
        if not 0 <= max_order <= 10:
            raise ValueError(f"max_order {max_order} must be between 0 and 10")
        if budget < 0 or reserve_pages < 0:
            raise ValueError(f"budget {budget} and reserve_pages {reserve_pages} must be >= 0")
        self.page_size = page_size
        self.page_shift = page_size.bit_length() - 1
        self.max_order = max_order
        self.max_block = page_size << max_order
        self.budget = budget - budget % page_size
        self.arena_size = max(self.max_block, arena_size - arena_size % self.max_block)
        self.reserve_pages = reserve_pages
        #: mem_map: page frame number (addr >> page_shift) -> head Page of the block holding
        #: that frame. Layers above may read it directly on hot paths (virt_to_head_page).
        self.mem_map: dict[int, Page] = {}
        self._memmap = self.mem_map
        #: The page the last lookup found (a page of no address until the first one).
        self._last_page = _NO_PAGE
        self._free: list[dict[int, Arena]] = [{} for _ in range(max_order + 1)]
        self._reserve_free: list[int] = []
        self._reserve_arena: Arena | None = None
        self.arenas: list[Arena] = []
        self._live: dict[int, Page] = {}
        self._mapped_usable = 0
        # counters
        self.nr_mmap = 0
        self.bytes_mapped = 0
        self.pages_alloc = [0] * (max_order + 1)
        self.pages_freed = [0] * (max_order + 1)
        self.alloc_fail = [0] * (max_order + 1)
        self.reserve_alloc = 0
        self.reserve_fail = 0
        self.refcount_ops = 0
        self.refcount_sets = 0
        self.frag_frees = 0
        #: skbs whose data came back because they were dropped without free() (see SkBuff).
        self.skbs_reclaimed = 0
        #: This allocator's netdev_alloc_cache, installed by fragpool.mm.percpu on first use.
        self.netdev_cache: object = None
        #: zone->lock: guards the free lists, the reserve, the mem_map writes and the arenas.
        self._lock = threading.Lock()
        if debug is None:
            debug = enabled_by_environment()
        #: Debug mode's state (fragpool.mm.debug.MemoryDebugger), None when it is off.
        self.debug: MemoryDebugger | None = MemoryDebugger(self) if debug else None

    # ----------------------------------------------------------------- arenas and blocks
    def _map_arena(self) -> bool:
        room = self.budget - self._mapped_usable
        size = min(self.arena_size, room)
        size -= size % self.page_size
        if size <= 0:
            return False
        arena = Arena(size, self.max_block)
        self.arenas.append(arena)
        self.nr_mmap += 1
        self.bytes_mapped += arena.mapped_bytes
        self._mapped_usable += size
        # Cut the arena into the largest naturally aligned blocks that fit.
        pos, end = arena.base, arena.base + size
        while pos < end:
            order = self.max_order
            while order and (
                pos % (self.page_size << order) or pos + (self.page_size << order) > end
            ):
                order -= 1
            self._free[order][pos] = arena
            pos += self.page_size << order
        return True

    def _take_block(self, order: int) -> tuple[int, Arena] | None:
        free = self._free
        for have in range(order, self.max_order + 1):
            if free[have]:
                addr, arena = free[have].popitem()
                while have > order:  # split, keeping the lower half
                    have -= 1
                    free[have][addr + (self.page_size << have)] = arena
                return addr, arena
        return None

    def _give_block(self, addr: int, order: int, arena: Arena) -> None:
        free = self._free
        while order < self.max_order:
            buddy = addr ^ (self.page_size << order)
            if buddy not in free[order]:
                break
            del free[order][buddy]
            addr &= ~(self.page_size << order)
            order += 1
        free[order][addr] = arena

    def _install(self, addr: int, order: int, arena: Arena, pfmemalloc: bool) -> Page:
        page = Page(addr, order, self.page_size << order, arena, pfmemalloc)
        memmap = self._memmap
        pfn = addr >> self.page_shift
        for i in range(1 << order):
            memmap[pfn + i] = page
        self._live[addr] = page
        return page

    # ------------------------------------------------------------------- alloc / free
    def alloc_pages(self, order: int = 0, *, memalloc: bool = False) -> Page | None:
        """alloc_pages(): a compound page of ``order`` with refcount 1, or None when out of budget.

        ``memalloc=True`` (``__GFP_MEMALLOC``) lets an order-0 request that cannot be met
        take a page from the emergency reserve; such a page is marked pfmemalloc.
        """
        if not 0 <= order <= self.max_order:
            raise ValueError(f"order {order} is outside 0..{self.max_order}")
        debug = self.debug
        if debug is None:
            return self._alloc_block(order, memalloc, True)
        page = self._alloc_block(order, memalloc, not debug.quarantine)
        if page is None and debug.flush():  # quarantined memory goes back under pressure
            page = self._alloc_block(order, memalloc, True)
        if page is not None:
            debug.page_alloc(page)
        return page

    def _alloc_block(self, order: int, memalloc: bool, last_try: bool) -> Page | None:
        with self._lock:
            block = self._take_block(order)
            if block is None and self._map_arena():
                block = self._take_block(order)
            if block is None:
                if not last_try:
                    return None
                self.alloc_fail[order] += 1
                if memalloc and order == 0:
                    return self._alloc_reserve()
                return None
            self.pages_alloc[order] += 1
            return self._install(block[0], order, block[1], False)

    def _alloc_reserve(self) -> Page | None:
        if self._reserve_arena is None and self.reserve_pages:
            arena = Arena(self.reserve_pages * self.page_size, self.page_size, reserve=True)
            self._reserve_arena = arena
            self.nr_mmap += 1
            self.bytes_mapped += arena.mapped_bytes
            self._reserve_free = [
                arena.base + i * self.page_size for i in reversed(range(self.reserve_pages))
            ]
        if not self._reserve_free:
            self.reserve_fail += 1
            return None
        self.reserve_alloc += 1
        self.pages_alloc[0] += 1
        return self._install(self._reserve_free.pop(), 0, self._reserve_arena, True)

    def _free_page(self, page: Page) -> None:
        """__free_pages(): the refcount reached zero; the block goes back to its free list."""
        if self.debug is not None:  # poisoned and quarantined first
            self.debug.page_freed(page)
            return
        with self._lock:
            del self._live[page.addr]
            self.pages_freed[page.order] += 1
            if page.arena.reserve:
                self._reserve_free.append(page.addr)
            else:
                self._give_block(page.addr, page.order, page.arena)

    def _give_page_block(self, page: Page) -> None:
        """The block of a freed page back to its free list (debug mode's quarantine exit)."""
        with self._lock:
            if page.arena.reserve:
                self._reserve_free.append(page.addr)
            else:
                self._give_block(page.addr, page.order, page.arena)

    # ------------------------------------------------------------------- references
    def head_page(self, addr: int) -> Page | None:
        """virt_to_head_page() of a live address: its head Page, or None if no live page has it.

        The page the last lookup found is checked before the mem_map: receive paths carve
        many fragments from one page in a row. A page object is never reused once freed
        (its ref stays 0), so "ref > 0 and addr inside it" means it is still ``addr``'s
        live head page.
        """
        page = self._last_page
        if page.ref > 0 and page.addr <= addr < page.addr + page.size:
            return page
        page = self._memmap.get(addr >> self.page_shift)
        if page is None or page.ref <= 0 or not page.addr <= addr < page.addr + page.size:
            return None
        self._last_page = page
        return page

    def page_of(self, addr: int) -> Page:
        """virt_to_head_page(): the head page of the compound page holding ``addr``."""
        page = self.head_page(addr)
        if page is not None:
            return page
        page = self._memmap.get(addr >> self.page_shift)
        if page is None:
            raise BadPageError(f"address {addr:#x} is not in any fragpool arena")
        raise BadPageError(f"address {addr:#x} lies in a free block (last page {page!r})")

    def get_page(self, page: Page) -> None:
        """get_page(): take one more reference."""
        n = page.ref + 1
        page.ref = n
        self.refcount_ops += 1
        if n <= 1:
            page.ref = n - 1
            raise BadPageError(f"get_page on free page {page.addr:#x}")

    def frag_ref(self, addr: int) -> None:
        """skb_frag_ref(): one more reference on the page of the fragment at ``addr`` (a
        second holder of the fragment; debug mode counts it on the fragment too)."""
        self.get_page(self.page_of(addr))
        if self.debug is not None:
            self.debug.frag_ref(addr)

    def page_ref_add(self, page: Page, count: int) -> None:
        """page_ref_add(): take ``count`` references in one operation."""
        n = page.ref + count
        page.ref = n
        self.refcount_ops += 1
        if n <= count:
            page.ref = n - count
            raise BadPageError(f"page_ref_add on free page {page.addr:#x}")

    def set_page_count(self, page: Page, count: int) -> None:
        """set_page_count(): only for a page nobody else references (reuse in place).

        A plain store (atomic_set), not a read-modify-write: counted apart from
        ``refcount_ops``, which counts the atomic operations the bias trick exists to avoid.
        """
        page.ref = count
        self.refcount_sets += 1

    def page_ref_sub_and_test(self, page: Page, count: int) -> bool:
        """page_ref_sub_and_test(): drop ``count`` references; True when none are left.

        The page is not freed here: the caller decides between reuse and __free_pages.
        """
        n = page.ref - count
        if n >= 0:
            page.ref = n
        self.refcount_ops += 1
        if n < 0:
            raise BadPageError(
                f"page {page.addr:#x} (order {page.order}) has refcount {n + count}, "
                f"cannot drop {count} references"
            )
        return n == 0

    def put_page(self, page: Page) -> None:
        """put_page(): drop one reference, freeing the compound page at zero."""
        n = page.ref - 1
        if n >= 0:
            page.ref = n
        self.refcount_ops += 1
        if n <= 0:
            if n < 0:
                raise DoubleFreeError(
                    f"put_page on free page {page.addr:#x} (double free?)" + self._history(page)
                )
            self._release(page)

    def drain(self, page: Page | int, count: int) -> None:
        """__page_frag_cache_drain(): drop ``count`` references at once, freeing at zero.

        Refuses, with an error naming the page, to take the refcount below zero (or to
        touch a page whose refcount is already zero).
        """
        if not isinstance(page, Page):
            page = self.page_of(page)
        if count < 1:
            raise ValueError(f"drain count {count} must be >= 1")
        ref = page.ref
        n = ref - count
        if ref > 0 and n >= 0:
            page.ref = n
        self.refcount_ops += 1
        if ref <= 0 or n < 0:
            raise BadPageError(
                f"__page_frag_cache_drain: page {page.addr:#x} (order {page.order}) has "
                f"refcount {ref}; dropping {count} would take it below zero"
            )
        if n == 0:
            self._release(page)

    def frag_free(self, addr: int) -> None:
        """page_frag_free(): drop the reference a fragment holds on its compound page.

        The head page is head_page()'s; an address no live page holds is looked up in the
        mem_map anyway, so that a free of an already freed page is reported as a double free.
        """
        if self.debug is not None:
            self.debug.frag_free(addr)
            return
        page = self.head_page(addr)
        if page is None:
            page = self._memmap.get(addr >> self.page_shift)
            if page is None:
                raise BadPageError(f"page_frag_free({addr:#x}): not in any fragpool arena")
        n = page.ref - 1
        page.ref = n
        self.frag_frees += 1
        if n <= 0:
            self._ref_zero(page, n, addr)

    def _ref_zero(self, page: Page, n: int, addr: int) -> None:
        if n < 0:
            page.ref = n + 1
            raise DoubleFreeError(
                f"page_frag_free({addr:#x}): page {page.addr:#x} is already free (double free?)"
                + self._history(page)
            )
        self._release(page)

    def _history(self, page: Page) -> str:
        """Where a page was allocated and freed, in debug mode ('' otherwise)."""
        return self.debug.page_history(page) if self.debug is not None else ""

    def _release(self, page: Page) -> None:
        owner = page.owner
        if owner is not None:
            owner.page_released(page)
        self._free_page(page)

    # ------------------------------------------------------------------- access & stats
    def view(self, addr: int, length: int) -> memoryview:
        """A writable memoryview onto ``length`` bytes at ``addr`` (no copy)."""
        if self.debug is not None:
            return self.debug.view(addr, length)
        page = self.page_of(addr)
        arena = page.arena
        start = addr - arena.raw_addr
        if length < 0 or addr + length > arena.base + arena.size:
            raise BadPageError(f"view of {length} bytes at {addr:#x} runs past its arena")
        return arena.view[start : start + length]

    def in_use_pages(self) -> int:
        """Compound pages currently referenced (allocated and not yet freed).

        In debug mode the quarantine is emptied first (its poison verified), so the count
        is what the program holds.
        """
        if self.debug is not None:
            self.debug.flush()
        return len(self._live)

    def live_pages(self) -> Iterator[Page]:
        """The compound pages currently referenced (after the quarantine, in debug mode)."""
        if self.debug is not None:
            self.debug.flush()
        return iter(list(self._live.values()))

    def check(self) -> None:
        """Debug mode: verify every live fragment's red zone and the quarantine's poison.

        Raises RedZoneError or UseAfterFreeError naming the first fault; without debug mode
        there is nothing to verify, and it says so (RuntimeError).
        """
        self._debugger("check").check()

    def leaks(self) -> list[Leak]:
        """Debug mode: outstanding fragments, skbs and pages grouped by the site that
        allocated them (file, line, function, count, bytes), largest first."""
        return self._debugger("leaks").leaks()

    def _debugger(self, what: str) -> MemoryDebugger:
        if self.debug is None:
            raise RuntimeError(
                f"pa.{what}() needs debug mode: PageAllocator(debug=True), or "
                "FRAGPOOL_DEBUG=1 in the environment"
            )
        return self.debug

    def stats(self) -> Snapshot:
        """Counters of this allocator, as a Snapshot (a dict; two snapshots subtract)."""
        if self.debug is not None:
            self.debug.flush()
        snap = Snapshot(
            arenas_mapped=self.nr_mmap,
            bytes_mapped=self.bytes_mapped,
            budget=self.budget,
            pages_in_use=len(self._live),
            alloc_fail=sum(self.alloc_fail),
            reserve_alloc=self.reserve_alloc,
            reserve_fail=self.reserve_fail,
            refcount_ops=self.refcount_ops,
            refcount_sets=self.refcount_sets,
            frag_frees=self.frag_frees,
            skbs_reclaimed=self.skbs_reclaimed,
        )
        for order in range(self.max_order + 1):
            snap[f"pages_alloc_order{order}"] = self.pages_alloc[order]
            snap[f"pages_freed_order{order}"] = self.pages_freed[order]
            snap[f"alloc_fail_order{order}"] = self.alloc_fail[order]
        return snap

    def close(self) -> None:
        """Unmap every arena. Only valid when no page is in use (debug mode verifies the red
        zones and empties the quarantine first)."""
        if self.debug is not None:
            self.debug.check()
            self.debug.flush()
        with self._lock:
            if self._live:
                raise BadPageError(f"close() with {len(self._live)} compound pages still in use")
            for arena in self.arenas + ([self._reserve_arena] if self._reserve_arena else []):
                arena.close()
            self.arenas.clear()
            self._reserve_arena = None
            self._reserve_free = []
            self._free = [{} for _ in range(self.max_order + 1)]
            self._memmap.clear()
            self._mapped_usable = 0  # the budget counts what is mapped now, not ever
