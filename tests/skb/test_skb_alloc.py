"""build_skb / netdev_alloc_skb / napi_alloc_skb: headroom, truesize, head paths, pfmemalloc."""

from __future__ import annotations

import pytest

from fragpool.mm import (
    NapiContext,
    NapiContextError,
    PageAllocator,
    PageFragCache,
    netdev_frag_cache,
)
from fragpool.skb import (
    NET_IP_ALIGN,
    NET_SKB_PAD,
    SKB_HEAD_ALIGN,
    SKB_TRUESIZE,
    SKB_WITH_OVERHEAD,
    build_skb,
    heap_heads,
    napi_alloc_skb,
    napi_build_skb,
    netdev_alloc_skb,
)
from fragpool.skb.alloc import counts
from fragpool.skb.constants import (
    SIZEOF_SHARED_INFO,
    SIZEOF_SK_BUFF,
    SKB_FRAG_HEAD_LIMIT,
    SKB_SMALL_HEAD_LIMIT,
    kmalloc_size_roundup,
)


@pytest.fixture
def pa() -> PageAllocator:
    return PageAllocator()


def test_x86_64_sizes_and_macros():
    assert (SIZEOF_SK_BUFF, SIZEOF_SHARED_INFO, NET_SKB_PAD) == (232, 320, 64)
    assert SKB_TRUESIZE(0) == 256 + 320
    assert SKB_WITH_OVERHEAD(4096) == 3776 == SKB_FRAG_HEAD_LIMIT
    assert SKB_HEAD_ALIGN(1) == 64 + 320
    assert SKB_SMALL_HEAD_LIMIT == 320  # SKB_WITH_OVERHEAD(SKB_HEAD_ALIGN(MAX_TCP_HEADER))
    assert [kmalloc_size_roundup(n) for n in (1, 65, 97, 193, 4097, 8193, 16385)] == [
        8,
        96,
        128,
        256,
        8192,
        16384,
        32768,
    ]


def test_build_skb_truesize_and_layout(pa):
    fc = PageFragCache(pa)
    addr = fc.alloc(2048)
    skb = build_skb(addr, 2048, allocator=pa)
    # usable size = frag_size - SKB_DATA_ALIGN(sizeof(skb_shared_info)) = 1728
    assert skb.end - skb.head == 1728
    assert skb.truesize == 1728 + 256 + 320 == SKB_TRUESIZE(1728)
    assert skb.head == skb.data == skb.tail == addr and skb.len == 0
    assert skb.head_frag and not skb.cloned and not skb.pfmemalloc
    skb.free()
    fc.drain()
    assert pa.in_use_pages() == 0


def test_add_rx_frag_adds_len_data_len_and_truesize(pa):
    fc = PageFragCache(pa)
    skb = build_skb(fc.alloc(1024), 1024, allocator=pa)
    base = skb.truesize
    assert base == SKB_TRUESIZE(1024 - 320)
    skb.put(10)
    skb.add_rx_frag(fc.alloc(1500), 1400, 2048)
    skb.add_rx_frag(fc.alloc(100), 60, 128)
    assert (skb.len, skb.data_len, skb.headlen, skb.nr_frags) == (1470, 1460, 10, 2)
    assert skb.truesize == base + 2048 + 128
    skb.free()
    fc.drain()
    assert pa.in_use_pages() == 0


def test_coalesce_rx_frag_grows_the_last_frag(pa):
    fc = PageFragCache(pa)
    skb = netdev_alloc_skb(64, allocator=pa)
    first = fc.alloc(100)
    pa.view(first, 100)[:] = b"a" * 100
    skb.add_rx_frag(first, 100, 100)
    second = fc.alloc(50)
    assert second == first + 100  # carved upward from the same page
    pa.view(second, 50)[:] = b"b" * 50
    page = pa.page_of(first)
    fc.drain()
    assert page.ref == 2
    before = skb.truesize
    skb.coalesce_rx_frag(0, 50, 64, addr=second)  # drops the second fragment's reference
    assert skb.nr_frags == 1 and skb.len == 150 and skb.truesize == before + 64
    assert page.ref == 1 and bytes(skb) == b"a" * 100 + b"b" * 50
    skb.free()
    assert pa.in_use_pages() == 0


def test_netdev_alloc_skb_frag_path_headroom_and_truesize(pa):
    skb = netdev_alloc_skb(1000, allocator=pa)
    size = SKB_HEAD_ALIGN(1000 + NET_SKB_PAD) - 320  # 1088 usable
    assert skb.head_frag and skb.headroom() == NET_SKB_PAD
    assert skb.end - skb.head == size and skb.tailroom() == size - NET_SKB_PAD
    assert skb.truesize == SKB_TRUESIZE(size)
    assert pa.in_use_pages() == 1
    skb.free()
    netdev_frag_cache(pa).drain()
    assert pa.in_use_pages() == 0


