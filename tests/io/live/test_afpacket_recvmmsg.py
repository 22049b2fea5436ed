"""MmsgReceiver (recvmmsg via ctypes) over a real veth pair, into buffers given by address."""

from __future__ import annotations

import ctypes
import time

import pytest
from netns import finish, known_frames, scapy_send, trafgen_send, udp_frame, udp_seq, vlan_frame

from fragpool.io.live.if_packet import PACKET_BROADCAST, PACKET_OTHERHOST
from fragpool.io.live.packet_socket import LiveCaptureError, PacketSocket
from fragpool.io.live.recvmmsg import MmsgReceiver, MsgReceiver

live = pytest.mark.live
BUF = 9100


class Buffers:
    """A batch of caller-owned buffers addressed by int, as pool fragments will be."""

    def __init__(self, count: int, size: int = BUF) -> None:
        self.mem = [ctypes.create_string_buffer(size) for _ in range(count)]
        self.addrs = [ctypes.addressof(m) for m in self.mem]
        self.size = size


def drain(rx: MmsgReceiver, bufs: Buffers, want: int, timeout: float = 5.0):
    """Batches until `want` frames or timeout; returns [(bytes, PacketMeta)] in arrival order."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        n = rx.recv_batch(bufs.addrs, bufs.size, 0.2)
        for i in range(n):
            got.append((ctypes.string_at(bufs.addrs[i], rx.snaplen[i]), rx.meta(i)))
    return got


@live
@pytest.mark.parametrize("sender", ["scapy", "trafgen"])
def test_recvmmsg_known_frames_byte_exact(veth, sender):
    frames = known_frames()
    bufs = Buffers(8)
    with PacketSocket(veth.local, rcvbuf=4 << 20) as s:
        rx = MmsgReceiver(s, batch=8)
        t0 = time.time_ns()
        proc = (scapy_send if sender == "scapy" else trafgen_send)(veth, frames, wait=False)
        got = drain(rx, bufs, len(frames))
        finish(proc)
        t1 = time.time_ns()
        assert rx.recv_batch(bufs.addrs, bufs.size, 0.3) == 0
        assert s.stats() == {"packets": len(frames), "drops": 0, "freeze_q_cnt": 0}
    assert [g for g, _ in got] == frames
    for data, meta in got:
        assert meta.snaplen == meta.wirelen == len(data)
        assert meta.pkttype == PACKET_OTHERHOST
        assert t0 <= meta.ts_ns <= t1
    stamps = [m.ts_ns for _, m in got]
    assert stamps == sorted(stamps)


@live
def test_recvmmsg_fills_a_batch_in_one_call(veth):
    frames = known_frames((100,) * 32)
    bufs = Buffers(32, 2048)
    with PacketSocket(veth.local) as s:
        rx = MmsgReceiver(s, batch=32)
        trafgen_send(veth, frames)
        time.sleep(0.1)
        assert rx.recv_batch(bufs.addrs, 2048, 1.0) == 32
        assert rx.count == 32


@live
def test_recvmmsg_vlan_reinserted_and_per_buffer_lengths(veth):
    frames = [vlan_frame(0, 0x0064), known_frames((300,))[0], vlan_frame(2, 0x2005, tpid=0x88A8)]
    bufs = Buffers(3, 2048)
    with PacketSocket(veth.local) as s:
        rx = MmsgReceiver(s, batch=4)
        trafgen_send(veth, frames)
        time.sleep(0.1)
        n = rx.recv_batch(bufs.addrs, [2048, 2048, 2048], 1.0)
        got = [ctypes.string_at(bufs.addrs[i], rx.snaplen[i]) for i in range(n)]
        assert got == frames
        assert rx.vlan_tci[:3] == [0x0064, 0, 0x2005]
        assert rx.vlan_tpid[:3] == [0x8100, 0, 0x88A8]
        assert rx.wirelen[:3] == [len(f) for f in frames]
        assert rx.pkttype[:3] == [PACKET_BROADCAST, PACKET_OTHERHOST, PACKET_BROADCAST]


@live
def test_recvmmsg_truncates_to_the_buffer(veth):
    frames = known_frames((1000,))
    with PacketSocket(veth.local) as s:
        rx = MmsgReceiver(s, batch=2, vlan=False)
        bufs = Buffers(2, 256)
        trafgen_send(veth, frames)
        assert rx.recv_batch(bufs.addrs, 256, 1.0) == 1
        assert (rx.snaplen[0], rx.wirelen[0]) == (256, 1000)
        assert ctypes.string_at(bufs.addrs[0], 256) == frames[0][:256]


@live
def test_recvmmsg_with_filter_and_timeout(veth):
    frames = [udp_frame(1, 9999 if i % 2 else 53, i) for i in range(20)]
    with PacketSocket(veth.local, filter="udp port 9999") as s:
        rx = MmsgReceiver(s, batch=16)
        bufs = Buffers(16, 2048)
        trafgen_send(veth, frames)
        got = drain(rx, bufs, 10)
        t = time.monotonic()
        assert rx.recv_batch(bufs.addrs, 2048, 0.2) == 0
        assert 0.15 <= time.monotonic() - t < 2.0
    assert [udp_seq(g) for g, _ in got] == list(range(1, 20, 2))


@live
def test_recvmmsg_bad_arguments_are_named(veth):
    bufs = Buffers(3, 64)
    with PacketSocket(veth.local) as s:
        with pytest.raises(LiveCaptureError, match="batch"):
            MmsgReceiver(s, batch=0)
        rx = MmsgReceiver(s, batch=2)
        with pytest.raises(LiveCaptureError, match="1..2 buffers"):
            rx.recv_batch(bufs.addrs, 64, 0)
        with pytest.raises(LiveCaptureError, match="too small"):
            rx.recv_batch(bufs.addrs[:2], 4, 0)
        with pytest.raises(LiveCaptureError, match="differ"):
            rx.recv_batch(bufs.addrs[:2], [64], 0)
        with pytest.raises(IndexError):
            rx.meta(0)


@live
def test_msgreceiver_one_packet_per_call_with_its_metadata(veth):
    frames = [known_frames((300,))[0], vlan_frame(1, 0x0064)]
    bufs = Buffers(1, 2048)
    with PacketSocket(veth.local) as s:
        rx = MsgReceiver(s)
        assert rx.recv(bufs.addrs[0], 2048) == -1  # nothing queued: EAGAIN, not an error
        t0 = time.time_ns()
        trafgen_send(veth, frames)
        assert s.wait_readable(1.0)
        n = rx.recv(bufs.addrs[0], 2048)
        meta = rx.meta(n)
        assert ctypes.string_at(bufs.addrs[0], n) == frames[0]
        assert (meta.snaplen, meta.wirelen, meta.pkttype) == (300, 300, PACKET_OTHERHOST)
        assert meta.ts_ns >= t0 and (meta.vlan_tci, meta.vlan_tpid) == (0, 0)
        time.sleep(0.1)
        n = rx.recv(bufs.addrs[0], 2048)
        meta = rx.meta(n)  # the tag stays stripped (bytes and tp_len); the metadata names it
        assert n == meta.wirelen == len(frames[1]) - 4
        assert (meta.vlan_tci, meta.vlan_tpid, meta.pkttype) == (0x0064, 0x8100, PACKET_BROADCAST)
        assert rx.recv(bufs.addrs[0], 2048) == -1
