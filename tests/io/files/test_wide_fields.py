"""Values at the edges of what the formats can hold come through exactly, compiled or not.

The compiled SkBuff keeps C integers for lengths and indices, so these pin that each field
is wide enough: a pcapng timestamp past int64 nanoseconds (tstamp stays an exact int), u32
lengths, interface ids and timestamps at their maximum, and the tstamp of the largest pcap
second.
"""

from __future__ import annotations

import struct
from pathlib import Path

from captures_util import pcapng_file, read_all, units_to_ns

U32 = 0xFFFFFFFF
U64 = (1 << 64) - 1


def test_pcapng_timestamp_past_int64_nanoseconds(tmp_path: Path) -> None:
    # if_tsresol 0: whole seconds; 2**64 - 1 seconds is 1.8e28 ns, far past int64
    pkts = [(0, U64, 60, b"\xaa" * 60), (0, 1 << 40, 60, b"\xbb" * 60), (0, 0, 60, b"\xcc" * 60)]
    path = tmp_path / "wide.pcapng"
    path.write_bytes(pcapng_file([{"order": "<", "ifaces": [(1, 0, 0)], "packets": pkts}]))
    got = read_all(path)
    assert [p["tstamp"] for p in got] == [units_to_ns(ts, 0) for _, ts, _, _ in pkts]
    assert got[0]["tstamp"] == U64 * 1_000_000_000
    assert type(got[0]["tstamp"]) is int


def test_pcapng_u32_fields_at_their_maximum(tmp_path: Path) -> None:
    # original length u32 max; nanosecond resolution, timestamp u64 max with an offset
    pkts = [(1, U64, U32, b"\x01" * 64)]
    sections = [{"order": ">", "ifaces": [(1, 9, 0), (101, 9, -(1 << 40))], "packets": pkts}]
    path = tmp_path / "u32.pcapng"
    path.write_bytes(pcapng_file(sections))
    (pkt,) = read_all(path)
    assert pkt["wire_len"] == U32
    assert pkt["iface"] == 1 and pkt["linktype"] == 101
    assert pkt["tstamp"] == units_to_ns(U64, 9, -(1 << 40))


def test_pcap_largest_second_and_fraction(tmp_path: Path) -> None:
    header = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1)  # nanosecond pcap
    record = struct.pack("<IIII", U32, 999_999_999, 20, U32) + b"\x02" * 20
    path = tmp_path / "edge.pcap"
    path.write_bytes(header + record)
    (pkt,) = read_all(path)
    assert pkt["tstamp"] == U32 * 1_000_000_000 + 999_999_999
    assert pkt["wire_len"] == U32 and pkt["caplen"] == 20
