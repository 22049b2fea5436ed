"""An skb dropped without free() gives its buffers back, once, counted; holding never leaks.

The kernel's kfree_skb is explicit; a Python user drops packets as dpkt and scapy users do.
Compiled, the SkBuff type's finalizer reclaims; interpreted, its __del__ does. Either way
free() stays the fast path and a freed skb is never reclaimed a second time.
"""

from __future__ import annotations

import gc
import struct

import pytest

from fragpool.io.files.reader import open_offline
from fragpool.mm import PageAllocator
from fragpool.skb import netdev_alloc_skb


@pytest.fixture
def pa() -> PageAllocator:
    return PageAllocator(budget=64 << 20)


def test_a_dropped_skb_gives_its_page_back_once(pa):
    before = pa.in_use_pages()
    skb = netdev_alloc_skb(1500, allocator=pa)
    skb.put(100)
    assert pa.in_use_pages() > before or pa.stats()["frag_frees"] == 0
    del skb
    gc.collect()
    stats = pa.stats()
    assert stats["skbs_reclaimed"] == 1
    from fragpool.mm.percpu import netdev_frag_cache

    netdev_frag_cache(pa).drain()
    assert pa.in_use_pages() == before


def test_a_freed_skb_is_never_reclaimed(pa):
    skbs = [netdev_alloc_skb(200, allocator=pa) for _ in range(300)]  # past the head cache
    for skb in skbs:
        skb.free()
    del skbs, skb
    gc.collect()
    assert pa.stats()["skbs_reclaimed"] == 0


def test_clones_reclaim_the_shared_data_when_the_last_goes(pa):
    skb = netdev_alloc_skb(500, allocator=pa)
    skb.put(60)[:] = bytes(range(60))
    twin = skb.clone()
    del skb
    gc.collect()
    assert bytes(twin) == bytes(range(60))  # the data lives while a clone holds it
    del twin
    gc.collect()
    assert pa.stats()["skbs_reclaimed"] == 2


def test_a_cycle_through_an_skb_is_collected_and_reclaimed(pa):
    class Holder:
        pass

    holder = Holder()
    holder.me = holder
    holder.skb = netdev_alloc_skb(300, allocator=pa)
    holder.skb.put(10)
    del holder
    gc.collect()
    assert gc.garbage == [] and pa.stats()["skbs_reclaimed"] == 1


def _capture(tmp_path, records: int):
    """A pcap of ``records`` 1000-byte frames."""
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    frame = bytes(12) + b"\x08\x00" + bytes(986)
    rec = struct.pack("<IIII", 1_700_000_000, 0, len(frame), len(frame)) + frame
    path = tmp_path / "big.pcap"
    with open(path, "wb") as f:
        f.write(header)
        for _ in range(records // 1000):
            f.write(rec * 1000)
    return path


def test_reading_without_free_or_close_leaks_no_page(tmp_path, pa):
    path = _capture(tmp_path, 20_000)
    start = pa.in_use_pages()
    kept = []
    reader = open_offline(path, allocator=pa)
    for i, skb in enumerate(reader):
        if i % 1000 == 0:
            kept.append(skb)  # some held, the rest dropped on the floor
    del reader, skb
    gc.collect()
    assert len(kept) == 20 and all(len(s) == 1000 for s in kept)
    del kept
    gc.collect()
    assert pa.in_use_pages() == start
    assert pa.stats()["skbs_reclaimed"] == 20_000


@pytest.mark.slow
def test_three_reads_of_100_mb_without_free_keep_rss_flat(tmp_path):
    psutil = pytest.importorskip("psutil")
    path = _capture(tmp_path, 101_000)  # 101 MB
    pa = PageAllocator()
    proc = psutil.Process()
    start_pages = pa.in_use_pages()
    rss = [proc.memory_info().rss]
    for _ in range(3):
        with open_offline(path, allocator=pa) as reader:
            n = sum(1 for _skb in reader)  # every skb dropped, none freed
        assert n == 101_000
        gc.collect()
        rss.append(proc.memory_info().rss)
    assert pa.in_use_pages() == start_pages
    assert rss[-1] - rss[0] < 32 << 20, [r >> 20 for r in rss]
