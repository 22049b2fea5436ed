"""fragpool: a userspace packet I/O buffer pool for Linux, after the kernel's allocators.

Packets are read from capture files and live sockets into page-fragment buffers carved from
mmap'd compound pages, and handed out as skbs (``fragpool.skb.SkBuff``: a head, page frags,
the kernel's geometry). The entry points are named after libpcap's calls:

- ``open_offline(path_or_file, filter=None)``: read a pcap or pcapng file (gzip'd or not,
  a path or any binary file object) as skbs;
- ``open_live(ifname, mode="tpacket_v3", filter=None)``: capture from an interface
  (AF_PACKET: recv_into, recvmmsg or a TPACKET_V3 ring);
- ``open_dump(path_or_file, linktype=1, format="pcap"|"pcapng")``: write skbs, bytes or
  scapy packets to a capture file;
- ``compile_filter(expr, linktype=1)``: a tcpdump expression compiled by libpcap, runnable
  with ``fragpool.io.bpf.filter_skb``.

The errors a user meets: ``CaptureFormatError`` (a damaged file, naming file, offset, field
and value), ``FilterError`` (an expression libpcap refuses), ``LiveCaptureError``.
Memory (``fragpool.mm``), skbs (``fragpool.skb``), the example RX driver
(``fragpool.driver``) and the capture formats (``fragpool.io``) are subpackages.

The same sources run compiled (Cython) or as plain Python: ``compiled`` says which, and
``FRAGPOOL_NO_EXTENSIONS=1`` picks plain Python (see fragpool._loader).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._loader import choose as _choose

__version__ = "0.1.0"

#: True when the compiled modules are in use, False when the .py sources run interpreted.
compiled, _why = _choose()

if TYPE_CHECKING:  # type checkers see the real signatures; at run time they load lazily
    from .io.bpf import FilterError
    from .io.bpf import compile as compile_filter
    from .io.files import CaptureFormatError, OfflineReader, open_dump, open_offline
    from .io.live import LiveCapture, LiveCaptureError, open_live
    from .skb import SkBuff

#: name -> (module, attribute): loaded on first use, so `import fragpool` stays cheap.
_LAZY = {
    "open_offline": ("fragpool.io.files", "open_offline"),
    "open_live": ("fragpool.io.live", "open_live"),
    "open_dump": ("fragpool.io.files", "open_dump"),
    "compile_filter": ("fragpool.io.bpf", "compile"),
    "OfflineReader": ("fragpool.io.files", "OfflineReader"),
    "LiveCapture": ("fragpool.io.live", "LiveCapture"),
    "SkBuff": ("fragpool.skb", "SkBuff"),
    "CaptureFormatError": ("fragpool.io.files", "CaptureFormatError"),
    "FilterError": ("fragpool.io.bpf", "FilterError"),
    "LiveCaptureError": ("fragpool.io.live", "LiveCaptureError"),
}

__all__ = [
    "CaptureFormatError",
    "FilterError",
    "LiveCapture",
    "LiveCaptureError",
    "OfflineReader",
    "SkBuff",
    "__version__",
    "compile_filter",
    "compiled",
    "open_dump",
    "open_live",
    "open_offline",
]


def __getattr__(name: str) -> object:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'fragpool' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
