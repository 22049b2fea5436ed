"""open_live over a real veth pair, in each receive mode: skbs byte-exact, metadata, VLAN,
filters, drops, fanout, copybreak; after every test every pool is empty and the ring has
every block back with the kernel (the `opened` fixture checks it)."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from netns import (
    collect,
    finish,
    free_all,
    known_frames,
    scapy_send,
    trafgen_send,
    udp_frame,
    udp_seq,
    vlan_frame,
)

from fragpool.io.files.linktypes import LINKTYPE_ETHERNET
from fragpool.io.live.capture import DEFAULT_RCVBUF, MODES, open_live
from fragpool.io.live.if_packet import PACKET_BROADCAST, PACKET_OTHERHOST

live = pytest.mark.live


@pytest.fixture
def opened(veth):
    """open_live on the veth's near end; afterwards: closed, 0 pages in use, ring clean."""
    caps = []

    def _open(mode: str, **kw):
        cap = open_live(veth.local, mode=mode, **kw)
        caps.append(cap)
        return cap

    yield _open
    for cap in caps:
        cap.close()
    for cap in caps:
        assert cap.pages_in_use() == 0, f"{cap.mode}: pool pages still in use after the test"
        if cap.mode == "tpacket_v3":
            report = cap.ring_report
            assert report is not None and report.clean, f"ring not clean: {report}"


@live
@pytest.mark.parametrize("sender", ["scapy", "trafgen"])
@pytest.mark.parametrize("mode", MODES)
def test_known_frames_arrive_byte_exact(veth, opened, mode, sender):
    frames = known_frames()
    cap = opened(mode)
    assert cap.linktype == LINKTYPE_ETHERNET
    t0 = time.time_ns()
    proc = (scapy_send if sender == "scapy" else trafgen_send)(veth, frames, wait=False)
    got = collect(cap, len(frames))
    finish(proc)
    t1 = time.time_ns()
    assert cap.recv_batch(64, 0.1) == []
    try:
        assert [bytes(s) for s in got] == frames
        for skb, fr in zip(got, frames, strict=True):
            assert skb.len == skb.wire_len == len(fr)
            assert skb.pkt_type == PACKET_OTHERHOST
            assert skb.ifindex == cap.ifindex and skb.linktype == LINKTYPE_ETHERNET
            assert t0 <= skb.tstamp <= t1
            assert skb.vlan_tci == 0
        stamps = [s.tstamp for s in got]
        assert stamps == sorted(stamps)
        st = cap.stats()
        assert st["packets"] == st["received"] == len(frames) and st["drops"] == 0
    finally:
        free_all(got)


@live
@pytest.mark.parametrize("mode", MODES)
def test_vlan_tags_restored(veth, opened, mode):
    frames = [vlan_frame(0, 0x0064), known_frames((200,))[0], vlan_frame(2, 0x3FFF, tpid=0x88A8)]
    frames.append(vlan_frame(3, 0xE005, size=1400))
    cap = opened(mode)
    trafgen_send(veth, frames)
    got = collect(cap, len(frames))
    try:
        assert [bytes(s) for s in got] == frames
        assert [s.vlan_tci for s in got] == [0x64, 0, 0x3FFF, 0xE005]
        assert [s.wire_len for s in got] == [len(f) for f in frames]
        assert got[0].pkt_type == PACKET_BROADCAST
    finally:
        free_all(got)


@live
@pytest.mark.parametrize("mode", MODES)
def test_filter_accepts_exactly_and_snaplen_truncates(veth, opened, mode):
    frames = [udp_frame(9, 7000 if i % 3 == 0 else 7001, i, size=600) for i in range(60)]
    cap = opened(mode, filter="udp dst port 7000", snaplen=100)
    trafgen_send(veth, frames)
    got = collect(cap, 20)
    assert cap.recv_batch(64, 0.2) == []
    try:
        assert [udp_seq(bytes(s)) for s in got] == list(range(0, 60, 3))
        assert all(s.len == 100 and s.wire_len == 600 for s in got)
        assert all(bytes(s) == frames[udp_seq(bytes(s))][:100] for s in got)
        assert cap.stats()["packets"] == 20
    finally:
        free_all(got)


