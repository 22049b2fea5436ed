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
import select
import socket
import struct
import time
from typing import NamedTuple

from ...mm import PAGE_SIZE, Page, PageAllocator
from ...mm.allocator import RefCount
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
from .xsk import XDP_PACKET_HEADROOM, XDP_PKT_CONTD, XskSocket, frames_dropped

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
        #: skb head references dropped on chunks (the inline free counts here).
        self.frag_frees = 0
        self._shift = frame_size.bit_length() - 1
        self._mask = -frame_size
        #: Per chunk: the references skbs hold on it as their head (0: free or posted).
        self._refs: list[RefCount] = []
        #: UMEM offsets of the chunks free to post, and how many are posted.
        self._free: list[int] = []
        self._posted = 0
        #: Chunks lent to skbs as frags (multi-buffer): back when their page is ours alone.
        self._lent: list[tuple[int, Page]] = []
        #: The UMEM's pages by number (offset >> 12), each holding this capture's reference.
        self._pages: dict[int, Page] = {}
        self.umem = PageAllocator(
            page_size=PAGE_SIZE,
            max_order=0,
            arena_size=frames * frame_size,
            budget=frames * frame_size,
            reserve_pages=0,
        )
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
        umem = self.umem
        pages = []
        while True:  # the UMEM is all of the allocator's one arena, held by this capture
            page = umem.alloc_pages(0)
            if page is None:
                break
            pages.append(page)
        arena = umem.arenas[0]
        self.base, self.view, self.vbase = arena.base, arena.view, arena.raw_addr
        self._pages = {(page.addr - self.base) >> 12: page for page in pages}
        self._free = list(range(0, arena.size, self.frame_size))[::-1]
        self._refs = [RefCount() for _ in self._free]
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
        self._rx_cons = self.xsk.rx.consumer()
        self._fill_prod = self.xsk.fill.producer()
        self._refill()
        self.xsk.bind()
        self.prog = XdpProgram(self.queue + 1, frags=self.sg)
        self.prog.set_socket(self.queue, self.xsk.fileno())
        self.xdp_mode, self.fallback = self.prog.attach_mode(self.ifindex, xdp_mode)
        self.zerocopy = self.xsk.zerocopy()

    # ------------------------------------------------------------------ the device
    def frag_free(self, addr: int) -> None:
        """The last reference of an skb head on its chunk: the chunk is free to post again.

        (An skb's free drops the other references inline, counted in ``frag_frees``.)
        """
        off = (addr - self.base) & self._mask
        ref = self._refs[off >> self._shift]
        n = ref.ref - 1
        if n < 0:
            raise LiveCaptureError(errno.EINVAL, f"chunk {off:#x} freed twice")
        ref.ref = n
        self.frag_frees += 1
        if n == 0:
            self._free.append(off)
            if self._closed:
                self._release_pages([off >> 12])

    def _reap(self) -> None:
        """Lent frag chunks whose skbs are gone (their page is ours alone) go back."""
        keep = []
        for off, page in self._lent:
            if page.ref == 1:
                self._free.append(off)
            else:
                keep.append((off, page))
        self._lent = keep

    def _refill(self) -> None:
        """Top the fill ring up with free chunks (the RX descriptor ring's refill)."""
        if self._lent:
            self._reap()
        free = self._free
        fill = self.xsk.fill
        room = min(fill.size - self._posted, len(free))
        if room <= 0:
            return
        prod, view, desc, mask = self._fill_prod, fill.view, fill.desc, fill.mask
        pack = _ADDR.pack_into
        for _ in range(room):
            pack(view, desc + (prod & mask) * 8, free.pop())
            prod += 1
        self._posted += room
        self._fill_prod = prod
        fill.set_producer(prod)
        if fill.needs_wakeup():
            self.xsk.wakeup()

    def _chunks_held(self) -> int:
        """Chunks held by skbs (neither free nor posted to the kernel)."""
        return len(self._refs) - len(self._free) - self._posted

    def _poll(self, budget: int, out: list[SkBuff]) -> int:
        """NAPI poll: up to ``budget`` descriptors from the RX ring into skbs, then refill."""
        rx = self.xsk.rx
        cons = self._rx_cons
        avail = (rx.producer() - cons) & 0xFFFFFFFF
        if not avail:
            return 0
        take = min(avail, budget)
        self._posted -= take
        umem, base, refs, shift, mask = self.umem, self.base, self._refs, self._shift, self._mask
        ring, desc, rmask = rx.view, rx.desc, rx.mask
        view, vbase = self.view, self.vbase  # the UMEM's bytes, where the skbs point
        unpack = _DESC.unpack_from
        size = self.frame_size
        copy_out = self._chunks_held() > self.copybreak_at
        now = time.time_ns()
        got = 0
        for k in range(take):
            addr, length, options = unpack(ring, desc + ((cons + k) & rmask) * 16)
            off = addr & mask
            skb = self._partial
            if skb is None:
                ref = refs[off >> shift]
                ref.ref = 1
                skb = self._home.get()
                skb.init_rx(umem, self, base + addr, length, size, view, vbase, False, ref)
                skb.tstamp = now
                skb.wire_len = length
                skb.ifindex = self.ifindex
                skb.linktype = LINKTYPE_ETHERNET
            else:
                skb.wire_len += length
                page = self._pages[off >> 12]
                try:
                    skb.add_rx_frag(base + addr, length, size)
                    umem.get_page(page)  # the frag's reference; the chunk is lent
                    self._lent.append((off, page))
                except SkbBoundsError:  # past MAX_SKB_FRAGS: the frame is dropped whole
                    self._free.append(off)
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
        snap = Snapshot(
            mode="af_xdp",
            xdp_mode=self.xdp_mode,
            zerocopy=self.zerocopy,
            multi_buffer=self.sg,
            packets=self.packets_received,
            received=self.packets_received,
            bytes=self.bytes_received,
            drops=frames_dropped(kernel),
            filter_dropped=self.filter_dropped,
            copybreak_skbs=self.copybreak_skbs,
            rx_frags_dropped=self.rx_frags_dropped,
            chunks=self.frames,
            chunks_in_fill_ring=self._posted,
            chunks_held=self._chunks_held(),
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
        if self._partial is not None:
            self._partial.free()
            self._partial = None
        self._teardown()
        if self.pa.debug is not None:
            self.pa.debug.report(f"AF_XDP capture on {self.ifname}")
        held = self._chunks_held()
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
        self._free.extend(self._posted_chunks())
        self._posted = 0
        self.cursor.close()
        self._closed = True
        self._release_pages(list(self._pages))

    def _posted_chunks(self) -> list[int]:
        """After the socket closed: the chunks that were on the fill or RX ring."""
        lent = {off for off, _page in self._lent}
        free = set(self._free)
        return [
            off
            for i, ref in enumerate(self._refs)
            if ref.ref == 0 and (off := i << self._shift) not in free and off not in lent
        ]

    def _release_pages(self, numbers: list[int]) -> None:
        """Give the allocator each of these pages none of whose chunks an skb holds as its
        head (after close); unmap the UMEM once nothing is left."""
        if self._lent:
            self._reap()
        per_page = PAGE_SIZE >> self._shift
        refs, umem, pages = self._refs, self.umem, self._pages
        for number in numbers:
            page = pages.get(number)
            first = number * per_page
            if page is not None and not any(refs[first + k].ref for k in range(per_page)):
                del pages[number]
                umem.put_page(page)  # a lent frag keeps its own reference
        if not pages and umem.arenas and umem.in_use_pages() == 0:
            try:
                umem.close()
            except BufferError:  # a view of a frame is still alive: the GC unmaps it later
                pass

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self.xdp_mode} mode"
        return f"<XdpCapture {self.ifname} queue {self.queue} {state}>"
