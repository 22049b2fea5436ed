"""Packet sources and sinks: capture files and the AF_PACKET socket.

Names are imported lazily so `import fragpool.io` stays cheap; each module loads on first use.
"""

from __future__ import annotations

import importlib

_LAZY = {
    # AF_PACKET live capture (afpacket, recvmmsg, tpacket, bpf)
    "PacketSocket": "fragpool.io.afpacket",
    "PacketMeta": "fragpool.io.afpacket",
    "LiveCaptureError": "fragpool.io.live_errors",
    "FilterError": "fragpool.io.live_errors",
    "MmsgReceiver": "fragpool.io.recvmmsg",
    "TPacketV3Ring": "fragpool.io.tpacket",
    "RingPacket": "fragpool.io.tpacket",
    "compile_filter": "fragpool.io.bpf",
    "open_live": "fragpool.io.live",
    "LiveCapture": "fragpool.io.live",
    "LiveReport": "fragpool.io.live",
    # capture files (pcap, pcapng)
    "open_offline": "fragpool.io.offline",
    "OfflineReader": "fragpool.io.offline",
    "CaptureFormatError": "fragpool.io.errors",
}


def __getattr__(name: str) -> object:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'fragpool.io' has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
