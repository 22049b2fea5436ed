"""PageFragCache: exact carving, the bias trick, the slow path's three outcomes, drain, errors.

Addresses are pinned relative to the cached page's address: fragpool carves upward from
offset 0 (the v6.13 layout), aligning the offset up before each aligned fragment.
"""

from __future__ import annotations

import pytest

from fragpool.mm import (
    PAGE_FRAG_CACHE_MAX_SIZE,
    BadPageError,
    NaivePageFragCache,
    PageAllocator,
    PageFragCache,
    make_frag_cache,
)

BIAS = PAGE_FRAG_CACHE_MAX_SIZE + 1


@pytest.fixture
def pa() -> PageAllocator:
    return PageAllocator()


def carve(cache: PageFragCache, requests: list[tuple[int, int | None]]) -> list[int]:
    base = None
    out = []
    for fragsz, align in requests:
        addr = cache.alloc(fragsz, align)
        assert addr is not None
        if base is None:
            base = cache.page.addr
        out.append(addr - base)
    return out


def test_unaligned_fragments_are_carved_back_to_back(pa: PageAllocator) -> None:
    cache = PageFragCache(pa)
    offsets = carve(cache, [(100, None), (1, None), (60, None), (1500, None), (3, None)])
    assert offsets == [0, 100, 101, 161, 1661]
    assert cache.offset == 1664
    assert cache.page.order == 3 and cache.page.size == 32768
    assert cache.page.addr % 32768 == 0


def test_aligned_fragments_round_the_offset_up(pa: PageAllocator) -> None:
    cache = PageFragCache(pa)
    requests = [
        (100, None),  # 0..100
        (60, 64),  # aligned up from 100 to 128
        (1, None),  # 188
        (10, 8),  # 189 -> 192
        (5, 1),  # 202: align 1 is no alignment
        (1, 4096),  # 207 -> 4096
        (3, 2),  # 4097 -> 4098
        (64, 64),  # 4101 -> 4160
    ]
    assert carve(cache, requests) == [0, 128, 188, 192, 202, 4096, 4098, 4160]
    assert cache.offset == 4224
    snap = cache.stats()
    assert snap["align_waste"] == (128 - 100) + (192 - 189) + (4096 - 207) + 1 + (4160 - 4101)
    assert snap["bytes_carved"] == 4224
    assert snap["bytes_requested"] == 100 + 60 + 1 + 10 + 5 + 1 + 3 + 64
    assert snap["frags_alloc"] == len(requests)


def test_bias_trick_touches_no_refcount_per_fragment(pa: PageAllocator) -> None:
    cache = PageFragCache(pa)
    first = cache.alloc(10)
    page = cache.page
    assert page.ref == BIAS and cache.pagecnt_bias == BIAS - 1
    ops = cache.stats()["refcount_ops"]
    pa_ops = pa.refcount_ops
    for i in range(1, 101):
        cache.alloc(10, 8 if i % 2 else None)
        assert page.ref == BIAS, "an allocation never changes the refcount"
        assert cache.pagecnt_bias == BIAS - 1 - i
    assert cache.stats()["refcount_ops"] == ops and pa.refcount_ops == pa_ops
    assert cache.outstanding() == 101
    pa.frag_free(first)
    assert page.ref == BIAS - 1 and cache.outstanding() == 100


def fill_page(cache: PageFragCache) -> list[int]:
    """Carve the rest of the cached page exactly, so the next request takes the slow path."""
    frags = []
    while cache.offset + 4096 <= 32768:
        frags.append(cache.alloc(4096))
    if cache.offset < 32768:
        frags.append(cache.alloc(32768 - cache.offset))
    assert cache.offset == 32768
    return frags


