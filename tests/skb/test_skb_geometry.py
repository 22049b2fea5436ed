"""Boundaries of skb_put / skb_push / skb_pull / skb_reserve / skb_trim and the frag limit."""

from __future__ import annotations

import pytest

from fragpool.mm import PageAllocator, PageFragCache
from fragpool.skb import (
    MAX_SKB_FRAGS,
    NET_SKB_PAD,
    SkbBoundsError,
    SkbStateError,
    netdev_alloc_skb,
    set_max_skb_frags,
)
from fragpool.skb.skbuff import limits


@pytest.fixture
def pa() -> PageAllocator:
    return PageAllocator()


def _geometry(skb) -> tuple:
    return skb.head, skb.data, skb.tail, skb.end, skb.len, skb.data_len, skb.nr_frags


def test_put_exactly_to_end_then_one_more(pa):
    skb = netdev_alloc_skb(1000, allocator=pa)
    room = skb.tailroom()
    assert skb.headroom() == NET_SKB_PAD
    view = skb.put(room)
    assert len(view) == room and skb.len == room and skb.tail == skb.end
    assert skb.tailroom() == 0
    before = _geometry(skb)
    with pytest.raises(SkbBoundsError, match="skb_put: over by 1"):
        skb.put(1)
    assert _geometry(skb) == before
    skb.free()


def test_put_one_past_end_on_fresh_skb(pa):
    skb = netdev_alloc_skb(1000, allocator=pa)
    room = skb.tailroom()
    before = _geometry(skb)
    with pytest.raises(SkbBoundsError):
        skb.put(room + 1)
    with pytest.raises(SkbBoundsError):
        skb.put(-1)
    assert _geometry(skb) == before
    skb.free()


def test_push_exactly_to_head_then_one_more(pa):
    skb = netdev_alloc_skb(100, allocator=pa)
    skb.put(10)[:] = b"0123456789"
    room = skb.headroom()
    skb.push(room)[:] = b"h" * room
    assert skb.data == skb.head and skb.len == room + 10
    before = _geometry(skb)
    with pytest.raises(SkbBoundsError, match="skb_push: under by 1"):
        skb.push(1)
    with pytest.raises(SkbBoundsError):
        skb.push(-1)
    assert _geometry(skb) == before
    assert bytes(skb) == b"h" * room + b"0123456789"
    skb.free()


def test_pull_exactly_the_linear_part_then_one_more(pa):
    skb = netdev_alloc_skb(100, allocator=pa)
    skb.put(20)[:] = bytes(range(20))
    skb.pull(19)
    assert bytes(skb) == bytes([19])
    with pytest.raises(SkbBoundsError):
        skb.pull(2)
    with pytest.raises(SkbBoundsError):
        skb.pull(-1)
    skb.pull(1)
    assert skb.len == 0 and skb.data == skb.tail
    with pytest.raises(SkbBoundsError):
        skb.pull(1)
    skb.free()


def test_pull_stops_at_the_linear_part_of_a_nonlinear_skb(pa):
    fc = PageFragCache(pa)
    skb = netdev_alloc_skb(100, allocator=pa)
    skb.put(8)[:] = b"abcdefgh"
    addr = fc.alloc(4)
    pa.view(addr, 4)[:] = b"WXYZ"
    skb.add_rx_frag(addr, 4, 4)
    with pytest.raises(SkbBoundsError):
        skb.pull(9)  # into the frags: skb_pull refuses, __pskb_pull_tail would be needed
    skb.pull(8)
    assert skb.headlen == 0 and bytes(skb) == b"WXYZ"
    skb.free()
    fc.drain()
    assert pa.in_use_pages() == 0


def test_reserve_exactly_to_end_then_one_more(pa):
    skb = netdev_alloc_skb(1000, allocator=pa)
    room = skb.tailroom()
    skb.reserve(room)
    assert skb.tailroom() == 0 and skb.data == skb.tail == skb.end
    with pytest.raises(SkbBoundsError):
        skb.reserve(1)
    skb.free()
    skb = netdev_alloc_skb(1000, allocator=pa)
    with pytest.raises(SkbBoundsError):
        skb.reserve(skb.tailroom() + 1)
    with pytest.raises(SkbBoundsError):
        skb.reserve(-1)
    skb.put(1)
    with pytest.raises(SkbStateError):
        skb.reserve(1)  # only an empty skb may be reserved
    skb.free()


def test_trim_boundaries_linear(pa):
    skb = netdev_alloc_skb(100, allocator=pa)
    skb.put(10)[:] = b"0123456789"
    skb.trim(10)  # exactly len: nothing changes
    skb.trim(11)  # longer: nothing changes (skb_trim only shrinks)
    assert bytes(skb) == b"0123456789"
    skb.trim(3)
    assert bytes(skb) == b"012" and skb.tail == skb.data + 3
    skb.trim(0)
    assert skb.len == 0
    with pytest.raises(SkbBoundsError):
        skb.trim(-1)
    skb.free()


