"""Writers of capture files from skbs: classic pcap (micro or nano) and pcapng.

:class:`PcapWriter` writes a pcap file; ``PcapWriter.like(reader, path)`` copies the
header of a pcap file being read (magic, byte order, version, snaplen, link-type field) so
a file read and written back is byte-identical. :class:`PcapngWriter` writes one section
in little-endian order with an IDB (nanosecond if_tsresol) for each (interface id, link
type) pair it meets, and an EPB per packet. Both write ``bytes(skb)`` with the skb's
``tstamp``, ``wire_len``, ``ifindex`` and ``linktype``; ``open_dump`` (libpcap's
pcap_dump_open) picks one by name.
"""

from __future__ import annotations

import abc
import contextlib
import os
import struct
import time
from typing import TYPE_CHECKING, Any, BinaryIO

from .linktypes import LINKTYPE_ETHERNET, MAXIMUM_SNAPLEN
from .linktypes import name as linktype_name
from .pcap import MAGIC_MODIFIED, MAGIC_NSEC, MAGIC_USEC
from .pcap_records import put_records

if TYPE_CHECKING:
    from decimal import Decimal

NS = 1_000_000_000


def _as_ns(tstamp: object) -> int | None:
    """A write()'s timestamp as ns since the epoch: an int is ns already, a float or Decimal
    seconds (exact to the digits it prints: 1.5 is 1,500,000,000 ns)."""
    if tstamp is None or (isinstance(tstamp, int) and not isinstance(tstamp, bool)):
        return tstamp
    from decimal import Decimal  # a float or Decimal time: rare (start-up time)

    if isinstance(tstamp, (float, Decimal)):
        if not Decimal(tstamp).is_finite() or tstamp < 0:
            raise ValueError(f"timestamp {tstamp!r}: seconds since the epoch, finite, >= 0")
        return int(Decimal(str(tstamp)) * NS)
    raise TypeError(
        f"timestamp {tstamp!r}: ns since the epoch (int) or seconds (float), "
        f"not {type(tstamp).__name__}"
    )


#: A writer that opened its file gathers whole records up to this many bytes per write(2).
BUFFER = 64 * 1024


class _Meta:
    """The metadata of a packet that is not an skb: its link type."""

    __slots__ = ("linktype",)

    def __init__(self, linktype: int) -> None:
        self.linktype = linktype


class LinkTypeError(ValueError):
    """A packet of one link type written to a classic pcap file of another."""

    def __init__(self, path: str, number: int, linktype: int, file_linktype: int) -> None:
        self.path, self.number = path, number
        self.linktype, self.file_linktype = linktype, file_linktype
        theirs = f"{linktype_name(linktype)} ({linktype})"
        ours = f"{linktype_name(file_linktype)} ({file_linktype})"
        super().__init__(
            f"{path}: packet {number} has link type {theirs}, but a classic pcap file holds "
            f"one link type and this one's is {ours}; write pcapng (a name ending in .pcapng) "
            "to keep each packet's own"
        )


