"""clone / copy / linearize / free: every page reference returned once, by the last holder."""

from __future__ import annotations

import pytest

from fragpool.mm import NapiContext, PageAllocator, PageFragCache, netdev_frag_cache
from fragpool.skb import (
    SkbHeadCache,
    SkbStateError,
    heap_heads,
    napi_alloc_skb,
    napi_consume_skb,
    napi_skb_cache,
    netdev_alloc_skb,
)


@pytest.fixture
def pa() -> PageAllocator:
    return PageAllocator()


def _skb_with_frags(pa: PageAllocator):
    """A frag-head skb with 2 frags; the caches are drained so only the skb holds pages."""
    fc = PageFragCache(pa)
    skb = netdev_alloc_skb(1000, allocator=pa)
    skb.put(6)[:] = b"header"
    for chunk in (b"first-", b"second"):
        addr = fc.alloc(len(chunk))
        pa.view(addr, len(chunk))[:] = chunk
        skb.add_rx_frag(addr, len(chunk), len(chunk))
    fc.drain()
    netdev_frag_cache(pa).drain()
    return skb


def _refs(pa: PageAllocator) -> dict[int, int]:
    return {page.addr: page.ref for page in pa.live_pages()}


def test_free_returns_every_reference(pa):
    skb = _skb_with_frags(pa)
    assert bytes(skb) == b"headerfirst-second"
    assert pa.in_use_pages() == 2 and sum(_refs(pa).values()) == 3
    skb.free()
    assert pa.in_use_pages() == 0


def test_clone_shares_data_until_the_last_holder_frees(pa):
    skb = _skb_with_frags(pa)
    refs = _refs(pa)
    clone = skb.clone()
    assert skb.cloned and clone.cloned and clone is not skb
    assert _refs(pa) == refs  # a clone takes dataref, not page references
    assert bytes(clone) == bytes(skb)
    skb.free()
    assert _refs(pa) == refs and bytes(clone) == b"headerfirst-second"
    clone2 = clone.clone()
    clone.free()
    assert _refs(pa) == refs
    clone2.free()
    assert pa.in_use_pages() == 0


def test_clone_freed_first_then_original(pa):
    skb = _skb_with_frags(pa)
    clone = skb.clone()
    clone.free()
    assert pa.in_use_pages() == 2
    skb.free()
    assert pa.in_use_pages() == 0


def test_copy_is_private_and_linear(pa):
    skb = _skb_with_frags(pa)
    heads = heap_heads.in_use()
    skb.tstamp, skb.mark = 123, 7
    copy = skb.copy()
    assert bytes(copy) == bytes(skb) and copy.nr_frags == 0 and not copy.head_frag
    assert copy.headroom() == skb.headroom() and (copy.tstamp, copy.mark) == (123, 7)
    assert heap_heads.in_use() == heads + 1
    skb.free()
    assert pa.in_use_pages() == 0  # the copy holds no page
    copy.linear_view()[0:1] = b"H"
    assert bytes(copy) == b"Headerfirst-second"
    copy.free()
    assert heap_heads.in_use() == heads


def test_pull_and_trim_on_clones_are_independent(pa):
    skb = _skb_with_frags(pa)
    clone = skb.clone()
    clone.pull(6)
    assert bytes(clone) == b"first-second" and bytes(skb) == b"headerfirst-second"
    clone.trim(6)  # a clone with frags gets its own head and page references first
    assert bytes(clone) == b"first-" and bytes(skb) == b"headerfirst-second"
    skb.free()
    assert bytes(clone) == b"first-"
    clone.free()
    assert pa.in_use_pages() == 0


def test_put_push_on_a_shared_head_are_refused_until_unclone(pa):
    skb = _skb_with_frags(pa)
    skb.linearize()
    clone = skb.clone()
    with pytest.raises(SkbStateError, match="unclone"):
        clone.put(1)
    with pytest.raises(SkbStateError, match="unclone"):
        skb.push(1)
    clone.unclone()
    assert not clone.cloned
    clone.push(2)[:] = b">>"
    assert bytes(clone) == b">>headerfirst-second" and bytes(skb) == b"headerfirst-second"
    skb.push(1)[:] = b"!"  # the other holder left: the head is this skb's again
    assert bytes(skb) == b"!headerfirst-second"
    skb.free()
    clone.free()
    assert pa.in_use_pages() == 0


