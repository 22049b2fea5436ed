"""tcpdump's default lines written as bytes, for the packets most captures are made of.

:class:`LineWriter` prints what :class:`~fragpool.commands._tcpdump.Dissector` prints for
Ethernet (802.1Q tags skipped) or raw IP carrying IPv4 or IPv6 with UDP, TCP or an ICMP
echo, straight into a byte buffer: decimal digits, addresses and words are written in
place (C when compiled), with no string per field. Every other packet (ARP, fragments,
IPv6 extension headers, truncated headers, ...) takes the Dissector's line, so the two
agree by construction on those and by test on these (tests/commands/test_fast_lines.py
compares them packet by packet). tcpdump's counterpart is its print routines writing
through ndo_printf into stdio's buffer.
"""

from __future__ import annotations

from typing import Any

from .. import _native
from ..skb.skbuff import SkBuff
from ._tcpdump import Clock, Dissector, tcp_options

#: The buffer holds CAPACITY bytes of lines before it is written out; a line the fast
#: path writes is far shorter than SLACK, which stays free past CAPACITY.
CAPACITY = 1 << 16
SLACK = 1 << 14
#: Timestamps below this many ns take the C arithmetic (year 2116); later ones the Clock's.
_TS_FAST = 1 << 62
_U32 = 0xFFFFFFFF
_TCP_FLAG_CHARS = b"FSRP.UEW"