class _Writer(abc.ABC):
    """What both writers share: the file, write(skb), close, the context manager.

    ``path`` is a file name, or a binary file object (``sys.stdout.buffer`` for a pipe) that
    the writer writes to and flushes but does not close. ``size`` counts the bytes written.
    """

    linktype: int

    def __init__(self, path: str | os.PathLike[str] | BinaryIO) -> None:
        if isinstance(path, (str, bytes, os.PathLike)):
            self.path = os.fsdecode(path)
            # unbuffered: this writer buffers whole records itself (see _flush_pending)
            self._f: BinaryIO = open(self.path, "wb", buffering=0)  # noqa: SIM115 - close()
            self._owns = True
        elif callable(getattr(path, "write", None)):
            name = getattr(path, "name", None)
            self.path = name if isinstance(name, str) else f"<{type(path).__name__}>"
            self._f = path
            self._owns = False
        else:
            raise TypeError(f"a writer takes a path or a binary file object, not {path!r}")
        self.packets = 0
        self.size = 0
        #: records written whole to the file (a file the writer opened: on its disk)
        self.packets_written = 0
        #: whole records not written yet (a failed write finds their ends in them)
        self._pending = bytearray()
        self._on_disk = 0  # bytes of the file known written
        #: a failed write left the file cut back to its last whole record (regular files)
        self.cut_back = False

    def _put(self, data: bytes) -> None:
        if self._owns:
            self._pending += data
        else:
            self._f.write(data)
        self.size += len(data)

    def _record_done(self) -> None:
        """A record (or header, or block) is complete: past BUFFER bytes the pending ones go
        to the file, each whole."""
        if not self._owns:
            self.packets_written = self.packets
        elif len(self._pending) >= BUFFER:
            self._flush_pending()

    @abc.abstractmethod
    def _whole_records(self, pending: bytearray, done: int) -> tuple[int, int]:
        """(bytes, packets) of the records at the start of ``pending`` that its first
        ``done`` bytes hold whole (the file's header, if pending starts with it, is not a
        packet)."""

    def _flush_pending(self) -> None:
        """Write the pending records. A write that fails part-way (a full disk) leaves the
        file cut back to the last record that reached it whole, and raises."""
        pending = self._pending
        done = 0
        try:
            with memoryview(pending) as view:
                while done < len(view):
                    done += self._f.write(view[done:]) or 0
        except OSError:
            whole, packets = self._whole_records(pending, done)
            self._on_disk += whole
            self.packets_written += packets
            self._pending = bytearray()
            with contextlib.suppress(OSError):  # a device or pipe cannot be cut back
                os.ftruncate(self._f.fileno(), self._on_disk)
                self.cut_back = True
            raise
        self._on_disk += done
        self.packets_written = self.packets
        self._pending = bytearray()

    def write(self, packet: Any, tstamp: int | float | Decimal | None = None) -> None:
        """Write one packet: an skb (its bytes and metadata), bytes (captured at ``tstamp``:
        ns since the epoch as an int, or seconds as a float such as time.time() or dpkt's
        ``ts``; now if not given), or a scapy packet (its ``time``, its layer's link type;
        a pcap file of another link type refuses it)."""
        tstamp = _as_ns(tstamp)
        if isinstance(packet, (bytes, bytearray, memoryview)):
            self.write_packet(bytes(packet), time.time_ns() if tstamp is None else tstamp)
            return
        if hasattr(packet, "wire_len") and hasattr(packet, "tstamp"):  # an skb
            when = packet.tstamp if tstamp is None else tstamp
            wire = packet.wire_len or packet.len
            self.write_packet(bytes(packet), when, wire, packet.ifindex, packet)
            return
        if callable(getattr(packet, "build", None)) and hasattr(packet, "time"):  # scapy
            from decimal import Decimal

            from scapy.config import conf

            data = bytes(packet)
            when = int(Decimal(str(packet.time)) * NS) if tstamp is None else tstamp
            wire = getattr(packet, "wirelen", None) or len(data)
            linktype = conf.l2types.layer2num.get(type(packet), self.linktype)
            self.write_packet(data, when, wire, 0, _Meta(linktype))
            return
        raise TypeError(
            f"write() takes an skb, bytes or a scapy packet, not {type(packet).__name__}"
        )

    def write_skbs(self, skbs: list) -> None:
        """Write a batch of skbs, as write() writes each."""
        for skb in skbs:
            self.write(skb)

    @abc.abstractmethod
    def write_packet(
        self,
        data: bytes,
        tstamp: int,
        wire_len: int | None = None,
        ifindex: int = 0,
        meta: Any = None,
    ) -> None:
        """Write one packet from its bytes and metadata (``meta``: an skb, or None)."""

    def flush(self) -> None:
        """Everything written so far to the file (``-U``: each packet as it comes)."""
        if self._owns:
            self._flush_pending()
        else:
            self._f.flush()

    def close(self) -> None:
        """Flush and close the file (a file object given to the writer is flushed only)."""
        if self._f.closed:
            return
        if self._owns:
            try:
                self._flush_pending()
            finally:
                self._f.close()
        else:
            self._f.flush()

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PcapWriter(_Writer):
    """A classic pcap file: microsecond (default) or nanosecond timestamps."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        linktype: int = LINKTYPE_ETHERNET,
        *,
        nanosecond: bool = False,
        snaplen: int = MAXIMUM_SNAPLEN,
        byteorder: str = "<",
        header: bytes | None = None,
        modified: bool = False,
        swapped: bool = False,
    ) -> None:
        super().__init__(path)
        if byteorder not in "<>":
            raise ValueError(f"byteorder {byteorder!r} must be '<' or '>'")
        magic = MAGIC_MODIFIED if modified else MAGIC_NSEC if nanosecond else MAGIC_USEC
        if header is None:
            header = struct.pack(byteorder + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)
        self.linktype = linktype
        self.units = 1 if nanosecond else 1000
        self.modified = modified
        self.swapped = swapped
        self._rec = struct.Struct(byteorder + ("IIIIiHBx" if modified else "IIII"))
        self._big = byteorder == ">"
        self._header_len = len(header)
        self._put(header)
        self._record_done()

    @classmethod
    def like(cls, reader: Any, path: str | os.PathLike[str]) -> PcapWriter:
        """A writer whose header repeats that of the pcap file ``reader`` is reading."""
        fmt = reader.fmt
        if not hasattr(fmt, "file_header"):
            raise ValueError(f"{reader.path} is not a classic pcap file")
        return cls(
            path,
            fmt.linktype,
            nanosecond=fmt.nanosecond,
            byteorder=fmt.byteorder,
            header=fmt.file_header(),
            modified=fmt.modified,
            swapped=fmt.swapped == 2,
        )

    def write_skbs(self, skbs: list) -> None:
        """Write a batch of skbs: their records appended in one compiled loop (a modified
        file's longer records, or a file object's unbuffered writes, take write())."""
        if self.modified or not self._owns:
            super().write_skbs(skbs)
            return
        pending = self._pending
        start = len(pending)
        done = put_records(pending, skbs, self.linktype, self.units, self._big, self.swapped)
        self.size += len(pending) - start
        self.packets += done
        if done < len(skbs):  # the next one's link type is not the file's
            raise LinkTypeError(self.path, self.packets + 1, skbs[done].linktype, self.linktype)
        self._record_done()

    def _whole_records(self, pending: bytearray, done: int) -> tuple[int, int]:
        pos = packets = 0
        if self._on_disk == 0:  # the file header first
            if done < self._header_len:
                return 0, 0
            pos = self._header_len
        size = self._rec.size
        at = 12 if self.swapped else 8  # the captured length's field
        fmt = ">I" if self._big else "<I"
        while pos + size <= done:
            end = pos + size + struct.unpack_from(fmt, pending, pos + at)[0]
            if end > done:
                break
            pos, packets = end, packets + 1
        return pos, packets

    def write_packet(
        self,
        data: bytes,
        tstamp: int,
        wire_len: int | None = None,
        ifindex: int = 0,
        meta: Any = None,
    ) -> None:
        """Write one record: ``data`` captured at ``tstamp`` ns, ``wire_len`` on the wire.

        A packet whose ``meta`` has another link type than the file's is refused: a classic
        pcap file has one link type for all its records (pcapng has one per interface).
        """
        linktype = getattr(meta, "linktype", None)
        if linktype is not None and linktype != self.linktype and linktype >= 0:
            raise LinkTypeError(self.path, self.packets + 1, linktype, self.linktype)
        sec, frac = divmod(tstamp, NS)
        incl = len(data)
        orig = incl if wire_len is None else wire_len
        if self.swapped:
            incl, orig = orig, incl
        if self.modified:
            protocol = getattr(meta, "protocol", 0)
            pkt_type = getattr(meta, "pkt_type", 0)
            head = self._rec.pack(sec, frac // self.units, incl, orig, ifindex, protocol, pkt_type)
        else:
            head = self._rec.pack(sec, frac // self.units, incl, orig)
        self._put(head)
        self._put(data)
        self.packets += 1
        self._record_done()


class PcapngWriter(_Writer):
    """A pcapng file: one little-endian section, an IDB per (interface id, link type)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        linktype: int = LINKTYPE_ETHERNET,
        *,
        snaplen: int = 0,
        application: str = "fragpool",
    ) -> None:
        super().__init__(path)
        self.linktype = linktype
        self.snaplen = snaplen
        self._ifaces: dict[tuple[int, int], int] = {}
        opts = _option(4, application.encode()) + _option(0, b"")
        self._block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + opts)

    def _block(self, btype: int, body: bytes) -> None:
        total = 12 + len(body)
        self._put(struct.pack("<II", btype, total) + body + struct.pack("<I", total))
        self._record_done()

    def _whole_records(self, pending: bytearray, done: int) -> tuple[int, int]:
        pos = packets = 0
        while pos + 8 <= done:
            btype, total = struct.unpack_from("<II", pending, pos)
            if pos + total > done:
                break
            pos, packets = pos + total, packets + (btype == 6)
        return pos, packets

    def interface(self, ifindex: int, linktype: int) -> int:
        """The IDB number for packets of ``ifindex`` with ``linktype`` (written on first use)."""
        key = (ifindex, linktype)
        number = self._ifaces.get(key)
        if number is None:
            number = self._ifaces[key] = len(self._ifaces)
            opts = _option(9, bytes([9])) + _option(0, b"")
            self._block(1, struct.pack("<HHI", linktype, 0, self.snaplen) + opts)
        return number

    def write_packet(
        self,
        data: bytes,
        tstamp: int,
        wire_len: int | None = None,
        ifindex: int = 0,
        meta: Any = None,
    ) -> None:
        """Write one EPB: ``data`` captured at ``tstamp`` ns on interface ``ifindex``."""
        linktype = getattr(meta, "linktype", None) or self.linktype
        number = self.interface(ifindex, linktype)
        incl = len(data)
        orig = incl if wire_len is None else wire_len
        pad = b"\0" * (-incl % 4)
        head = struct.pack("<IIIII", number, tstamp >> 32, tstamp & 0xFFFFFFFF, incl, orig)
        self.packets += 1
        self._block(6, head + bytes(data) + pad)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def open_dump(
    path: str | os.PathLike[str] | BinaryIO,
    linktype: int = LINKTYPE_ETHERNET,
    *,
    format: str | None = None,
    nanosecond: bool = False,
    snaplen: int = MAXIMUM_SNAPLEN,
) -> PcapWriter | PcapngWriter:
    """pcap_dump_open(): a writer for ``path``; pcapng when ``format`` says so or the name
    ends in .pcapng, else classic pcap (nanosecond timestamps if asked). ``path`` may be a
    binary file object (left open); ``snaplen`` is the one the file declares (tcpdump
    declares its capture's)."""
    if format is None:
        named = isinstance(path, (str, os.PathLike)) and os.fspath(path).endswith(".pcapng")
        format = "pcapng" if named else "pcap"
    if format == "pcapng":
        return PcapngWriter(path, linktype, snaplen=snaplen)
    if format == "pcap":
        return PcapWriter(path, linktype, nanosecond=nanosecond, snaplen=snaplen)
    raise ValueError(f"format {format!r} must be 'pcap' or 'pcapng'")
