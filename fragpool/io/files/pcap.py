"""Classic pcap: the file header and the record parser that turns records into skbs in place.

A pcap file is a 24-byte header (magic, version, thiszone, sigfigs, snaplen, link type)
followed by records, each a header (seconds, fraction, captured length, original length)
and the captured bytes. The magic tells the byte order and the timestamp unit:

- 0xa1b2c3d4 microseconds, 0xa1b23c4d nanoseconds (read in either byte order);
- 0xa1b2cd34, Alexey Kuznetzov's "modified" pcap: microseconds and a 24-byte record header
  that adds the interface index, the protocol and the packet type.

The link-type field carries the link type in its low 16 bits, an FCS length (in 16-bit
units, bits 28-31) when bit 26 is set, and reserved bits 16-25 that must be zero. Versions
before 2.3 wrote the captured and original lengths the other way round; 2.3 did so in some
builds, so a 2.3 record whose captured length exceeds its original length is taken as
swapped (libpcap reads them the same way). A snaplen of 0, or one above the link type's
ceiling, stands for that ceiling; no record may be longer than the ceiling.

:meth:`PcapFormat.parse` is the hot loop of the capture-file reader: it walks the records
that lie whole in a buffer and builds one skb per record on the bytes where they lie.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from ... import _native
from ...skb import skbuff_head_cache
from .errors import CaptureFormatError
from .linktypes import max_snaplen

if TYPE_CHECKING:
    from ...mm.allocator import Page

MAGIC_USEC = 0xA1B2C3D4
MAGIC_NSEC = 0xA1B23C4D
MAGIC_MODIFIED = 0xA1B2CD34

#: The reserved bits of the link-type field (LT_RESERVED1 in libpcap).
LT_RESERVED_MASK = 0x03FF0000
#: Set when the FCS-length nibble is meaningful.
LT_FCS_PRESENT = 0x04000000

FILE_HEADER_LEN = 24

_MAGICS = {MAGIC_USEC: (1000, False), MAGIC_NSEC: (1, False), MAGIC_MODIFIED: (1000, False)}


def sniff_pcap(first4: bytes) -> str | None:
    """'<' or '>' when ``first4`` is a pcap magic in that byte order, else None."""
    if len(first4) < 4:
        return None
    for order in "<>":
        if struct.unpack(order + "I", first4)[0] in _MAGICS:
            return order
    return None


class PcapFormat:
    """The parsed file header of a classic pcap file and its record parser."""

    def __init__(self, header: bytes, path: str, pa: Any, strict: bool) -> None:
        if len(header) < FILE_HEADER_LEN:
            raise CaptureFormatError(
                path, len(header), "file header", len(header), "file ends inside the header"
            )
        order = sniff_pcap(header[:4])
        if order is None:
            raise CaptureFormatError(
                path, 0, "magic", f"0x{header[:4].hex()}", "not a pcap or pcapng file"
            )
        magic, major, minor, _zone, _sigfigs, snaplen, ltfield = struct.unpack(
            order + "IHHiIII", header[:FILE_HEADER_LEN]
        )
        if major != 2 or minor > 4:
            raise CaptureFormatError(
                path, 4, "version", f"{major}.{minor}", "only pcap versions 2.0 to 2.4 exist"
            )
        if ltfield & LT_RESERVED_MASK:
            raise CaptureFormatError(
                path,
                20,
                "linktype",
                f"{ltfield:#010x}",
                "reserved bits 16-25 of the link-type field are not zero",
            )
        self.path = path
        self.pa = pa
        self.strict = strict
        self.header = bytes(header[:FILE_HEADER_LEN])
        self.byteorder = order
        self._big = order == ">"
        self.magic = magic
        self.nanosecond = magic == MAGIC_NSEC
        self.modified = magic == MAGIC_MODIFIED
        self.version = (major, minor)
        self.linktype = ltfield & 0xFFFF
        self.linktype_field = ltfield
        self.fcs_len = 2 * (ltfield >> 28) if ltfield & LT_FCS_PRESENT else None
        self.max_caplen = max_snaplen(self.linktype)
        self.header_snaplen = snaplen
        self.snaplen = snaplen if 0 < snaplen <= self.max_caplen else self.max_caplen
        #: 0: lengths as written; 1: swapped when caplen > len (2.3); 2: always swapped.
        self.swapped = 2 if minor < 3 else 1 if minor == 3 else 0
        self.hdrlen = 24 if self.modified else 16
        self.mult = 1 if self.nanosecond else 1000
        self._rec = struct.Struct(order + ("IIIIiHB" if self.modified else "IIII"))
        #: Set by parse(): bytes the record at the stopping point needs in all (0: unknown).
        self.need = 0
        self.skipped_records = 0
        self.skipped_bytes = 0
        self._lost = False
        self._last_sec = -1

    def file_header(self) -> bytes:
        """The 24-byte header as it stands in the file (for writing the file back)."""
        return self.header

    def stats(self) -> dict:
        """Format facts for the reader's stats()."""
        return {
            "format": "pcap",
            "version": f"{self.version[0]}.{self.version[1]}",
            "nanosecond": self.nanosecond,
            "modified": self.modified,
            "snaplen": self.snaplen,
            "byteorder": "little" if self.byteorder == "<" else "big",
        }

    def truncated(self, offset: int, left: int) -> None:
        """The file ended ``left`` bytes into the record at ``offset``."""
        if not self.strict:
            self.skipped_records += 1
            self.skipped_bytes += left
            return
        if left < self.hdrlen:
            raise CaptureFormatError(
                self.path,
                offset,
                "record header",
                f"{left} of {self.hdrlen} bytes",
                "file ends inside a record header",
            )
        raise CaptureFormatError(
            self.path,
            offset + 8,
            "caplen",
            self.need - self.hdrlen,
            f"record runs past the end of the file ({left - self.hdrlen} bytes of data left)",
        )

    # ------------------------------------------------------------------ records
    def parse(
        self,
        mv: memoryview,
        mbase: int,
        start: int,
        filled: int,
        out: list,
        head_mem: Any,
        page: Page | None,
        file_off: int,
    ) -> int:
        """Build skbs for the whole records in ``mv[start:start + filled]``; return the stop.

        ``mbase`` is the address of ``mv[0]``; ``file_off`` the file offset of the buffer's
        first byte (for error messages). Each skb's head is its record's captured bytes and
        its release goes to ``head_mem.frag_free``. On bad input in strict mode this raises
        CaptureFormatError after appending every good record before it to ``out``.
        """
        if self.modified or self.swapped or not self.strict:
            return self._parse_general(mv, mbase, start, filled, out, head_mem, page, file_off)
        pfmemalloc = page.pfmemalloc if page is not None else False
        limit = self.max_caplen
        if filled > limit:
            return self._parse_general(mv, mbase, start, filled, out, head_mem, page, file_off)
        # With a buffer no longer than the caplen ceiling, "record ends past the buffer"
        # also catches every caplen above the ceiling: one test per record.
        stop = start + filled
        if start < 0 or filled < 0 or stop > len(mv):
            raise ValueError(f"parse of bytes {start}..{stop} outside a {len(mv)}-byte buffer")
        if filled < 16:
            self.need = 0
            return 0
        p = _native.buffer_address(mv)
        big = self._big
        cache = skbuff_head_cache
        free = cache.free
        pa = self.pa
        lt = self.linktype
        mult = self.mult
        at = start
        top = stop - 16
        last_sec = -1
        sec_ns = 0
        incl = 0
        while at <= top:  # the loop's own bound: every header load lies inside mv
            sec, frac, incl, orig = _native.u32x4(p, at, big)
            end = at + 16 + incl
            if end > stop:
                break
            skb = free.pop() if free else cache.get()
            skb.init_rx(pa, head_mem, mbase + at + 16, incl, incl + 16, mv, mbase, pfmemalloc, page)
            if sec != last_sec:
                last_sec = sec
                sec_ns = sec * 1000000000
            skb.tstamp = sec_ns + frac * mult
            skb.wire_len = orig
            skb.linktype = lt
            out.append(skb)
            at = end
        else:
            self.need = 0
            return at - start
        self.need = 16 + incl
        if incl > limit:
            self._bad_caplen(file_off + at - start, incl)
        return at - start

    def _bad_caplen(self, offset: int, incl: int) -> None:
        raise CaptureFormatError(
            self.path,
            offset + 8,
            "caplen",
            incl,
            f"captured length is larger than the maximum {self.max_caplen} "
            f"for link type {self.linktype}",
        )

    def _plausible(self, mv: memoryview, at: int) -> int:
        """Captured length of a believable record header at ``mv[at:]``, or -1."""
        fields = self._rec.unpack_from(mv, at)
        incl, orig = self._lengths(fields[2], fields[3])
        if incl > self.snaplen or incl > orig or orig > self.max_caplen:
            return -1
        if fields[1] >= 1000000000 // self.mult:
            return -1
        if self._last_sec >= 0 and abs(fields[0] - self._last_sec) > 86400:
            return -1  # a day away from the last good record: not a record header
        return incl

    def _lengths(self, incl: int, orig: int) -> tuple[int, int]:
        swapped = self.swapped
        if swapped == 2 or (swapped == 1 and incl > orig):
            return orig, incl
        return incl, orig

    def _parse_general(
        self,
        mv: memoryview,
        mbase: int,
        start: int,
        filled: int,
        out: list,
        head_mem: Any,
        page: Page | None,
        file_off: int,
    ) -> int:
        """parse() for modified pcap, old versions' length swap and non-strict reading."""
        pfmemalloc = page.pfmemalloc if page is not None else False
        rec = self._rec
        hl = self.hdrlen
        get = skbuff_head_cache.get
        pa = self.pa
        lt = self.linktype
        mult = self.mult
        limit = self.max_caplen
        modified = self.modified
        pos = 0
        self.need = 0
        while pos + hl <= filled:
            fields = rec.unpack_from(mv, start + pos)
            incl, orig = self._lengths(fields[2], fields[3])
            if incl > limit:
                if self.strict:
                    self.need = hl + incl
                    self._bad_caplen(file_off + pos, incl)
                skip = self._resync(mv, start, pos, filled)
                if skip < 0:
                    # no believable header in what is buffered: keep the tail for the next read
                    keep = max(pos + 1, filled - hl + 1)
                    self.skipped_bytes += keep - pos
                    return keep
                pos = skip
                continue
            end = pos + hl + incl
            if end > filled:
                self.need = hl + incl
                return pos
            skb = get()
            skb.init_rx(
                pa, head_mem, mbase + start + pos + hl, incl, hl + incl, mv, mbase, pfmemalloc, page
            )
            self._last_sec = fields[0]
            skb.tstamp = fields[0] * 1000000000 + fields[1] * mult
            skb.wire_len = orig
            skb.linktype = lt
            if modified:
                skb.ifindex = fields[4]
                skb.protocol = fields[5]
                skb.pkt_type = fields[6]
            out.append(skb)
            pos = end
        return pos

    def _resync(self, mv: memoryview, start: int, pos: int, filled: int) -> int:
        """Non-strict recovery: the next offset after ``pos`` where a believable record starts.

        A candidate must have plausible lengths and its successor must too (or the data
        must end right after it). Returns -1 when no candidate lies in the buffer.
        """
        hl = self.hdrlen
        if not self._lost:
            self.skipped_records += 1
            self._lost = True
        cand = pos + 1
        while cand + hl <= filled:
            incl = self._plausible(mv, start + cand)
            if incl >= 0:
                nxt = cand + hl + incl
                if nxt + hl > filled or self._plausible(mv, start + nxt) >= 0:
                    self.skipped_bytes += cand - pos
                    self._lost = False
                    return cand
            cand += 1
        return -1
