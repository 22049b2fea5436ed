"""tcpdump's one-line packet descriptions, for `fragpool capture`'s default output.

:class:`Dissector` prints what ``tcpdump -n`` prints for Ethernet (802.1Q tags included),
raw IP, IPv4 (fragments: ports only in the first), IPv6 and its extension headers (HBH,
DSTOPT, RT6, frag), TCP (flags, relative sequence numbers per conversation, the common
options), UDP, ICMP, ICMPv6 and ARP, with tcpdump's lengths: payload lengths for TCP and
UDP, the ICMP message's, ARP's own. ``-q`` (quiet), ``-e`` (link-level header) and the
timestamp formats (``-t`` .. ``-ttttt``) follow tcpdump's; the hex and ASCII dumps
(``-x``, ``-xx``, ``-X``, ``-XX``, ``-A``) are :func:`hex_dump`, :func:`hex_ascii_dump` and
:func:`ascii_dump`. Application protocols (DNS, HTTP, ...) are not decoded: their packets
end at the transport's summary.

It is a state machine only for TCP (tcpdump remembers each conversation's initial sequence
numbers to print relative ones) and for the delta time formats.
"""

from __future__ import annotations

import struct
import time
from typing import Any

ETHERTYPES = {
    0x0800: "IPv4",
    0x0806: "ARP",
    0x8100: "802.1Q",
    0x86DD: "IPv6",
    0x88A8: "802.1Q-QinQ",
    0x9100: "802.1Q-9100",
}
_VLAN_TYPES = (0x8100, 0x88A8, 0x9100)
_TCP_FLAGS = ((0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x10, "."), (0x20, "U"),
              (0x40, "E"), (0x80, "W"))  # fmt: skip
_ICMP_TYPES = {
    0: "echo reply",
    3: "unreachable",
    4: "source quench",
    5: "redirect",
    8: "echo request",
    9: "router advertisement",
    10: "router solicitation",
    11: "time exceeded",
    12: "parameter problem",
    13: "time stamp request",
    14: "time stamp reply",
}
_ICMP6_TYPES = {
    1: "destination unreachable",
    2: "packet too big",
    3: "time exceeded in-transit",
    4: "parameter problem",
    128: "echo request",
    129: "echo reply",
    133: "router solicitation",
    134: "router advertisement",
    135: "neighbor solicitation",
    136: "neighbor advertisement",
    137: "redirect",
    143: "multicast listener report v2",
}
_IP_PROTOS = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmp6", 132: "sctp"}
_IPV6_EXT = {0: "HBH", 60: "DSTOPT", 43: "RT6", 44: "frag"}
_LINKTYPE_ETHERNET, _LINKTYPE_RAW, _LINKTYPE_IPV4, _LINKTYPE_IPV6 = 1, 101, 228, 229
_U32 = 0xFFFFFFFF


def mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def _ip4(b: bytes) -> str:
    return "%d.%d.%d.%d" % (b[0], b[1], b[2], b[3])  # noqa: UP031 - the fastest spelling


def _ip6(b: bytes) -> str:
    import socket  # on the first IPv6 address the fast path leaves (start-up time)

    return socket.inet_ntop(socket.AF_INET6, b)


def _ethertype(t: int, quiet: bool = False) -> str:
    """tcpdump -e's ethertype: its name and number (-q: the name alone, when known)."""
    name = ETHERTYPES.get(t)
    if quiet and name:
        return name
    return f"{name or 'Unknown'} (0x{t:04x})"


