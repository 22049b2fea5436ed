"""AF_PACKET raw socket bound to one interface: the live-capture plumbing under open_live.

PacketSocket opens an AF_PACKET/SOCK_RAW socket, configures it in the order that lets no
unwanted packet in (options and filter first while the socket has protocol 0 and so receives
nothing, then bind with ETH_P_ALL, then PACKET_ADD_MEMBERSHIP and PACKET_FANOUT), and
receives one packet at a time with recvmsg_into into caller memory. Each packet's metadata
comes from PACKET_AUXDATA (tpacket_auxdata: wire length, snap length, VLAN TCI/TPID),
SCM_TIMESTAMPNS (integer nanoseconds) and sockaddr_ll (sll_pkttype). The kernel strips the
802.1Q tag into skb metadata before the packet reaches the socket; recv_into puts it back so
the caller gets the frame as it was on the wire.

The batch (recvmmsg) and ring (TPACKET_V3) receive paths live in fragpool.io.live.recvmmsg and
fragpool.io.live.tpacket and build on this socket.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import sys
from typing import NamedTuple

from . import socket_filter
from .errors import FilterError, LiveCaptureError, permission_error
from .if_packet import (
    AF_PACKET,
    ETH_P_8021Q,
    ETH_P_ALL,
    FANOUT_MODES,
    PACKET_ADD_MEMBERSHIP,
    PACKET_AUXDATA,
    PACKET_FANOUT,
    PACKET_FANOUT_FLAG_DEFRAG,
    PACKET_FANOUT_FLAG_ROLLOVER,
    PACKET_IGNORE_OUTGOING,
    PACKET_MR_PROMISC,
    PACKET_MREQ,
    PACKET_STATISTICS,
    PKTTYPE_NAMES,
    SCM_TIMESTAMPNS,
    SO_RCVBUFFORCE,
    SO_TIMESTAMPNS,
    SOL_PACKET,
    SOL_SOCKET,
    TIMESPEC,
    TP_STATUS_VLAN_TPID_VALID,
    TP_STATUS_VLAN_VALID,
    TPACKET_AUXDATA,
    TPACKET_STATS,
    TPACKET_STATS_V3,
    TPACKET_V1,
    TPACKET_V3,
    VLAN_HLEN,
    VLAN_TAG,
)

__all__ = [
    "DEFAULT_SNAPLEN",
    "FilterError",
    "LiveCaptureError",
    "PKTTYPE_NAMES",
    "PacketMeta",
    "PacketSocket",
    "ifindex_of",
    "reinsert_vlan",
]

DEFAULT_SNAPLEN = 262144
_ANC_BUFSIZE = socket.CMSG_SPACE(TIMESPEC.size) + socket.CMSG_SPACE(TPACKET_AUXDATA.size)


class PacketMeta(NamedTuple):
    """Per-packet metadata: lengths after VLAN re-insertion, time in ns, sll_pkttype, VLAN."""

    snaplen: int  # bytes captured into the caller's memory (tag included when re-inserted)
    wirelen: int  # length on the wire (tpacket_auxdata.tp_len, + 4 when a tag was re-inserted)
    ts_ns: int  # SCM_TIMESTAMPNS / tp_sec, tp_nsec as one integer; 0 if timestamps are off
    pkttype: int  # PACKET_HOST .. PACKET_OUTGOING (see PKTTYPE_NAMES)
    vlan_tci: int  # 0 when the frame carried no tag
    vlan_tpid: int  # 0x8100 / 0x88a8 when tagged, else 0
    status: int  # tp_status bits from the kernel


def ifindex_of(ifname: str) -> int:
    """The interface index for a name (if_nametoindex); LiveCaptureError naming it if missing."""
    if not isinstance(ifname, str) or not ifname:
        raise LiveCaptureError(errno.EINVAL, f"interface name must be a non-empty str: {ifname!r}")
    if len(ifname.encode()) >= 16:
        raise LiveCaptureError(errno.EINVAL, f"interface name too long (max 15 bytes): {ifname!r}")
    try:
        return socket.if_nametoindex(ifname)
    except OSError:
        raise LiveCaptureError(errno.ENODEV, f"no such network interface: {ifname!r}") from None


def vlan_of(status: int, tci: int, tpid: int) -> tuple[int, int]:
    """(tci, tpid) of a stripped tag from tp_status bits, or (0, 0) if the frame had none."""
    if status & TP_STATUS_VLAN_VALID or tci:
        return tci, (tpid if status & TP_STATUS_VLAN_TPID_VALID and tpid else ETH_P_8021Q)
    return 0, 0


def reinsert_vlan(buf: memoryview, n: int, tci: int, tpid: int) -> int:
    """Put an 802.1Q tag back after the MAC addresses of buf[:n], in place; returns n + 4.

    buf must have room for 4 more bytes. The kernel's counterpart is vlan_insert_tag.
    """
    if n < 12:
        raise LiveCaptureError(errno.EINVAL, f"frame of {n} bytes is too short for a VLAN tag")
    if len(buf) < n + VLAN_HLEN:
        raise LiveCaptureError(errno.ENOBUFS, "no room in the buffer to re-insert the VLAN tag")
    buf[16 : n + VLAN_HLEN] = buf[12:n]  # memoryview assignment is a memmove
    VLAN_TAG.pack_into(buf, 12, tpid, tci)
    return n + VLAN_HLEN


def _os_error(e: OSError, what: str, ifname: str) -> LiveCaptureError:
    if e.errno in (errno.EPERM, errno.EACCES):
        return permission_error(what)
    if e.errno in (errno.ENODEV, errno.ENXIO):
        return LiveCaptureError(e.errno, f"{what}: no such network interface: {ifname!r}")
    if e.errno == errno.ENETDOWN:
        return LiveCaptureError(e.errno, f"{what}: interface {ifname!r} is down")
    return LiveCaptureError(e.errno, f"{what} on {ifname!r}: {e.strerror}")


class PacketSocket:
    """An AF_PACKET SOCK_RAW socket bound to one interface, with auxdata and ns timestamps.

    ``filter`` is a tcpdump expression (compiled by fragpool.io.live.socket_filter) or
    None; ``snaplen`` caps what the kernel copies (through the filter's return value).
    ``fanout=(group_id, mode)`` or ``(group_id, mode, flags)`` joins a PACKET_FANOUT group
    (see set_fanout). ``start=False`` leaves the socket unbound so a ring can be set up
    first (TPacketV3Ring does this); call start() then.
    """

    def __init__(
        self,
        ifname: str,
        *,
        snaplen: int = DEFAULT_SNAPLEN,
        promisc: bool = False,
        filter: str | None = None,
        linktype: str | None = None,
        fanout: tuple | None = None,
        timestamps: bool = True,
        ignore_outgoing: bool = False,
        rcvbuf: int | None = None,
        start: bool = True,
    ) -> None:
        if not isinstance(snaplen, int) or not 1 <= snaplen <= 0x7FFFFFFF:
            raise LiveCaptureError(errno.EINVAL, f"snaplen must be 1..2147483647, not {snaplen!r}")
        _check_os()
        self.ifname = ifname
        self.ifindex = ifindex_of(ifname)
        self.snaplen = snaplen
        self.promisc = promisc
        self.linktype = linktype or socket_filter.linktype_for(ifname)
        self.filter: str | None = None
        self.tpacket_version = TPACKET_V1
        self._fanout = fanout
        self._totals = {"packets": 0, "drops": 0, "freeze_q_cnt": 0}
        self._timeout: float | None = None
        self._started = False
        self._poll: select.poll | None = None
        try:
            # Protocol 0: the socket sees nothing until bind() names ETH_P_ALL.
            self.sock = socket.socket(AF_PACKET, socket.SOCK_RAW, 0)
        except OSError as e:
            raise _os_error(e, "opening an AF_PACKET socket", ifname) from None
        try:
            self._setopt(SOL_PACKET, PACKET_AUXDATA, 1, "enabling PACKET_AUXDATA")
            if timestamps:
                self._setopt(SOL_SOCKET, SO_TIMESTAMPNS, 1, "enabling SO_TIMESTAMPNS")
            if ignore_outgoing:
                self._setopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING")
            if rcvbuf is not None:
                self._setopt(SOL_SOCKET, SO_RCVBUFFORCE, int(rcvbuf), "setting SO_RCVBUFFORCE")
            self._apply_filter(filter)
            if start:
                self.start()
        except BaseException:
            self.sock.close()
            raise

    # -- set-up ---------------------------------------------------------------------------

    def grow_rcvbuf(self, nbytes: int) -> int:
        """Make the receive queue at least ``nbytes`` (sk_rcvbuf): SO_RCVBUFFORCE with
        CAP_NET_ADMIN, else SO_RCVBUF, which net.core.rmem_max caps. Returns the size the
        kernel now grants (it doubles what it is given, for its own overhead)."""
        if self.sock.getsockopt(SOL_SOCKET, socket.SO_RCVBUF) < 2 * nbytes:
            try:
                self.sock.setsockopt(SOL_SOCKET, SO_RCVBUFFORCE, nbytes)
            except PermissionError:
                self._setopt(SOL_SOCKET, socket.SO_RCVBUF, nbytes, "setting SO_RCVBUF")
        return self.sock.getsockopt(SOL_SOCKET, socket.SO_RCVBUF)

    def _setopt(self, level: int, opt: int, value: int | bytes, what: str) -> None:
        try:
            self.sock.setsockopt(level, opt, value)
        except OSError as e:
            raise _os_error(e, what, self.ifname) from None

    def _apply_filter(self, expr: str | None) -> None:
        if expr is None:
            if self.snaplen < DEFAULT_SNAPLEN:
                socket_filter.attach_filter(self.sock, socket_filter.accept_all(self.snaplen))
            else:
                socket_filter.detach_filter(self.sock)
        else:
            insns = socket_filter.compile_filter(expr, snaplen=self.snaplen, linktype=self.linktype)
            socket_filter.attach_filter(self.sock, insns)
        self.filter = expr

    def start(self) -> None:
        """Bind to the interface with ETH_P_ALL, then promiscuous mode and fanout if asked."""
        if self._started:
            return
        try:
            self.sock.bind((self.ifname, ETH_P_ALL))
        except OSError as e:
            raise _os_error(e, "binding the AF_PACKET socket", self.ifname) from None
        self._started = True
        if self.promisc:
            mreq = PACKET_MREQ.pack(self.ifindex, PACKET_MR_PROMISC, 0, b"")
            self._setopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq, "PACKET_ADD_MEMBERSHIP promisc")
        if self._fanout is not None:
            self.set_fanout(*self._fanout)

    def set_filter(self, expr: str | None) -> None:
        """Replace the filter without letting earlier-queued packets through.

        As libpcap does: attach a match-nothing program, drain the receive queue, then attach
        the real one. (On a TPACKET_V3 socket packets already written to ring blocks were
        accepted under the previous filter; the drain only empties the socket queue.)
        """
        insns = None
        if expr is not None:
            insns = socket_filter.compile_filter(expr, snaplen=self.snaplen, linktype=self.linktype)
        socket_filter.attach_filter(self.sock, socket_filter.match_nothing())
        self.drain()
        if insns is None:
            self._apply_filter(None)
        else:
            socket_filter.attach_filter(self.sock, insns)
            self.filter = expr

    def drain(self) -> int:
        """Discard every packet queued on the socket now; returns how many were dropped."""
        n = 0
        scratch = bytearray(1)
        while True:
            try:
                self.sock.recv_into(scratch, 1, socket.MSG_DONTWAIT | socket.MSG_TRUNC)
            except (BlockingIOError, InterruptedError):
                return n
            n += 1

    def set_fanout(self, group_id: int, mode: str = "hash", flags: tuple[str, ...] = ()) -> None:
        """Join PACKET_FANOUT group group_id with mode hash, lb, cpu, rollover, rnd or qm.

        flags may hold "rollover" (PACKET_FANOUT_FLAG_ROLLOVER) and "defrag". Every socket of
        a group must use the same mode and flags; the kernel spreads packets among them.
        """
        if not isinstance(group_id, int) or not 0 <= group_id <= 0xFFFF:
            raise LiveCaptureError(errno.EINVAL, f"fanout group id must be 0..65535: {group_id!r}")
        try:
            type_flags = FANOUT_MODES[mode]
        except KeyError:
            raise LiveCaptureError(
                errno.EINVAL, f"unknown fanout mode {mode!r}; one of {sorted(FANOUT_MODES)}"
            ) from None
        for flag in flags:
            if flag == "rollover":
                type_flags |= PACKET_FANOUT_FLAG_ROLLOVER
            elif flag == "defrag":
                type_flags |= PACKET_FANOUT_FLAG_DEFRAG
            else:
                raise LiveCaptureError(errno.EINVAL, f"unknown fanout flag {flag!r}")
        if not self._started:
            self._fanout = (group_id, mode, tuple(flags))
            return
        try:
            arg = (group_id | (type_flags << 16)).to_bytes(4, sys.byteorder)  # u32 > INT_MAX
            self.sock.setsockopt(SOL_PACKET, PACKET_FANOUT, arg)
        except OSError as e:
            if e.errno == errno.EINVAL:
                raise LiveCaptureError(
                    e.errno,
                    f"PACKET_FANOUT group {group_id} refused the socket: the group exists "
                    "with another mode or flags, or on another interface",
                ) from None
            raise _os_error(e, "PACKET_FANOUT", self.ifname) from None
        self._fanout = (group_id, mode, tuple(flags))

    # -- state ----------------------------------------------------------------------------

    def fileno(self) -> int:
        """The socket's file descriptor."""
        return self.sock.fileno()

    def stats(self) -> dict[str, int]:
        """PACKET_STATISTICS totals since open: {packets, drops, freeze_q_cnt}.

        The kernel resets its counters on each read, so they are accumulated here. packets
        counts every packet the filter accepted, drops included (tpacket_stats semantics).
        """
        if self.tpacket_version == TPACKET_V3:
            raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, TPACKET_STATS_V3.size)
            packets, drops, freeze = TPACKET_STATS_V3.unpack(raw)
        else:
            raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, TPACKET_STATS.size)
            packets, drops = TPACKET_STATS.unpack(raw)
            freeze = 0
        t = self._totals
        t["packets"] += packets
        t["drops"] += drops
        t["freeze_q_cnt"] += freeze
        return dict(t)

    def wait_readable(self, timeout: float | None) -> bool:
        """poll(2) for POLLIN; True when something is ready within timeout seconds (None: wait)."""
        if self._poll is None:
            self._poll = select.poll()
            self._poll.register(self.sock.fileno(), select.POLLIN | select.POLLERR)
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        while True:
            try:
                return bool(self._poll.poll(ms))
            except InterruptedError:
                continue

    # -- receive --------------------------------------------------------------------------

    def recv_into(
        self, buf: memoryview | bytearray, timeout: float | None = None, *, vlan: bool = True
    ) -> tuple[int, PacketMeta] | None:
        """Receive one frame into buf (recvmsg_into); (nbytes, PacketMeta), None on timeout.

        With vlan=True the last 4 bytes of buf are kept free so a stripped 802.1Q tag can be
        put back in place; nbytes then counts the tag. timeout=None blocks, 0 polls.
        """
        view = buf if isinstance(buf, memoryview) else memoryview(buf)
        if timeout != self._timeout:
            self.sock.settimeout(timeout)
            self._timeout = timeout
        room = len(view) - VLAN_HLEN if vlan else len(view)
        if room <= 0:
            raise LiveCaptureError(
                errno.ENOBUFS, f"receive buffer of {len(view)} bytes is too small"
            )
        try:
            n, anc, _flags, addr = self.sock.recvmsg_into([view[:room]], _ANC_BUFSIZE)
        except (TimeoutError, BlockingIOError):
            return None
        ts_ns = 0
        status = wirelen = 0
        tci = tpid = 0
        for level, kind, data in anc:
            if level == SOL_PACKET and kind == PACKET_AUXDATA:
                status, wirelen, _snap, _mac, _net, tci, tpid = TPACKET_AUXDATA.unpack_from(data)
            elif level == SOL_SOCKET and kind == SCM_TIMESTAMPNS:
                sec, nsec = TIMESPEC.unpack_from(data)
                ts_ns = sec * 1_000_000_000 + nsec
        tci, tpid = vlan_of(status, tci, tpid)
        if tpid:
            wirelen += VLAN_HLEN
            if vlan:
                n = reinsert_vlan(view, n, tci, tpid)
        return n, PacketMeta(n, wirelen, ts_ns, addr[2], tci, tpid, status)

    # -- teardown -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the socket (the kernel drops promiscuous membership and fanout with it)."""
        with contextlib.suppress(OSError):
            self.sock.close()

    @property
    def closed(self) -> bool:
        """True once close() ran."""
        return self.sock.fileno() < 0

    def __enter__(self) -> PacketSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self.sock.fileno()}"
        return f"<PacketSocket {self.ifname!r} {state} filter={self.filter!r}>"


def _check_os() -> None:
    if not hasattr(socket, "AF_PACKET") or os.uname().sysname != "Linux":
        raise LiveCaptureError(errno.ENOTSUP, "AF_PACKET capture needs Linux")