def test_reuse_in_place_when_every_fragment_is_back(pa: PageAllocator) -> None:
    cache = PageFragCache(pa)
    frags = [cache.alloc(700)] + fill_page(cache)
    page = cache.page
    for addr in frags:
        pa.frag_free(addr)
    assert page.ref == cache.pagecnt_bias, "only the cache's bias is left"
    addr = cache.alloc(300)
    assert cache.page is page and addr == page.addr, "same page, carved again from 0"
    assert page.ref == BIAS and cache.pagecnt_bias == BIAS - 1 and cache.offset == 300
    snap = cache.stats()
    assert (snap["reuse_in_place"], snap["forgotten_in_flight"], snap["refills"]) == (1, 0, 1)
    assert pa.stats()["pages_alloc_order3"] == 1
    pa.frag_free(addr)
    cache.drain()
    assert pa.in_use_pages() == 0


def test_forget_when_fragments_are_still_out(pa: PageAllocator) -> None:
    cache = PageFragCache(pa)
    keep = cache.alloc(700)
    frags = fill_page(cache)
    old = cache.page
    for addr in frags:
        pa.frag_free(addr)
    addr = cache.alloc(300)
    assert cache.page is not old and addr == cache.page.addr
    assert old.ref == 1, "the kept fragment is the page's only reference"
    snap = cache.stats()
    assert (snap["reuse_in_place"], snap["forgotten_in_flight"], snap["refills"]) == (0, 1, 2)
    assert pa.in_use_pages() == 2
    pa.frag_free(keep)  # the last free of a forgotten page frees it
    assert pa.in_use_pages() == 1
    assert pa.stats()["pages_freed_order3"] == 1
    pa.frag_free(addr)
    cache.drain()
    assert pa.in_use_pages() == 0


def test_pfmemalloc_page_is_released_never_reused() -> None:
    # No budget at all: the max-order refill fails, the order-0 fallback comes from reserves.
    pa = PageAllocator(budget=0, reserve_pages=2)
    cache = PageFragCache(pa, memalloc=True)
    addr = cache.alloc(1000)
    page = cache.page
    assert page.order == 0 and page.pfmemalloc and cache.pfmemalloc
    assert addr == page.addr
    snap = cache.stats()
    assert snap["order_fallbacks"] == 1 and pa.stats()["reserve_alloc"] == 1
    pa.frag_free(addr)
    before = pa.stats()
    again = cache.alloc(3500)  # does not fit behind the first 1000 bytes: slow path
    delta = pa.stats() - before
    assert delta["pages_freed_order0"] == 1, "the reserve page went back, not reused"
    assert delta["pages_alloc_order0"] == 1 and delta["reserve_alloc"] == 1
    snap = cache.stats()
    assert (snap["pfmemalloc_released"], snap["reuse_in_place"]) == (1, 0)
    assert cache.page is not page and cache.page.pfmemalloc
    pa.frag_free(again)
    cache.drain()
    assert pa.in_use_pages() == 0 and not cache.pfmemalloc


def test_without_memalloc_the_refill_failure_returns_none_and_is_counted() -> None:
    pa = PageAllocator(budget=0, reserve_pages=2)
    cache = PageFragCache(pa)
    assert cache.alloc(64) is None
    snap = cache.stats()
    assert (snap["alloc_fail"], snap["order_fallbacks"], snap["frags_alloc"]) == (1, 1, 0)
    assert pa.stats()["alloc_fail"] == 2 and pa.stats()["reserve_alloc"] == 0
    assert cache.page is None


def test_budget_failure_for_a_second_cache() -> None:
    pa = PageAllocator(budget=32768)
    first, second = PageFragCache(pa), PageFragCache(pa)
    addr = first.alloc(256)
    assert addr is not None
    assert second.alloc(256) is None
    assert second.stats()["alloc_fail"] == 1
    assert pa.stats()["alloc_fail_order3"] == 1 and pa.stats()["alloc_fail_order0"] == 1
    pa.frag_free(addr)
    first.drain()
    assert second.alloc(256) is not None, "memory given back can be had again"
    second.drain()


