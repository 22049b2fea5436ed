"""The example RX driver's rings: flip and reuse, bias restock, budget, byte-exact delivery."""

from __future__ import annotations

import random
import socket
import struct

import pytest

from fragpool.driver import MemoryWire, Rss, RxDevice, Toeplitz, eth_get_headlen
from fragpool.driver.constants import IGB_MAX_FRAME_BUILD_SKB, IGB_RX_HDR_LEN
from fragpool.mm import current_napi

POOLS = ("frag", "page_pool", "naive")


def udp_frame(i: int, size: int, rng: random.Random | None = None) -> bytes:
    """An Ethernet/IPv4/UDP frame of ``size`` bytes whose flow depends on ``i``."""
    rng = rng or random.Random(i)
    eth = b"\x02\x00\x00\x00\x00\x03\x02\x00\x00\x00\x00\x02\x08\x00"
    total = size - len(eth)
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        total,
        i & 0xFFFF,
        0,
        64,
        17,
        0,
        socket.inet_aton(f"10.0.{i % 7}.{i % 200 + 1}"),
        socket.inet_aton("192.168.0.1"),
    )
    udp = struct.pack("!HHHH", 1000 + i % 31, 53, total - 20, 0)
    return eth + ip + udp + rng.randbytes(size - len(eth) - 28)


class Keeper:
    """A handler that keeps every skb (and can free them later)."""

    def __init__(self) -> None:
        self.skbs = []

    def __call__(self, skb) -> None:
        self.skbs.append(skb)

    def free_all(self) -> None:
        for skb in self.skbs:
            skb.free()
        self.skbs.clear()


class Recorder:
    """A handler that records (ring, bytes) and frees at once."""

    def __init__(self) -> None:
        self.got: dict[int, list[bytes]] = {}

    def __call__(self, skb) -> None:
        ring = int(current_napi().name.split("-")[1])
        self.got.setdefault(ring, []).append(bytes(skb))
        skb.free()


def small_frames(n: int) -> list[bytes]:
    return [udp_frame(i, 60 + i % 200) for i in range(n)]


# ---------------------------------------------------------------------- flip and reuse
@pytest.mark.parametrize("pool", POOLS)
def test_prompt_free_reuses_every_page(pool: str) -> None:
    dev = RxDevice(MemoryWire(small_frames(2000)), rings=1, ring_size=64, pool=pool, burst=32)
    total = dev.run()["total"]
    assert total["packets"] == 2000
    assert total["flips"] == total["handed_up"] == 2000
    assert total["reuses"] == 2000 and total["releases"] == 0
    assert total["pages"] == 63  # the first fill only: every later buffer was a reused page
    assert dev.teardown().clean
    assert dev.pa.in_use_pages() == 0


def test_flip_alternates_halves() -> None:
    dev = RxDevice(MemoryWire([]), rings=1, ring_size=8)
    dev.open()
    ring = dev.rings[0]
    first = ring.buffers[0]
    page, offset = first.page, first.page_offset
    seen = []
    for i in range(3 * 7):
        ring.dma(udp_frame(i, 100))
        ring.poll(1)
        for bi in ring.buffers:
            if bi.page is page:
                seen.append(bi.page_offset)
                break
    assert set(seen) == {offset, offset ^ 2048}
    assert dev.teardown().clean


@pytest.mark.parametrize("pool", POOLS)
def test_holding_skbs_stops_reuse_and_is_reported(pool: str) -> None:
    keeper = Keeper()
    n = 300
    dev = RxDevice(
        MemoryWire(small_frames(n)), rings=1, ring_size=32, pool=pool, handler=keeper, burst=16
    )
    total = dev.run()["total"]
    assert total["packets"] == n == len(keeper.skbs)
    # a fresh page flips once to its free other half; once both halves are held it is
    # released, so no page serves more than two buffers and reuse never compounds
    assert total["reuses"] + total["releases"] == n
    assert total["reuses"] <= total["pages"]
    assert total["releases"] >= n // 2 - 32
    assert n <= 2 * total["pages"]
    heads = {dev.pa.page_of(skb.head).addr for skb in keeper.skbs}
    report = dev.teardown()
    assert not report.clean
    assert report.pages_in_flight == len(heads)
    assert report.references_in_flight == n
    assert "stalled" in report.line() and f"{len(heads)} pages in flight" in report.line()
    keeper.free_all()
    assert dev.pa.in_use_pages() == 0


