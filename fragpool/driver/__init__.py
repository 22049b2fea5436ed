"""The example RX driver: an igb-style multi-queue NIC model over fragpool's pools.

    from fragpool.driver import RxDevice, MemoryWire
    dev = RxDevice(MemoryWire(frames), rings=4, pool="frag")
    stats = dev.run()
    report = dev.teardown()   # report.line() == "teardown: 0 pages in flight"

See examples/driver_walkthrough.py for a tour of rings, descriptors, flip and reuse.
"""

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
