"""open_live: an AF_PACKET RX device that hands out skbs on pooled or ring memory.

:func:`open_live` (libpcap's pcap_open_live) opens one interface in one of three receive
modes and returns a :class:`LiveCapture`: an iterator of skbs and a context manager, with
``.linktype``, ``.stats()``, :meth:`LiveCapture.recv_batch` (NAPI-style, up to a budget)
and :meth:`LiveCapture.close`, which reports what is still in flight.

- ``recv_into``: one recvmsg per packet (libc via ctypes) into the free tail of a pool page;
- ``recvmmsg``: one recvmmsg per batch, iovecs carved from a pool page;
- ``tpacket_v3``: a TPACKET_V3 ring; skbs built in place in kernel-filled blocks, a block
  handed back when its last skb is freed, held packets copied out when the ring runs short.

Every skb has ``tstamp`` (int ns), ``wire_len``, ``pkt_type`` (PACKET_HOST ..
PACKET_OUTGOING), ``vlan_tci`` (a stripped 802.1Q tag is re-inserted into the bytes),
``ifindex`` and ``linktype``. Free each skb (``skb.free()``) when done: that is what lets
pool pages be reused and ring blocks go back to the kernel.

The pool: with ``allocator=None`` each capture gets a PageAllocator of its own (so several
fanout workers each have their own pool), with compound pages large enough for the
interface's largest frame. Frames longer than MTU + link header + 4 (GSO/GRO aggregates on
some NICs) are truncated to that in the socket modes; ``wire_len`` keeps their length.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import NamedTuple

from ...mm import PAGE_SIZE, PageAllocator
from ...skb import SkBuff
from ...stats import Snapshot
from ..backlog import ALL, Backlog
from ..files import linktypes
from .errors import LiveCaptureError
from .if_packet import VLAN_HLEN
from .interface import interface_mtu
from .packet_socket import DEFAULT_SNAPLEN, PacketSocket
from .pool_cursor import ALIGN, PoolCursor
from .skb_stream import SkbStream
from .tpacket import RingReport

MODES = ("recv_into", "recvmmsg", "tpacket_v3")
#: Every mode open_live takes: the AF_PACKET ones and AF_XDP.
ALL_MODES = (*MODES, "af_xdp")
#: Link-layer header bytes in front of the MTU, per tcpdump link-type name.
_LINK_HEADER = {"EN10MB": 14, "RAW": 0}
_LINKTYPE_NUMBER = {name: num for num, name in linktypes.NAMES.items()}
#: Order of the compound pages of a capture's own pool (128 KiB): a recvmmsg batch of 64
#: full-size Ethernet slots fits in one page.
POOL_ORDER = 5
#: The socket modes' receive queue when rcvbuf is not given: libpcap's default buffer
#: (2 MiB, tcpdump -B 2048), not the kernel's ~212 KiB, which holds ~280 small frames and
#: overflows in any millisecond the receiver is away.
DEFAULT_RCVBUF = 2 << 20


class LiveReport(NamedTuple):
    """What close() found: pool pages still held by skbs, ring blocks not back."""

    clean: bool  # nothing in flight: every pool page free, every ring block back
    pages_in_flight: int  # pool pages still referenced (skbs the user holds; whole allocator)
    blocks_held: int  # ring blocks that could not go back (held by cloned skbs)
    moved_at_close: int  # in-ring skbs copied to pool memory by close()
    discarded: int  # packets received by the kernel after the last poll, never handed out


def max_frame(ifname: str, linktype: str, snaplen: int) -> int:
    """The receive buffer per packet: MTU + link header + 4 (VLAN), capped by snaplen + 4."""
    frame = interface_mtu(ifname) + _LINK_HEADER.get(linktype, 0) + VLAN_HLEN
    return min(frame, snaplen + VLAN_HLEN)


def _order_for(nbytes: int, page_size: int) -> int:
    order = 0
    while page_size << order < nbytes:
        order += 1
    return order


class LiveCapture(SkbStream):
    """A live capture on one interface: skbs from pool pages or ring blocks.

    Use :func:`open_live` to make one. See the module docstring for the modes.
    """

    def __init__(
        self,
        ifname: str,
        snaplen: int = DEFAULT_SNAPLEN,
        promisc: bool = False,
        filter: str | None = None,
        mode: str = "tpacket_v3",
        fanout: tuple | None = None,
        allocator: PageAllocator | None = None,
        *,
        batch: int = 64,
        block_size: int = 1 << 20,
        block_nr: int = 16,
        retire_tov_ms: int = 10,
        copybreak_at: int | None = None,
        rcvbuf: int | None = None,
        ignore_outgoing: bool = False,
    ) -> None:
        if mode not in MODES:
            modes = ", ".join(ALL_MODES)
            raise LiveCaptureError(errno.EINVAL, f"unknown mode {mode!r}; one of {modes}")
        if not isinstance(batch, int) or not 1 <= batch <= 1024:
            raise LiveCaptureError(errno.EINVAL, f"batch must be 1..1024, not {batch!r}")
        self.ifname = ifname
        self.mode = mode
        self.snaplen = snaplen
        self._closed = False
        self._report: LiveReport | None = None
        self._backlog = Backlog()
        self.packets_received = 0
        #: times the link went down while capturing (each survived; see _link_down)
        self.link_downs = 0
        opts = {
            "snaplen": snaplen,
            "promisc": promisc,
            "filter": filter,
            "fanout": fanout,
            "ignore_outgoing": ignore_outgoing,
        }
        if rcvbuf is not None:
            opts["rcvbuf"] = rcvbuf
        if mode == "tpacket_v3":
            from .tpacket import TPacketV3Ring

            ring = TPacketV3Ring(
                ifname,
                block_size=block_size,
                block_nr=block_nr,
                retire_tov_ms=retire_tov_ms,
                **opts,
            )
            sock = ring.sock
        else:
            ring = None
            sock = PacketSocket(ifname, **opts)
            if rcvbuf is None:
                try:
                    sock.grow_rcvbuf(DEFAULT_RCVBUF)
                except BaseException:
                    sock.close()
                    raise
        try:
            self._setup(sock, ring, allocator, batch, copybreak_at)
        except BaseException:
            (ring or sock).close()
            raise

    def _setup(self, sock, ring, allocator, batch, copybreak_at) -> None:
        self.sock = sock
        self.ifindex = sock.ifindex
        self.linktype_name = sock.linktype
        self.linktype = _LINKTYPE_NUMBER.get(sock.linktype, linktypes.LINKTYPE_ETHERNET)
        frame = max_frame(self.ifname, sock.linktype, self.snaplen)
        self.frame = frame = (frame + ALIGN - 1) & -ALIGN
        if allocator is None:
            order = max(POOL_ORDER, _order_for(frame, PAGE_SIZE))
            if order > 10:
                raise LiveCaptureError(
                    errno.EINVAL, f"frames of {frame} bytes are too large for the pool; lower -s"
                )
            arena = max(1 << 20, 4 * PAGE_SIZE << order)
            allocator = PageAllocator(max_order=order, arena_size=arena)
            self._own_pool = True
        else:
            self._own_pool = False
            if frame > allocator.max_block:
                raise LiveCaptureError(
                    errno.EINVAL,
                    f"frames of up to {frame} bytes do not fit the allocator's largest page "
                    f"({allocator.max_block} bytes); pass a smaller snaplen",
                )
        self.pa = allocator
        self.cursor = PoolCursor(allocator, allocator.max_order)
        if ring is not None:
            from .ring_receive import RingRx

            at = ring.block_nr // 2 if copybreak_at is None else copybreak_at
            self.rx = RingRx(ring, self.cursor, self.snaplen, self.linktype, at)
        elif self.mode == "recvmmsg":
            from .socket_receive import MmsgRx

            self.rx = MmsgRx(sock, self.cursor, frame, self.snaplen, self.linktype, batch=batch)
        else:
            from .socket_receive import RecvIntoRx

            self.rx = RecvIntoRx(sock, self.cursor, frame, self.snaplen, self.linktype)
        if ring is None:  # socket buffers follow the MTU if it grows while capturing
            self.rx.resize = self._largest_frame

    def _largest_frame(self) -> int:
        """The receive buffer the interface needs now (its MTU may have grown since open)."""
        return (max_frame(self.ifname, self.sock.linktype, self.snaplen) + ALIGN - 1) & -ALIGN

    # ------------------------------------------------------------------ receive
    def recv_batch(self, budget: int = 64, timeout: float | None = None) -> list[SkBuff]:
        """Up to ``budget`` skbs (NAPI poll); [] when nothing came within ``timeout`` seconds.

        ``timeout=None`` waits until a packet comes; 0 only takes what is already there.
        """
        if budget < 1:
            raise ValueError(f"budget {budget} must be >= 1")
        if self._closed:
            raise LiveCaptureError(errno.EBADF, f"capture on {self.ifname!r} is closed")
        pending = self._backlog.take(budget)
        if pending:
            return pending
        out: list[SkBuff] = []
        try:
            self.rx.poll(budget, timeout, out)
        except LiveCaptureError as e:
            if not self._link_down(e.errno):
                raise
        except OSError as e:
            if not self._link_down(e.errno):
                raise self._gone(e.errno or errno.EIO) from None
        if out:
            self.packets_received += len(out)
        else:
            self._check_socket()
        return out

    def _check_socket(self) -> None:
        """SO_ERROR after an empty poll: the link went down (survived) or the interface
        went away (the end of the capture)."""
        err = self.sock.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err and not self._link_down(err):
            raise self._gone(err)

    def _link_down(self, err: int | None) -> bool:
        """ENETDOWN from an interface that still exists is a link going down: the kernel
        unhooks the socket and hooks it again when the link comes up (packet_notifier), so
        the capture goes on, as tcpdump's does, and ``link_downs`` counts it."""
        if err != errno.ENETDOWN:
            return False
        try:
            if socket.if_nametoindex(self.ifname) != self.sock.ifindex:
                return False  # a new interface of the same name: not ours
        except OSError:
            return False
        self.link_downs += 1
        return True

    def _gone(self, err: int) -> LiveCaptureError:
        if err in (errno.ENETDOWN, errno.ENXIO, errno.ENODEV):
            return LiveCaptureError(
                err, f"interface {self.ifname!r} went away during the capture ({os.strerror(err)})"
            )
        return LiveCaptureError(err, f"interface {self.ifname!r} failed: {os.strerror(err)}")

    # ------------------------------------------------------------------ state
    def fileno(self) -> int:
        """The socket's descriptor (poll it for POLLIN)."""
        return self.sock.fileno()

    def set_filter(self, expr: str | None) -> None:
        """Replace the filter (tcpdump syntax; None accepts everything)."""
        self.sock.set_filter(expr)

    @property
    def bytes_received(self) -> int:
        """Bytes of the skbs handed out (each receive path counts them as it builds them)."""
        return self.rx.bytes

    def pages_in_use(self) -> int:
        """Compound pages of the pool still referenced (all users of a shared allocator)."""
        return self.pa.in_use_pages()

    def stats(self) -> Snapshot:
        """PACKET_STATISTICS (packets, drops, freeze_q_cnt, accumulated) and pool counters.

        ``packets`` counts every packet the filter accepted, drops included; ``received``
        the skbs handed out; ``dropped_no_mem`` packets dropped for want of pool memory.
        The kernel runs the filter on the socket and keeps no count of what it rejected, so
        unlike a filtered file's ``filter_dropped`` that number is not known here.
        """
        kernel = dict(self.sock._totals) if self._closed else self.sock.stats()
        snap = Snapshot(kernel)
        snap.update(
            received=self.packets_received,
            link_downs=self.link_downs,
            bytes=self.bytes_received,
            pages_in_use=self.pa.in_use_pages(),
            **self.cursor.stats(),
        )
        rx = self.rx
        if self.mode == "tpacket_v3":
            snap.update(
                blocks=rx.blocks,
                blocks_held=rx.ring.held_blocks,
                copybreak_skbs=rx.copybreak_skbs,
                copybreak_bytes=rx.copybreak_bytes,
                copybreak_fail=rx.copybreak_fail,
            )
        else:
            snap["dropped_no_mem"] = rx.dropped_no_mem
            snap["buffer_cut"] = rx.buffer_cut
            if self.mode == "recvmmsg":
                snap["syscalls"] = rx.syscalls
        return snap

    def close(self) -> LiveReport:
        """Stop receiving, free the skbs not handed out, hand the ring back, close the socket.

        skbs already handed out stay valid (in-ring ones are copied to pool memory first);
        their pool pages go when they are freed. The report counts what is still in flight,
        as page_pool_destroy does.
        """
        if self._report is not None:
            return self._report
        try:
            self.sock.stats()  # the last PACKET_STATISTICS before the socket goes
        except OSError:
            pass
        self._closed = True
        for skb in self._backlog.take(ALL):
            skb.free()
        moved = discarded = held = 0
        if self.mode == "tpacket_v3":
            before = self.rx.copybreak_skbs
            _ring_report, held = self.rx.close()
            moved = self.rx.copybreak_skbs - before
            discarded = self.rx.discarded_at_close
        else:
            self.rx.close()
        self.cursor.close()
        if self.pa.debug is not None:  # debug mode: name what is still in flight
            self.pa.debug.report(f"live capture on {self.ifname}")
        inflight = self.pa.in_use_pages()
        self._report = LiveReport(inflight == 0 and held == 0, inflight, held, moved, discarded)
        return self._report

    @property
    def ring_report(self) -> RingReport | None:
        """tpacket_v3: the ring's teardown report (every block back?) once it is closed.

        None before close(), in the socket modes, and while a cloned skb still holds a block
        (the ring closes when that skb is freed).
        """
        return self.rx.report if self.mode == "tpacket_v3" else None

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<LiveCapture {self.ifname!r} mode={self.mode} {state}>"