def test_bias_restock_in_bulk() -> None:
    # bias_max 4: a page's bias runs 4 -> 1 in three hand-ups, then page_ref_add restocks it
    dev = RxDevice(MemoryWire(small_frames(600)), rings=1, ring_size=8, bias_max=4, burst=4)
    total = dev.run()["total"]
    assert total["reuses"] == 600
    assert total["restocks"] == pytest.approx(600 / 3, abs=8)
    ring = dev.rings[0]
    for bi in ring.buffers:
        if bi.page is not None:
            assert 1 < bi.pagecnt_bias <= 4
            assert bi.page.ref == bi.pagecnt_bias  # nothing outstanding: refcount == bias
    ops_per_page = total["refcount_ops"] / total["pages"]
    assert ops_per_page == pytest.approx(1 + 600 / 3 / 7, abs=2)
    assert dev.teardown().clean


def test_default_bias_never_restocks_on_short_runs() -> None:
    dev = RxDevice(MemoryWire(small_frames(500)), rings=1, ring_size=16, burst=8)
    total = dev.run()["total"]
    assert total["restocks"] == 0
    assert total["refcount_ops"] == total["pages"] == 15  # one page_ref_add per page
    assert dev.teardown().clean


def test_naive_pays_one_reference_per_buffer() -> None:
    frames = small_frames(400)
    runs = {}
    for pool in ("frag", "naive"):
        dev = RxDevice(MemoryWire(frames), rings=2, ring_size=32, pool=pool, burst=16)
        runs[pool] = dev.run()["total"]
        assert dev.teardown().clean
    assert runs["naive"]["refcount_ops"] == runs["naive"]["handed_up"] == 400
    assert runs["frag"]["refcount_ops"] == runs["frag"]["pages"] == 62
    assert runs["naive"]["reuses"] == runs["frag"]["reuses"]


# ---------------------------------------------------------------------- NAPI
def test_budget_respected_per_poll() -> None:
    frames = small_frames(500)
    dev = RxDevice(
        MemoryWire(frames, steer=lambda f: 0), rings=2, ring_size=256, budget=8, burst=200
    )
    dev.trace_polls = True
    total = dev.run()["total"]
    assert total["packets"] == 500
    assert all(work <= 8 for _, work in dev.poll_trace)
    assert max(work for _, work in dev.poll_trace) == 8
    assert dev.rings[0].polls_exhausted >= 500 // 8 - 1
    assert dev.teardown().clean


def test_rings_served_round_robin() -> None:
    frames = small_frames(800)
    dev = RxDevice(
        MemoryWire(frames, steer=lambda f: f[-1]),
        rings=4,
        ring_size=256,
        budget=4,
        burst=800,
        netdev_budget=1000,
    )
    dev.wire.attach(4)
    dev.trace_polls = True
    dev.open()
    dev.wire.transmit(800, dev._dma)
    dev.net_rx_action()
    order = [ring for ring, work in dev.poll_trace if work == 4]
    # while every ring has work, each is polled once before any is polled again
    full_rounds = min(len(dev.rings[i].buffers) for i in range(4)) // 4
    for start in range(0, min(len(order), 4 * full_rounds) - 3, 4):
        assert sorted(order[start : start + 4]) == [0, 1, 2, 3]
    counts = [sum(1 for r, _ in dev.poll_trace if r == i) for i in range(4)]
    assert max(counts) - min(counts) <= 2 + max(counts) // 4
    dev.run()
    assert dev.teardown().clean


def test_netdev_budget_ends_a_round() -> None:
    dev = RxDevice(
        MemoryWire(small_frames(400)), rings=4, ring_size=128, budget=64, netdev_budget=100
    )
    dev.open()
    dev.wire.transmit(400, dev._dma)
    assert dev.net_rx_action() <= 100 + 63
    assert dev.time_squeeze == 1
    dev.run()
    assert sum(r.packets for r in dev.rings) == 400
    assert dev.teardown().clean


