"""fragpool against tshark and tcpdump on captures made from scapy packets: pcap micro and
nano in both byte orders, pcapng with several interfaces of different link types, time
resolutions and byte orders; and files fragpool writes, read back by tcpdump and tshark."""

from __future__ import annotations

import re
import subprocess

import pytest
from captures_util import need_tool, pcapng_file, read_all, scapy_frames, tshark_packets
from scapy.utils import RawPcapWriter

from fragpool.io.files.reader import open_offline
from fragpool.io.files.writer import PcapngWriter, PcapWriter

N = 2000
BASE_NS = 1_700_000_000_123_456_789


@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    return scapy_frames(N, seed=4)


def check_against_tshark(path, mine: list[dict]) -> None:
    ref = tshark_packets(path)
    assert len(mine) == len(ref) == N
    for i, (a, b) in enumerate(zip(mine, ref, strict=True)):
        assert (a["tstamp"], a["wire_len"], a["caplen"]) == (
            b["tstamp"],
            b["wire_len"],
            b["caplen"],
        ), f"packet {i + 1}"
        assert a["data"] == b["data"], f"packet {i + 1}"


@pytest.mark.parametrize("nano", [False, True], ids=["usec", "nsec"])
@pytest.mark.parametrize("endianness", ["<", ">"], ids=["le", "be"])
def test_pcap_matches_tshark(tmp_path, frames, nano, endianness):
    path = tmp_path / "s.pcap"
    writer = RawPcapWriter(str(path), linktype=1, endianness=endianness, nano=nano)
    writer.write_header(None)
    step = 1 if nano else 1000
    for i, data in enumerate(frames):
        ns = BASE_NS + i * 7_777_777
        ns -= ns % step
        sec, frac = divmod(ns, 1_000_000_000)
        writer.write_packet(data, sec=sec, usec=frac // step, wirelen=len(data) + i % 3)
    writer.close()
    mine = read_all(path)
    check_against_tshark(path, mine)
    assert {m["linktype"] for m in mine} == {1}


@pytest.mark.parametrize("second_order", ["<", ">"])
def test_pcapng_interfaces_match_tshark(tmp_path, frames, second_order):
    # (linktype, if_tsresol, if_tsoffset): Ethernet at us, raw IP at ns, SLL at 2^-20 s
    ifaces = [(1, 6, 0), (101, 9, 0), (113, 0x94, 3), (1, 3, 0)]
    sections = []
    for sec_no, order in enumerate(["<", second_order]):
        packets = []
        for i, data in enumerate(frames[sec_no::2]):
            iface = i % len(ifaces)
            linktype, tsresol, _ = ifaces[iface]
            payload = data[14:] if linktype == 101 and len(data) > 34 else data
            per_sec = 2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10**tsresol
            ts = (1_700_000_000 + i) * per_sec + i * 13 % per_sec
            packets.append((iface, ts, len(payload) + i % 5, payload))
        sections.append({"order": order, "ifaces": ifaces, "packets": packets})
    path = tmp_path / "s.pcapng"
    path.write_bytes(pcapng_file(sections))
    mine = read_all(path)
    check_against_tshark(path, mine)
    assert [m["iface"] for m in mine[:4]] == [0, 1, 2, 3]
    assert [m["linktype"] for m in mine[:4]] == [1, 101, 113, 1]


def tcpdump_times(path) -> list[int]:
    """The timestamps (ns) tcpdump prints for every packet of ``path``."""
    tcpdump = need_tool("tcpdump")
    out = subprocess.run(
        [tcpdump, "-nr", str(path), "-tt", "-q", "--time-stamp-precision=nano"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    times = re.findall(r"^(\d+)\.(\d{9}) ", out, re.M)
    return [int(sec) * 1_000_000_000 + int(ns) for sec, ns in times]


@pytest.mark.parametrize("kind", ["pcap-usec", "pcap-nsec", "pcapng"])
def test_written_files_read_back_in_tcpdump_and_tshark(tmp_path, frames, kind):
    src = tmp_path / "src.pcap"
    writer = RawPcapWriter(str(src), linktype=1, nano=True)
    writer.write_header(None)
    for i, data in enumerate(frames):
        sec, ns = divmod(BASE_NS + i * 1_234_567, 1_000_000_000)
        writer.write_packet(data, sec=sec, usec=ns, wirelen=len(data))
    writer.close()
    out = tmp_path / ("out.pcapng" if kind == "pcapng" else "out.pcap")
    nano = kind == "pcap-nsec"
    w = PcapngWriter(out) if kind == "pcapng" else PcapWriter(out, nanosecond=nano)
    with open_offline(src) as reader, w:
        for skb in reader:
            w.write(skb)
            skb.free()
    original = read_all(src)
    if kind == "pcap-usec":  # microsecond files keep the time down to the microsecond
        for p in original:
            p["tstamp"] -= p["tstamp"] % 1000
    assert read_all(out) == original
    check_against_tshark(out, read_all(out))
    assert tcpdump_times(out) == [p["tstamp"] for p in original]
    from scapy.utils import rdpcap

    assert [bytes(p) for p in rdpcap(str(out))] == [p["data"] for p in original]


def test_pcap_round_trip_is_byte_identical(tmp_path, frames):
    for endianness in "<>":
        src = tmp_path / f"rt{endianness == '>'}.pcap"
        writer = RawPcapWriter(str(src), linktype=1, endianness=endianness)
        writer.write_header(None)
        for i, data in enumerate(frames[:500]):
            writer.write_packet(data, sec=1_700_000_000 + i, usec=i, wirelen=len(data))
        writer.close()
        out = tmp_path / "copy.pcap"
        with open_offline(src) as reader, PcapWriter.like(reader, out) as w:
            for skb in reader:
                w.write(skb)
                skb.free()
        assert out.read_bytes() == src.read_bytes()
