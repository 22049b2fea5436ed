"""scapy's sniff(), AsyncSniffer and select() on fragpool's rings through
fragpool.scapy.L2ListenSocket, and a burst that stock scapy loses kept whole."""

from __future__ import annotations

import hashlib
import time

import pytest
from netns import trafgen_send, udp_frame, udp_seq
from scapy.all import UDP, AsyncSniffer, Ether, conf, sniff

from fragpool.io.bpf import FilterError
from fragpool.scapy import L2ListenSocket

live = pytest.mark.live
BURST = 20_000


def _work(pkt) -> None:
    """What a callback does with a packet: dissect to UDP and digest the payload."""
    hashlib.sha256(bytes(pkt[UDP].payload)).digest()


def _burst(listen, iface, veth) -> tuple[list, float]:
    """sniff() through ``listen`` while trafgen sends BURST frames as fast as it can."""
    frames = [udp_frame(7000, 53, i, size=64) for i in range(BURST)]
    got: list = []
    started = []

    def keep(pkt) -> None:
        _work(pkt)
        got.append((udp_seq(bytes(pkt)), pkt.time))

    saved = conf.L2listen
    conf.L2listen = listen
    try:
        sniffer = AsyncSniffer(iface=iface, prn=keep, store=False, filter="udp port 7000",
                               started_callback=lambda: started.append(1))  # fmt: skip
        sniffer.start()
        deadline = time.monotonic() + 10
        while not started and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        t0 = time.time()
        trafgen_send(veth, frames)
        deadline = time.monotonic() + 60
        while len(got) < BURST and time.monotonic() < deadline:
            last = len(got)
            time.sleep(1.0)
            if len(got) == last:  # nothing more is coming
                break
        sniffer.stop()
    finally:
        conf.L2listen = saved
    return got, t0


@live
def test_a_burst_arrives_whole_and_in_order_through_sniff(veth):
    got, t0 = _burst(L2ListenSocket, veth.local, veth)
    stock, _ = _burst(conf.L2listen, veth.local, veth)
    print(f"\nburst of {BURST}: fragpool.scapy.L2ListenSocket {len(got)}, "
          f"stock scapy {len(stock)}")  # fmt: skip
    assert [s for s, _ in got] == list(range(BURST))
    assert all(t0 - 1 < float(t) < t0 + 60 for _, t in got)  # each with its capture time


@live
def test_async_sniffer_on_an_opened_socket_stops_promptly(veth):
    sock = L2ListenSocket(iface=veth.local)
    sniffer = AsyncSniffer(opened_socket=sock, store=True)
    sniffer.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    result = sniffer.stop()
    assert time.monotonic() - t0 < 1.0 and len(result) == 0
    sock.close()


@live
def test_sniff_count_ends_at_n_with_time_and_wirelen(veth):
    sock = L2ListenSocket(iface=veth.local, filter="udp port 7100")
    frames = [udp_frame(7100, 53, i, size=200) for i in range(30)]
    trafgen_send(veth, frames)
    pkts = sniff(opened_socket=sock, count=10, timeout=10)
    try:
        assert len(pkts) == 10 and all(isinstance(p, Ether) for p in pkts)
        assert [udp_seq(bytes(p)) for p in pkts] == list(range(10))
        assert all(p.wirelen == 200 and p.time > 1e9 for p in pkts)
        assert sock.stats()["received"] >= 10
    finally:
        sock.close()


@live
def test_frames_taken_from_the_ring_are_visible_to_select(veth):
    import select

    sock = L2ListenSocket(iface=veth.local, filter="udp port 7200")
    try:
        trafgen_send(veth, [udp_frame(7200, 53, i, size=64) for i in range(5)])
        assert L2ListenSocket.select([sock], 5) == [sock]
        first = sock.recv()  # takes the batch off the ring, hands out one
        assert udp_seq(bytes(first)) == 0
        for want in range(1, 5):  # the other four wait here, not on the ring: still ready
            assert select.select([sock], [], [], 0)[0] == [sock]
            assert L2ListenSocket.select([sock], 0) == [sock]
            assert udp_seq(bytes(sock.recv())) == want
        assert select.select([sock], [], [], 0.2)[0] == []  # drained: not ready any more
    finally:
        sock.close()


@live
def test_sessions_and_sniff_source_use_it_through_conf(veth):
    """conf.L2listen reaches scapy's sessions and its pipe tool's SniffSource unchanged."""
    from scapy.pipetool import PipeEngine, QueueSink
    from scapy.scapypipes import SniffSource
    from scapy.sessions import TCPSession

    saved = conf.L2listen
    conf.L2listen = L2ListenSocket
    try:
        frames = [udp_frame(7300, 53, i, size=100) for i in range(20)]
        sniffer = AsyncSniffer(iface=veth.local, session=TCPSession, count=5,
                               filter="udp port 7300")  # fmt: skip
        sniffer.start()
        time.sleep(0.5)
        trafgen_send(veth, frames)
        sniffer.join(timeout=10)
        assert [udp_seq(bytes(p)) for p in sniffer.results] == list(range(5))
        source = SniffSource(iface=veth.local, filter="udp port 7300")
        sink = QueueSink()
        source > sink  # noqa: B015 - scapy's pipe operator
        engine = PipeEngine(source)
        engine.start()
        try:
            time.sleep(0.5)
            assert isinstance(source.s, L2ListenSocket)
            trafgen_send(veth, frames[:3])
            got = [sink.recv(5) for _ in range(3)]
        finally:
            engine.stop()
        assert [udp_seq(bytes(p)) for p in got] == [0, 1, 2]
    finally:
        conf.L2listen = saved


@live
def test_a_bad_filter_is_an_error_at_construction(veth):
    with pytest.raises(FilterError):
        L2ListenSocket(iface=veth.local, filter="port not-a-port")


@live
def test_unknown_options_and_monitor_are_refused(veth):
    with pytest.raises(TypeError, match="does not know: bogus"):
        L2ListenSocket(iface=veth.local, bogus=1)
    with pytest.raises(ValueError, match="monitor"):
        L2ListenSocket(iface=veth.local, monitor=True)
