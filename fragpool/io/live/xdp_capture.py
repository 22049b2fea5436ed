"""open_live(mode="af_xdp"): an AF_XDP queue as an RX device, its UMEM fragpool's pages.

The UMEM is the one arena of a PageAllocator of its own (4 KiB pages, one chunk each): the
fill ring is the RX descriptor ring, refilled with freshly allocated pages as a driver
refills with dev_alloc_pages; each frame becomes an skb on its chunk, holding the page's
reference, and freeing the skb frees the page, so the next refill hands it to the kernel
again (page_pool's recycle through the allocator). Multi-buffer frames (XDP_USE_SG, chained
with XDP_PKT_CONTD) become one skb: the first chunk is the head, the rest are frags, up to
MAX_SKB_FRAGS. When skbs the user holds keep too many chunks (more than ``copybreak_at``),
new frames are copied into pool memory and their chunks go straight back, so held skbs never
stall the queue. The redirect program is attached with a BPF link (detached when the link
closes, even on SIGKILL); ``xdp_mode`` "auto" tries the driver's native XDP and falls back to
generic (skb) mode.

AF_XDP takes the frames of its queue away from the kernel's stack: while the capture is open
the interface's stack does not see what arrives on that queue (unlike AF_PACKET, which
copies). Veth and most drivers run it in copy mode; ``stats()["zerocopy"]`` says which.
"""

from __future__ import annotations

import errno
import select
import socket
import struct
import time
from typing import NamedTuple

from ...mm import PAGE_SIZE, PageAllocator
from ...skb import SkBuff
from ...skb.head_cache import SkbHeadCache
from ...skb.skbuff import SkbBoundsError
from ...stats import Snapshot
from ..backlog import ALL, Backlog
from ..bpf.interp import filter_skb
from .errors import LiveCaptureError
from .interface import interface_mtu
from .pool_cursor import PoolCursor
from .skb_stream import SkbStream
from .socket_filter import compile_filter
from .xdp_program import XdpProgram
from .xsk import XDP_PACKET_HEADROOM, XDP_PKT_CONTD, XskSocket

