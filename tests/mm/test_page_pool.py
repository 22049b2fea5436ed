"""page_pool: scripted sequences that move each kernel counter, and destroy with pages out."""

from __future__ import annotations

import logging
import threading

import pytest

from fragpool.mm import BadPageError, NapiContext, PageAllocator, PagePool, default_allocator
from fragpool.mm.page_pool import ALLOC_STATS, RECYCLE_STATS, PagePoolError


@pytest.fixture
def pa() -> PageAllocator:
    return PageAllocator()


def _moved(before: dict, after: dict) -> dict:
    return {k: after[k] - before[k] for k in after if after[k] != before[k]}


def test_stats_carry_the_kernels_names(pa):
    pool = PagePool(pa)
    assert (
        tuple(pool.stats())
        == ALLOC_STATS + RECYCLE_STATS
        == (
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
    )
    assert all(v == 0 for v in pool.stats().values())


def test_public_import_and_default_allocator():
    pool = PagePool(default_allocator())
    addr = pool.alloc()
    assert isinstance(addr, int)
    pool.recycle(addr)
    assert pool.destroy() == 0


def test_first_alloc_goes_slow_with_a_bulk_of_64(pa):
    pool = PagePool(pa)
    addr = pool.alloc()
    assert pool.stats() | {} == {**dict.fromkeys(pool.stats(), 0), "empty": 1, "slow": 1}
    assert pool.hold_cnt == 64 and pa.in_use_pages() == 64
    page = pa.page_of(addr)
    assert page.owner is pool and page.ref == 1 and page.order == 0
    before = pool.stats()
    pool.alloc()
    assert _moved(before, pool.stats()) == {"fast": 1}


def test_high_order_pool_takes_one_page_at_a_time(pa):
    pool = PagePool(pa, order=2)
    addr = pool.alloc()
    assert pool.stats()["slow_high_order"] == 1 and pool.stats()["slow"] == 0
    assert pool.hold_cnt == 1 and pa.page_of(addr).order == 2
    pool.recycle(addr)
    assert pool.destroy() == 0 and pa.in_use_pages() == 0


def test_recycle_outside_napi_goes_to_the_ring_then_refill(pa):
    pool = PagePool(pa)
    addrs = [pool.alloc() for _ in range(64)]  # the whole first bulk: the cache is empty
    before = pool.stats()
    for addr in addrs:
        pool.recycle(addr)
    assert _moved(before, pool.stats()) == {"ring": 64}
    before = pool.stats()
    again = pool.alloc()
    assert _moved(before, pool.stats()) == {"refill": 1}
    # the ring is FIFO into the cache; the cache hands out the last page moved
    assert again == addrs[63]
    assert pool.info()["cache_count"] == 63 and pool.info()["ring_count"] == 0
    assert pool.hold_cnt == 64  # nothing new from the allocator


def test_direct_recycle_only_inside_the_pools_napi_context(pa):
    ctx = NapiContext(pa, name="rxq0")
    pool = PagePool(pa, napi=ctx)
    addr = pool.alloc()
    before = pool.stats()
    pool.recycle(addr, allow_direct=True)  # not inside the context: the ring
    assert _moved(before, pool.stats()) == {"ring": 1}
    addr = pool.alloc()
    with ctx:
        before = pool.stats()
        pool.recycle(addr)
        assert _moved(before, pool.stats()) == {"cached": 1}
        addr = pool.alloc()
        seen = []
        thread = threading.Thread(target=lambda: seen.append(pool.recycle(addr)))
        thread.start()
        thread.join()
        assert pool.stats()["ring"] == 2  # another thread, while this one is inside
    assert pool.destroy() == 0 and pa.in_use_pages() == 0


def test_allow_direct_for_a_pool_without_napi(pa):
    pool = PagePool(pa)
    addr = pool.alloc()
    pool.recycle(addr, allow_direct=True)
    assert pool.stats()["cached"] == 1 and pool.alloc() == addr


def test_cache_full_falls_back_to_the_ring(pa):
    ctx = NapiContext(pa)
    pool = PagePool(pa, napi=ctx)
    with ctx:
        addrs = [pool.alloc() for _ in range(200)]
        assert pool.info()["cache_count"] == 56  # four bulks of 64, 200 handed out
        before = pool.stats()
        for addr in addrs:
            pool.recycle(addr)
        moved = _moved(before, pool.stats())
        assert moved == {"cached": 128 - 56, "cache_full": 200 - 72, "ring": 200 - 72}
    assert pool.destroy() == 0 and pa.in_use_pages() == 0


def test_ring_full_releases_the_page(pa):
    pool = PagePool(pa, pool_size=2)
    addrs = [pool.alloc() for _ in range(3)]
    in_use = pa.in_use_pages()
    before = pool.stats()
    for addr in addrs:
        pool.recycle(addr)
    assert _moved(before, pool.stats()) == {"ring": 2, "ring_full": 1}
    assert pool.release_cnt == 1 and pa.in_use_pages() == in_use - 1
    assert pool.inflight() == 63


def test_ring_size_limits():
    pa = PageAllocator()
    assert PagePool(pa).pool_size == 1024
    assert PagePool(pa, pool_size=0).pool_size == 1024
    assert PagePool(pa, pool_size=16384).pool_size == 16384
    with pytest.raises(ValueError):
        PagePool(pa, pool_size=16385)
    with pytest.raises(ValueError):
        PagePool(pa, order=pa.max_order + 1)


def test_elevated_refcount_is_released_not_recycled(pa):
    pool = PagePool(pa)
    addr = pool.alloc()
    page = pa.page_of(addr)
    pa.get_page(page)  # someone else holds the page too
    before = pool.stats()
    pool.recycle(addr)
    assert _moved(before, pool.stats()) == {"released_refcnt": 1}
    assert page.owner is None and page.ref == 1 and pool.release_cnt == 1
    in_use = pa.in_use_pages()
    pa.put_page(page)  # the other holder's put frees it
    assert page.ref == 0 and pa.in_use_pages() == in_use - 1


def test_pfmemalloc_pages_are_never_recycled():
    pa = PageAllocator(budget=0, reserve_pages=2)
    pool = PagePool(pa, memalloc=True)
    addr = pool.alloc()
    assert pa.page_of(addr).pfmemalloc and pool.hold_cnt == 2
    with NapiContext(pa) as ctx:
        pool.napi = ctx
        pool.recycle(addr)
    assert pool.stats()["released_refcnt"] == 1 and pool.stats()["cached"] == 0
    assert pool.destroy() == 0 and pa.in_use_pages() == 0


def test_waive_on_a_numa_node_change(pa):
    pool = PagePool(pa)
    addrs = [pool.alloc() for _ in range(64)]
    for addr in addrs:
        pool.recycle(addr)
    pool.nid_changed(1)  # page_pool_nid_changed(): the ring holds node-0 pages
    before = pool.stats()
    in_use = pa.in_use_pages()
    addr = pool.alloc()
    assert _moved(before, pool.stats()) == {"waive": 1, "slow": 1}
    assert pa.in_use_pages() == in_use - 1 + 64
    assert addr not in addrs
    pool.recycle(addr)
    assert pool.destroy() == 0 and pa.in_use_pages() == 0


def test_double_recycle_and_foreign_pages_are_refused(pa):
    pool = PagePool(pa)
    other = PagePool(pa)
    addr = pool.alloc()
    pool.recycle(addr)
    with pytest.raises(BadPageError, match="recycled twice"):
        pool.recycle(addr)
    foreign = other.alloc()
    with pytest.raises(BadPageError, match="not one of this pool's pages"):
        pool.recycle(foreign)
    plain = pa.alloc_pages(0)
    with pytest.raises(BadPageError):
        pool.recycle(plain.addr)


def test_fragment_mode_carves_upward_and_recycles_with_the_last(pa):
    pool = PagePool(pa)
    a = pool.alloc_frag(1000)
    b = pool.alloc_frag(1000)
    c = pool.alloc_frag(2000)
    assert b == a + 1000 and c == a + 2000 and pa.page_of(c).addr == a
    page = pa.page_of(a)
    assert page.ref == 1 and pool.frag_users == 3
    for addr in (b, c, a):
        pool.recycle(addr)
    assert pool.stats()["ring"] == 0  # the pool's bias still holds the page
    before = pool.stats()
    d = pool.alloc_frag(200)  # does not fit: drain the bias, reuse the page in place
    assert d == a and _moved(before, pool.stats()) == {"cached": 1, "fast": 1}
    pool.recycle(d)
    assert pool.destroy() == 0 and pa.in_use_pages() == 0


def test_fragment_page_left_behind_goes_back_with_its_last_fragment(pa):
    pool = PagePool(pa)
    a = pool.alloc_frag(3000)
    b = pool.alloc_frag(2000)  # new page: the first still has a fragment out
    assert pa.page_of(b).addr != pa.page_of(a).addr
    before = pool.stats()
    pool.recycle(a)
    assert _moved(before, pool.stats()) == {"ring": 1}
    pool.recycle(b)
    assert pool.destroy() == 0 and pa.in_use_pages() == 0


def test_destroy_reports_pages_in_flight(pa, caplog):
    pool = PagePool(pa)
    held = [pool.alloc() for _ in range(3)]
    pool.recycle(held.pop())
    assert pool.inflight() == 64  # the cache and ring count until destroy empties them
    with caplog.at_level(logging.WARNING, logger="fragpool.mm.page_pool"):
        assert pool.destroy() == 2
    assert f"stalled pool shutdown: id {pool.id}, 2 inflight" in caplog.text
    assert pa.in_use_pages() == 2  # pages in flight are not freed under their holders
    assert pool.info()["cache_count"] == pool.info()["ring_count"] == 0
    with pytest.raises(PagePoolError):
        pool.alloc()
    pool.recycle(held.pop())  # after destroy a returned page is released
    assert pool.release_retry() == 1 and pa.in_use_pages() == 1
    pool.recycle(held.pop())
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fragpool.mm.page_pool"):
        assert pool.release_retry() == 0
    assert caplog.text == ""
    assert pa.in_use_pages() == 0


def test_destroy_with_a_fragment_page_out(pa):
    pool = PagePool(pa)
    a = pool.alloc_frag(100)
    assert pool.destroy() == 1
    pool.recycle(a)
    assert pool.inflight() == 0 and pa.in_use_pages() == 0


def test_put_page_outside_the_pool_counts_as_released(pa):
    pool = PagePool(pa)
    addr = pool.alloc()
    pa.frag_free(addr)  # e.g. an skb frag freed without page_pool recycling
    assert pool.release_cnt == 1 and pool.inflight() == 63
    assert pool.destroy() == 0 and pa.in_use_pages() == 0


def test_fast_path_round_trip_touches_no_allocator(pa):
    pool = PagePool(pa, napi=NapiContext(pa))
    with pool.napi:
        pool.recycle(pool.alloc())
        ops = pa.refcount_ops
        before = pool.stats()
        for _ in range(1000):
            pool.recycle(pool.alloc())
        assert _moved(before, pool.stats()) == {"fast": 1000, "cached": 1000}
        assert pa.refcount_ops == ops