@live
@pytest.mark.parametrize("mode", ["recv_into", "recvmmsg"])
def test_the_socket_modes_queue_holds_a_burst_by_default(veth, opened, mode):
    """The default receive queue is libpcap's 2 MiB buffer, not the kernel's ~212 KiB: a
    burst of 3,000 small frames nobody reads yet is all kept (the kernel's default keeps
    about 280 of them)."""
    cap = opened(mode)
    granted = cap.sock.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    assert granted >= 2 * DEFAULT_RCVBUF  # the kernel doubles what it is given
    n = 3000
    trafgen_send(veth, [udp_frame(1, 2, i, size=64) for i in range(n)])  # nobody reads yet
    time.sleep(0.1)
    got = collect(cap, n, timeout=1.0)
    try:
        assert len(got) == n and cap.stats()["drops"] == 0
    finally:
        free_all(got)


@live
@pytest.mark.parametrize("mode", MODES)
def test_drops_equal_the_kernels_count(veth, opened, mode):
    n = 600
    if mode == "tpacket_v3":
        cap = opened(mode, block_size=4096, block_nr=2, retire_tov_ms=2)
    else:
        cap = opened(mode, rcvbuf=16384)
    trafgen_send(veth, [udp_frame(1, 2, i, size=300) for i in range(n)])  # nobody reads yet
    time.sleep(0.1)
    got = collect(cap, n, timeout=0.5)
    try:
        st = cap.stats()
        assert st["packets"] == n
        assert st["drops"] > 0
        assert len(got) + st["drops"] == n == st["received"] + st["drops"]
        seqs = [udp_seq(bytes(s)) for s in got]
        assert seqs == sorted(set(seqs))  # in order, none twice
    finally:
        free_all(got)


