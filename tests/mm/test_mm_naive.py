"""NaivePageFragCache: the same carving as the bias cache, one get_page per fragment."""

from __future__ import annotations

import pytest

from fragpool.mm import NaivePageFragCache, PageAllocator, PageFragCache, make_frag_cache

REQUESTS = [(100, None), (60, 64), (1, None), (10, 8), (1, 4096), (3, 2), (20000, None)]


def offsets(cache: PageFragCache) -> list[int]:
    addrs = [cache.alloc(size, align) for size, align in REQUESTS]
    return [a - cache.page.addr for a in addrs]


def test_same_addresses_as_the_bias_cache() -> None:
    pa = PageAllocator()
    bias, naive = PageFragCache(pa), NaivePageFragCache(pa)
    expected = [0, 128, 188, 192, 4096, 4098, 4101]
    assert offsets(bias) == expected
    assert offsets(naive) == expected
    assert naive.stats()["align_waste"] == bias.stats()["align_waste"]


def test_one_refcount_operation_per_fragment() -> None:
    pa = PageAllocator()
    cache = NaivePageFragCache(pa)
    frags = [cache.alloc(256)]
    page = cache.page
    assert page.ref == 2 and cache.pagecnt_bias == 1, "the cache's reference plus one"
    for i in range(2, 101):
        frags.append(cache.alloc(256))
        assert page.ref == 1 + i
    snap = cache.stats()
    assert snap["frags_alloc"] == 100
    assert snap["refcount_ops"] >= 100
    assert cache.outstanding() == 100
    for addr in frags:
        pa.frag_free(addr)
    assert page.ref == 1
    cache.drain()
    assert pa.in_use_pages() == 0


def test_reuse_forget_and_pfmemalloc_release() -> None:
    pa = PageAllocator()
    cache = NaivePageFragCache(pa)
    page_frags = [cache.alloc(16384), cache.alloc(16384)]
    page = cache.page
    for addr in page_frags:
        pa.frag_free(addr)
    keep = cache.alloc(100)
    assert cache.page is page and keep == page.addr and page.ref == 2
    assert cache.stats()["reuse_in_place"] == 1
    cache.alloc(32668)  # fill the page exactly (100 + 32668)
    assert cache.offset == 32768
    nxt = cache.alloc(1)
    assert cache.page is not page and cache.stats()["forgotten_in_flight"] == 1
    assert page.ref == 2, "two fragments out, the cache's own reference dropped"
    pa.frag_free(keep)
    pa.frag_free(page.addr + 100)
    pa.frag_free(nxt)
    cache.drain()
    assert pa.in_use_pages() == 0

    tiny = PageAllocator(budget=0, reserve_pages=1)
    cache = NaivePageFragCache(tiny, memalloc=True)
    addr = cache.alloc(3000)
    assert cache.page.pfmemalloc and cache.page.ref == 2
    tiny.frag_free(addr)
    again = cache.alloc(3000)
    assert again is not None
    assert cache.stats()["pfmemalloc_released"] == 1 and cache.stats()["reuse_in_place"] == 0
    assert tiny.stats()["pages_freed_order0"] == 1
    tiny.frag_free(again)
    cache.drain()
    assert tiny.in_use_pages() == 0


@pytest.mark.parametrize("naive", [False, True])
def test_oversize_keeps_the_page_in_both_variants(naive: bool) -> None:
    pa = PageAllocator()
    cache = make_frag_cache(pa, naive)
    pa.frag_free(cache.alloc(10))
    page = cache.page
    assert cache.alloc(32769) is None
    assert cache.page is page and cache.outstanding() == 0
    cache.drain()
    assert pa.in_use_pages() == 0
