"""A recycled SkBuff comes back clean from every constructor that initialises it inline.

The per-packet receive loops write the skb fields out instead of calling init_rx; this
pins that each one resets what a previous user may have left (marks, clone flag, ...).
"""

from pathlib import Path

import pytest

import fragpool
from fragpool.io.files.writer import PcapngWriter, PcapWriter
from fragpool.mm import NapiContext, PageAllocator, PageFragCache
from fragpool.skb import build_skb, napi_alloc_skb, napi_skb_cache, skbuff_head_cache

DIRTY = {"mark": 7, "hash": 9, "protocol": 5, "pkt_type": 3, "vlan_tci": 100, "ifindex": 4}


def _dirty(objects) -> None:
    for skb in objects:
        for name, value in DIRTY.items():
            setattr(skb, name, value)
        skb.cloned = True
        skb.data_len = 0


def _clean(skb, ifindex: int = 0) -> None:
    assert (skb.mark, skb.hash, skb.protocol, skb.pkt_type, skb.vlan_tci) == (0, 0, 0, 0, 0)
    assert skb.ifindex == ifindex and skb.cloned is False and skb.data_len == 0


@pytest.mark.parametrize("writer", [PcapWriter, PcapngWriter])
def test_capture_readers_reset_recycled_skbs(tmp_path: Path, writer) -> None:
    path = tmp_path / "x.cap"
    out = writer(path)
    for i in range(200):
        out.write_packet(bytes([i]) * 60, 1_000_000_000 + i)
    out.close()
    _dirty(skbuff_head_cache.free)
    pa = PageAllocator()
    with fragpool.open_offline(path, allocator=pa) as reader:
        for skb in reader:
            _clean(skb)
            skb.free()
    assert pa.in_use_pages() == 0


def test_build_skb_and_napi_alloc_reset_recycled_skbs() -> None:
    pa = PageAllocator()
    cache = PageFragCache(pa)
    _dirty(skbuff_head_cache.free)
    skb = build_skb(cache.alloc(2048), 2048, allocator=pa)
    _clean(skb)
    skb.free()
    ctx = NapiContext(pa)
    with ctx:
        _dirty(napi_skb_cache(ctx).free)
        skb = napi_alloc_skb(1000, ctx)
        _clean(skb)
        skb.free()
        ctx.drain()
    cache.drain()
    assert pa.in_use_pages() == 0
