"""Packet sources and sinks, in two packages: ``files`` (pcap, pcapng) and ``live`` (AF_PACKET).

The names of both are re-exported here lazily, so `import fragpool.io` stays cheap: a
subpackage loads when one of its names is first used.
"""

from __future__ import annotations

import importlib

_LAZY = {
    # live capture (fragpool.io.live)
    "PacketSocket": "fragpool.io.live",
    "PacketMeta": "fragpool.io.live",
    "LiveCaptureError": "fragpool.io.live",
    "FilterError": "fragpool.io.live",
    "MmsgReceiver": "fragpool.io.live",
    "TPacketV3Ring": "fragpool.io.live",
    "RingPacket": "fragpool.io.live",
    "compile_filter": "fragpool.io.live",
    "open_live": "fragpool.io.live",
    "LiveCapture": "fragpool.io.live",
    "LiveReport": "fragpool.io.live",
    # capture files (fragpool.io.files)
    "open_dump": "fragpool.io.files",
    "PcapWriter": "fragpool.io.files",
    "PcapngWriter": "fragpool.io.files",
    "open_offline": "fragpool.io.files",
    "OfflineReader": "fragpool.io.files",
    "CaptureFormatError": "fragpool.io.files",
}


def __getattr__(name: str) -> object:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'fragpool.io' has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
