"""pcapng: the block parser that turns packet blocks into skbs in place and keeps the rest.

A pcapng file is a sequence of blocks, each ``type, total length, body, total length``
with lengths a multiple of 4. A Section Header Block (SHB) opens a section and fixes its
byte order (its byte-order magic 0x1A2B3C4D read in either order); the Interface
Description Blocks (IDB) of a section are numbered from 0 within that section. Packets come
in Enhanced Packet Blocks (EPB: interface id, 64-bit timestamp, captured and original
length), Simple Packet Blocks (SPB: interface 0, no timestamp; captured length is
min(snaplen, original length), a snaplen of 0 meaning no limit) and the obsolete Packet
Block (PB: a 16-bit interface id and drop count).

Timestamps count units of the interface's if_tsresol: 10^-n seconds, or 2^-n when the top
bit of the option's byte is set (default microseconds), plus if_tsoffset seconds; fragpool
gives integer nanoseconds, rounding finer units down.

Every other block (NRB, ISB, DSB, custom blocks, types fragpool does not know) is skipped
in the packet stream but kept in :attr:`PcapngFormat.metadata` with its parsed options and
raw body; packet-block options (comments, epb_flags with the direction, drop counts, ...)
are kept in :attr:`PcapngFormat.packet_options` under the packet's number (1 = first).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...skb import skbuff_head_cache
from .errors import CaptureFormatError
from .linktypes import max_snaplen

if TYPE_CHECKING:
    from ...mm.allocator import Page

SHB = 0x0A0D0D0A
IDB = 1
PB = 2
SPB = 3
NRB = 4
ISB = 5
EPB = 6
DSB = 0x0A
CB = 0x00000BAD
DCB = 0x40000BAD
#: libpcap refuses a pcapng block longer than this (its MAX_BLOCKSIZE); so does fragpool.
MAX_BLOCK_SIZE = 16 * 1024 * 1024
BYTE_ORDER_MAGIC = 0x1A2B3C4D

BLOCK_NAMES = {
    SHB: "SHB",
    IDB: "IDB",
    PB: "PB",
    SPB: "SPB",
    NRB: "NRB",
    ISB: "ISB",
    EPB: "EPB",
    DSB: "DSB",
    CB: "CB",
    DCB: "DCB",
}
PACKET_BLOCKS = ("EPB", "SPB", "PB")

# option codes
OPT_ENDOFOPT = 0
OPT_COMMENT = 1
IF_NAME = 2
IF_DESCRIPTION = 3
IF_TSRESOL = 9
IF_FCSLEN = 13
IF_TSOFFSET = 14
EPB_FLAGS = 2
EPB_HASH = 3
EPB_DROPCOUNT = 4
EPB_PACKETID = 5
EPB_QUEUE = 6
EPB_VERDICT = 7
ISB_STARTTIME = 2
ISB_ENDTIME = 3
ISB_IFRECV = 4
ISB_IFDROP = 5
ISB_FILTERACCEPT = 6
ISB_OSDROP = 7
ISB_USRDELIV = 8

_EPB_U64 = {EPB_DROPCOUNT: "dropcount", EPB_PACKETID: "packetid"}
_ISB_U64 = {
    ISB_IFRECV: "ifrecv",
    ISB_IFDROP: "ifdrop",
    ISB_FILTERACCEPT: "filteraccept",
    ISB_OSDROP: "osdrop",
    ISB_USRDELIV: "usrdeliv",
}
#: epb_flags bits 0-1: the direction of the packet.
DIRECTIONS = {0: None, 1: "inbound", 2: "outbound", 3: None}
#: skb.pkt_type for an outbound packet (PACKET_OUTGOING).
PACKET_OUTGOING = 4


@dataclass
class Interface:
    """One IDB of a section: link type, snaplen, timestamp scaling and its options."""

    linktype: int
    snaplen: int
    #: nanoseconds = ts * mul // div + offset_ns
    mul: int = 1000
    div: int = 1
    offset_ns: int = 0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Block:
    """A block kept as metadata: its name, type, file offset, section and contents."""

    name: str
    type: int
    offset: int
    section: int
    body: bytes
    options: dict[str, Any] = field(default_factory=dict)
    records: list = field(default_factory=list)


def tsresol_scale(value: int) -> tuple[int, int]:
    """(mul, div) turning if_tsresol units into nanoseconds: ns = units * mul // div."""
    exp = value & 0x7F
    if value & 0x80:
        return 1_000_000_000, 1 << exp
    if exp <= 9:
        return 10 ** (9 - exp), 1
    return 1, 10 ** (exp - 9)