@live
@pytest.mark.parametrize("mode", MODES)
def test_fanout_hash_spreads_flows_over_two_pools(veth, opened, mode):
    flows, per_flow = 16, 40
    frames = [
        udp_frame(4000 + f, 7000, f * per_flow + k, src_ip=f"10.79.{f}.2")
        for k in range(per_flow)
        for f in range(flows)
    ]
    group = secrets.randbelow(0xFFFF)
    a = opened(mode, fanout=(group, "hash"), block_size=1 << 16, block_nr=8)
    b = opened(mode, fanout=(group, "hash"), block_size=1 << 16, block_nr=8)
    assert a.pa is not b.pa  # a pool each
    proc = trafgen_send(veth, frames, gap_us=20, wait=False)
    got_a, got_b = [], []
    deadline = time.monotonic() + 10
    while len(got_a) + len(got_b) < len(frames) and time.monotonic() < deadline:
        got_a += a.recv_batch(64, 0.01)
        got_b += b.recv_batch(64, 0.01)
    finish(proc)
    got_a += a.recv_batch(64, 0.1)
    got_b += b.recv_batch(64, 0.1)
    try:
        assert a.stats()["drops"] + b.stats()["drops"] == 0
        seq_a = [udp_seq(bytes(s)) for s in got_a]
        seq_b = [udp_seq(bytes(s)) for s in got_b]
        assert sorted(seq_a + seq_b) == list(range(len(frames)))  # none lost, none twice
        flows_a = {s // per_flow for s in seq_a}
        flows_b = {s // per_flow for s in seq_b}
        assert flows_a and flows_b and not flows_a & flows_b
        by_seq = {udp_seq(f): f for f in frames}
        assert all(bytes(s) == by_seq[udp_seq(bytes(s))] for s in got_a + got_b)
    finally:
        free_all(got_a + got_b)


_HOLDER = """
import json, sys
sys.path.insert(0, sys.argv[2])
from netns import collect, free_all, udp_frame, udp_seq
from fragpool.io.live.capture import open_live
n = 6000
frames = [udp_frame(5, 6, i, size=400) for i in range(64)]
cap = open_live(sys.argv[1], mode="tpacket_v3", block_size=1 << 16, block_nr=16,
                retire_tov_ms=10)
print("ready", flush=True)
kept = collect(cap, n, timeout=15)
st = cap.stats()
print(json.dumps({
    "kept": len(kept), "drops": st["drops"], "freeze_q_cnt": st["freeze_q_cnt"],
    "copybreak_skbs": st["copybreak_skbs"], "copybreak_fail": st["copybreak_fail"],
    "blocks_held": st["blocks_held"],
    "seqs": [udp_seq(bytes(s)) % 64 for s in kept] == [i % 64 for i in range(n)],
    "heads": all(bytes(s)[:42] == frames[i % 64][:42] for i, s in enumerate(kept)),
}), flush=True)
free_all(kept)
report = cap.close()
print(json.dumps({"clean": report.clean}), flush=True)
"""


@live
def test_holding_skbs_does_not_stall_the_ring(veth):
    """Every skb kept: copybreak moves the oldest blocks' packets to pool memory.

    The receiver runs in a process of its own, as a user's program would: in the test
    runner's, after the rest of the suite, a stall of the runner itself (not of the ring)
    sometimes let the 1 MiB ring fill.
    """
    n = 6000
    frames = [udp_frame(5, 6, i, size=400) for i in range(64)]
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, veth.local, str(Path(__file__).parents[2])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready", holder.stderr.read()
        # 150 us apart the ring holds ~350 ms of traffic, so a moment without the CPU
        # (CI's 2 CPUs) does not fill it; the skbs held all along must not either
        proc = trafgen_send(veth, frames, n, gap_us=150, wait=False)
        st = json.loads(holder.stdout.readline() or "{}")
        finish(proc)
        assert st, holder.stderr.read()
        assert st["kept"] == n and st["drops"] == 0, st
        assert st["copybreak_skbs"] > 0 and st["copybreak_fail"] == 0
        assert st["blocks_held"] <= 16 // 2 + 1
        assert st["seqs"] and st["heads"]
        assert json.loads(holder.stdout.readline())["clean"]
    finally:
        holder.kill()
        holder.wait()


@live
def test_without_copybreak_held_skbs_stall_the_ring(veth, opened):
    """The contrast: copybreak off, kept skbs pin every block and capture stops."""
    n = 2000
    cap = opened(
        "tpacket_v3", block_size=1 << 15, block_nr=4, retire_tov_ms=2, copybreak_at=1 << 30
    )
    proc = trafgen_send(veth, [udp_frame(5, 6, i, size=400) for i in range(8)], n, gap_us=30,
                        wait=False)  # fmt: skip
    kept = collect(cap, n, timeout=1.5)
    finish(proc)
    try:
        st = cap.stats()
        assert len(kept) < n and st["drops"] > 0 and st["blocks_held"] == 4
    finally:
        free_all(kept)
    assert cap.recv_batch(64, 0) is not None  # frees came back: blocks go to the kernel
    assert cap.rx.ring.held_blocks <= 1


@live
@pytest.mark.parametrize("mode", MODES)
def test_skbs_outlive_close(veth, opened, mode):
    frames = known_frames((60, 1000, 1514))
    cap = opened(mode)
    trafgen_send(veth, frames)
    got = collect(cap, len(frames))
    report = cap.close()
    assert not report.clean and report.pages_in_flight + report.moved_at_close >= 1
    assert [bytes(s) for s in got] == frames  # still valid: in-ring skbs were copied out
    free_all(got)
    assert cap.pages_in_use() == 0


@live
def test_a_cloned_skb_keeps_its_block_past_close(veth, opened):
    cap = opened("tpacket_v3", block_size=1 << 16, block_nr=4)
    trafgen_send(veth, known_frames((100, 200)))
    got = collect(cap, 2)
    clone = got[0].clone()
    report = cap.close()
    assert report.blocks_held == 1 and cap.ring_report is None
    assert bytes(clone) == bytes(got[0])
    free_all(got)
    assert cap.ring_report is None
    clone.free()
    assert cap.ring_report is not None and cap.ring_report.clean


@live
def test_skbs_freed_on_another_thread_give_blocks_back(veth, opened):
    cap = opened("tpacket_v3", block_size=1 << 16, block_nr=4, retire_tov_ms=2)
    trafgen_send(veth, known_frames((100,)), 50)
    got = collect(cap, 50)
    assert len(got) == 50 and cap.rx.ring.held_blocks >= 1
    t = threading.Thread(target=free_all, args=(got,))
    t.start()
    t.join()
    assert cap.recv_batch(64, 0) == []
    assert cap.rx.ring.held_blocks == 0


@live
@pytest.mark.parametrize("mode", MODES)
def test_iterator_count_and_timeout(veth, opened, mode):
    frames = known_frames((100, 200, 300, 400))
    cap = opened(mode)
    trafgen_send(veth, frames)
    first = list(cap.packets(count=3, timeout=2))
    rest = list(cap.packets(timeout=0.3))
    try:
        assert [bytes(s) for s in first + rest] == frames
        assert len(first) == 3
    finally:
        free_all(first + rest)


@live
@pytest.mark.parametrize("mode", MODES)
def test_promiscuous_by_default_as_tcpdump(veth, opened, mode):
    """tcpdump's default: the interface is promiscuous while the capture is open, unless
    promisc=False (tcpdump -p)."""
    flags = Path(f"/sys/class/net/{veth.local}/flags")
    cap = opened(mode)
    assert int(flags.read_text(), 16) & 0x100  # IFF_PROMISC
    cap.close()
    off = opened(mode, promisc=False)
    assert not int(flags.read_text(), 16) & 0x100
    off.close()


@live
def test_snaplen_0_means_the_largest(veth, opened):
    assert opened("recvmmsg", snaplen=0).snaplen == 262144


@live
def test_packets_timeout_is_the_whole_captures_time(veth, opened):
    """scapy's and pyshark's timeout: the loop ends ``timeout`` seconds after it started,
    however steady the traffic; ``idle=`` ends it after that long without a packet."""
    cap = opened("recvmmsg")
    sender = trafgen_send(veth, [udp_frame(1, 2, 0, size=80)], count=8000, gap_us=300,
                          wait=False)  # fmt: skip
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        got = list(cap.packets(timeout=1.0))
        took = time.monotonic() - t0
        assert sender.poll() is None, "the traffic stopped before the timeout: no proof"
        assert got and took < 1.6, f"packets(timeout=1.0) ran {took:.2f} s"
        free_all(got)
    finally:
        finish(sender)  # the rest of the traffic is sent (and queued) before idle= below
    t0 = time.monotonic()
    rest = list(cap.packets(idle=0.3))  # the queue drains, then 0.3 s without a packet
    free_all(rest)
    assert time.monotonic() - t0 < 5


@live
def test_promiscuous_mode_while_open(veth, opened):
    flags = Path(f"/sys/class/net/{veth.local}/flags")
    cap = opened("recvmmsg", promisc=True)
    assert int(flags.read_text(), 16) & 0x100  # IFF_PROMISC
    cap.close()
    assert not int(flags.read_text(), 16) & 0x100


@live
def test_pool_pages_are_reused_when_skbs_are_freed(veth, opened):
    cap = opened("recv_into")
    if cap.pa.debug is not None:  # FRAGPOOL_DEBUG=1: reuse in place is what this pins, and
        cap.pa.debug.quarantine_bytes = 0  # the quarantine would hold freed skbs' pages back
    proc = trafgen_send(veth, known_frames((1000,)), 400, gap_us=100, wait=False)
    seen = 0
    while seen < 400:
        batch = cap.recv_batch(1, 1.0)  # each skb freed before the next packet lands
        assert batch
        seen += len(batch)
        free_all(batch)
    finish(proc)
    st = cap.stats()
    assert st["pages_reused"] > 0 and st["pages_taken"] == 1 and st["pages_in_use"] == 1


@live
@pytest.mark.parametrize("mode", ["recv_into", "recvmmsg"])
def test_an_mtu_raised_mid_capture_never_cuts_silently(veth1500, mode):
    cap = open_live(veth1500.local, mode=mode)
    try:
        for end in (
            ["ip", "link", "set", veth1500.local, "mtu", "4000"],
            ["ip", "-n", veth1500.netns, "link", "set", veth1500.peer, "mtu", "4000"],
        ):
            subprocess.run(end, check=True, timeout=30)  # fmt: skip
        frames = known_frames((3000,) * 20)
        trafgen_send(veth1500, frames[:10], gap_us=3000)  # queued before the first receive
        got = collect(cap, 10)
        trafgen_send(veth1500, frames[10:], gap_us=3000)
        got += collect(cap, 10)
        try:
            assert len(got) == 20
            cut = [s for s in got if s.len < s.wire_len]
            st = cap.stats()
            assert cut and st["buffer_cut"] == len(cut)  # every cut frame counted
            assert all(s.wire_len == 3000 for s in got)
            assert [bytes(s) for s in got[10:]] == frames[10:]  # the buffers grew
        finally:
            free_all(got)
    finally:
        cap.close()
