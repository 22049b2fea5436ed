"""A capture made with scapy that exercises what filters and tcpdump's lines look at:
Ethernet, 802.1Q, IPv4 and IPv6, TCP (flags, options, payload), UDP, ICMP, ICMPv6, ARP,
IPv4 fragments, IPv6 extension headers, broadcast and multicast, short and odd frames."""

from __future__ import annotations

from pathlib import Path

#: Filter expressions the differential tests run: each keeps some corpus packets, drops some.
FILTERS = (
    "udp",
    "tcp",
    "icmp",
    "icmp6",
    "arp",
    "ip6",
    "vlan",
    "vlan 100 and udp",
    "tcp[tcpflags] & tcp-syn != 0",
    "ip[6:2] & 0x1fff != 0",
    "ip6 and ip6[6] == 0",
    "greater 200",
    "less 64",
    "ether broadcast or ether multicast",
    "vlan and net 10.1.0.0/16",
    "src net 10.0.0.0/30 and dst host 10.0.0.2",
    "portrange 1000-2000 or port 6666",
    "ip and not tcp and not udp",
)


def corpus_packets() -> list:
    """The packets, in order, with distinct timestamps."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment
    from scapy.layers.inet6 import (
        ICMPv6EchoReply,
        ICMPv6EchoRequest,
        ICMPv6ND_NA,
        ICMPv6ND_NS,
        IPv6,
        IPv6ExtHdrDestOpt,
        IPv6ExtHdrFragment,
        IPv6ExtHdrHopByHop,
        IPv6ExtHdrRouting,
    )
    from scapy.layers.l2 import ARP, Dot1Q, Ether
    from scapy.packet import Raw

    a, b = "02:00:00:00:00:01", "02:00:00:00:00:02"
    eth = Ether(src=a, dst=b)
    pkts = [
        eth / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5001, dport=6001) / Raw(b"x" * 29),
        eth
        / IP(src="10.0.0.2", dst="10.0.0.1")
        / TCP(sport=7777, dport=40000, flags="SA", seq=1000, ack=2000, window=512),
        eth
        / IP(src="10.0.0.1", dst="10.0.0.2")
        / TCP(sport=40000, dport=7777, flags="PA", seq=2000, ack=1001)
        / Raw(b"GET / HTTP/1.0\r\n\r\n"),
        eth
        / IP(src="10.0.0.1", dst="10.0.0.2")
        / TCP(sport=40000, dport=7777, flags="F", seq=2018, ack=1001),
        eth
        / IP(src="10.0.0.1", dst="10.0.0.2")
        / TCP(sport=40001, dport=443, flags="S", options=[("MSS", 1460), ("WScale", 7)]),
        eth / IP(src="10.0.0.2", dst="10.0.0.1") / TCP(sport=443, dport=40001, flags="R"),
        eth / IP(src="10.0.0.1", dst="10.0.0.9") / ICMP(type=8, id=7, seq=1) / Raw(b"p" * 56),
        eth / IP(src="10.0.0.9", dst="10.0.0.1") / ICMP(type=0, id=7, seq=1) / Raw(b"p" * 56),
        eth
        / IP(src="10.0.0.9", dst="10.0.0.1")
        / ICMP(type=3, code=3)
        / IP(src="10.0.0.1", dst="10.0.0.9")
        / UDP(sport=1, dport=2),
        Ether(src=a, dst="ff:ff:ff:ff:ff:ff")
        / ARP(op=1, hwsrc=a, psrc="10.0.0.1", pdst="10.0.0.2"),
        Ether(src=b, dst=a) / ARP(op=2, hwsrc=b, psrc="10.0.0.2", hwdst=a, pdst="10.0.0.1"),
        Ether(src=a, dst=b)
        / Dot1Q(vlan=100)
        / IP(src="10.1.0.1", dst="10.1.0.2")
        / UDP(sport=1000, dport=2000)
        / Raw(b"v" * 10),
        Ether(src=a, dst=b)
        / Dot1Q(vlan=200, prio=5)
        / IP(src="10.1.0.1", dst="10.1.0.2")
        / TCP(sport=1500, dport=22, flags="S"),
        Ether(src=a, dst=b)
        / Dot1Q(vlan=300)
        / IPv6(src="fd00::1", dst="fd00::2")
        / UDP(sport=1234, dport=5678)
        / Raw(b"6" * 20),
        eth / IPv6(src="fd00::1", dst="fd00::2") / TCP(sport=1234, dport=80, flags="S"),
        eth / IPv6(src="fd00::2", dst="fd00::1") / UDP(sport=6053, dport=1234) / Raw(b"d" * 40),
        eth / IPv6(src="fd00::1", dst="fd00::2") / ICMPv6EchoRequest(id=1, seq=2, data=b"e" * 8),
        Ether(src=a, dst="33:33:ff:00:00:02")
        / IPv6(src="fd00::1", dst="ff02::1:ff00:2")
        / ICMPv6ND_NS(tgt="fd00::2"),
        eth
        / IPv6(src="fd00::1", dst="fd00::2")
        / IPv6ExtHdrHopByHop()
        / UDP(sport=7, dport=9)
        / Raw(b"h" * 12),
        eth
        / IPv6(src="fd00::1", dst="fd00::2")
        / IPv6ExtHdrDestOpt()
        / TCP(sport=7, dport=9, flags="A"),
        eth
        / IPv6(src="fd00::1", dst="fd00::2")
        / IPv6ExtHdrRouting()
        / IPv6ExtHdrDestOpt()
        / UDP(sport=11, dport=12),
        eth
        / IPv6(src="fd00::1", dst="fd00::2")
        / IPv6ExtHdrFragment(id=5, m=1)
        / UDP(sport=13, dport=14)
        / Raw(b"f" * 16),
        eth
        / IPv6(src="fd00::1", dst="fd00::2")
        / IPv6ExtHdrFragment(id=5, offset=3, nh=17)
        / Raw(b"g" * 16),
        eth / IPv6(src="fd00::2", dst="fd00::1") / ICMPv6ND_NA(tgt="fd00::2", R=0, S=1, O=1),
        eth / IPv6(src="fd00::2", dst="fd00::1") / ICMPv6EchoReply(id=1, seq=2, data=b"e" * 8),
        eth
        / IP(src="10.0.0.1", dst="10.0.0.2")
        / TCP(
            sport=5555,
            dport=6666,
            flags="A",
            seq=7,
            ack=9,
            options=[("NOP", None), ("NOP", None), ("Timestamp", (100, 200))],
        )
        / Raw(b"z" * 100),
        eth
        / IP(src="10.0.0.2", dst="10.0.0.1")
        / TCP(
            sport=6666,
            dport=5555,
            flags="A",
            seq=9,
            ack=107,
            options=[("SAckOK", b""), ("SAck", (5, 10))],
        ),
        eth
        / IP(src="10.0.0.1", dst="10.0.0.2")
        / TCP(sport=5555, dport=6666, flags="FPAUEC", urgptr=3),
        eth / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=5555, dport=6666, flags=0),
        eth
        / IP(src="10.0.0.1", dst="10.0.0.9", ttl=1)
        / ICMP(type=11, code=0)
        / IP(src="10.0.0.1", dst="10.0.0.9")
        / UDP(sport=1, dport=2),
        eth
        / IP(src="10.0.0.1", dst="10.0.0.9")
        / ICMP(type=3, code=1)
        / IP(src="10.0.0.1", dst="10.0.0.9")
        / UDP(sport=1, dport=2),
        Ether(src=a, dst=b) / Dot1Q(vlan=7) / ARP(op=1, psrc="10.7.0.1", pdst="10.7.0.2"),
        (Ether(src=a, dst=b) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2))
        / Raw(b"\x00" * 0),
        Ether(src=a, dst="01:00:5e:00:00:fb")
        / IP(src="10.0.0.1", dst="224.0.0.251")
        / UDP(sport=6353, dport=6353)
        / Raw(b"m" * 30),
        Ether(src=a, dst="ff:ff:ff:ff:ff:ff")
        / IP(src="10.0.0.1", dst="255.255.255.255")
        / UDP(sport=6068, dport=6067)
        / Raw(b"b" * 300),
        Ether(src=a, dst=b, type=0x88B5) / Raw(b"\x01\x02\x03\x04" * 12),
        eth / IP(src="10.0.0.1", dst="10.0.0.2", proto=253) / Raw(b"\x00" * 24),
    ]
    big = IP(src="10.0.0.1", dst="10.0.0.2", id=77) / UDP(sport=3000, dport=4000) / Raw(b"F" * 1800)
    pkts += [eth / f for f in fragment(big, fragsize=800)]
    tcpbig = (
        IP(src="10.0.0.1", dst="10.0.0.2", id=78) / TCP(sport=3001, dport=4001) / Raw(b"T" * 1000)
    )
    pkts += [eth / f for f in fragment(tcpbig, fragsize=512)]
    for i, p in enumerate(pkts):
        p.time = 1_700_000_000 + i + (i * 1237) % 1_000_000 / 1e6
    return pkts


def write_corpus(path: Path) -> Path:
    """The corpus as a classic pcap (microseconds, Ethernet) at ``path``."""
    from scapy.utils import wrpcap

    wrpcap(str(path), corpus_packets())
    return path
