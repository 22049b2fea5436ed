"""A batch of skbs written at once (write_skbs, what `capture -w` does) makes the file that
writing them one by one makes, and a write that fails part-way (a full disk) leaves the file
on its last whole record with the count of packets in it."""

from __future__ import annotations

import errno
import io

import pytest

from fragpool.io.files import open_offline
from fragpool.io.files.writer import LinkTypeError, PcapngWriter, PcapWriter
from fragpool.mm import PageAllocator, PageFragCache
from fragpool.skb import kfree_skb_list, netdev_alloc_skb


def frames(n: int = 300) -> list[bytes]:
    return [bytes([i % 256]) * (60 + (i * 37) % 1400) for i in range(n)]


def source(tmp_path, data: list[bytes], linktype: int = 1):
    """A pcapng file of ``data`` (ns timestamps), read back as skbs."""
    path = tmp_path / f"src-{linktype}.pcapng"
    with PcapngWriter(path, linktype) as w:
        for i, d in enumerate(data):
            w.write_packet(d, 1_700_000_000_123_456_789 + i * 1_000_001, len(d) + i % 3)
    with open_offline(path) as reader:
        skbs = []
        while batch := reader.read_batch(64):
            skbs.extend(batch)
    return skbs


@pytest.mark.parametrize(
    "opts",
    [{}, {"nanosecond": True}, {"byteorder": ">"}, {"swapped": True}],
    ids=["usec", "nsec", "big-endian", "swapped"],
)
def test_a_batch_writes_what_single_writes_write(tmp_path, opts):
    skbs = source(tmp_path, frames())
    try:
        one, many = tmp_path / "one.pcap", tmp_path / "many.pcap"
        with PcapWriter(one, **opts) as w:
            for skb in skbs:
                w.write(skb)
        with PcapWriter(many, **opts) as w:
            for at in range(0, len(skbs), 64):
                w.write_skbs(skbs[at : at + 64])
            assert w.packets == len(skbs) and w.size == one.stat().st_size
    finally:
        kfree_skb_list(skbs)
    assert many.read_bytes() == one.read_bytes()


def test_a_paged_skb_is_written_whole(tmp_path):
    pa = PageAllocator()
    fc = PageFragCache(pa)
    skb = netdev_alloc_skb(64, allocator=pa)
    skb.put(10)[:] = bytes(range(10))
    addr = fc.alloc(100)
    pa.view(addr, 100)[:] = b"P" * 100
    skb.add_rx_frag(addr, 100, 128)
    skb.tstamp, skb.wire_len, skb.linktype = 1_700_000_000_000_000_000, 110, 1
    want = bytes(skb)
    assert skb.data_len == 100 and len(want) == 110
    path = tmp_path / "paged.pcap"
    with PcapWriter(path) as w:
        w.write_skbs([skb])
    skb.free()
    fc.drain()
    with open_offline(path) as reader:
        (got,) = reader.read_batch(2)
        assert bytes(got) == want
        got.free()


def test_a_packet_of_another_link_type_is_refused_after_the_ones_before(tmp_path):
    skbs = source(tmp_path, frames(5)) + source(tmp_path, frames(2), linktype=101)
    path = tmp_path / "mixed.pcap"
    try:
        with PcapWriter(path) as w, pytest.raises(LinkTypeError, match="packet 6 has link"):
            w.write_skbs(skbs)
    finally:
        kfree_skb_list(skbs)
    with open_offline(path) as reader:
        got = reader.read_batch(10)
        assert len(got) == 5
        kfree_skb_list(got)


class FullDisk(io.RawIOBase):
    """A file that takes ``room`` bytes, then fails as a full disk does."""

    def __init__(self, room: int) -> None:
        self.room, self.data = room, bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        take = min(len(b), self.room - len(self.data))
        if take <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.data += bytes(b[:take])
        return take

    def fileno(self) -> int:
        raise OSError(errno.EBADF, "not a real file")


@pytest.mark.parametrize("kind", [PcapWriter, PcapngWriter])
@pytest.mark.parametrize("room", [10, 100_000, 150_000])
def test_a_full_disk_counts_the_whole_records_on_it(tmp_path, kind, room):
    skbs = source(tmp_path, frames())
    writer = kind(tmp_path / "w")
    writer._f.close()
    writer._f = disk = FullDisk(room)
    try:
        with pytest.raises(OSError, match="No space"):
            for at in range(0, len(skbs), 64):
                writer.write_skbs(skbs[at : at + 64])
            writer.close()
    finally:
        kfree_skb_list(skbs)
    # what a whole-record prefix of the bytes that reached the disk holds
    whole = bytes(disk.data[: writer._on_disk])
    path = tmp_path / "back"
    path.write_bytes(whole)
    if writer.packets_written == 0:
        assert len(whole) < 200  # at most the header reached it
        return
    with open_offline(path) as reader:
        got = []
        while batch := reader.read_batch(64):
            got += [bytes(s) for s in batch]
            kfree_skb_list(batch)
    assert len(got) == writer.packets_written > 0
    assert got == frames()[: len(got)]
