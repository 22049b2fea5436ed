"""Helpers for the capture-file tests: where the shared captures are, tshark as the oracle,
scapy-made packets, and a small pcapng builder for interfaces of any link type, time
resolution and byte order."""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CAPTURES = REPO.parent / "shared" / "captures"
CONFORMANCE = CAPTURES / "pcapng-test-generator"


def need_tool(name: str) -> str:
    """The path of ``name``; fails (does not skip) with the fix when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make tools` (as root) to install it")
    return path


def tshark_packets(path: Path | str) -> list[dict]:
    """What tshark reports for every record: interface, time (ns), lengths and bytes.

    Records without an interface (custom blocks shown as records) come with ``iface`` None.
    """
    tshark = need_tool("tshark")
    fields = subprocess.run(
        [tshark, "-r", str(path), "-T", "fields", "-E", "occurrence=f"]
        + sum(
            (
                ["-e", f]
                for f in ("frame.interface_id", "frame.time_epoch", "frame.len", "frame.cap_len")
            ),
            [],
        ),  # fmt: skip
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    dumps = _hexdumps(
        subprocess.run(
            [tshark, "-r", str(path), "-x"], capture_output=True, text=True, check=True
        ).stdout
    )
    out = []
    for line, data in zip(fields, dumps, strict=True):
        iface, epoch, wire, cap = (line.split("\t") + ["", "", "", ""])[:4]
        out.append(
            {
                "iface": int(iface) if iface else None,
                "tstamp": int(Decimal(epoch) * 1_000_000_000) if epoch else None,
                "wire_len": int(wire),
                "caplen": int(cap),
                "data": data,
            }
        )
    return out


def _hexdumps(text: str) -> list[bytes]:
    """Packets' bytes from tshark -x output (the frame's own bytes, not derived sources)."""
    packets: list[bytes] = []
    for chunk in text.split("\n\n"):
        lines = [ln for ln in chunk.splitlines() if ln.strip()]
        if not lines:
            continue
        data = bytearray()
        for ln in lines:
            head, _, rest = ln.partition("  ")
            if not all(c in "0123456789abcdef" for c in head) or not head:
                if data:
                    break  # a second data source (reassembled, decompressed): stop
                continue
            data += bytes.fromhex(rest[:47])
        packets.append(bytes(data))
    return packets


def scapy_frames(n: int, seed: int, lo: int = 14, hi: int = 9018) -> list[bytes]:
    """``n`` Ethernet frames made with scapy, of sizes spread over lo..hi (both included)."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    rng = random.Random(seed)
    frames = [bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", type=0x88B5))]
    sizes = [lo, hi, 42, 43, 1514] + [rng.randint(lo, hi) for _ in range(n)]
    for size in sizes[: n - 1]:
        if size < 42:
            frames.append(bytes(Ether(dst="02:00:00:00:00:02", type=0x88B5) / bytes(size - 14)))
            continue
        pkt = (
            Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
            / IP(src="10.0.0.1", dst="10.0.0.2")
            / UDP(sport=1024, dport=9)
        )
        pkt = pkt / rng.randbytes(size - 42)
        frames.append(bytes(pkt))
    return frames


def option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def block(order: str, btype: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack(order + "II", btype, total) + body + struct.pack(order + "I", total)


def pcapng_file(sections: list[dict]) -> bytes:
    """A pcapng image: each section is {"order", "ifaces": [(linktype, tsresol, tsoffset)],
    "packets": [(iface, ts_units, wire_len, data)]}."""
    out = bytearray()
    for sec in sections:
        o = sec["order"]
        out += block(o, 0x0A0D0D0A, struct.pack(o + "IHHq", 0x1A2B3C4D, 1, 0, -1))
        for linktype, tsresol, tsoffset in sec["ifaces"]:
            opts = option(o, 9, bytes([tsresol]))
            if tsoffset:
                opts += option(o, 14, struct.pack(o + "q", tsoffset))
            out += block(o, 1, struct.pack(o + "HHI", linktype, 0, 0) + opts + option(o, 0, b""))
        for iface, ts, wire, data in sec["packets"]:
            body = struct.pack(o + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), wire)
            out += block(o, 6, body + data + b"\0" * (-len(data) % 4))
    return bytes(out)


def units_to_ns(ts: int, tsresol: int, tsoffset: int = 0) -> int:
    """The reference conversion of if_tsresol units to ns (rounding down)."""
    exp = tsresol & 0x7F
    per_sec = 2**exp if tsresol & 0x80 else 10**exp
    return ts * 1_000_000_000 // per_sec + tsoffset * 1_000_000_000


def read_all(path: Path | str, **kw) -> list[dict]:
    """Every packet fragpool reads from ``path``, as plain dicts (skbs freed as read)."""
    from fragpool.io.files.reader import open_offline

    out = []
    with open_offline(path, **kw) as reader:
        for skb in reader:
            out.append(
                {
                    "iface": skb.ifindex,
                    "linktype": skb.linktype,
                    "tstamp": skb.tstamp,
                    "wire_len": skb.wire_len,
                    "caplen": skb.len,
                    "data": bytes(skb),
                }
            )
            skb.free()
    return out


def slow_writer(records: int, gap: float) -> list[str]:
    """A command that writes a pcap to its stdout one 60-byte record at a time, ``gap``
    seconds apart (a slow pipe: tcpdump -w - on a quiet link)."""
    script = (
        "import struct, sys, time\n"
        "out = sys.stdout.buffer\n"
        "out.write(struct.pack('<IHHiIII', 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))\n"
        f"for i in range({records}):\n"
        "    out.write(struct.pack('<IIII', 1, i, 60, 60) + bytes([i]) * 60)\n"
        "    out.flush()\n"
        f"    time.sleep({gap})\n"
    )
    return [sys.executable, "-c", script]
