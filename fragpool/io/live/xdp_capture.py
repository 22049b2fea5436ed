"""open_live(mode="af_xdp"): an AF_XDP queue as an RX device, its UMEM fragpool's pages.

The UMEM is the one arena of a PageAllocator of its own, every page held by the capture and
cut into chunks of ``frame_size`` (4096, or 2048: two to a page). The fill ring is the RX
descriptor ring, refilled from the free chunks; each frame becomes an skb on its chunk whose
head reference is the chunk's own count (a RefCount, as a TPACKET block's), so freeing the
skb drops it inline and the last one puts the chunk back on the free list: page_pool's
recycle, per chunk. Multi-buffer frames (XDP_USE_SG, chained with XDP_PKT_CONTD; 4096-byte
chunks) become one skb whose head is the first chunk and whose frags are the rest, up to
MAX_SKB_FRAGS; a frag holds a page reference, and its chunk comes back once the page is the
capture's alone. When skbs the user holds keep more than ``copybreak_at`` chunks, new frames
are copied into pool memory and their chunks go straight back, so held skbs never stall the
queue. The redirect program is attached with a BPF link (detached when the link closes, even
on SIGKILL); ``xdp_mode`` "auto" tries the driver's native XDP and falls back to generic (skb)
mode.

AF_XDP takes the frames of its queue away from the kernel's stack: while the capture is open
the interface's stack does not see what arrives on that queue (unlike AF_PACKET, which
copies). Veth and most drivers run it in copy mode; ``stats()["zerocopy"]`` says which.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import time
from typing import NamedTuple

from ...mm import PAGE_SIZE, Page, PageAllocator
from ...skb import SkBuff
from ...stats import Snapshot
from ..backlog import ALL, Backlog
from .errors import LiveCaptureError
from .interface import interface_mtu
from .pool_cursor import PoolCursor
from .skb_stream import SkbStream
from .socket_filter import compile_filter
from .xdp_program import XdpProgram
from .xdp_receive import XdpRx
from .xsk import XDP_PACKET_HEADROOM, XskSocket, frames_dropped

XDP_MODES = ("auto", "native", "generic")
DEFAULT_FRAMES = 4096
#: How long one wait lasts before the socket's error is checked and freed chunks posted.
WAIT_SLICE = 0.25
#: A partial batch waits this long once for more frames (interrupt moderation, as a NIC's
#: ethtool rx-usecs): fast streams arrive in full batches, a quiet link pays this latency.
DEFAULT_RX_USECS = 50
LINKTYPE_ETHERNET = 1


class XdpReport(NamedTuple):
    """What close() found, as page_pool_destroy reports it."""

    clean: bool  # every chunk back: none held by an skb
    chunks_in_flight: int  # UMEM chunks still held by skbs (they stay valid until freed)
    pages_in_flight: int  # copybreak pool pages still held by skbs


class XdpCapture(SkbStream):
    """An AF_XDP socket on one queue of ``ifname``; an iterator of skbs (see the module)."""

    def __init__(
        self,
        ifname: str,
        snaplen: int = 262144,
        promisc: bool = False,
        filter: str | None = None,  # noqa: A002 - libpcap's name
        allocator: PageAllocator | None = None,
        *,
        queue: int = 0,
        xdp_mode: str = "auto",
        frames: int = DEFAULT_FRAMES,
        frame_size: int = PAGE_SIZE,
        headroom: int = 0,
        ring_size: int | None = None,
        copybreak_at: int | None = None,
        need_wakeup: bool = True,
        multi_buffer: bool | None = None,
        rx_usecs: int = DEFAULT_RX_USECS,
    ) -> None:
        if xdp_mode not in XDP_MODES:
            raise ValueError(f"xdp_mode {xdp_mode!r}: choose one of {', '.join(XDP_MODES)}")
        if frame_size not in (2048, PAGE_SIZE):
            raise ValueError(
                f"frame_size {frame_size}: aligned UMEM chunks are 2048 (half a page) or "
                f"{PAGE_SIZE} bytes"
            )
        if frames < 2 or frames & (frames - 1):
            raise ValueError(f"frames {frames} must be a power of two >= 2")
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        if frames * frame_size > memory // 2:
            raise ValueError(
                f"frames {frames} x frame_size {frame_size} is a {frames * frame_size >> 20} "
                f"MiB UMEM, more than half of this machine's {memory >> 20} MiB of memory "
                "(the UMEM is locked in memory): use fewer frames"
            )
        if promisc:
            raise ValueError(
                "promisc with af_xdp: AF_XDP has no membership of its own; set the interface "
                f"promiscuous with `ip link set {ifname} promisc on`"
            )
        if not 0 <= headroom <= frame_size - XDP_PACKET_HEADROOM - 448:
            raise ValueError(f"headroom {headroom} must be between 0 and {frame_size - 704}")
        if not 0 <= rx_usecs <= 100_000:
            raise ValueError(f"rx_usecs {rx_usecs} must be between 0 and 100000 microseconds")
        if snaplen < 1:
            raise ValueError(f"snaplen {snaplen} must be >= 1")
        try:
            self.ifindex = socket.if_nametoindex(ifname)
        except OSError:
            raise LiveCaptureError(errno.ENODEV, f"no such network interface: {ifname!r}") from None
        self.ifname, self.queue, self.snaplen = ifname, queue, snaplen
        self.linktype = LINKTYPE_ETHERNET
        self.linktype_name = "EN10MB"
        self.mode = "af_xdp"
        self.frames, self.frame_size, self.headroom = frames, frame_size, headroom
        self.ring_size = ring_size or frames
        self.copybreak_at = frames // 2 if copybreak_at is None else copybreak_at
        self.rx_usecs = rx_usecs
        self._program = compile_filter(filter) if filter else None
        self._closed = False
        self._report: XdpReport | None = None
        self._backlog = Backlog()
        self._gone: str | None = None  # why the interface can deliver no more
        self._last_kernel: dict[str, int] = {}
        self._pages: list[Page] = []  # the UMEM's pages until the rings own them
        self.umem = PageAllocator(
            page_size=PAGE_SIZE,
            max_order=0,
            arena_size=frames * frame_size,
            budget=frames * frame_size,
            reserve_pages=0,
        )
        self.pa = allocator if allocator is not None else PageAllocator()
        self.cursor = PoolCursor(self.pa, 4)
        self._multi_buffer = multi_buffer
        self.rx: XdpRx | None = None
        self.xsk: XskSocket | None = None
        self.prog: XdpProgram | None = None
        try:
            self._open(xdp_mode, need_wakeup)
        except BaseException:
            self._teardown()
            raise

    # ------------------------------------------------------------------ set-up
    def _open(self, xdp_mode: str, need_wakeup: bool) -> None:
        umem = self.umem
        pages = []
        while True:  # the UMEM is all of the allocator's one arena, held by this capture
            page = umem.alloc_pages(0)
            if page is None:
                break
            pages.append(page)
        self._pages = pages
        arena = umem.arenas[0]
        self.base = arena.base
        # multi-buffer when the largest frame (MTU + Ethernet + VLAN) is more than one
        # chunk holds (chunk - XDP_PACKET_HEADROOM - headroom), unless the caller says
        self.sg = self._multi_buffer
        if self.sg is None:
            limit = self.frame_size - XDP_PACKET_HEADROOM - self.headroom
            self.sg = interface_mtu(self.ifname) + 14 + 4 > limit
        if self.sg and self.frame_size != PAGE_SIZE:
            raise ValueError(
                f"multi-buffer frames (MTU {interface_mtu(self.ifname)}) need frame_size "
                f"{PAGE_SIZE}: a frag holds a whole page"
            )
        self.xsk = XskSocket(
            self.ifindex,
            self.queue,
            self.base,
            arena.size,
            self.frame_size,
            self.headroom,
            self.ring_size,
            sg=self.sg,
            need_wakeup=need_wakeup,
        )
        rx = self.rx = XdpRx(
            self.xsk,
            umem,
            self.cursor,
            self.frame_size,
            self.ifindex,
            self.snaplen,
            self.copybreak_at,
            self._program,
        )
        rx.rx_usecs = self.rx_usecs
        rx.pages = {(page.addr - self.base) >> 12: page for page in pages}
        self._pages = []
        rx.refill()
        self.xsk.bind()
        self.prog = XdpProgram(self.queue + 1, frags=self.sg)
        self.prog.set_socket(self.queue, self.xsk.fileno())
        self.xdp_mode, self.fallback = self.prog.attach_mode(self.ifindex, xdp_mode)
        self.zerocopy = self.xsk.zerocopy()

    # ------------------------------------------------------------------ the interface
    def recv_batch(self, budget: int = 64, timeout: float | None = None) -> list[SkBuff]:
        """Up to ``budget`` skbs: what is ready, else wait up to ``timeout`` s (None: forever).

        Raises LiveCaptureError (ENODEV) once the interface is gone, after what was already
        received has been handed out.
        """
        if self._closed:
            raise LiveCaptureError(errno.EBADF, f"capture on {self.ifname} is closed")
        rx = self.rx
        out = rx.ready(budget, self._backlog, timeout != 0)
        if out or timeout == 0:
            return out
        if self._gone is not None:
            raise LiveCaptureError(errno.ENODEV, self._gone)
        deadline = None if timeout is None else time.monotonic() + timeout
        poller = select.poll()
        poller.register(self.xsk.fileno(), select.POLLIN)
        while not out:
            left = WAIT_SLICE if deadline is None else deadline - time.monotonic()
            if left <= 0:
                break
            # AF_XDP's poll never reports the interface going away (the socket only gets
            # sk_err): wait in slices and ask SO_ERROR between them. Chunks freed by other
            # threads are posted at each slice too.
            if not poller.poll(max(1, int(min(left, WAIT_SLICE) * 1000))):
                self._check_socket()
            out = rx.ready(budget, self._backlog, True)
        return out

    def _check_socket(self) -> None:
        """After a quiet wait: the socket's pending error, if any, ends the capture."""
        err = self.xsk.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if not err:
            return
        try:
            socket.if_nametoindex(self.ifname)
            why = f"AF_XDP socket on {self.ifname} queue {self.queue}: {os.strerror(err)}"
        except OSError:
            why = (
                f"interface {self.ifname} went away during the capture (AF_XDP socket "
                f"unbound: {os.strerror(err)})"
            )
        self._gone = why
        raise LiveCaptureError(errno.ENODEV if err == errno.ENETDOWN else err, why)

    def fileno(self) -> int:
        return self.xsk.fileno()

    def stats(self) -> Snapshot:
        """Receive counts, the kernel's xdp_statistics under their own names, the UMEM.

        As in the AF_PACKET modes, ``packets`` counts every frame the filter accepted, drops
        included (``received`` handed out plus ``drops``); ``drops`` counts each frame lost
        once: the kernel's (too large, no chunk to write to, no room on the RX ring) and
        fragpool's own (``rx_frags_dropped``).
        """
        kernel = self.xsk.statistics() if self.xsk is not None else dict(self._last_kernel)
        self._last_kernel = kernel
        rx = self.rx
        drops = frames_dropped(kernel) + rx.rx_frags_dropped
        snap = Snapshot(
            mode="af_xdp",
            xdp_mode=self.xdp_mode,
            zerocopy=self.zerocopy,
            multi_buffer=self.sg,
            packets=rx.received + drops,
            received=rx.received,
            bytes=rx.bytes,
            drops=drops,
            filter_dropped=rx.filter_dropped,
            copybreak_skbs=rx.copybreak_skbs,
            rx_frags_dropped=rx.rx_frags_dropped,
            rx_usecs=self.rx_usecs,
            moderated_batches=rx.moderated,
            chunks=self.frames,
            chunks_in_fill_ring=rx.posted,
            chunks_held=rx.chunks_held(),
            pages_in_use=self.pa.in_use_pages(),
        )
        snap.update(kernel)
        return snap

    def close(self) -> XdpReport:
        """Detach the program, free what was not handed out, take every chunk back, unmap.

        skbs already handed out stay valid: the pages under their chunks stay allocated (and
        the UMEM mapped) until they are freed; the report counts them, as page_pool_destroy
        does.
        """
        if self._report is not None:
            return self._report
        self._closed = True
        for skb in self._backlog.take(ALL):
            skb.free()
        if self.rx is not None:
            self.rx.drop_partial()
        if self.xsk is not None:
            self._last_kernel = self.xsk.statistics()
        self._teardown()
        if self.pa.debug is not None:
            self.pa.debug.report(f"AF_XDP capture on {self.ifname}")
        held = self.rx.chunks_held() if self.rx is not None else 0
        self._report = XdpReport(
            held == 0 and self.pa.in_use_pages() == 0, held, self.pa.in_use_pages()
        )
        return self._report

    def _teardown(self) -> None:
        if self.prog is not None:
            self.prog.close()  # the link goes: the program leaves the interface
            self.prog = None
        if self.xsk is not None:
            self.xsk.close()  # the kernel lets go of the posted chunks
            self.xsk = None
        self.cursor.close()
        self._closed = True
        rx = self.rx
        if rx is None:  # failed before the rings existed: give the UMEM back whole
            for page in self._pages:
                self.umem.put_page(page)
            self._pages = []
            if self.umem.arenas and self.umem.in_use_pages() == 0:
                self.umem.close()
            return
        rx.closed = True
        rx.unpost()
        rx.release_pages(list(rx.pages))

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self.xdp_mode} mode"
        return f"<XdpCapture {self.ifname} queue {self.queue} {state}>"