def _pad4(n: int) -> int:
    return (n + 3) & ~3


class PcapngFormat:
    """The state of a pcapng read: sections, interfaces, metadata and the block parser."""

    def __init__(self, path: str, pa: Any, strict: bool) -> None:
        self.path = path
        self.pa = pa
        self.strict = strict
        self.order = "<"
        self.section = -1
        self.interfaces: list[Interface] = []
        self.sections: list[dict[str, Any]] = []
        self.metadata: list[Block] = []
        self.packet_options: dict[int, dict[str, Any]] = {}
        self.block_counts: dict[str, int] = {}
        self.interfaces_seen = False
        self.linktype = -1
        self.snaplen = 0
        self.need = 0
        self.npackets = 0
        self.skipped_records = 0
        self.skipped_bytes = 0
        self.isb_drops = 0

    def stats(self) -> dict:
        """Format facts for the reader's stats()."""
        return {
            "format": "pcapng",
            "sections": len(self.sections),
            "blocks": dict(self.block_counts),
            "isb_ifdrop": self.isb_drops,
            "packets_with_options": len(self.packet_options),
        }

    def _err(self, offset: int, fieldname: str, value: object, reason: str) -> None:
        raise CaptureFormatError(self.path, offset, fieldname, value, reason)

    def truncated(self, offset: int, left: int) -> None:
        """The file ended ``left`` bytes into the block at ``offset``."""
        if not self.strict:
            self.skipped_records += 1
            self.skipped_bytes += left
            return
        if self.need:
            self._err(
                offset + 4,
                "block total length",
                self.need,
                f"block runs past the end of the file ({left} bytes left)",
            )
        self._err(offset, "block header", f"{left} of 12 bytes", "file ends inside a block")

    # ------------------------------------------------------------------ blocks
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
        """Walk the whole blocks in ``mv[start:start + filled]``; return where it stopped.

        Packet blocks become skbs on their bytes (released to ``head_mem``); other blocks
        update the section state or go to ``metadata``. In strict mode damage raises
        CaptureFormatError after every packet before it was appended to ``out``.
        """
        pos = 0
        self.need = 0
        pop = skbuff_head_cache.free.pop
        get = skbuff_head_cache.get
        counts = self.block_counts
        while pos + 12 <= filled:
            at = start + pos
            order = self.order
            btype = struct.unpack_from(order + "I", mv, at)[0]
            if btype == SHB:
                magic = struct.unpack_from("<I", mv, at + 8)[0]
                if magic == BYTE_ORDER_MAGIC:
                    order = "<"
                elif magic == 0x4D3C2B1A:
                    order = ">"
                else:
                    self._damage(file_off + pos + 8, "byte-order magic", f"{magic:#010x}")
                    pos = self._resync(mv, start, pos, filled)
                    continue
            blen = struct.unpack_from(order + "I", mv, at + 4)[0]
            if blen % 4 or blen < 12:
                self._damage(
                    file_off + pos + 4,
                    "block total length",
                    blen,
                    "must be a multiple of 4 and at least 12",
                )
                pos = self._resync(mv, start, pos, filled)
                continue
            if blen > MAX_BLOCK_SIZE:  # bounded before anything is read or allocated for it
                self._damage(
                    file_off + pos + 4,
                    "block total length",
                    blen,
                    f"more than {MAX_BLOCK_SIZE >> 20} MiB (libpcap's limit for one block)",
                )
                pos = self._resync(mv, start, pos, filled)
                continue
            if pos + blen > filled:
                self.need = blen
                break
            trailer = struct.unpack_from(order + "I", mv, at + blen - 4)[0]
            if trailer != blen:
                self._damage(
                    file_off + pos + blen - 4,
                    "trailing block total length",
                    trailer,
                    f"disagrees with the block's leading total length {blen}",
                )
                pos = self._resync(mv, start, pos, filled)
                continue
            name = BLOCK_NAMES.get(btype, "unknown")
            counts[name] = counts.get(name, 0) + 1
            if btype in (EPB, SPB, PB):
                skb = None
                try:
                    skb = pop()
                except IndexError:
                    skb = get()
                try:
                    self._packet(btype, mv, mbase, at, blen, skb, head_mem, page, file_off - start)
                except CaptureFormatError:
                    skbuff_head_cache.put(skb)
                    if self.strict:
                        raise
                    self.skipped_records += 1
                    self.skipped_bytes += blen
                    pos += blen
                    continue
                out.append(skb)
            else:
                try:
                    if btype == SHB:
                        self.order = order
                        self._section(mv, at, blen, file_off + pos)
                    else:
                        self._meta(btype, name, mv, at, blen, file_off + pos)
                except CaptureFormatError:
                    if self.strict:
                        raise
                    self.skipped_records += 1  # lenient: the damaged block is skipped whole
                    self.skipped_bytes += blen
            pos += blen
        return pos

    def _damage(self, offset: int, fieldname: str, value: object, reason: str = "") -> None:
        """Strict: raise. Otherwise count one skipped record (the resync counts bytes)."""
        if self.strict:
            self._err(offset, fieldname, value, reason or "not a valid pcapng block")
        self.skipped_records += 1

    def _resync(self, mv: memoryview, start: int, pos: int, filled: int) -> int:
        """Non-strict recovery: the next offset after ``pos`` where a whole block starts.

        A candidate has a known block type, a sane length that fits the buffer and a
        trailer that repeats it. Without one, the buffer's tail is kept for the next read.
        """
        order = self.order
        cand = pos + 4
        while cand + 12 <= filled:
            at = start + cand
            btype, blen = struct.unpack_from(order + "II", mv, at)
            if (
                btype in BLOCK_NAMES
                and blen >= 12
                and not blen % 4
                and cand + blen <= filled
                and struct.unpack_from(order + "I", mv, at + blen - 4)[0] == blen
            ):
                self.skipped_bytes += cand - pos
                return cand
            cand += 4
        keep = max(pos + 4, filled - 8)
        keep -= (keep - pos) % 4
        self.skipped_bytes += keep - pos
        return keep

    def _packet(
        self,
        btype: int,
        mv: memoryview,
        mbase: int,
        at: int,
        blen: int,
        skb: Any,
        head_mem: Any,
        page: Page | None,
        off: int,
    ) -> None:
        """Fill ``skb`` from the packet block at ``mv[at:]`` (``off`` + at = file offset)."""
        order = self.order
        ifaces = self.interfaces
        if btype == EPB:
            if blen < 32:
                self._err(off + at + 4, "block total length", blen, "too short for an EPB")
            iface, hi, lo, incl, orig = struct.unpack_from(order + "IIIII", mv, at + 8)
            data = at + 28
            body_end = at + blen - 4
        elif btype == SPB:
            iface, hi, lo = 0, None, 0
            orig = struct.unpack_from(order + "I", mv, at + 8)[0]
            data = at + 12
            body_end = at + blen - 4
        else:
            if blen < 32:
                self._err(off + at + 4, "block total length", blen, "too short for a PB")
            iface, drops, hi, lo, incl, orig = struct.unpack_from(order + "HHIIII", mv, at + 8)
            data = at + 28
            body_end = at + blen - 4
        if iface >= len(ifaces):
            self._err(
                off + at + 8,
                "interface id",
                iface,
                f"section {self.section} describes {len(ifaces)} interface(s)",
            )
        dev = ifaces[iface]
        if btype == SPB:
            incl = orig if not dev.snaplen or orig < dev.snaplen else dev.snaplen
        if data + incl > body_end:
            self._err(
                off + at + (8 if btype == SPB else 20),
                "original length" if btype == SPB else "caplen",
                orig if btype == SPB else incl,
                f"packet data runs past the end of its {blen}-byte block",
            )
        addr = mbase + data
        pfmemalloc = page.pfmemalloc if page is not None else False
        skb.init_rx(self.pa, head_mem, addr, incl, blen, mv, mbase, pfmemalloc, page)
        skb.tstamp = 0 if hi is None else ((hi << 32 | lo) * dev.mul // dev.div + dev.offset_ns)
        skb.wire_len = orig
        skb.ifindex = iface
        skb.linktype = dev.linktype
        self.npackets += 1
        opt_at = data + _pad4(incl)
        if btype != SPB and opt_at < body_end:
            opts = self._options(mv, opt_at, body_end, off, _EPB_OPTS)
            if opts:
                self.packet_options[self.npackets] = opts
                if opts.get("direction") == "outbound":
                    skb.pkt_type = PACKET_OUTGOING
        if btype == PB and drops:
            self.packet_options.setdefault(self.npackets, {})["drops_count"] = drops

    def _options(self, mv: memoryview, at: int, end: int, off: int, decode: Any) -> dict:
        """Options in ``mv[at:end]`` as a dict; repeated codes (comments) become lists."""
        order = self.order
        opts: dict[str, Any] = {}
        while at + 4 <= end:
            code, length = struct.unpack_from(order + "HH", mv, at)
            if code == OPT_ENDOFOPT:
                break
            if at + 4 + length > end:
                if self.strict:
                    self._err(
                        off + at + 2,
                        "option length",
                        length,
                        f"option {code} runs past the end of its block",
                    )
                break
            value = bytes(mv[at + 4 : at + 4 + length])
            if code == OPT_COMMENT:
                opts.setdefault("comments", []).append(value.decode("utf-8", "replace"))
            else:
                decode(self, opts, code, value)
            at += 4 + _pad4(length)
        return opts

    def _u(self, value: bytes) -> int:
        if len(value) == 8:
            return struct.unpack(self.order + "Q", value)[0]
        if len(value) == 4:
            return struct.unpack(self.order + "I", value)[0]
        return int.from_bytes(value, "little" if self.order == "<" else "big")

    # ------------------------------------------------------------------ non-packet blocks
    def _section(self, mv: memoryview, at: int, blen: int, offset: int) -> None:
        order = self.order
        if blen < 28:
            self._err(offset + 4, "block total length", blen, "too short for an SHB")
        major, minor, seclen = struct.unpack_from(order + "HHq", mv, at + 12)
        if major != 1:
            self._err(offset + 12, "major version", major, "only pcapng version 1 exists")
        self.section += 1
        self.interfaces = []
        opts = self._options(mv, at + 24, at + blen - 4, offset - at, _SHB_OPTS)
        info = {"version": f"{major}.{minor}", "section_length": seclen, "options": opts}
        info["byteorder"] = "little" if order == "<" else "big"
        self.sections.append(info)
        self._keep("SHB", SHB, mv, at, blen, offset, opts)

    def _meta(self, btype: int, name: str, mv: memoryview, at: int, blen: int, offset: int) -> None:
        order = self.order
        off = offset - at
        end = at + blen - 4
        if self.section < 0:  # lenient: skipped whole, as any damaged block
            self._damage(offset, "block type", f"{btype:#x}", "block before any section header")
            return
        if btype == IDB:
            if blen < 20:
                self._err(offset + 4, "block total length", blen, "too short for an IDB")
            linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", mv, at + 8)
            opts = self._options(mv, at + 16, end, off, _IDB_OPTS)
            mul, div = tsresol_scale(opts.get("tsresol", 6))
            dev = Interface(linktype, snaplen, mul, div, opts.get("tsoffset", 0) * 10**9, opts)
            self.interfaces.append(dev)
            if not self.interfaces_seen:
                self.interfaces_seen = True
                self.linktype = linktype
                self.snaplen = snaplen or max_snaplen(linktype)
            self._keep(name, btype, mv, at, blen, offset, opts, interface=len(self.interfaces) - 1)
        elif btype == ISB:
            if blen < 24:
                self._err(offset + 4, "block total length", blen, "too short for an ISB")
            iface, hi, lo = struct.unpack_from(order + "III", mv, at + 8)
            opts = self._options(mv, at + 20, end, off, _ISB_OPTS)
            opts["interface"] = iface
            opts["timestamp"] = hi << 32 | lo
            self.isb_drops += opts.get("ifdrop", 0)
            self._keep(name, btype, mv, at, blen, offset, opts)
        elif btype == NRB:
            records, pos = self._nrb_records(mv, at + 8, end, off)
            opts = self._options(mv, pos, end, off, _NO_OPTS)
            self._keep(name, btype, mv, at, blen, offset, opts, records=records)
        elif btype == DSB:
            stype, slen = struct.unpack_from(order + "II", mv, at + 8) if blen >= 20 else (0, 0)
            opts = self._options(mv, at + 16 + _pad4(slen), end, off, _NO_OPTS)
            opts["secrets_type"] = stype
            self._keep(name, btype, mv, at, blen, offset, opts)
        else:  # custom blocks and block types fragpool does not know: body only
            self._keep(name, btype, mv, at, blen, offset, {})

    def _nrb_records(self, mv: memoryview, at: int, end: int, off: int) -> tuple[list, int]:
        order = self.order
        records = []
        while at + 4 <= end:
            rtype, rlen = struct.unpack_from(order + "HH", mv, at)
            if rtype == 0:
                return records, at + 4
            if at + 4 + rlen > end:
                if self.strict:
                    self._err(off + at + 2, "record length", rlen, "NRB record runs past block")
                break
            records.append((rtype, bytes(mv[at + 4 : at + 4 + rlen])))
            at += 4 + _pad4(rlen)
        return records, end

    def _keep(
        self,
        name: str,
        btype: int,
        mv: memoryview,
        at: int,
        blen: int,
        offset: int,
        opts: dict,
        records: list | None = None,
        interface: int | None = None,
    ) -> None:
        if interface is not None:
            opts = dict(opts, interface=interface)
        body = bytes(mv[at + 8 : at + blen - 4])
        self.metadata.append(Block(name, btype, offset, self.section, body, opts, records or []))


def _decode_shb(fmt: PcapngFormat, opts: dict, code: int, value: bytes) -> None:
    names = {2: "hardware", 3: "os", 4: "userappl"}
    key = names.get(code, f"opt{code}")
    opts[key] = value.decode("utf-8", "replace") if code in names else value


def _decode_idb(fmt: PcapngFormat, opts: dict, code: int, value: bytes) -> None:
    if code == IF_TSRESOL and value:
        opts["tsresol"] = value[0]
    elif code == IF_TSOFFSET and len(value) == 8:
        opts["tsoffset"] = struct.unpack(fmt.order + "q", value)[0]
    elif code == IF_FCSLEN and value:
        opts["fcslen"] = value[0]
    elif code in (IF_NAME, IF_DESCRIPTION):
        opts["name" if code == IF_NAME else "description"] = value.decode("utf-8", "replace")
    else:
        opts[f"opt{code}"] = value


def _decode_epb(fmt: PcapngFormat, opts: dict, code: int, value: bytes) -> None:
    if code == EPB_FLAGS and len(value) == 4:
        flags = fmt._u(value)
        opts["flags"] = flags
        opts["direction"] = DIRECTIONS[flags & 3]
    elif code in _EPB_U64 and len(value) == 8:
        opts[_EPB_U64[code]] = fmt._u(value)
    elif code == EPB_HASH:
        opts.setdefault("hash", []).append(value)
    elif code == EPB_QUEUE and len(value) == 4:
        opts["queue"] = fmt._u(value)
    elif code == EPB_VERDICT:
        opts.setdefault("verdict", []).append(value)
    else:
        opts[f"opt{code}"] = value


def _decode_isb(fmt: PcapngFormat, opts: dict, code: int, value: bytes) -> None:
    if code in _ISB_U64 and len(value) == 8:
        opts[_ISB_U64[code]] = fmt._u(value)
    elif code in (ISB_STARTTIME, ISB_ENDTIME) and len(value) == 8:
        hi, lo = struct.unpack(fmt.order + "II", value)
        opts["starttime" if code == ISB_STARTTIME else "endtime"] = hi << 32 | lo
    else:
        opts[f"opt{code}"] = value


def _decode_raw(fmt: PcapngFormat, opts: dict, code: int, value: bytes) -> None:
    opts.setdefault(f"opt{code}", []).append(value)


_SHB_OPTS = _decode_shb
_IDB_OPTS = _decode_idb
_EPB_OPTS = _decode_epb
_ISB_OPTS = _decode_isb
_NO_OPTS = _decode_raw
