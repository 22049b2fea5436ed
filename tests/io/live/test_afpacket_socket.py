"""PacketSocket over a real veth pair: recv_into, metadata, filters, stats, fanout, errors."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from netns import (
    BROADCAST,
    SRC_MAC,
    finish,
    frame_seq,
    known_frames,
    scapy_send,
    trafgen_send,
    udp_frame,
    udp_seq,
    vlan_frame,
)

from fragpool.io.live.errors import FilterError
from fragpool.io.live.if_packet import (
    PACKET_BROADCAST,
    PACKET_HOST,
    PACKET_MULTICAST,
    PACKET_OTHERHOST,
    PACKET_OUTGOING,
)
from fragpool.io.live.packet_socket import LiveCaptureError, PacketSocket, ifindex_of

live = pytest.mark.live
IFF_PROMISC = 0x100


def drain_recv_into(sock: PacketSocket, want: int, timeout: float = 5.0, bufsize: int = 9100):
    """Receive until `want` frames arrived or timeout; returns [(bytes, PacketMeta)]."""
    buf = bytearray(bufsize)
    view = memoryview(buf)
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        r = sock.recv_into(view, 0.2)
        if r is not None:
            n, meta = r
            got.append((bytes(view[:n]), meta))
    return got


def quiet(sock: PacketSocket, wait: float = 0.3) -> bool:
    """True when nothing more arrives within wait seconds."""
    return sock.recv_into(bytearray(9100), wait) is None


@live
@pytest.mark.parametrize("sender", ["scapy", "trafgen"])
def test_recv_into_known_frames_byte_exact(veth, sender):
    frames = known_frames()
    with PacketSocket(veth.local, rcvbuf=4 << 20) as s:
        t0 = time.time_ns()
        proc = (scapy_send if sender == "scapy" else trafgen_send)(veth, frames, wait=False)
        got = drain_recv_into(s, len(frames))
        finish(proc)
        t1 = time.time_ns()
        assert quiet(s)
        assert [g for g, _ in got] == frames
        for data, meta in got:
            assert meta.snaplen == meta.wirelen == len(data)
            assert meta.pkttype == PACKET_OTHERHOST
            assert meta.vlan_tci == meta.vlan_tpid == 0
            assert t0 <= meta.ts_ns <= t1
        stamps = [m.ts_ns for _, m in got]
        assert stamps == sorted(stamps)
        assert s.stats() == {"packets": len(frames), "drops": 0, "freeze_q_cnt": 0}


@live
def test_recv_into_vlan_tags_reinserted(veth):
    frames = [
        vlan_frame(0, 0x0064),
        vlan_frame(1, 0xE00A, size=1518),  # PCP 7, VID 10, full-size tagged frame
        vlan_frame(2, 0x0FFF, tpid=0x88A8),  # 802.1ad outer tag
        known_frames((80,))[0],  # untagged in between
    ]
    with PacketSocket(veth.local) as s:
        trafgen_send(veth, frames)
        got = drain_recv_into(s, len(frames))
    assert [g for g, _ in got] == frames
    assert [(m.vlan_tci, m.vlan_tpid) for _, m in got] == [
        (0x0064, 0x8100),
        (0xE00A, 0x8100),
        (0x0FFF, 0x88A8),
        (0, 0),
    ]
    assert [m.wirelen for _, m in got] == [len(f) for f in frames]


@live
def test_recv_into_vlan_off_gives_the_stripped_frame(veth):
    frame = vlan_frame(5, 0x0123)
    with PacketSocket(veth.local) as s:
        trafgen_send(veth, [frame])
        n, meta = s.recv_into(bytearray(2048), 2.0, vlan=False)
    assert meta.snaplen == n == len(frame) - 4
    assert meta.wirelen == len(frame)
    assert (meta.vlan_tci, meta.vlan_tpid) == (0x0123, 0x8100)


@live
def test_recv_into_truncates_to_buffer_and_snaplen(veth):
    frames = known_frames((1000, 200))
    with PacketSocket(veth.local, snaplen=128) as s:
        trafgen_send(veth, frames)
        got = drain_recv_into(s, 2)
    assert [g for g, _ in got] == [f[:128] for f in frames]
    assert [(m.snaplen, m.wirelen) for _, m in got] == [(128, 1000), (128, 200)]


@live
def test_packet_types(veth):
    mac_text = Path(f"/sys/class/net/{veth.local}/address").read_text()
    local_mac = bytes.fromhex(mac_text.strip().replace(":", ""))
    host = local_mac + SRC_MAC + bytes.fromhex("88b5") + bytes(46)
    bcast = BROADCAST + SRC_MAC + bytes.fromhex("88b5") + bytes(46)
    mcast = bytes.fromhex("01005e000001") + SRC_MAC + bytes.fromhex("88b5") + bytes(46)
    other = known_frames((60,))[0]
    with PacketSocket(veth.local) as s:
        trafgen_send(veth, [host, bcast, mcast, other])
        got = drain_recv_into(s, 4)
        out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            out.bind((veth.local, 0))
            out.send(known_frames((70,))[0])
        finally:
            out.close()
        got += drain_recv_into(s, 1)
    assert [m.pkttype for _, m in got] == [
        PACKET_HOST,
        PACKET_BROADCAST,
        PACKET_MULTICAST,
        PACKET_OTHERHOST,
        PACKET_OUTGOING,
    ]


@live
def test_promiscuous_membership_follows_the_socket(veth):
    def flags() -> int:
        return int(Path(f"/sys/class/net/{veth.local}/flags").read_text(), 16)

    assert not flags() & IFF_PROMISC
    s = PacketSocket(veth.local, promisc=True)
    assert flags() & IFF_PROMISC
    s.close()
    assert not flags() & IFF_PROMISC


@live
def test_filter_accepts_exactly_matching(veth):
    frames = [udp_frame(1000 + i, 9999 if i % 3 == 0 else 9998, i) for i in range(30)]
    frames += known_frames((64, 128))
    wanted = [f for f in frames[:30] if f[36:38] == (9999).to_bytes(2, "big")]
    with PacketSocket(veth.local, filter="udp port 9999") as s:
        trafgen_send(veth, frames)
        got = drain_recv_into(s, len(wanted))
        assert quiet(s)
        assert s.stats()["packets"] == len(wanted)
    assert [g for g, _ in got] == wanted


@live
def test_set_filter_drops_packets_queued_before_it(veth):
    with PacketSocket(veth.local) as s:
        trafgen_send(veth, [udp_frame(5, 1234, i) for i in range(20)])
        assert s.wait_readable(2.0)
        time.sleep(0.1)
        s.set_filter("udp dst port 9999")
        assert s.filter == "udp dst port 9999"
        trafgen_send(veth, [udp_frame(5, 9999, 100 + i) for i in range(5)])
        got = drain_recv_into(s, 5)
        assert quiet(s)
    assert [udp_seq(g) for g, _ in got] == [100, 101, 102, 103, 104]


@live
def test_stats_accumulate_and_count_drops(veth):
    n = 400
    frames = known_frames((1000,))
    with PacketSocket(veth.local, rcvbuf=16384) as s:
        trafgen_send(veth, frames, n)
        time.sleep(0.2)
        got = drain_recv_into(s, n, timeout=1.0)
        st = s.stats()
        assert st["drops"] > 0
        assert st["packets"] == n
        assert len(got) + st["drops"] == n
        assert s.stats() == st  # the kernel reset its counters; the totals stay


@live
def test_fanout_hash_spreads_flows_without_loss_or_duplicates(veth):
    flows = 16
    per_flow = 25
    frames = [
        udp_frame(2000 + f, 7000, f * per_flow + k, src_ip=f"10.77.{f}.2")
        for k in range(per_flow)
        for f in range(flows)
    ]
    a = PacketSocket(veth.local, fanout=(0x4D2, "hash"), rcvbuf=4 << 20)
    b = PacketSocket(veth.local, fanout=(0x4D2, "hash"), rcvbuf=4 << 20)
    try:
        trafgen_send(veth, frames)
        got_a = drain_recv_into(a, len(frames), timeout=1.0)
        got_b = drain_recv_into(b, len(frames) - len(got_a), timeout=1.0)
        stats = a.stats()["drops"] + b.stats()["drops"]
    finally:
        a.close()
        b.close()
    seq_a = [udp_seq(g) for g, _ in got_a]
    seq_b = [udp_seq(g) for g, _ in got_b]
    assert stats == 0
    assert sorted(seq_a + seq_b) == list(range(len(frames)))
    assert seq_a and seq_b, "16 flows all hashed to one socket"
    flows_a = {s // per_flow for s in seq_a}
    flows_b = {s // per_flow for s in seq_b}
    assert not flows_a & flows_b, "a flow was split between the sockets"


@live
def test_fanout_lb_alternates(veth):
    frames = [udp_frame(3000, 7000, i) for i in range(40)]
    a = PacketSocket(veth.local, fanout=(77, "lb"))
    b = PacketSocket(veth.local, fanout=(77, "lb"))
    try:
        trafgen_send(veth, frames)
        got_a = drain_recv_into(a, 20, timeout=1.0)
        got_b = drain_recv_into(b, 20, timeout=1.0)
    finally:
        a.close()
        b.close()
    assert len(got_a) == len(got_b) == 20


@live
def test_fanout_group_mode_mismatch_is_a_clear_error(veth):
    with (
        PacketSocket(veth.local, fanout=(99, "hash")),
        pytest.raises(LiveCaptureError, match="group 99"),
    ):
        PacketSocket(veth.local, fanout=(99, "lb"))


@live
def test_bad_filter_on_a_live_socket(veth):
    with pytest.raises(FilterError, match="syntax error"):
        PacketSocket(veth.local, filter="udp prot 9999")


@live
def test_sender_scapy_and_trafgen_agree(veth):
    frames = known_frames((64, 1514))
    with PacketSocket(veth.local) as s:
        scapy_send(veth, frames)
        trafgen_send(veth, frames)
        got = drain_recv_into(s, 4)
    assert [g for g, _ in got] == frames + frames
    assert [frame_seq(g) for g, _ in got] == [0, 1, 0, 1]


# -- errors that need no interface ------------------------------------------------------


def test_missing_interface_is_named():
    with pytest.raises(LiveCaptureError, match="fpnosuch0") as ei:
        PacketSocket("fpnosuch0")
    assert ei.value.errno == errno.ENODEV


def test_bad_arguments_are_named():
    with pytest.raises(LiveCaptureError, match="snaplen"):
        PacketSocket("lo", snaplen=0)
    with pytest.raises(LiveCaptureError, match="too long"):
        ifindex_of("x" * 16)
    with pytest.raises(LiveCaptureError, match="non-empty"):
        ifindex_of("")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="AF_PACKET is Linux only")
def test_no_permission_says_root_or_cap_net_raw():
    code = (
        "from fragpool.io.live.packet_socket import PacketSocket, LiveCaptureError\n"
        "try:\n    PacketSocket('lo')\nexcept LiveCaptureError as e:\n    print(e)\n"
    )
    if os.geteuid() == 0:
        cmd = ["setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw", sys.executable]
        cmd += ["-c", code]
    else:
        cmd = [sys.executable, "-c", code]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    except FileNotFoundError:
        pytest.skip("setpriv (util-linux) not installed")
    assert "needs root or CAP_NET_RAW" in out


@live
@pytest.mark.parametrize("mode", ["cpu", "rollover", "rnd"])
def test_fanout_other_modes_lose_and_duplicate_nothing(veth, mode):
    frames = [udp_frame(100 + i % 5, 7000, i) for i in range(60)]
    a = PacketSocket(veth.local, fanout=(0x1234, mode), rcvbuf=1 << 20)
    b = PacketSocket(veth.local, fanout=(0x1234, mode), rcvbuf=1 << 20)
    try:
        trafgen_send(veth, frames)
        got = drain_recv_into(a, 60, timeout=0.6)
        got += drain_recv_into(b, 60 - len(got), timeout=0.6)
    finally:
        a.close()
        b.close()
    assert sorted(udp_seq(g) for g, _ in got) == list(range(60))


@live
def test_fanout_flags_and_bad_mode(veth):
    with PacketSocket(veth.local, fanout=(5, "hash", ("rollover", "defrag"))) as s:
        assert s._fanout == (5, "hash", ("rollover", "defrag"))
        with pytest.raises(LiveCaptureError, match="unknown fanout mode"):
            s.set_fanout(6, "ebpf")
        with pytest.raises(LiveCaptureError, match="unknown fanout flag"):
            s.set_fanout(6, "hash", ("uniq",))
        with pytest.raises(LiveCaptureError, match="0..65535"):
            s.set_fanout(70000)


@live
def test_ignore_outgoing(veth):
    with PacketSocket(veth.local, ignore_outgoing=True) as s:
        out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            out.bind((veth.local, 0))
            out.send(known_frames((70,))[0])
        finally:
            out.close()
        trafgen_send(veth, known_frames((80,)))
        got = drain_recv_into(s, 2, timeout=0.5)
    assert [len(g) for g, _ in got] == [80]
