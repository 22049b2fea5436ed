"""TPacketV3Ring over a real veth pair: blocks, packets in place, release, stats, teardown."""

from __future__ import annotations

import ctypes
import time

import pytest
from netns import finish, known_frames, scapy_send, trafgen_send, udp_frame, udp_seq, vlan_frame

from fragpool.io.live import tpacket
from fragpool.io.live.if_packet import PACKET_OTHERHOST, TP_STATUS_KERNEL, TP_STATUS_USER
from fragpool.io.live.packet_socket import LiveCaptureError
from fragpool.io.live.tpacket import TPacketV3Ring

live = pytest.mark.live


def drain(ring: TPacketV3Ring, want: int, timeout: float = 5.0, release: bool = True):
    """Take blocks until `want` packets or timeout; returns [(bytes, RingPacket, block)]."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        b = ring.next_block(0.2)
        if b is None:
            continue
        lo = ring.block_address(b)
        for p in ring.packets(b):
            assert lo <= p.addr and p.addr + p.snaplen <= lo + ring.block_size
            got.append((ctypes.string_at(p.addr, p.snaplen), p, b))
        if release:
            ring.release_block(b)
    return got


@live
@pytest.mark.parametrize("sender", ["scapy", "trafgen"])
def test_ring_known_frames_byte_exact_and_every_block_back(veth, sender):
    frames = known_frames()
    ring = TPacketV3Ring(veth.local, block_size=1 << 14, block_nr=8, retire_tov_ms=5)
    try:
        t0 = time.time_ns()
        proc = (scapy_send if sender == "scapy" else trafgen_send)(veth, frames, wait=False)
        got = drain(ring, len(frames))
        finish(proc)
        t1 = time.time_ns()
        assert ring.next_block(0.2) is None
        assert ring.stats() == {"packets": len(frames), "drops": 0, "freeze_q_cnt": 0}
        assert ring.held_blocks == 0 and ring.user_owned() == 0
    finally:
        report = ring.close()
    assert report.clean and report.held == 0 and report.unread == 0
    assert [g for g, _, _ in got] == frames
    for data, p, _ in got:
        assert p.snaplen == p.wirelen == len(data)
        assert p.pkttype == PACKET_OTHERHOST
        assert t0 <= p.ts_ns <= t1
    stamps = [p.ts_ns for _, p, _ in got]
    assert stamps == sorted(stamps)
    assert len({b for _, _, b in got}) > 1  # a 9014-byte frame cannot share a 16 KiB block


@live
def test_ring_vlan_reinserted_in_place_once(veth):
    frames = [vlan_frame(0, 0x0064), known_frames((200,))[0], vlan_frame(2, 0x3FFF, tpid=0x88A8)]
    with TPacketV3Ring(veth.local, block_size=1 << 16, block_nr=4) as ring:
        trafgen_send(veth, frames)
        b = ring.next_block(2.0)
        assert b is not None
        first = [(ctypes.string_at(p.addr, p.snaplen), p) for p in ring.packets(b)]
        again = [(ctypes.string_at(p.addr, p.snaplen), p) for p in ring.packets(b)]
        ring.release_block(b)
        assert ring.close().clean
    assert [g for g, _ in first] == frames
    assert again == first
    assert [(p.vlan_tci, p.vlan_tpid) for _, p in first] == [
        (0x64, 0x8100),
        (0, 0),
        (0x3FFF, 0x88A8),
    ]
    assert [p.wirelen for _, p in first] == [len(f) for f in frames]


@live
def test_ring_filter_and_snaplen(veth):
    frames = [udp_frame(9, 9999 if i % 4 == 0 else 80, i, size=600) for i in range(40)]
    with TPacketV3Ring(veth.local, block_size=1 << 14, block_nr=4, snaplen=100,
                       filter="udp dst port 9999") as ring:  # fmt: skip
        trafgen_send(veth, frames)
        got = drain(ring, 10)
        assert ring.next_block(0.2) is None
        assert ring.close().clean
    assert [udp_seq(g) for g, _, _ in got] == list(range(0, 40, 4))
    assert all(p.snaplen == 100 and p.wirelen == 600 for _, p, _ in got)
    assert all(g == frames[udp_seq(g)][:100] for g, _, _ in got)


@live
def test_ring_held_blocks_freeze_and_count_drops(veth):
    n = 200
    with TPacketV3Ring(veth.local, block_size=4096, block_nr=2, retire_tov_ms=2) as ring:
        trafgen_send(veth, known_frames((1000,)), n)
        time.sleep(0.1)
        got = drain(ring, n, timeout=0.5, release=False)
        assert ring.held_blocks == 2 and ring.user_owned() == 2
        t = time.monotonic()
        assert ring.next_block(0.1) is None  # lapped: both blocks still held, none twice
        assert time.monotonic() - t < 1.0
        st = ring.stats()
        assert st["packets"] == n
        assert st["drops"] == n - len(got) > 0
        assert st["freeze_q_cnt"] >= 1
        report = ring.close()
    assert not report.clean and report.held == 2


@live
def test_ring_release_resumes_capture(veth):
    with TPacketV3Ring(veth.local, block_size=4096, block_nr=2, retire_tov_ms=2) as ring:
        trafgen_send(veth, known_frames((3000,)), 2)
        a = ring.next_block(2.0)
        b = ring.next_block(2.0)
        assert {a, b} == {0, 1}
        assert ring.block_status(a) & TP_STATUS_USER
        ring.release_block(a)
        assert ring.block_status(a) == TP_STATUS_KERNEL
        with pytest.raises(LiveCaptureError, match="released twice"):
            ring.release_block(a)
        with pytest.raises(LiveCaptureError, match="not held"):
            ring.packets(a)
        trafgen_send(veth, known_frames((3000,)), 1)
        c = ring.next_block(2.0)
        assert c == a
        ring.release_block(b)
        ring.release_block(c)
        assert ring.close().clean


@live
def test_ring_fanout_hash_no_loss_no_duplicates(veth):
    flows, per_flow = 12, 20
    frames = [
        udp_frame(4000 + f, 7000, f * per_flow + k, src_ip=f"10.78.{f}.2")
        for k in range(per_flow)
        for f in range(flows)
    ]
    opts = {"block_size": 1 << 16, "block_nr": 8, "fanout": (0x77, "hash")}
    a = TPacketV3Ring(veth.local, **opts)
    b = TPacketV3Ring(veth.local, **opts)
    try:
        trafgen_send(veth, frames)
        got_a = drain(a, len(frames), timeout=0.6)
        got_b = drain(b, len(frames) - len(got_a), timeout=0.6)
        drops = a.stats()["drops"] + b.stats()["drops"]
    finally:
        ra, rb = a.close(), b.close()
    assert ra.clean and rb.clean and drops == 0
    seq_a = [udp_seq(g) for g, _, _ in got_a]
    seq_b = [udp_seq(g) for g, _, _ in got_b]
    assert sorted(seq_a + seq_b) == list(range(len(frames)))
    assert seq_a and seq_b
    assert not {s // per_flow for s in seq_a} & {s // per_flow for s in seq_b}


@live
def test_ring_geometry_errors(veth, monkeypatch):
    with pytest.raises(LiveCaptureError, match="multiple of the page size"):
        TPacketV3Ring(veth.local, block_size=5000)
    with pytest.raises(LiveCaptureError, match="frame_size"):
        TPacketV3Ring(veth.local, frame_size=100)
    with pytest.raises(LiveCaptureError, match="too large"):
        TPacketV3Ring(veth.local, block_size=1 << 22, block_nr=1024)
    monkeypatch.setattr(tpacket, "_phys_mem", lambda: 1 << 20)
    with pytest.raises(LiveCaptureError, match="too large for memory") as ei:
        TPacketV3Ring(veth.local, block_size=1 << 16, block_nr=32)
    assert "2097152" in str(ei.value)


def test_ring_missing_interface_is_named():
    with pytest.raises(LiveCaptureError, match="fpnosuch1"):
        TPacketV3Ring("fpnosuch1")


@live
def test_ring_close_refuses_while_a_view_is_exported(veth):
    ring = TPacketV3Ring(veth.local, block_size=4096, block_nr=2)
    pinned = ctypes.c_char.from_buffer(ring._mm)  # an export the ring does not own
    with pytest.raises(LiveCaptureError, match="still exported"):
        ring.close()
    assert ring.sock.closed
    del pinned
    assert ring.close().clean