# ---------------------------------------------------------------------- delivery
@pytest.mark.parametrize("legacy_rx", [False, True])
@pytest.mark.parametrize("pool", POOLS)
def test_every_frame_byte_exact_in_order_per_ring(pool: str, legacy_rx: bool) -> None:
    rng = random.Random(7)
    sizes = [60, 61, 200, 256, 257, 1000, 1514, 1536, 1537, 2048, 2049, 4000, 9000]
    frames = [udp_frame(i, rng.choice(sizes), rng) for i in range(600)]
    rss = Rss(4)
    expected: dict[int, list[bytes]] = {}
    for frame in frames:
        expected.setdefault(rss.steer(frame)[0], []).append(frame)
    rec = Recorder()
    dev = RxDevice(
        MemoryWire(frames),
        rings=4,
        ring_size=64,
        budget=16,
        pool=pool,
        legacy_rx=legacy_rx,
        handler=rec,
        burst=8,
    )
    total = dev.run()["total"]
    assert total["drops"] == 0
    assert rec.got == expected
    assert total["multi_buffer"] > 0
    if legacy_rx:
        assert total["copybreaks"] == sum(len(f) <= IGB_RX_HDR_LEN for f in frames)
    report = dev.teardown()
    assert report.clean and report.line() == "teardown: 0 pages in flight"
    assert dev.pa.in_use_pages() == 0


def test_multi_buffer_frame_layout() -> None:
    kept = Keeper()
    frame = udp_frame(1, 5000)
    dev = RxDevice(MemoryWire([frame]), rings=1, ring_size=16, handler=kept)
    dev.run()
    (skb,) = kept.skbs
    assert bytes(skb) == frame
    assert skb.len - skb.data_len == IGB_MAX_FRAME_BUILD_SKB  # the first buffer is the head
    assert skb.nr_frags == -(-(5000 - IGB_MAX_FRAME_BUILD_SKB) // IGB_MAX_FRAME_BUILD_SKB)
    kept.free_all()
    assert dev.teardown().clean


def test_legacy_rx_pulls_headers_into_the_head() -> None:
    kept = Keeper()
    frame = udp_frame(2, 1200)
    dev = RxDevice(MemoryWire([frame]), rings=1, ring_size=16, handler=kept, legacy_rx=True)
    dev.run()
    (skb,) = kept.skbs
    assert skb.len - skb.data_len == 14 + 20 + 8 == eth_get_headlen(frame, IGB_RX_HDR_LEN)
    assert skb.nr_frags == 1 and bytes(skb) == frame
    kept.free_all()
    assert dev.teardown().clean


def test_drops_when_the_ring_has_no_buffers() -> None:
    frames = small_frames(300)
    dev = RxDevice(MemoryWire(frames, steer=lambda f: 0), rings=1, ring_size=32, burst=100)
    total = dev.run()["total"]
    assert total["rx_no_buffer"] > 0
    assert total["packets"] + total["drops"] == 300
    assert dev.teardown().clean


def test_oversize_frame_is_a_length_error() -> None:
    dev = RxDevice(MemoryWire([udp_frame(0, 9729), udp_frame(1, 100)]), rings=1, ring_size=8)
    total = dev.run()["total"]
    assert total["rx_length_errors"] == 1 and total["packets"] == 1
    assert dev.teardown().clean


# ---------------------------------------------------------------------- RSS
def test_toeplitz_matches_the_rss_verification_suite() -> None:
    key = socket.inet_aton("66.9.149.187") + socket.inet_aton("161.142.100.80")
    toeplitz = Toeplitz()
    assert toeplitz(key) == 0x323E8FC2
    assert toeplitz(key + struct.pack("!HH", 2794, 1766)) == 0x51CCC178


def test_rss_keeps_a_flow_on_one_ring_and_spreads_flows() -> None:
    rss = Rss(4)
    rings = {rss.steer(udp_frame(i, 100))[0] for i in range(200)}
    assert rings == {0, 1, 2, 3}
    assert rss.steer(udp_frame(5, 100))[0] == rss.steer(udp_frame(5, 1400))[0]
