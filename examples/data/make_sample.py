"""Make fragpool/data/sample.pcap: the capture `fragpool driver` runs on when given no source.

2500 Ethernet frames from a fixed seed: 48 TCP and UDP flows over IPv4 and IPv6 (so RSS
spreads them over the rings), a few ARP frames (not IP: they all land on one ring), sizes
from 60-byte ACKs to 6000-byte jumbo frames (about one in thirty is larger than the
2048-byte half-page buffer, so multi-buffer receive happens). Timestamps advance 20 us per
frame from a fixed start. Packets are built with scapy; the pcap file (microsecond
timestamps, LINKTYPE_ETHERNET) is written here with struct so the bytes do not depend on the
scapy version:

    python examples/data/make_sample.py            # writes fragpool/data/sample.pcap
    python examples/data/make_sample.py -o FILE -n 2500 --seed 5
"""

from __future__ import annotations

import argparse
import random
import struct
from pathlib import Path

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether

SEED = 5
COUNT = 2500
START_NS = 1_700_000_000_000_000_000
STEP_NS = 20_000


def _flows(rng: random.Random) -> list[tuple]:
    flows = []
    for i in range(48):
        proto = "tcp" if i % 3 else "udp"
        if i % 8 == 7:
            src, dst, ipv = f"2001:db8::{i + 1:x}", f"2001:db8:1::{rng.randrange(1, 200):x}", 6
        else:
            src, dst, ipv = f"10.0.{i // 16}.{i + 1}", f"192.168.1.{rng.randrange(1, 250)}", 4
        flows.append((proto, ipv, src, dst, rng.randrange(1024, 65535), rng.choice([80, 443, 53])))
    return flows


def _size(rng: random.Random) -> int:
    """Frame size (without FCS): mostly small, some full-MTU, a few jumbo."""
    r = rng.random()
    if r < 0.72:
        return rng.randrange(60, 128)
    if r < 0.92:
        return rng.randrange(128, 600)
    if r < 0.97:
        return 1514
    return rng.randrange(2100, 6001)


def frames(count: int = COUNT, seed: int = SEED) -> list[bytes]:
    """The sample's frames, in order."""
    rng = random.Random(seed)
    flows = _flows(rng)
    out = []
    for n in range(count):
        if n % 97 == 0:
            pkt = Ether(src="02:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff") / ARP(
                psrc="10.0.0.1", pdst=f"10.0.0.{rng.randrange(2, 250)}"
            )
            out.append(bytes(pkt).ljust(60, b"\0"))
            continue
        proto, ipv, src, dst, sport, dport = flows[rng.randrange(len(flows))]
        l3 = IP(src=src, dst=dst) if ipv == 4 else IPv6(src=src, dst=dst)
        if proto == "tcp":
            l4 = TCP(sport=sport, dport=dport, flags="A")
        else:
            l4 = UDP(sport=sport, dport=dport)
        head = bytes(Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:03") / l3 / l4)
        size = max(_size(rng), len(head))
        payload = rng.randbytes(size - len(head))
        pkt = Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:03") / l3 / l4 / payload
        out.append(bytes(pkt))
    return out


def write_pcap(path: Path, frames_: list[bytes]) -> None:
    """A classic pcap file: magic a1b2c3d4 (microseconds), version 2.4, snaplen 65535."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames_):
            ts = START_NS + i * STEP_NS
            sec, usec = divmod(ts // 1000, 1_000_000)
            f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
            f.write(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / "fragpool" / "data" / "sample.pcap"
    parser.add_argument("-o", "--output", type=Path, default=default)
    parser.add_argument("-n", "--count", type=int, default=COUNT)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    data = frames(args.count, args.seed)
    write_pcap(args.output, data)
    big = sum(len(f) > 2048 for f in data)
    print(f"{args.output}: {len(data)} frames, {big} longer than 2048 bytes")


if __name__ == "__main__":
    main()
