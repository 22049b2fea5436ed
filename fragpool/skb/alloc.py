"""skb constructors of net/core/skbuff.c: build_skb, netdev_alloc_skb, napi_alloc_skb, ...

Every constructor returns None when memory cannot be had (the kernel's NULL), counted by
the allocator or cache that failed.
"""

from __future__ import annotations

from .. import _native
from ..mm import current_napi, default_allocator, netdev_frag_cache
from ..mm import percpu as _percpu
from ..mm.allocator import PageAllocator
from ..mm.percpu import NapiContext
from ..stats import Snapshot
from .constants import (
    NET_IP_ALIGN,
    NET_SKB_PAD,
    SHINFO_SIZE,
    SKB_FRAG_HEAD_LIMIT,
    SKB_HEAD_ALIGN,
    SKB_SMALL_HEAD_LIMIT,
    SKB_TRUESIZE,
    SMP_CACHE_BYTES,
)
from .head_cache import SkbHeadCache, napi_skb_cache, skbuff_head_cache
from .heap import heap_heads
from .skbuff import SkBuff, _alloc_heap_skb


class _Counts:
    """How skb heads were allocated (fragpool.skb.skb_stats)."""

    __slots__ = ("frag_heads", "heap_heads", "alloc_fail")

    def __init__(self) -> None:
        self.frag_heads = self.heap_heads = self.alloc_fail = 0


counts = _Counts()


def _around(
    pa: PageAllocator, cache: SkbHeadCache, data: int, frag_size: int, pfmemalloc: bool | None
) -> SkBuff:
    """__build_skb_around(): an skb from ``cache`` over a page fragment of ``frag_size``.

    The shared info takes the end of the buffer; the fragment's page reference becomes the
    skb's head reference. ``pfmemalloc`` None takes the flag from the page.
    """
    page = pa.head_page(data)
    size = frag_size - SHINFO_SIZE
    if page is None or size < 0 or data + frag_size > page.addr + page.size:
        _bad_buffer(pa, data, frag_size)
    skb = cache.get()
    arena = page.arena
    if pfmemalloc is None:
        pfmemalloc = page.pfmemalloc
    skb._init(
        pa, pa, data, size, arena.view, arena.raw_addr, size + _TRUESIZE_OVERHEAD, True, pfmemalloc
    )
    if pa.debug is None:  # debug mode keeps frees on the checked path
        skb._page = page
    return skb


def _bad_buffer(pa: PageAllocator, data: int, frag_size: int) -> None:
    page = pa.page_of(data)  # raises for an address outside the pool or in a free block
    raise ValueError(
        f"build_skb: a {frag_size}-byte buffer at {data:#x} does not fit its page "
        f"({page.addr:#x}+{page.size}) with {SHINFO_SIZE} bytes of shared info"
    )


_TRUESIZE_OVERHEAD = SKB_TRUESIZE(0)


def build_skb(data: int, frag_size: int, *, allocator: PageAllocator | None = None) -> SkBuff:
    """build_skb(): an skb around a page fragment of ``frag_size`` bytes that the caller owns.

    The fragment's reference becomes the skb's head reference; pfmemalloc comes from the page.
    """
    pa = allocator or _percpu._default or default_allocator()
    return _around(pa, skbuff_head_cache, data, frag_size, None)


def _napi_cache(ctx: NapiContext) -> SkbHeadCache:
    """The skb head cache of ``ctx``, after the rule that only its own thread may use it."""
    if ctx._owner != _native.thread_ident():
        ctx.check()
    return ctx.extensions.get("skb_cache") or napi_skb_cache(ctx)


def napi_build_skb(data: int, frag_size: int, ctx: NapiContext | None = None) -> SkBuff:
    """napi_build_skb(): build_skb with the head taken from the NAPI skb cache."""
    if ctx is None:
        ctx = current_napi()
    return _around(ctx.pa, _napi_cache(ctx), data, frag_size, None)