@pytest.mark.parametrize(
    ("length", "frag"),
    [
        (SKB_SMALL_HEAD_LIMIT - NET_SKB_PAD, False),  # exactly the small-head limit
        (SKB_SMALL_HEAD_LIMIT - NET_SKB_PAD + 1, True),
        (SKB_FRAG_HEAD_LIMIT - NET_SKB_PAD, True),  # exactly one page with its shared info
        (SKB_FRAG_HEAD_LIMIT - NET_SKB_PAD + 1, False),
        (0, False),
        (9000, False),
    ],
)
def test_netdev_alloc_skb_takes_the_kernels_head_path(pa, length, frag):
    heap_before, frag_before = counts.heap_heads, counts.frag_heads
    in_use = heap_heads.in_use()
    skb = netdev_alloc_skb(length, allocator=pa)
    assert skb.head_frag is frag
    assert skb.headroom() == NET_SKB_PAD and skb.tailroom() >= length
    assert counts.heap_heads - heap_before == (0 if frag else 1)
    assert counts.frag_heads - frag_before == (1 if frag else 0)
    if frag:
        usable = SKB_HEAD_ALIGN(length + NET_SKB_PAD) - 320
        assert heap_heads.in_use() == in_use
    else:
        # kmalloc_reserve: the small-head cache or the kmalloc bucket; all of it is used
        obj = SKB_HEAD_ALIGN(length + NET_SKB_PAD)
        obj = 640 if obj <= 640 else kmalloc_size_roundup(obj)
        usable = obj - 320
        assert heap_heads.in_use() == in_use + 1 and pa.in_use_pages() == 0
    assert skb.end - skb.head == usable and skb.truesize == SKB_TRUESIZE(usable)
    skb.put(length)
    skb.free()
    netdev_frag_cache(pa).drain()
    assert heap_heads.in_use() == in_use and pa.in_use_pages() == 0


def test_oversize_head_truesize_pinned(pa):
    skb = netdev_alloc_skb(9000, allocator=pa)
    # SKB_HEAD_ALIGN(9064) = 9408 -> kmalloc_large 16384 -> 16064 usable
    assert skb.end - skb.head == 16064 and skb.truesize == 16064 + 576
    skb.free()


@pytest.mark.parametrize(
    ("length", "frag"),
    [
        (SKB_SMALL_HEAD_LIMIT - NET_SKB_PAD - NET_IP_ALIGN, False),
        (SKB_SMALL_HEAD_LIMIT - NET_SKB_PAD - NET_IP_ALIGN + 1, True),
        (1500, True),
        (SKB_FRAG_HEAD_LIMIT - NET_SKB_PAD - NET_IP_ALIGN, True),
        (SKB_FRAG_HEAD_LIMIT - NET_SKB_PAD - NET_IP_ALIGN + 1, False),
    ],
)
def test_napi_alloc_skb_headroom_and_paths(pa, length, frag):
    with NapiContext(pa, name="rx0") as ctx:
        skb = napi_alloc_skb(length)
        assert skb.headroom() == NET_SKB_PAD + NET_IP_ALIGN
        assert skb.head_frag is frag and skb.tailroom() >= length
        if frag:
            assert pa.page_of(skb.head) is ctx.frag_cache.page
        skb.free()
        ctx.drain()
    assert pa.in_use_pages() == 0


def test_napi_alloc_skb_outside_its_context_is_refused(pa):
    ctx = NapiContext(pa)
    with pytest.raises(NapiContextError):
        napi_alloc_skb(100)
    with pytest.raises(NapiContextError):
        napi_alloc_skb(100, ctx)


def _reserve_only_allocator() -> PageAllocator:
    """No budget: only the emergency reserve serves, and its pages are pfmemalloc."""
    return PageAllocator(budget=0, reserve_pages=4)


def test_build_skb_takes_pfmemalloc_from_the_page():
    pa = _reserve_only_allocator()
    fc = PageFragCache(pa, memalloc=True)
    addr = fc.alloc(1024)
    assert fc.pfmemalloc
    skb = build_skb(addr, 1024, allocator=pa)
    assert skb.pfmemalloc
    skb.free()
    fc.drain()
    assert pa.in_use_pages() == 0


def test_add_rx_frag_propagates_pfmemalloc():
    pa = _reserve_only_allocator()
    fc = PageFragCache(pa, memalloc=True)
    skb = netdev_alloc_skb(100, allocator=pa)  # small heap head: not pfmemalloc
    assert not skb.pfmemalloc
    skb.add_rx_frag(fc.alloc(100), 100, 100)
    assert skb.pfmemalloc
    skb.free()
    fc.drain()
    assert pa.in_use_pages() == 0


def test_netdev_and_napi_alloc_skb_copy_the_caches_pfmemalloc():
    pa = _reserve_only_allocator()
    netdev_frag_cache(pa).cache.memalloc = True
    skb = netdev_alloc_skb(1000, allocator=pa)
    assert skb.head_frag and skb.pfmemalloc
    skb.free()
    netdev_frag_cache(pa).drain()
    with NapiContext(pa) as ctx:
        ctx.frag_cache.memalloc = True
        skb = napi_alloc_skb(1000)
        assert skb.head_frag and skb.pfmemalloc
        skb.free()
        ctx.drain()
    assert pa.in_use_pages() == 0


def test_alloc_fails_like_gfp_atomic():
    pa = PageAllocator(budget=0, reserve_pages=0)
    assert netdev_alloc_skb(1000, allocator=pa) is None
    assert pa.stats()["alloc_fail"] >= 1


def test_napi_build_skb_uses_the_napi_head_cache(pa):
    fc = PageFragCache(pa)
    with NapiContext(pa) as ctx:
        skb = napi_build_skb(fc.alloc(2048), 2048)
        assert skb.truesize == SKB_TRUESIZE(2048 - 320)
        skb.free()
    with pytest.raises(NapiContextError):
        napi_build_skb(fc.alloc(2048), 2048, ctx)
    fc.drain()
    assert pa.in_use_pages() == 1  # the refused fragment is still the caller's


def test_build_skb_refuses_a_buffer_that_does_not_fit(pa):
    fc = PageFragCache(pa)
    addr = fc.alloc(100)
    with pytest.raises(ValueError):
        build_skb(addr, 100, allocator=pa)  # smaller than the shared info
    page = pa.page_of(addr)
    with pytest.raises(ValueError):
        build_skb(addr, page.size + 1, allocator=pa)
    pa.frag_free(addr)
    fc.drain()
