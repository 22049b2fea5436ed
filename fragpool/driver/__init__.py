"""The example RX driver: an igb-style multi-queue NIC model over fragpool's pools.

    from fragpool.driver import RxDevice, MemoryWire
    dev = RxDevice(MemoryWire(frames), rings=4, pool="frag")
    stats = dev.run()
    report = dev.teardown()   # report.line() == "teardown: 0 pages in flight"

See examples/driver_walkthrough.py for a tour of rings, descriptors, flip and reuse.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # type checkers see the real names; at run time they load on first use
    from .buffers import POOL_KINDS, BufferSource, NaiveSource, PagePoolSource
    from .constants import (
        DEFAULT_BUDGET,
        DEFAULT_RING_SIZE,
        DEFAULT_RINGS,
        IGB_RX_BUFFER_WRITE,
        IGB_RXBUFFER_2048,
    )
    from .device import CountingHandler, RxDevice, TeardownReport
    from .ring import RxBuffer, RxRing
    from .rss import Rss, Toeplitz, eth_get_headlen, flow_key
    from .wire import FileWire, LiveWire, MemoryWire

#: name -> the submodule that defines it (loaded on first use: `fragpool driver`'s defaults
#: come from .constants without the whole model, so the command line starts fast).
_LAZY = {
    **dict.fromkeys(("POOL_KINDS", "BufferSource", "NaiveSource", "PagePoolSource"), "buffers"),
    **dict.fromkeys(
        (
            "DEFAULT_BUDGET",
            "DEFAULT_RING_SIZE",
            "DEFAULT_RINGS",
            "IGB_RX_BUFFER_WRITE",
            "IGB_RXBUFFER_2048",
        ),
        "constants",
    ),  # fmt: skip
    **dict.fromkeys(("CountingHandler", "RxDevice", "TeardownReport"), "device"),
    **dict.fromkeys(("RxBuffer", "RxRing"), "ring"),
    **dict.fromkeys(("Rss", "Toeplitz", "eth_get_headlen", "flow_key"), "rss"),
    **dict.fromkeys(("FileWire", "LiveWire", "MemoryWire"), "wire"),
}

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_RINGS",
    "DEFAULT_RING_SIZE",
    "IGB_RXBUFFER_2048",
    "IGB_RX_BUFFER_WRITE",
    "POOL_KINDS",
    "BufferSource",
    "CountingHandler",
    "FileWire",
    "LiveWire",
    "MemoryWire",
    "NaiveSource",
    "PagePoolSource",
    "Rss",
    "RxBuffer",
    "RxDevice",
    "RxRing",
    "TeardownReport",
    "Toeplitz",
    "eth_get_headlen",
    "flow_key",
]


def __getattr__(name: str) -> object:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'fragpool.driver' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