def _heap_head(pa: PageAllocator, length: int, cache: SkbHeadCache) -> SkBuff:
    counts.heap_heads += 1
    return _alloc_heap_skb(pa, length, cache)


def netdev_alloc_skb(length: int, *, allocator: PageAllocator | None = None) -> SkBuff | None:
    """__netdev_alloc_skb(): ``length`` bytes of room after NET_SKB_PAD of headroom.

    Heads too small or too large for a page fragment come from the heap (kmalloc) as the
    kernel does; the rest are fragments of the allocator's netdev cache.
    """
    pa = allocator or default_allocator()
    size = length + NET_SKB_PAD
    if size <= SKB_SMALL_HEAD_LIMIT or size > SKB_FRAG_HEAD_LIMIT:
        skb = _heap_head(pa, size, skbuff_head_cache)
    else:
        size = SKB_HEAD_ALIGN(size)
        netdev = netdev_frag_cache(pa)
        data = netdev.alloc(size)
        if data is None:
            counts.alloc_fail += 1
            return None
        counts.frag_heads += 1
        # pfmemalloc from the fragment's own page: the cache's flag may already describe
        # another page once the lock is dropped.
        skb = _around(pa, skbuff_head_cache, data, size, None)
    skb.reserve(NET_SKB_PAD)
    return skb


def napi_alloc_skb(length: int, ctx: NapiContext | None = None) -> SkBuff | None:
    """napi_alloc_skb(): like netdev_alloc_skb, with NET_IP_ALIGN more headroom and the
    calling NAPI context's frag cache and skb head cache (no lock)."""
    if ctx is None:
        ctx = current_napi()
    pa = ctx.pa
    cache = _napi_cache(ctx)
    size = length + _NAPI_PAD
    if size <= SKB_SMALL_HEAD_LIMIT or size > SKB_FRAG_HEAD_LIMIT:
        skb = _heap_head(pa, size, cache)
        skb.reserve(_NAPI_PAD)
        return skb
    size = ((size + SMP_CACHE_BYTES - 1) & -SMP_CACHE_BYTES) + SHINFO_SIZE  # SKB_HEAD_ALIGN
    tally = counts
    data = ctx.frag_cache.alloc(size)
    if data is None:
        tally.alloc_fail += 1
        return None
    tally.frag_heads += 1
    addr = data
    skb = _around(pa, cache, addr, size, None)
    skb.data = skb.tail = addr + _NAPI_PAD  # skb_reserve() of a fresh skb: room is certain
    return skb


_NAPI_PAD = NET_SKB_PAD + NET_IP_ALIGN


def alloc_skb(size: int, *, allocator: PageAllocator | None = None) -> SkBuff:
    """alloc_skb(): an skb with a heap head of ``size`` usable bytes and no headroom."""
    return _heap_head(allocator or default_allocator(), size, skbuff_head_cache)


def napi_consume_skb(skb: SkBuff, budget: int = 1, ctx: NapiContext | None = None) -> None:
    """napi_consume_skb(): release the data; the object goes to the NAPI cache.

    ``budget == 0`` means the caller is not in NAPI (netpoll): a plain free.
    """
    if not budget:
        skb.free()
        return
    ctx = ctx or current_napi()
    ctx.check()
    skb.release()
    napi_skb_cache(ctx).put(skb)


def stats() -> Snapshot:
    """How skb heads were allocated, and the slab's object cache."""
    snap = Snapshot(
        frag_heads=counts.frag_heads, heap_heads=counts.heap_heads, alloc_fail=counts.alloc_fail
    )
    snap.update(heap_heads.stats())
    snap["skbuff_head_cache"] = skbuff_head_cache.stats()
    return snap


__all__ = [
    "SKB_TRUESIZE",
    "alloc_skb",
    "build_skb",
    "napi_alloc_skb",
    "napi_build_skb",
    "napi_consume_skb",
    "netdev_alloc_skb",
    "stats",
]