def test_unclone_takes_page_references_for_the_frags(pa):
    skb = _skb_with_frags(pa)
    clone = skb.clone()
    refs = _refs(pa)
    clone.unclone()
    after = _refs(pa)
    # the head page keeps its count (the copy is on the heap); the frag page gets +2
    assert sum(after.values()) == sum(refs.values()) + 2
    skb.free()
    assert pa.in_use_pages() == 1  # the frags' page, held by the uncloned skb
    assert bytes(clone) == b"headerfirst-second"
    clone.free()
    assert pa.in_use_pages() == 0


def test_linearize_in_place_and_by_reallocation(pa):
    skb = _skb_with_frags(pa)
    skb.linearize()  # fits the tailroom: copied in place, frags released
    assert skb.nr_frags == 0 and bytes(skb) == b"headerfirst-second"
    assert pa.in_use_pages() == 1
    skb.free()
    skb = _skb_with_frags(pa)
    clone = skb.clone()
    heads = heap_heads.in_use()
    clone.linearize()  # shared: a private head
    assert heap_heads.in_use() == heads + 1 and not clone.cloned
    assert bytes(clone) == bytes(skb)
    skb.free()
    assert pa.in_use_pages() == 0
    clone.free()
    assert heap_heads.in_use() == heads


def test_double_free_names_the_skb(pa):
    skb = netdev_alloc_skb(1000, allocator=pa)
    skb.free()
    with pytest.raises(SkbStateError, match=f"skb {id(skb):#x} freed twice"):
        skb.free()
    with pytest.raises(SkbStateError):
        skb.put(1)
    with pytest.raises(SkbStateError):
        bytes(skb)
    clone_src = netdev_alloc_skb(1000, allocator=pa)
    clone = clone_src.clone()
    clone.free()
    with pytest.raises(SkbStateError):
        clone.free()
    clone_src.free()
    netdev_frag_cache(pa).drain()
    assert pa.in_use_pages() == 0


def test_napi_head_cache_reuses_objects_and_counts(pa):
    with NapiContext(pa, name="reuse") as ctx:
        cache = napi_skb_cache(ctx)
        skb = napi_alloc_skb(1000)
        stats = cache.stats()
        assert stats["misses"] == 1 and stats["bulk_refills"] == 1
        assert stats["cached"] == 31  # a bulk of 32, one handed out
        first = skb
        napi_consume_skb(skb, 64)
        assert cache.stats()["cached"] == 32
        skb = napi_alloc_skb(1000)
        assert skb is first  # the object came back
        stats = cache.stats()
        assert stats["hits"] == 1 and stats["misses"] == 1 and stats["gets"] == 2
        napi_consume_skb(skb, 64)
        ctx.drain()
    netdev_frag_cache(pa).drain()
    assert pa.in_use_pages() == 0


def test_napi_head_cache_flushes_a_bulk_when_full(pa):
    with NapiContext(pa, name="flush") as ctx:
        cache = napi_skb_cache(ctx)
        skbs = [napi_alloc_skb(1000) for _ in range(129)]
        for skb in skbs:
            napi_consume_skb(skb, 64)
        stats = cache.stats()
        # 31 left from the bulk refills; each time the 128th arrives, 32 go to the slab
        assert stats["bulk_flushes"] == 2 and stats["cached"] == 128 - 32
        ctx.drain()
    assert pa.in_use_pages() == 0


def test_head_cache_refills_from_its_parent_and_counts():
    slab = SkbHeadCache("slab", size=8, bulk=4)
    napi = SkbHeadCache("napi", size=4, bulk=2, parent=slab)
    a = napi.get()
    assert napi.stats()["misses"] == 1 and slab.stats()["misses"] == 1
    assert napi.stats()["cached"] == 1 and slab.stats()["cached"] == 2
    b = napi.get()
    assert napi.stats()["hits"] == 1
    napi.put(a)
    napi.put(b)
    assert napi.get() is b and napi.get() is a
    for obj in [napi.get() for _ in range(5)]:
        napi.put(obj)
    stats = napi.stats()
    assert stats["bulk_flushes"] == 2 and stats["cached"] == 2
    assert slab.stats()["cached"] >= 2  # the flushed objects went back to the slab


def test_steady_loop_creates_no_new_objects(pa):
    with NapiContext(pa, name="steady") as ctx:
        cache = napi_skb_cache(ctx)
        for _ in range(10):
            napi_consume_skb(napi_alloc_skb(200), 64)
        before = cache.stats()
        seen = set()
        for _ in range(1000):
            skb = napi_alloc_skb(200)
            seen.add(id(skb))
            napi_consume_skb(skb, 64)
        delta = cache.stats() - before
        assert delta["misses"] == 0 and delta["hits"] == 1000 and len(seen) == 1
        ctx.drain()
    assert pa.in_use_pages() == 0