def test_oversize_returns_none_and_keeps_the_cached_page(pa: PageAllocator) -> None:
    cache = PageFragCache(pa)
    addr = cache.alloc(100)
    page = cache.page
    pa.frag_free(addr)
    assert cache.alloc(32769) is None
    assert cache.page is page and page.ref == BIAS, "reused in place and kept"
    assert cache.offset == 0 and cache.pagecnt_bias == BIAS
    assert cache.stats()["oversize"] == 1
    assert cache.alloc(32768) == page.addr, "a whole-page fragment still fits"
    pa.frag_free(page.addr)
    cache.drain()
    assert pa.in_use_pages() == 0


def test_oversize_on_an_empty_cache_refills_and_keeps_the_new_page(pa: PageAllocator) -> None:
    cache = PageFragCache(pa)
    assert cache.alloc(40000, 64) is None
    assert cache.page is not None and cache.page.ref == BIAS
    assert cache.stats()["frags_alloc"] == 0
    cache.drain()
    assert pa.in_use_pages() == 0


def order0_fallback() -> tuple[PageAllocator, PageFragCache, object, int]:
    """A cache whose refill fell back to order 0 because the only 32 KiB block was taken."""
    pa = PageAllocator(budget=32768 + 4096)
    blocker = pa.alloc_pages(3)
    cache = PageFragCache(pa)
    addr = cache.alloc(100)
    assert cache.page.order == 0 and cache.stats()["order_fallbacks"] == 1
    return pa, cache, blocker, addr


def test_8k_after_order0_fallback_is_refused_when_the_page_now_cached_is_4k() -> None:
    pa, cache, blocker, addr = order0_fallback()
    page = cache.page
    pa.frag_free(addr)
    assert cache.alloc(8192) is None, "reused in place: the cached page is 4 KiB"
    assert cache.page is page and cache.stats()["oversize"] == 1
    assert cache.stats()["reuse_in_place"] == 1
    assert cache.alloc(4096) == page.addr
    pa.frag_free(page.addr)
    cache.drain()
    pa.put_page(blocker)
    assert pa.in_use_pages() == 0


def test_8k_after_order0_fallback_succeeds_when_the_refill_gets_32k() -> None:
    # v6.13 compared fragsz with PAGE_SIZE before the slow path and refused this request.
    pa, cache, blocker, addr = order0_fallback()
    pa.put_page(blocker)  # a 32 KiB block is free again
    big = cache.alloc(8192)  # the 100-byte fragment is out: forget, refill at max order
    assert big is not None
    assert cache.page.order == 3 and big == cache.page.addr
    assert cache.stats()["forgotten_in_flight"] == 1
    pa.frag_free(addr)
    pa.frag_free(big)
    cache.drain()
    assert pa.in_use_pages() == 0


@pytest.mark.parametrize("naive", [False, True])
@pytest.mark.parametrize("fragsz", [0, -1])
def test_zero_size_requests_raise_and_change_nothing(
    pa: PageAllocator, naive: bool, fragsz: int
) -> None:
    cache = make_frag_cache(pa, naive)
    with pytest.raises(ValueError, match="must be >= 1"):
        cache.alloc(fragsz)
    addr = cache.alloc(10)
    state = (cache.page.ref, cache.pagecnt_bias, cache.offset)
    for align in (None, 64):
        with pytest.raises(ValueError, match="must be >= 1"):
            cache.alloc(fragsz, align)
    assert (cache.page.ref, cache.pagecnt_bias, cache.offset) == state
    pa.frag_free(addr)
    cache.drain()


@pytest.mark.parametrize("naive", [False, True])
@pytest.mark.parametrize("align", [0, -64, 3, 48, 100, 8192])
def test_bad_align_raises(pa: PageAllocator, naive: bool, align: int) -> None:
    cache = make_frag_cache(pa, naive)
    with pytest.raises(ValueError, match="power of two"):
        cache.alloc(10, align)
    addr = cache.alloc(10)
    with pytest.raises(ValueError, match="power of two"):
        cache.alloc(10, align)
    assert cache.offset == 10
    pa.frag_free(addr)
    cache.drain()