def open_live(
    ifname: str,
    snaplen: int = DEFAULT_SNAPLEN,
    promisc: bool | None = None,
    filter: str | None = None,
    mode: str = "tpacket_v3",
    fanout: tuple | None = None,
    allocator: PageAllocator | None = None,
    **options: object,
) -> LiveCapture:
    """pcap_open_live(): capture on ``ifname`` into skbs.

    ``snaplen`` 0 means the largest, 262144 (tcpdump's ``-s 0``). ``promisc`` is on unless
    False, as tcpdump's is (``-p`` turns it off): the socket joins the interface's
    promiscuous membership while open. With ``af_xdp`` it stays as the interface is set
    (AF_XDP has no membership of its own), and True is refused.

    ``mode`` is ``recv_into``, ``recvmmsg``, ``tpacket_v3`` or ``af_xdp`` (an AF_XDP queue,
    fragpool.io.live.xdp_capture: options ``queue``, ``xdp_mode`` auto/native/generic,
    ``frames``, ``frame_size``, ``headroom``, ``ring_size``, ``copybreak_at``,
    ``multi_buffer``; it takes the
    queue's frames away from the kernel's stack, where AF_PACKET copies them); ``filter`` a tcpdump
    expression (compiled with ``tcpdump -dd``); ``fanout=(group_id, mode)`` joins a
    PACKET_FANOUT group (hash, lb, cpu, rollover, ...) so several workers share the
    interface. Keyword options: ``batch`` (recvmmsg), ``block_size``, ``block_nr``,
    ``retire_tov_ms``, ``copybreak_at`` (held blocks above which held skbs are copied out;
    default half the ring), ``rcvbuf`` (the socket modes' receive queue in bytes; default
    2 MiB, libpcap's buffer), ``ignore_outgoing``. Raises LiveCaptureError (or
    its FilterError) with a one-line cause: missing interface, no permission, a filter that
    does not compile, a ring too large for memory.
    """
    if snaplen == 0:
        snaplen = DEFAULT_SNAPLEN
    if mode == "af_xdp":
        from .xdp_capture import XdpCapture

        if fanout is not None:
            raise ValueError("fanout is an AF_PACKET option: an AF_XDP socket owns its queue")
        return XdpCapture(ifname, snaplen, bool(promisc), filter, allocator, **options)  # type: ignore[arg-type]
    promisc = True if promisc is None else promisc
    return LiveCapture(ifname, snaplen, promisc, filter, mode, fanout, allocator, **options)