class Dissector:
    """One capture's worth of tcpdump lines: ``line(data, linktype, wire_len)``.

    ``quiet`` is tcpdump's -q, ``link`` its -e; ``dumping`` says -x or -X will dump every
    packet, so an undecodable payload is not dumped a second time (tcpdump's
    suppress_default_print). Holds the TCP conversations seen so far.
    """

    def __init__(
        self,
        *,
        quiet: bool = False,
        link: bool = False,
        dumping: bool = False,
        absolute: bool = False,
    ) -> None:
        self.quiet = quiet
        self.link = link
        self.dumping = dumping
        self.absolute = absolute  # -S: TCP sequence numbers as sent, not relative
        self._tcp: dict[tuple, tuple[int, int]] = {}
        self.hdrlen = 0  # the link-level header length of the last packet (for -x / -A)

    # ---------------------------------------------------------------------- link layer
    def line(self, data: bytes, linktype: int, wire_len: int) -> str:
        """The description of one packet, as tcpdump -n prints it after the time."""
        self.hdrlen = 0
        if linktype == _LINKTYPE_ETHERNET:
            return self._ether(data, wire_len)
        if linktype in (_LINKTYPE_RAW, _LINKTYPE_IPV4, _LINKTYPE_IPV6):
            return self._ip_any(data, wire_len)
        return f"link-type {linktype}, length {wire_len}"

    def _ether(self, data: bytes, wire_len: int) -> str:
        if len(data) < 14:
            return f"[|ether], length {wire_len}"
        head = f"{mac(data[6:12])} > {mac(data[0:6])}, "
        etype = struct.unpack_from("!H", data, 12)[0]
        off = 14
        prefix = ""
        if self.link:
            prefix = head + f"{self._kind(etype)}, length {wire_len}: "
        while etype in _VLAN_TYPES and len(data) >= off + 4:
            tci, etype = struct.unpack_from("!HH", data, off)
            off += 4
            if self.link:
                prefix += f"vlan {tci & 0xFFF}, p {tci >> 13}, "
                prefix += f"{'DEI, ' if tci & 0x1000 else ''}{self._kind(etype)}, "
        self.hdrlen = off
        payload = data[off:]
        length = wire_len - off
        if etype == 0x0800:
            return prefix + self._ipv4(payload, length)
        if etype == 0x86DD:
            return prefix + self._ipv6(payload, length)
        if etype == 0x0806:
            return prefix + self._arp(payload, length)
        if self.quiet:
            return head + f"Unknown Ethertype (0x{etype:04x}), length {wire_len}: "
        if not self.link:  # tcpdump shows the link header and dumps what it cannot decode
            prefix = head + f"ethertype {_ethertype(etype)}, length {wire_len}: "
        return prefix if self.dumping else prefix + hex_ascii_dump(payload)

    def _kind(self, etype: int) -> str:
        """-e's ethertype words: "ethertype IPv4 (0x0800)", with -q just "IPv4"."""
        return _ethertype(etype, True) if self.quiet else f"ethertype {_ethertype(etype)}"

    def _ip_any(self, data: bytes, length: int) -> str:
        version = data[0] >> 4 if data else 0
        if version == 4:
            return self._ipv4(data, length)
        if version == 6:
            return self._ipv6(data, length)
        return f"IP{version}"

    # ---------------------------------------------------------------------- ARP
    def _arp(self, p: bytes, length: int) -> str:
        name = "" if self.link else "ARP, "
        if len(p) < 8:
            return f"{name}[|ARP]"
        _hrd, pro, hln, pln, op = struct.unpack_from("!HHBBH", p)
        if pro != 0x0800 or pln != 4 or len(p) < 8 + 2 * hln + 8:
            return f"{name}op {op}, length {length}"
        sha = p[8 : 8 + hln]
        spa = _ip4(p[8 + hln : 12 + hln])
        tha = p[12 + hln : 12 + 2 * hln]
        tpa = _ip4(p[12 + 2 * hln : 16 + 2 * hln])
        if op == 1:
            who = f" ({mac(tha)})" if any(tha) else ""
            return f"{name}Request who-has {tpa}{who} tell {spa}, length {length}"
        if op == 2:
            return f"{name}Reply {spa} is-at {mac(sha)}, length {length}"
        return f"{name}op {op}, length {length}"

    # ---------------------------------------------------------------------- IPv4
    def _ipv4(self, ip: bytes, length: int) -> str:
        name = "" if self.link else "IP "
        if len(ip) < 20:
            return f"{name}[|ip]"
        ihl = (ip[0] & 0xF) * 4
        total, frag, proto = struct.unpack_from("!H2xH1xB", ip, 2)
        src, dst = _ip4(ip[12:16]), _ip4(ip[16:20])
        if ihl < 20:
            return f"{name}bad-hlen {ihl}"
        if total < ihl:
            return f"{name}bad-len {total}"
        if length < total:
            name += f"truncated-ip - {total - length} bytes missing! "
        l4 = ip[ihl:total]
        paylen = total - ihl
        offset = (frag & 0x1FFF) * 8
        if offset:  # a later fragment: no transport header in it
            return f"{name}{src} > {dst}: ip-proto-{proto}"
        return name + self._transport(proto, l4, paylen, src, dst, True, ip[12:16], ip[16:20])

    # ---------------------------------------------------------------------- IPv6
    def _ipv6(self, ip: bytes, length: int) -> str:
        name = "" if self.link else "IP6 "
        if len(ip) < 40:
            return f"{name}[|ip6]"
        plen, nxt = struct.unpack_from("!HB", ip, 4)
        src, dst = _ip6(ip[8:24]), _ip6(ip[24:40])
        body = ip[40 : 40 + plen]
        if nxt in (6, 17):
            return name + self._transport(nxt, body, plen, src, dst, True, ip[8:24], ip[24:40])
        out = f"{name}{src} > {dst}: "
        pos = 0
        while nxt in _IPV6_EXT:
            if len(body) < pos + 8:
                return out + f"[|{_IPV6_EXT[nxt]}]"
            hnxt, hlen = body[pos], body[pos + 1]
            if nxt == 44:  # fragment header: 8 bytes
                off_m = struct.unpack_from("!H", body, pos + 2)[0]
                offset = off_m & 0xFFF8
                rest = plen - pos - 8
                out += f"frag ({offset}|{rest}) "
                pos += 8
                nxt = hnxt
                if offset:
                    return out.rstrip()
                continue
            size = (hlen + 1) * 8
            if nxt == 43:
                rtype, segleft = body[pos + 2], body[pos + 3]
                note = " [Deprecated]" if rtype == 0 else ""
                out += f"RT6 (len={hlen}, type={rtype}{note}, segleft={segleft}"
                if rtype == 0:
                    for i in range(hlen // 2):
                        at = pos + 8 + 16 * i
                        if at + 16 > len(body):  # the capture ends inside the address list
                            return out + " [|rt6]"
                        out += f", [{i}]{_ip6(body[at : at + 16])}"
                out += ") "
            else:
                out += f"{_IPV6_EXT[nxt]} "
            pos += size
            nxt = hnxt
        return out + self._transport(
            nxt, body[pos:], plen - pos, src, dst, False, ip[8:24], ip[24:40]
        )

    # ---------------------------------------------------------------------- transports
    def _transport(
        self,
        proto: int,
        l4: bytes,
        paylen: int,
        src: str,
        dst: str,
        addrs: bool,
        sa: bytes,
        da: bytes,
    ) -> str:
        """``addrs``: the transport prints the addresses with its ports (tcpdump does when
        it follows the IP header directly), else the ports alone. ``sa``/``da``: the
        addresses as sent (TCP's conversations are keyed by them)."""
        if proto == 17:
            if len(l4) < 8:
                return f"{src} > {dst}:  [|udp]" if addrs else " [|udp]"
            sport, dport, ulen = struct.unpack_from("!HHH", l4)
            ends = f"{src}.{sport} > {dst}.{dport}" if addrs else f"{sport} > {dport}"
            return f"{ends}: UDP, length {ulen - 8 if ulen >= 8 else ulen}"
        if proto == 6:
            return self._tcp_line(l4, paylen, src, dst, addrs, sa, da)
        head = f"{src} > {dst}: " if addrs else ""
        if proto == 1:
            return head + self._icmp(l4, paylen)
        if proto == 58:
            return head + self._icmp6(l4, paylen)
        if addrs:
            return f"{src} > {dst}:  ip-proto-{proto} {paylen}"
        return f"ip-proto-{proto} {paylen}"

    def _tcp_line(
        self, t: bytes, paylen: int, src: str, dst: str, addrs: bool, sa: bytes, da: bytes
    ) -> str:
        if len(t) < 20:
            return f"{src} > {dst}:  [|tcp]" if addrs else " [|tcp]"
        sport, dport, seq, ack, off_flags, win, _sum, urp = struct.unpack_from("!HHIIHHHH", t)
        hlen = (off_flags >> 12) * 4
        flags = off_flags & 0xFF
        ends = f"{src}.{sport} > {dst}.{dport}" if addrs else f"{sport} > {dport}"
        if hlen < 20:
            return f"{ends}: tcp {paylen} [bad hdr length {hlen} - too short, < 20]"
        length = paylen - hlen
        if self.quiet:
            return f"{ends}: tcp {length if length >= 0 else 0}"
        thseq = thack = 0
        rev = False
        if flags & 0x10 and not self.absolute:
            seq, ack, thseq, thack, rev = self.relative(sa, da, sport, dport, seq, ack, flags)
        names = "".join(ch for bit, ch in _TCP_FLAGS if flags & bit) or "none"
        out = f"{ends}: Flags [{names}]"
        if length > 0 or flags & 0x07:
            out += f", seq {seq}"
            if length > 0:
                out += f":{(seq + length) & _U32}"
        if flags & 0x10:
            out += f", ack {ack}"
        out += f", win {win}"
        if flags & 0x20:
            out += f", urg {urp}"
        if hlen > 20:
            opts = tcp_options(t[20:hlen], thack if not rev else thseq)
            out += f", options [{opts}]"
        return out + f", length {length}"

    def relative(
        self, a: bytes, b: bytes, sport: int, dport: int, seq: int, ack: int, flags: int
    ) -> tuple[int, int, int, int, bool]:
        """tcpdump's relative sequence numbers: the first ACK-bearing packet of a
        conversation (or any SYN) records its numbers; later ones print differences.
        ``a``/``b``: the source and destination addresses as sent."""
        rev = a > b or (a == b and sport > dport)
        conv = (b, a, dport, sport) if rev else (a, b, sport, dport)
        known = self._tcp.get(conv)
        if known is None or flags & 0x02:
            th_seq, th_ack = ((ack - 1) & _U32, seq) if rev else (seq, (ack - 1) & _U32)
            self._tcp[conv] = (th_seq, th_ack)
            return seq, ack, th_seq, th_ack, rev
        th_seq, th_ack = known
        if rev:
            return (seq - th_ack) & _U32, (ack - th_seq) & _U32, th_seq, th_ack, rev
        return (seq - th_seq) & _U32, (ack - th_ack) & _U32, th_seq, th_ack, rev

    def _icmp(self, p: bytes, paylen: int) -> str:
        if len(p) < 4:
            return "ICMP [|icmp]"
        itype, code = p[0], p[1]
        if itype in (0, 8) and len(p) >= 8:
            ident, seq = struct.unpack_from("!HH", p, 4)
            return f"ICMP {_ICMP_TYPES[itype]}, id {ident}, seq {seq}, length {paylen}"
        if itype == 3 and len(p) >= 28:
            inner = p[8:]
            idst = _ip4(inner[16:20])
            what = {0: f"net {idst} unreachable", 1: f"host {idst} unreachable"}.get(code)
            if code == 2:
                what = f"{idst} protocol {inner[9]} unreachable"
            elif code == 3:
                ihl = (inner[0] & 0xF) * 4
                proto = _IP_PROTOS.get(inner[9], f"ip-proto-{inner[9]}")
                if len(inner) >= ihl + 4:
                    port = struct.unpack_from("!H", inner, ihl + 2)[0]
                    what = f"{idst} {proto} port {port} unreachable"
            if what is None:
                what = f"{idst} unreachable - code {code}"
            return f"ICMP {what}, length {paylen}"
        if itype == 11:
            what = "time exceeded in-transit" if code == 0 else "ip reassembly time exceeded"
            return f"ICMP {what}, length {paylen}"
        name = _ICMP_TYPES.get(itype, f"type-#{itype}")
        return f"ICMP {name}, length {paylen}"

    def _icmp6(self, p: bytes, paylen: int) -> str:
        if len(p) < 4:
            return "ICMP6 [|icmp6]"
        itype = p[0]
        name = _ICMP6_TYPES.get(itype, f"unknown icmp6 type ({itype})")
        if itype in (128, 129) and len(p) >= 8:
            ident, seq = struct.unpack_from("!HH", p, 4)
            return f"ICMP6, {name}, id {ident}, seq {seq}, length {paylen}"
        if itype == 135 and len(p) >= 24:
            return f"ICMP6, {name}, who has {_ip6(p[8:24])}, length {paylen}"
        if itype == 136 and len(p) >= 24:
            return f"ICMP6, {name}, tgt is {_ip6(p[8:24])}, length {paylen}"
        return f"ICMP6, {name}, length {paylen}"


def tcp_options(opts: bytes, base: int) -> str:
    """tcpdump's option list: mss, wscale, sackOK, sack (relative to ``base``), TS, nop, eol."""
    out: list[str] = []
    i = 0
    while i < len(opts):
        kind = opts[i]
        if kind == 0:
            out.append("eol")
            break
        if kind == 1:
            out.append("nop")
            i += 1
            continue
        if i + 1 >= len(opts):
            out.append(f"opt-{kind}:[|tcp]")
            break
        size = opts[i + 1]
        body = opts[i + 2 : i + size]
        if size < 2 or i + size > len(opts):
            out.append(f"opt-{kind}[len {size}] [bad opt]")
            break
        if kind == 2 and size == 4:
            out.append(f"mss {struct.unpack('!H', body)[0]}")
        elif kind == 3 and size == 3:
            out.append(f"wscale {body[0]}")
        elif kind == 4 and size == 2:
            out.append("sackOK")
        elif kind == 5 and (size - 2) % 8 == 0:
            blocks = [struct.unpack_from("!II", body, j) for j in range(0, size - 2, 8)]
            spans = "".join(f"{{{(s - base) & _U32}:{(e - base) & _U32}}}" for s, e in blocks)
            out.append(f"sack {len(blocks)} {spans}")
        elif kind == 8 and size == 10:
            val, ecr = struct.unpack("!II", body)
            out.append(f"TS val {val} ecr {ecr}")
        else:
            out.append(f"opt-{kind}:{body.hex()}" if body else f"opt-{kind}")
        i += size
    return ",".join(out)


# -------------------------------------------------------------------------- time columns
class Clock:
    """tcpdump's timestamp column: ``-t`` count 0 (time of day), 1 (none), 2 (epoch),
    3 (delta since the previous packet), 4 (date and time), 5 (delta since the first)."""

    def __init__(self, tflag: int, nano: bool = False) -> None:
        self.tflag = tflag
        #: --nano / --time-stamp-precision=nano: 9 digits of fraction, not 6
        self.unit, self.width = (1, 9) if nano else (1000, 6)
        self._first: int | None = None
        self._prev: int | None = None
        self._sec = -1  # the second whose local time is in _clock (one strftime a second)
        self._clock = ""

    def _local(self, sec: int, fmt: str) -> str:
        if sec != self._sec:
            self._sec = sec
            self._clock = time.strftime(fmt, time.localtime(sec))
        return self._clock

    def stamp(self, tstamp: int) -> str:
        """The column with its trailing space ('' for -t)."""
        t = self.tflag
        if t == 1:
            return ""
        unit, width = self.unit, self.width
        sec, ns = divmod(tstamp, 1_000_000_000)
        frac = f"{ns // unit:0{width}d}"
        if t == 0:
            return f"{self._local(sec, '%H:%M:%S')}.{frac} "
        if t == 2:
            return f"{sec}.{frac} "
        if t == 4:
            return f"{self._local(sec, '%Y-%m-%d %H:%M:%S')}.{frac} "
        if self._first is None:
            self._first = self._prev = tstamp
        since = self._prev if t == 3 else self._first
        self._prev = tstamp
        delta = tstamp // unit - since // unit  # in the precision printed, as tcpdump's
        sign = "-" if delta < 0 else " "
        secs, part = divmod(abs(delta), 1_000_000_000 // unit)
        hours, rest = divmod(secs, 3600)
        return f"{sign}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}.{part:0{width}d} "


# -------------------------------------------------------------------------- dumps
def hex_dump(data: Any) -> str:
    """tcpdump -x: 16 bytes per line, in 16-bit groups, each line indented by a tab."""
    lines = []
    for at in range(0, len(data), 16):
        chunk = bytes(data[at : at + 16])
        groups = " ".join(chunk[i : i + 2].hex() for i in range(0, len(chunk), 2))
        lines.append(f"\n\t0x{at:04x}:  {groups}")
    return "".join(lines)


def hex_ascii_dump(data: Any) -> str:
    """tcpdump -X: hex_dump's lines with the printable bytes beside them."""
    lines = []
    for at in range(0, len(data), 16):
        chunk = bytes(data[at : at + 16])
        groups = " ".join(chunk[i : i + 2].hex() for i in range(0, len(chunk), 2))
        text = "".join(chr(b) if 0x21 <= b <= 0x7E else "." for b in chunk)
        lines.append(f"\n\t0x{at:04x}:  {groups:<39}  {text}")
    return "".join(lines)


def ascii_dump(data: Any) -> str:
    """tcpdump -A: the bytes as text, unprintable ones as '.', a CR before LF dropped."""
    raw = bytes(data)
    out = ["\n"]
    n = len(raw)
    for i, b in enumerate(raw):
        if b == 0x0D:
            if i + 1 == n or raw[i + 1] != 0x0A:
                out.append(".")
        elif 0x21 <= b <= 0x7E or b in (0x09, 0x20, 0x0A):
            out.append(chr(b))
        else:
            out.append(".")
    return "".join(out)
