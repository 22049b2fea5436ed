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


def _linear(pa):
    s = netdev_alloc_skb(64, allocator=pa)
    s.put(20)[:] = bytes(range(20))
    return s


def test_a_linear_skb_is_a_buffer_where_the_interpreter_allows():
    import struct
    import sys

    import fragpool

    pa = PageAllocator()
    s = _linear(pa)
    if not fragpool.compiled and sys.version_info < (3, 12):
        with pytest.raises(TypeError, match="bytes-like object is required"):
            memoryview(s)
        assert bytes(s) == bytes(range(20))  # the fallbacks stay
        s.free()
        return
    import hashlib

    with memoryview(s) as view:
        assert view.nbytes == 20 and view.tobytes() == bytes(range(20)) and not view.readonly
        assert struct.unpack_from(">HH", s, 2) == (0x0203, 0x0405)
        assert hashlib.sha1(s).digest() == hashlib.sha1(bytes(range(20))).digest()
        assert bytearray(s) == bytearray(range(20))
        view[0] = 0xAA  # the packet's own bytes, no copy
    assert s[0] == 0xAA
    s.free()


def _exported(s):
    """memoryview(s) where the interpreter gives skbs the buffer protocol, else the same
    export through __buffer__ (interpreted on Python 3.11)."""
    import sys

    import fragpool

    if fragpool.compiled or sys.version_info >= (3, 12):
        return memoryview(s)
    return s.__buffer__(0)


def test_an_skb_with_frags_says_it_is_not_contiguous(skb):
    with pytest.raises(BufferError, match="not contiguous: linearize"):
        _exported(skb)


def test_a_buffer_keeps_the_mapping_exported():
    from pathlib import Path

    import fragpool

    sample = Path(__file__).resolve().parents[2] / "fragpool" / "data" / "sample.pcap"
    pa = PageAllocator()
    with fragpool.open_offline(sample, allocator=pa) as reader:
        s = next(iter(reader))  # its bytes lie in one of pa's arenas
    view = _exported(s)
    first = view[0]
    s.free()  # freed under the view: the memory may be reused, but stays mapped
    assert pa.in_use_pages() == 0
    with pytest.raises(BufferError):
        pa.close()  # the arena cannot be unmapped under a live view
    assert view[0] == first
    view.release()
    pa.close()


def test_an_skb_compares_equal_to_its_bytes_and_has_their_read_methods(skb):
    whole = bytes(range(10)) + b"ABCDEF"
    assert skb == whole and whole == skb and skb == bytearray(whole)
    assert skb == memoryview(whole) and skb != whole[:-1]
    assert (skb != whole) is False  # __ne__ too
    assert skb != "text" and skb != 0
    assert skb.hex() == whole.hex() and skb.hex(":", 2) == whole.hex(":", 2)
    assert skb.startswith(b"\x00\x01") and skb.endswith(b"EF") and not skb.startswith(b"A")
    assert skb.find(b"CD") == whole.find(b"CD") == 12 and skb.rfind(b"\x09") == 9
    assert skb.index(b"B") == 11 and skb.rindex(b"F") == 15 and skb.count(b"A") == 1
    assert b"BCD" in skb and b"XYZ" not in skb and 0x41 in skb
    assert skb.decode("latin-1") == whole.decode("latin-1") and skb.tobytes() == whole
    with pytest.raises(ValueError):
        skb.index(b"XYZ")
    with pytest.raises(TypeError, match="unhashable"):
        hash(skb)  # mutable, as bytearray


def test_two_skbs_with_the_same_bytes_are_equal():
    pa = PageAllocator()
    a, b = _linear(pa), _linear(pa)
    assert a == b and a is not b and a == a
    b.put(1)[:] = b"\xff"
    assert a != b
    a.free()
    b.free()
