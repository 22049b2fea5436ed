"""An skb reads like bytes: len, indexing, slices, iteration; its time as float and datetime;
a repr that says what the packet is."""

from __future__ import annotations

import datetime

import pytest

from fragpool.mm import PageAllocator, PageFragCache
from fragpool.skb import netdev_alloc_skb


@pytest.fixture
def skb():
    pa = PageAllocator()
    fc = PageFragCache(pa)
    s = netdev_alloc_skb(64, allocator=pa)
    s.put(10)[:] = bytes(range(10))
    addr = fc.alloc(6)
    pa.view(addr, 6)[:] = b"ABCDEF"
    s.add_rx_frag(addr, 6, 6)
    s.tstamp = 1_700_000_000_123_456_789
    s.wire_len = 20
    s.linktype = 1
    yield s
    s.free()
    fc.drain()


def test_len_index_slice_and_iteration_cover_the_frags(skb):
    whole = bytes(range(10)) + b"ABCDEF"
    assert len(skb) == 16
    assert [skb[i] for i in range(16)] == list(whole) and skb[-1] == ord("F")
    assert skb[8:12] == whole[8:12] and skb[:] == whole and skb[12:] == b"CDEF"
    assert list(skb) == list(whole) and bytes(skb) == whole
    with pytest.raises(IndexError):
        skb[16]
    assert skb.read(8, 4).tobytes() == whole[8:12]


def test_time_and_datetime(skb):
    assert skb.time == pytest.approx(1_700_000_000.123456789)
    assert skb.datetime == datetime.datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=datetime.UTC)
    assert skb.tstamp == 1_700_000_000_123_456_789  # the exact integer stays


def test_repr_shows_time_lengths_link_type_and_frags(skb):
    text = repr(skb)
    assert "2023-11-14 22:13:20.123456789" in text
    assert "len=16" in text and "wire_len=20" in text and "linktype=EN10MB" in text
    assert "nr_frags=1" in text