def test_trim_into_frags_drops_the_frags_past_the_cut(pa):
    fc = PageFragCache(pa)
    skb = netdev_alloc_skb(100, allocator=pa)
    skb.put(4)[:] = b"head"
    frags = []
    for chunk in (b"aaaa", b"bbbb", b"cccc"):
        addr = fc.alloc(4)
        pa.view(addr, 4)[:] = chunk
        skb.add_rx_frag(addr, 4, 4)
        frags.append(addr)
    fc.drain()
    page = pa.page_of(frags[0])
    assert not skb.head_frag  # a 100-byte request takes the small (heap) head
    assert page.ref == 3  # one reference per frag
    skb.trim(10)  # cut inside the second frag
    assert bytes(skb) == b"headaaaabb" and skb.nr_frags == 2 and skb.data_len == 6
    assert page.ref == 2
    skb.trim(8)  # exactly the end of the first frag: the second goes
    assert bytes(skb) == b"headaaaa" and skb.nr_frags == 1
    assert page.ref == 1
    skb.trim(4)  # exactly the linear part: no frag left
    assert bytes(skb) == b"head" and skb.nr_frags == 0 and skb.data_len == 0
    assert pa.in_use_pages() == 0
    skb.free()


def test_put_on_a_nonlinear_skb_is_refused(pa):
    fc = PageFragCache(pa)
    skb = netdev_alloc_skb(100, allocator=pa)
    skb.add_rx_frag(fc.alloc(10), 10, 10)
    assert skb.tailroom() == 0
    with pytest.raises(SkbStateError):
        skb.put(1)
    skb.free()


def _frag_filler(pa):
    fc = PageFragCache(pa)
    skb = netdev_alloc_skb(64, allocator=pa)
    return fc, skb


def test_frag_limit_default_17(pa):
    assert MAX_SKB_FRAGS == 17 and limits.max_frags == 17
    fc, skb = _frag_filler(pa)
    for _ in range(17):
        skb.add_rx_frag(fc.alloc(16), 16, 16)
    assert skb.nr_frags == 17
    extra = fc.alloc(16)
    with pytest.raises(SkbBoundsError, match="MAX_SKB_FRAGS=17"):
        skb.add_rx_frag(extra, 16, 16)
    assert skb.nr_frags == 17 and skb.len == 17 * 16
    pa.frag_free(extra)  # refused: the reference is still the caller's
    skb.free()
    fc.drain()
    assert pa.in_use_pages() == 0


def test_set_max_skb_frags_range_and_limit(pa):
    with pytest.raises(ValueError):
        set_max_skb_frags(16)
    with pytest.raises(ValueError):
        set_max_skb_frags(46)
    set_max_skb_frags(45)
    try:
        fc, skb = _frag_filler(pa)
        for _ in range(45):
            skb.add_rx_frag(fc.alloc(8), 8, 8)
        extra = fc.alloc(8)
        with pytest.raises(SkbBoundsError, match="MAX_SKB_FRAGS=45"):
            skb.add_rx_frag(extra, 8, 8)
        pa.frag_free(extra)
        skb.free()
        fc.drain()
    finally:
        set_max_skb_frags(17)
    assert pa.in_use_pages() == 0


def test_frag_must_stay_inside_its_page(pa):
    fc = PageFragCache(pa)
    skb = netdev_alloc_skb(64, allocator=pa)
    addr = fc.alloc(16)
    page = pa.page_of(addr)
    with pytest.raises(SkbBoundsError):
        skb.add_rx_frag(addr, page.addr + page.size - addr + 1, 16)
    with pytest.raises(SkbBoundsError):
        skb.add_rx_frag(addr, -1, 16)
    skb.add_rx_frag(addr, page.addr + page.size - addr, 16)  # exactly to the page end
    skb.free()
    fc.drain()
    assert pa.in_use_pages() == 0


def test_read_views_and_copies(pa):
    fc = PageFragCache(pa)
    skb = netdev_alloc_skb(64, allocator=pa)
    skb.put(4)[:] = b"0123"
    addr = fc.alloc(4)
    pa.view(addr, 4)[:] = b"4567"
    skb.add_rx_frag(addr, 4, 4)
    assert bytes(skb.read(0, 4)) == b"0123"
    assert bytes(skb.read(2, 4)) == b"2345"  # across head and frag: a copy
    assert bytes(skb.read(5, 3)) == b"567"  # inside one frag: a view
    assert bytes(skb.read(8, 0)) == b""
    with pytest.raises(SkbBoundsError):
        skb.read(5, 4)
    with pytest.raises(SkbBoundsError):
        skb.read(-1, 1)
    skb.free()
    fc.drain()
