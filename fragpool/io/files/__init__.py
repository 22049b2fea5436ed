"""Capture files: pcap and pcapng, read into pooled skbs and written back from them.

``open_offline`` reads a file (gzip'd or not) as an RX device with multi-packet buffers;
``open_dump`` writes skbs to pcap or pcapng. Bad input raises :class:`CaptureFormatError`.
"""

from .errors import CaptureFormatError
from .linktypes import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    MAXIMUM_SNAPLEN,
)
from .reader import OfflineReader, open_offline
from .writer import LinkTypeError, PcapngWriter, PcapWriter, open_dump

__all__ = [
    "LINKTYPE_ETHERNET",
    "LINKTYPE_LINUX_SLL",
    "LINKTYPE_NULL",
    "LINKTYPE_RAW",
    "MAXIMUM_SNAPLEN",
    "CaptureFormatError",
    "LinkTypeError",
    "OfflineReader",
    "PcapWriter",
    "PcapngWriter",
    "open_dump",
    "open_offline",
]
