"""to_scapy / from_scapy for Ethernet, raw IP (LINKTYPE_RAW and scapy's own) and Linux SLL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from scapy.config import conf
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import CookedLinux, Ether
from scapy.packet import Raw

from fragpool.mm import PageAllocator, PageFragCache
from fragpool.skb import from_scapy, netdev_alloc_skb, to_scapy
from fragpool.skb.scapy_interop import LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_RAW


@pytest.fixture
def pa() -> PageAllocator:
    return PageAllocator()


def test_ethernet_round_trip_keeps_bytes_time_and_wirelen(pa):
    pkt = Ether(dst="02:00:00:00:00:01") / IP(dst="192.0.2.1") / UDP(dport=53) / Raw(b"q" * 40)
    pkt.time = Decimal("1700000000.123456789")
    skb = from_scapy(pkt, allocator=pa)
    assert skb.linktype == LINKTYPE_ETHERNET and bytes(skb) == bytes(pkt)
    assert skb.tstamp == 1_700_000_000_123_456_789 and skb.wire_len == len(pkt)
    back = to_scapy(skb)
    assert isinstance(back, Ether) and back[UDP].dport == 53 and bytes(back) == bytes(pkt)
    assert back.time == Decimal("1700000000.123456789") and back.wirelen == len(pkt)
    skb.free()


def test_linktype_raw_101_dissects_ipv4_and_ipv6(pa):
    # scapy maps LINKTYPE_RAW to IPv46, which picks IP or IPv6 from the version nibble
    assert conf.l2types.num2layer[LINKTYPE_RAW].__name__ == "IPv46"
    for pkt, layer in ((IP(dst="192.0.2.7") / UDP(), IP), (IPv6(dst="2001:db8::7") / UDP(), IPv6)):
        skb = from_scapy(pkt, allocator=pa, linktype=LINKTYPE_RAW, tstamp=5)
        assert skb.linktype == LINKTYPE_RAW and skb.tstamp == 5
        back = skb.to_scapy()
        assert isinstance(back, layer) and bytes(back) == bytes(pkt)
        skb.free()


def test_ip_packets_get_the_link_type_scapy_maps_them_to(pa):
    for pkt in (IP() / UDP(), IPv6() / UDP()):
        skb = from_scapy(pkt, allocator=pa)
        assert skb.linktype == conf.l2types.layer2num[type(pkt)]  # 228 / 229
        assert type(to_scapy(skb)) is type(pkt)
        skb.free()


def test_linux_cooked_capture_113(pa):
    pkt = CookedLinux(pkttype=0, proto=0x0800) / IP(dst="198.51.100.3") / UDP(sport=9)
    skb = from_scapy(pkt, allocator=pa)
    assert skb.linktype == LINKTYPE_LINUX_SLL
    back = to_scapy(skb)
    assert isinstance(back, CookedLinux) and back[IP].dst == "198.51.100.3"
    skb.free()


def test_unknown_linktype_gives_raw_and_frags_are_included(pa):
    fc = PageFragCache(pa)
    skb = netdev_alloc_skb(64, allocator=pa)
    skb.put(3)[:] = b"abc"
    addr = fc.alloc(3)
    pa.view(addr, 3)[:] = b"def"
    skb.add_rx_frag(addr, 3, 3)
    skb.linktype = 65000
    back = to_scapy(skb)
    assert isinstance(back, Raw) and bytes(back) == b"abcdef" and back.wirelen == 6
    skb.free()
    fc.drain()
    assert pa.in_use_pages() == 0