def test_drain_of_an_empty_cache_is_a_no_op(pa: PageAllocator) -> None:
    cache = PageFragCache(pa)
    cache.drain()
    cache.drain()
    assert cache.stats()["refcount_ops"] == 0 and pa.in_use_pages() == 0


def test_drain_of_a_busy_cache_leaves_the_page_to_its_fragments(pa: PageAllocator) -> None:
    cache = PageFragCache(pa)
    frags = [cache.alloc(1000) for _ in range(5)]
    page = cache.page
    cache.drain()
    assert cache.page is None and cache.pagecnt_bias == 0
    assert page.ref == 5 and pa.in_use_pages() == 1
    for addr in frags:
        pa.frag_free(addr)
    assert pa.in_use_pages() == 0
    cache.drain()  # empty again: still a no-op


def test_drain_of_an_idle_cache_frees_its_page(pa: PageAllocator) -> None:
    cache = PageFragCache(pa)
    pa.frag_free(cache.alloc(1000))
    cache.drain()
    assert pa.in_use_pages() == 0
    assert pa.stats()["pages_freed_order3"] == 1


def test_frag_free_after_drain_is_a_double_free(pa: PageAllocator) -> None:
    cache = PageFragCache(pa)
    addr = cache.alloc(64)
    cache.drain()
    pa.frag_free(addr)
    with pytest.raises(BadPageError, match="double free"):
        pa.frag_free(addr)


def test_one_byte_fragments_fill_a_page_without_exhausting_the_bias(pa: PageAllocator) -> None:
    cache = PageFragCache(pa)
    frags = [cache.alloc(1) for _ in range(32768)]
    page = cache.page
    assert cache.pagecnt_bias == 1, "the +1 keeps the cache's own claim"
    assert page.ref == BIAS and cache.outstanding() == 32768
    nxt = cache.alloc(1)
    assert cache.page is not page and cache.stats()["forgotten_in_flight"] == 1
    assert page.ref == 32768
    for addr in frags:
        pa.frag_free(addr)
    pa.frag_free(nxt)
    cache.drain()
    assert pa.in_use_pages() == 0


@pytest.mark.parametrize(
    ("page_size", "max_order", "order", "bias"),
    [
        (4096, 5, 3, 32769),  # a bigger allocator does not give the cache bigger pages
        (4096, 1, 1, 32769),  # a smaller one caps the refill order
        (8192, 3, 2, 32769),
        (65536, 2, 0, 65537),  # one page is already more than 32 KiB
    ],
)
def test_refill_geometry_follows_the_allocator(
    page_size: int, max_order: int, order: int, bias: int
) -> None:
    pa = PageAllocator(page_size=page_size, max_order=max_order)
    cache = PageFragCache(pa)
    addr = cache.alloc(1)
    assert cache.page.order == order
    assert cache.page.ref == bias and cache.pagecnt_bias == bias - 1
    assert cache.stats()["order_fallbacks"] == 0
    pa.frag_free(addr)
    cache.drain()
    assert pa.in_use_pages() == 0


def test_naive_flag_builds_the_naive_variant(pa: PageAllocator) -> None:
    assert type(PageFragCache(pa)) is PageFragCache
    cache = NaivePageFragCache(pa)
    assert isinstance(cache, NaivePageFragCache) and cache.naive
    assert cache.stats()["naive"] is True


def test_stats_snapshots_subtract(pa: PageAllocator) -> None:
    cache = PageFragCache(pa)
    pa.frag_free(cache.alloc(64))
    before = cache.stats()
    frags = [cache.alloc(64, 64) for _ in range(10)]
    delta = cache.stats() - before
    assert delta["frags_alloc"] == 10
    assert delta["bytes_carved"] == 640 and delta["bytes_requested"] == 640
    assert delta["refills"] == 0 and delta["refcount_ops"] == 0
    assert delta["naive"] is False
    for addr in frags:
        pa.frag_free(addr)
    cache.drain()