XDP_MODES = ("auto", "native", "generic")
DEFAULT_FRAMES = 4096
LINKTYPE_ETHERNET = 1
_DESC = struct.Struct("<QII")
_ADDR = struct.Struct("<Q")


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
        if promisc:
            raise ValueError(
                "promisc with af_xdp: AF_XDP has no membership of its own; set the interface "
                f"promiscuous with `ip link set {ifname} promisc on`"
            )
        if not 0 <= headroom <= frame_size - XDP_PACKET_HEADROOM - 448:
            raise ValueError(f"headroom {headroom} must be between 0 and {frame_size - 704}")
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
        self._program = compile_filter(filter) if filter else None
        self._closed = False
        self._report: XdpReport | None = None
        self._backlog = Backlog()
        self._partial: SkBuff | None = None
        self._partial_bad = False
        self.packets_received = self.bytes_received = 0
        self.copybreak_skbs = self.filter_dropped = self.rx_frags_dropped = 0
        self.fill_empty_polls = 0
        self._fill_pages: dict[int, object] = {}
        umem_bytes = max(PAGE_SIZE, frames * frame_size)
        self.umem = PageAllocator(
            page_size=PAGE_SIZE,
            max_order=0,
            arena_size=umem_bytes,
            budget=umem_bytes,
            reserve_pages=0,
        )
        #: Chunks per UMEM page: 2 for half-page chunks, each holding a page reference.
        self._per_page = PAGE_SIZE // frame_size
        self.pa = allocator if allocator is not None else PageAllocator()
        self.cursor = PoolCursor(self.pa, 4)
        self._home = SkbHeadCache("xdp_skb_cache", 256, 64)
        self._multi_buffer = multi_buffer
        self.xsk: XskSocket | None = None
        self.prog: XdpProgram | None = None
        try:
            self._open(xdp_mode, need_wakeup)
        except BaseException:
            self._teardown()
            raise

    # ------------------------------------------------------------------ set-up
    def _open(self, xdp_mode: str, need_wakeup: bool) -> None:
        first = self.umem.alloc_pages(0)  # maps the arena: the UMEM is all of it
        arena = self.umem.arenas[0]
        self.base, self.view, self.vbase = arena.base, arena.view, arena.raw_addr
        self.umem.put_page(first)
        # multi-buffer when the largest frame (MTU + Ethernet + VLAN) is more than one
        # chunk holds (chunk - XDP_PACKET_HEADROOM - headroom), unless the caller says
        self.sg = self._multi_buffer
        if self.sg is None:
            limit = self.frame_size - XDP_PACKET_HEADROOM - self.headroom
            self.sg = interface_mtu(self.ifname) + 14 + 4 > limit
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
        self._rx_cons = self.xsk.rx.consumer()
        self._fill_prod = self.xsk.fill.producer()
        self._refill()
        self.xsk.bind()
        self.prog = XdpProgram(self.queue + 1, frags=self.sg)
        self.prog.set_socket(self.queue, self.xsk.fileno())
        self.fallback: str | None = None
        if xdp_mode == "auto":
            try:
                self.prog.attach(self.ifindex, "native")
                self.xdp_mode = "native"
            except LiveCaptureError as err:
                self.fallback = f"native XDP refused ({err.strerror})"
                self.prog.attach(self.ifindex, "generic")
                self.xdp_mode = "generic"
        else:
            self.prog.attach(self.ifindex, xdp_mode)
            self.xdp_mode = xdp_mode
        self.zerocopy = self.xsk.zerocopy()

    # ------------------------------------------------------------------ the device
    def _refill(self) -> None:
        """Top the fill ring up with free UMEM pages (the RX descriptor ring's refill)."""
        xsk = self.xsk
        fill = xsk.fill
        prod = self._fill_prod
        room = fill.size - ((prod - fill.consumer()) & 0xFFFFFFFF)
        if room <= 0:
            return
        umem, base, pages = self.umem, self.base, self._fill_pages
        view, desc, mask = fill.view, fill.desc, fill.mask
        pack = _ADDR.pack_into
        per_page, size = self._per_page, self.frame_size
        while room >= per_page:
            page = umem.alloc_pages(0)
            if page is None:
                self.fill_empty_polls += 1
                break
            if per_page > 1:  # one reference per half: each becomes an skb of its own
                umem.page_ref_add(page, per_page - 1)
            off = page.addr - base
            for k in range(per_page):
                pack(view, desc + (prod & mask) * 8, off + k * size)
                pages[off + k * size] = page
                prod += 1
            room -= per_page
        if prod != self._fill_prod:
            self._fill_prod = prod
            fill.set_producer(prod)
            if fill.needs_wakeup():
                xsk.wakeup()

    def _poll(self, budget: int, out: list[SkBuff]) -> int:
        """NAPI poll: up to ``budget`` descriptors from the RX ring into skbs, then refill."""
        rx = self.xsk.rx
        cons = self._rx_cons
        avail = (rx.producer() - cons) & 0xFFFFFFFF
        if not avail:
            return 0
        take = min(avail, budget)
        umem, pages, base = self.umem, self._fill_pages, self.base
        view, vbase, desc, mask = rx.view, self.vbase, rx.desc, rx.mask
        unpack = _DESC.unpack_from
        chunk_mask = ~(self.frame_size - 1)
        copy_out = self._chunks_held() > self.copybreak_at
        now = time.time_ns()
        got = 0
        for k in range(take):
            addr, length, options = unpack(view, desc + ((cons + k) & mask) * 16)
            page = pages.pop(addr & chunk_mask)
            va = base + addr
            skb = self._partial
            if skb is None:
                skb = self._home.get()
                skb.init_rx(umem, umem, va, length, self.frame_size, self.view, vbase, False, page)
                skb.tstamp = now
                skb.wire_len = length
                skb.ifindex = self.ifindex
                skb.linktype = LINKTYPE_ETHERNET
            else:
                skb.wire_len += length
                try:
                    skb.add_rx_frag(va, length, self.frame_size)
                except SkbBoundsError:  # past MAX_SKB_FRAGS: the frame is dropped whole
                    umem.put_page(page)
                    self._partial_bad = True
            if options & XDP_PKT_CONTD:
                self._partial = skb
                continue
            self._partial = None
            if self._partial_bad:
                self._partial_bad = False
                self.rx_frags_dropped += 1
                skb.free()
                continue
            got += self._deliver(skb, copy_out, out)
        rx.set_consumer(cons + take)
        self._rx_cons = (cons + take) & 0xFFFFFFFF
        self._refill()
        return got

    def _deliver(self, skb: SkBuff, copy_out: bool, out: list[SkBuff]) -> int:
        self.packets_received += 1
        self.bytes_received += skb.wire_len
        if self._program is not None and not filter_skb(self._program, skb):
            self.filter_dropped += 1
            skb.free()
            return 0
        if skb.len > self.snaplen:
            skb.trim(self.snaplen)
        if copy_out and not skb.frags:
            skb = self._copybreak(skb)
        out.append(skb)
        return 1

    def _copybreak(self, skb: SkBuff) -> SkBuff:
        """Copy a frame into pool memory and give its chunk back (held skbs pin too many)."""
        n = skb.len
        addr = self.cursor.copy_in(skb.linear_view())
        if addr is None:
            return skb  # no pool memory: keep the chunk
        c = self.cursor
        new = self._home.get()
        new.init_rx(self.pa, self.pa, addr, n, n, c.mv, c.mbase, c.pfmemalloc, c.page)
        new.tstamp, new.wire_len = skb.tstamp, skb.wire_len
        new.ifindex, new.linktype = skb.ifindex, skb.linktype
        skb.free()
        self.copybreak_skbs += 1
        return new

    # ------------------------------------------------------------------ the interface
    def recv_batch(self, budget: int = 64, timeout: float | None = None) -> list[SkBuff]:
        """Up to ``budget`` skbs: what is ready, else wait up to ``timeout`` s (None: forever)."""
        if self._closed:
            raise LiveCaptureError(errno.EBADF, f"capture on {self.ifname} is closed")
        out = self._backlog.take(budget)
        if len(out) < budget:
            self._poll(budget - len(out), out)
        if out or timeout == 0:
            return out
        deadline = None if timeout is None else time.monotonic() + timeout
        poller = select.poll()
        poller.register(self.xsk.fileno(), select.POLLIN)
        while not out:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            poller.poll(None if left is None else max(1, int(left * 1000)))
            self._refill()
            self._poll(budget, out)
        return out

    def fileno(self) -> int:
        return self.xsk.fileno()

    def stats(self) -> Snapshot:
        """Receive counts, the kernel's xdp_statistics under their own names, the UMEM."""
        kernel = self.xsk.statistics() if self.xsk is not None else {}
        drops = sum(kernel.get(k, 0) for k in ("rx_dropped", "rx_ring_full"))
        snap = Snapshot(
            mode="af_xdp",
            xdp_mode=self.xdp_mode,
            zerocopy=self.zerocopy,
            multi_buffer=self.sg,
            packets=self.packets_received,
            received=self.packets_received,
            bytes=self.bytes_received,
            drops=drops + kernel.get("rx_fill_ring_empty_descs", 0),
            filter_dropped=self.filter_dropped,
            copybreak_skbs=self.copybreak_skbs,
            rx_frags_dropped=self.rx_frags_dropped,
            chunks=self.frames,
            chunks_in_fill_ring=len(self._fill_pages),
            chunks_held=self._chunks_held(),
            pages_in_use=self.pa.in_use_pages(),
        )
        snap.update(kernel)
        return snap

    def _chunks_held(self) -> int:
        """Chunks skbs hold: every chunk of a page in use, less those in the fill ring."""
        return self.umem.in_use_pages() * self._per_page - len(self._fill_pages)

    def close(self) -> XdpReport:
        """Detach the program, free what was not handed out, return every chunk, unmap.

        skbs already handed out stay valid (the UMEM stays mapped while one holds a chunk);
        the report counts them, as page_pool_destroy does.
        """
        if self._report is not None:
            return self._report
        self._closed = True
        for skb in self._backlog.take(ALL):
            skb.free()
        if self._partial is not None:
            self._partial.free()
            self._partial = None
        self._teardown()
        if self.pa.debug is not None:
            self.pa.debug.report(f"AF_XDP capture on {self.ifname}")
        held = self._chunks_held()
        pages = self.pa.in_use_pages()
        self._report = XdpReport(held == 0 and pages == 0, held, pages)
        if self.umem.in_use_pages() == 0:
            self.umem.close()
        return self._report

    def _teardown(self) -> None:
        if self.prog is not None:
            self.prog.close()  # the link goes: the program leaves the interface
            self.prog = None
        if self.xsk is not None:
            self.xsk.close()
            self.xsk = None
        for page in self._fill_pages.values():
            self.umem.put_page(page)
        self._fill_pages.clear()
        self.cursor.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self.xdp_mode} mode"
        return f"<XdpCapture {self.ifname} queue {self.queue} {state}>"