class LineWriter:
    """One capture's tcpdump lines (time column and description), gathered in a buffer
    and written to ``sink`` (a binary file's write) by :meth:`flush` or when full.

    ``clock`` and ``dissector`` are the ones the text path uses: the time column's state
    (the delta formats) and TCP's conversations are shared with every line the dissector
    writes for this writer.
    """

    __slots__ = (
        "sink", "clock", "dissector", "buf", "out", "pos", "fast_clock", "width", "unit",
        "sec", "sec_text", "quiet", "absolute",
    )  # fmt: skip

    def __init__(self, sink: Any, clock: Clock, dissector: Dissector) -> None:
        self.sink = sink
        self.clock = clock
        self.dissector = dissector
        self.buf = bytearray(CAPACITY + SLACK)
        self.out = _native.writable_address(self.buf)
        self.pos = 0
        self.fast_clock = clock.tflag == 0  # time of day: the default column
        self.width = clock.width
        self.unit = clock.unit
        self.sec = -1
        self.sec_text = b""
        self.quiet = dissector.quiet
        self.absolute = dissector.absolute

    def flush(self) -> None:
        """Write the lines gathered so far."""
        if self.pos:
            with memoryview(self.buf) as view:
                self.sink(view[: self.pos])
            self.pos = 0

    def text(self, pos: int, line: str) -> int:
        """Put ``line`` (what the Dissector or the Clock wrote) at ``pos``."""
        data = line.encode()
        if pos + len(data) > CAPACITY + SLACK - 1:  # a long line: out with what came before
            self.pos = pos
            self.flush()
            pos = 0
            if len(data) > CAPACITY:
                self.sink(data)
                return 0
        return _native.put_bytes(self.out, pos, data)

    def write(self, skb: SkBuff) -> None:
        """The line of ``skb``, newline included."""
        if self.pos > CAPACITY:
            self.flush()
        out = self.out
        pos = self.pos
        tstamp = skb.tstamp
        if self.fast_clock and 0 <= tstamp < _TS_FAST:
            ns = tstamp
            sec = ns // 1000000000
            if sec != self.sec:
                self.sec = sec
                self.sec_text = self.clock._local(sec, "%H:%M:%S").encode() + b"."
            pos = _native.put_bytes(out, pos, self.sec_text)
            pos = _native.put_dec_width(out, pos, (ns % 1000000000) // self.unit, self.width)
            out[pos] = 32
            pos += 1
        else:
            pos = self.text(pos, self.clock.stamp(tstamp))
        n = skb.len - skb.data_len
        p = _native.address_bytes(skb.data, n)
        end = -1
        linktype = skb.linktype
        if linktype == 1:
            end = self._ether(out, pos, p, n, skb.wire_len)
        elif linktype == 101 or linktype == 228 or linktype == 229:
            end = self._ip(out, pos, p, 0, n, skb.wire_len)
        if end < 0:  # not one of the common packets: the Dissector's line
            end = self.text(pos, self.dissector.line(bytes(skb), linktype, skb.wire_len))
        out[end] = 10
        self.pos = end + 1

    # ------------------------------------------------------------------ link and network
    def _ether(self, out, pos: int, p, n: int, wire: int) -> int:  # noqa: ANN001
        if n < 14:
            return -1
        off = 14
        etype = p[12] << 8 | p[13]
        while (etype == 0x8100 or etype == 0x88A8 or etype == 0x9100) and n >= off + 4:
            etype = p[off + 2] << 8 | p[off + 3]
            off += 4
        if etype == 0x0800:
            return self._ipv4(out, pos, p, off, n, wire - off)
        if etype == 0x86DD:
            return self._ipv6(out, pos, p, off, n, wire - off)
        return -1

    def _ip(self, out, pos: int, p, off: int, n: int, wire: int) -> int:  # noqa: ANN001
        if n <= off:
            return -1
        version = p[off] >> 4
        if version == 4:
            return self._ipv4(out, pos, p, off, n, wire - off)
        if version == 6:
            return self._ipv6(out, pos, p, off, n, wire - off)
        return -1

    def _ipv4(self, out, pos: int, p, off: int, n: int, length: int) -> int:  # noqa: ANN001
        if n - off < 20:
            return -1
        ihl = (p[off] & 0xF) * 4
        total = p[off + 2] << 8 | p[off + 3]
        if ihl < 20 or total < ihl or length < total:
            return -1
        if (p[off + 6] << 8 | p[off + 7]) & 0x1FFF:  # a later fragment
            return -1
        proto = p[off + 9]
        at = off + ihl
        stop = off + total if off + total < n else n
        avail = stop - at if stop > at else 0
        paylen = total - ihl
        if proto == 17:
            if avail < 8:
                return -1
            pos = _native.put_bytes(out, pos, b"IP ")
            pos = _native.put_ip4(out, pos, p, off + 12)
            return self._udp(out, pos, p, at, off + 16, True)
        if proto == 6:
            if avail < 20:
                return -1
            pos = _native.put_bytes(out, pos, b"IP ")
            pos = _native.put_ip4(out, pos, p, off + 12)
            return self._tcp(out, pos, p, at, avail, paylen, off + 12, 4, True)
        if proto == 1:
            return self._icmp_echo(out, pos, p, off, at, avail, paylen)
        return -1

    def _ipv6(self, out, pos: int, p, off: int, n: int, length: int) -> int:  # noqa: ANN001
        if n - off < 40:
            return -1
        plen = p[off + 4] << 8 | p[off + 5]
        nxt = p[off + 6]
        at = off + 40
        stop = at + plen if at + plen < n else n
        avail = stop - at if stop > at else 0
        if nxt == 17:
            if avail < 8:
                return -1
            pos = _native.put_bytes(out, pos, b"IP6 ")
            pos = _native.put_ip6(out, pos, p, off + 8)
            return self._udp(out, pos, p, at, off + 24, False)
        if nxt == 6:
            if avail < 20:
                return -1
            pos = _native.put_bytes(out, pos, b"IP6 ")
            pos = _native.put_ip6(out, pos, p, off + 8)
            return self._tcp(out, pos, p, at, avail, plen, off + 8, 16, False)
        return -1

    def _dst(self, out, pos: int, p, dst: int, v4: bool) -> int:  # noqa: ANN001
        if v4:
            return _native.put_ip4(out, pos, p, dst)
        return _native.put_ip6(out, pos, p, dst)

    # ------------------------------------------------------------------ transports
    def _udp(self, out, pos: int, p, at: int, dst: int, v4: bool) -> int:  # noqa: ANN001
        """The source address is written; its port, the destination and UDP's words."""
        ulen = p[at + 4] << 8 | p[at + 5]
        out[pos] = 46
        pos = _native.put_dec(out, pos + 1, p[at] << 8 | p[at + 1])
        pos = _native.put_bytes(out, pos, b" > ")
        pos = self._dst(out, pos, p, dst, v4)
        out[pos] = 46
        pos = _native.put_dec(out, pos + 1, p[at + 2] << 8 | p[at + 3])
        pos = _native.put_bytes(out, pos, b": UDP, length ")
        return _native.put_dec(out, pos, ulen - 8 if ulen >= 8 else ulen)

    def _tcp(self, out, pos: int, p, at: int, avail: int, paylen: int, src: int,  # noqa: ANN001
             alen: int, v4: bool) -> int:  # fmt: skip
        """The source address is written; the rest of tcpdump's TCP line (Dissector's
        _tcp_line): ports, flags, (relative) sequence numbers, window, options, length."""
        sport = p[at] << 8 | p[at + 1]
        dport = p[at + 2] << 8 | p[at + 3]
        hlen = (p[at + 12] >> 4) * 4
        flags = p[at + 13]
        if hlen < 20:
            return -1
        out[pos] = 46
        pos = _native.put_dec(out, pos + 1, sport)
        pos = _native.put_bytes(out, pos, b" > ")
        pos = self._dst(out, pos, p, src + alen, v4)
        out[pos] = 46
        pos = _native.put_dec(out, pos + 1, dport)
        length = paylen - hlen
        if self.quiet:
            pos = _native.put_bytes(out, pos, b": tcp ")
            return _native.put_dec(out, pos, length if length >= 0 else 0)
        seq = _native.u32(p, at + 4, True)
        ack = _native.u32(p, at + 8, True)
        win = p[at + 14] << 8 | p[at + 15]
        base = 0
        if flags & 0x10 and not self.absolute:
            a = p[src : src + alen]
            b = p[src + alen : src + 2 * alen]
            seq, ack, thseq, thack, rev = self.dissector.relative(
                a, b, sport, dport, seq, ack, flags
            )
            base = thseq if rev else thack
        pos = _native.put_bytes(out, pos, b": Flags [")
        if flags:
            for i in range(8):
                if flags & (1 << i):
                    out[pos] = _TCP_FLAG_CHARS[i]
                    pos += 1
        else:
            pos = _native.put_bytes(out, pos, b"none")
        out[pos] = 93  # "]"
        pos += 1
        if length > 0 or flags & 0x07:
            pos = _native.put_bytes(out, pos, b", seq ")
            pos = self._signed(out, pos, seq)
            if length > 0:
                out[pos] = 58  # ":"
                pos = _native.put_dec(out, pos + 1, (seq + length) & _U32)
        if flags & 0x10:
            pos = _native.put_bytes(out, pos, b", ack ")
            pos = self._signed(out, pos, ack)
        pos = _native.put_bytes(out, pos, b", win ")
        pos = _native.put_dec(out, pos, win)
        if flags & 0x20:
            pos = _native.put_bytes(out, pos, b", urg ")
            pos = _native.put_dec(out, pos, p[at + 18] << 8 | p[at + 19])
        if hlen > 20:
            stop = at + (hlen if hlen < avail else avail)
            opts = tcp_options(p[at + 20 : stop] if stop > at + 20 else b"", base)
            pos = _native.put_bytes(out, pos, b", options [")
            pos = self.text(pos, opts)
            out[pos] = 93
            pos += 1
        pos = _native.put_bytes(out, pos, b", length ")
        return self._signed(out, pos, length)

    def _signed(self, out, pos: int, value: int) -> int:  # noqa: ANN001
        if value < 0:
            out[pos] = 45  # "-"
            return _native.put_dec(out, pos + 1, -value)
        return _native.put_dec(out, pos, value)

    def _icmp_echo(self, out, pos: int, p, off: int, at: int, avail: int,  # noqa: ANN001
                   paylen: int) -> int:  # fmt: skip
        if avail < 8:
            return -1
        itype = p[at]
        if itype != 0 and itype != 8:
            return -1
        pos = _native.put_bytes(out, pos, b"IP ")
        pos = _native.put_ip4(out, pos, p, off + 12)
        pos = _native.put_bytes(out, pos, b" > ")
        pos = _native.put_ip4(out, pos, p, off + 16)
        pos = _native.put_bytes(out, pos, b": ICMP echo request, id " if itype == 8
                                else b": ICMP echo reply, id ")  # fmt: skip
        pos = _native.put_dec(out, pos, p[at + 4] << 8 | p[at + 5])
        pos = _native.put_bytes(out, pos, b", seq ")
        pos = _native.put_dec(out, pos, p[at + 6] << 8 | p[at + 7])
        pos = _native.put_bytes(out, pos, b", length ")
        return _native.put_dec(out, pos, paylen)
