"""The per-packet half of an AF_XDP capture: the RX and fill ring walk, chunk by chunk.

XdpRx is the RX descriptor ring of the capture's queue. Its fill ring is refilled in batches
from the free chunks; each RX descriptor becomes an skb built on its chunk with
``SkBuff.init_rx``, whose head reference is the chunk's own RefCount (the TPACKET block
pattern), so ``kfree_skb`` drops it inline and the last one (``frag_free``) puts the chunk
back on the free list, and straight onto the fill ring when the kernel has none left to
write to. The ring indices are loaded with acquire and published with release ordering
(_native.ring_index / set_ring_index), the way libxdp's xsk_ring_cons__peek and
xsk_ring_prod__submit order them. need_wakeup is honoured after each refill.

Multi-buffer frames (XDP_PKT_CONTD chains) become head + frags up to MAX_SKB_FRAGS; a frag
holds a UMEM page reference and its chunk is lent until the page is the capture's alone.
When skbs pin more than ``copybreak_at`` chunks, new frames are copied into pool memory and
their chunks go straight back (drivers' rx_copybreak).

One thread receives (the first to call ``poll``); skbs may be freed from any thread: a
chunk freed elsewhere waits on the free list for the receiver's next refill. Kernel
counterparts: xsk_rcv's copy into a fill-ring chunk and the user side of the rings.
"""

from __future__ import annotations

import array
import errno
import time
from typing import TYPE_CHECKING

from ... import _native
from ...mm import PAGE_SIZE
from ...mm.allocator import PageAllocator, RefCount
from ...skb.head_cache import SkbHeadCache
from ...skb.head_owner import HeadOwner
from ...skb.skbuff import SkbBoundsError, SkBuff
from ..bpf.interp import filter_skb
from .errors import LiveCaptureError
from .pool_cursor import PoolCursor
from .xsk import XDP_PKT_CONTD, XskSocket

if TYPE_CHECKING:
    from ..backlog import Backlog

LINKTYPE_ETHERNET = 1
#: bytes of one RX descriptor (xdp_desc) and of one fill-ring entry (a u64 UMEM offset)
DESC_SIZE = 16
ADDR_SIZE = 8


class XdpRx(HeadOwner):
    """An AF_XDP socket's RX and fill rings over a UMEM of ``frames`` chunks (see the module)."""

    def __init__(
        self,
        xsk: XskSocket,
        umem: PageAllocator,
        cursor: PoolCursor,
        frame_size: int,
        ifindex: int,
        snaplen: int,
        copybreak_at: int,
        program: object,
    ) -> None:
        arena = umem.arenas[0]
        self.xsk = xsk
        self.umem = umem
        self.cursor = cursor
        self.home = SkbHeadCache("xdp_skb_cache", 256, 64)
        self.base, self.view, self.vbase = arena.base, arena.view, arena.raw_addr
        self.frame_size = frame_size
        self.shift = frame_size.bit_length() - 1
        self.mask = -frame_size
        self.ifindex, self.snaplen, self.copybreak_at = ifindex, snaplen, copybreak_at
        self.program = program
        #: Per chunk: the references skbs hold on it as their head (0: free or posted).
        self.refs: list[RefCount] = [RefCount() for _ in range(arena.size // frame_size)]
        #: UMEM offsets of the chunks free to post: a stack of every chunk's room (C memory
        #: compiled, nothing allocated as chunks come and go), its top at ``nfree``; and how
        #: many chunks are on the kernel's rings.
        offsets = range(0, arena.size, frame_size)
        self.free = array.array("q", reversed(offsets))
        self.nfree = len(offsets)
        self.posted = 0
        #: Chunks lent to skbs as frags (multi-buffer): back when their page is ours alone.
        self.lent: list[tuple[int, object]] = []
        #: The UMEM's pages by number (offset >> 12), each holding this capture's reference.
        self.pages: dict = {}
        rx, fill = xsk.rx, xsk.fill
        self.rx_words, self.rx_view = rx.words, rx.view
        self.rx_addr = _native.mapped_address(rx.view)
        self.rx_prod_at, self.rx_cons_at = rx.producer_at * 4, rx.consumer_at * 4
        self.rx_desc, self.rx_mask = rx.desc, rx.mask
        self.fill_words, self.fill_view = fill.words, fill.view
        self.fill_addr = _native.mapped_address(fill.view)
        self.fill_prod_at, self.fill_flags_at = fill.producer_at * 4, fill.flags_at * 4
        self.fill_desc, self.fill_mask, self.fill_size = fill.desc, fill.mask, fill.size
        self.rx_cons = rx.consumer()
        self.fill_prod = fill.producer()
        self.partial: SkBuff | None = None
        self.partial_bad = False
        self.thread = 0  # the receiving thread, once one has polled
        self.closed = False
        #: frames handed out and their wire bytes; frames the filter refused; frames copied
        #: out of their chunk; frames longer than MAX_SKB_FRAGS chunks (dropped here).
        self.received = self.bytes = 0
        self.filter_dropped = self.copybreak_skbs = self.rx_frags_dropped = 0
        #: skb head references dropped on chunks (the inline free counts here).
        self.frag_frees = 0
        self.wakeups = 0
        #: interrupt moderation (see ready); how many partial batches waited for more
        self.rx_usecs = 0
        self.moderated = 0

    # ------------------------------------------------------------------ the chunk owner
    def frag_free(self, addr: int) -> None:
        """The last reference of an skb head on its chunk: the chunk is free to post again,
        and posted now if the kernel has no chunk left to receive into."""
        off = (addr - self.base) & self.mask
        ref = self.refs[off >> self.shift]
        n = ref.ref - 1
        if n < 0:
            raise LiveCaptureError(errno.EINVAL, f"UMEM chunk {off:#x} freed twice")
        ref.ref = n
        self.frag_frees += 1
        if n == 0:
            self.free[self.nfree] = off
            self.nfree += 1
            if self.closed:
                self.release_pages([off >> 12])
            elif self.posted == 0 and _native.thread_ident() == self.thread:
                self.refill()

    def reap(self) -> None:
        """Lent frag chunks whose skbs are gone (their page is ours alone) go back."""
        keep = []
        for off, page in self.lent:
            if page.ref == 1:
                self.free[self.nfree] = off
                self.nfree += 1
            else:
                keep.append((off, page))
        self.lent = keep

    def refill(self) -> None:
        """Top the fill ring up with free chunks (the RX descriptor ring's refill)."""
        if self.lent:
            self.reap()
        free = self.free
        room = min(self.fill_size - self.posted, self.nfree)
        if room <= 0:
            return
        prod = self.fill_prod
        view, addr, desc, mask = self.fill_view, self.fill_addr, self.fill_desc, self.fill_mask
        top = self.nfree
        for _ in range(room):
            top -= 1
            _native.put_u64(view, desc + (prod & mask) * ADDR_SIZE, addr, free[top])
            prod += 1
        self.nfree = top
        self.posted += room
        self.fill_prod = prod & 0xFFFFFFFF
        _native.set_ring_index(self.fill_words, self.fill_prod_at, addr, self.fill_prod)
        if self.fill_words[self.fill_flags_at >> 2] & 1:  # XDP_RING_NEED_WAKEUP
            self.wakeups += 1
            self.xsk.wakeup()

    def chunks_held(self) -> int:
        """Chunks held by skbs (neither free nor posted to the kernel)."""
        return len(self.refs) - self.nfree - self.posted

    def own(self) -> None:
        """The calling thread receives: the first to ask owns the rings; any other refused."""
        me = _native.thread_ident()
        if self.thread != me:
            if self.thread:
                raise LiveCaptureError(
                    errno.EBUSY,
                    "an AF_XDP capture has one receiving thread (its rings have one "
                    "consumer): receive in the thread that first did, or open a capture "
                    "per queue; skbs may be freed from any thread",
                )
            self.thread = me

    # ------------------------------------------------------------------ receive
    def ready(self, budget: int, backlog: Backlog, wait: bool) -> list[SkBuff]:
        """recv_batch's fast path: the skbs that wait in ``backlog``, then what the RX ring
        holds, up to ``budget``. With ``wait`` and ``rx_usecs``, a partial batch waits that
        long once for more (interrupt moderation: a NIC's rx-usecs, TPACKET_V3's block
        timeout), so a fast stream is taken in full batches rather than a frame or two a
        call."""
        if self.closed:
            raise LiveCaptureError(errno.EBADF, "the AF_XDP capture is closed")
        if self.thread != _native.thread_ident():
            self.own()
        out = backlog.take(budget)
        if len(out) < budget:
            self.poll(budget - len(out), out)
            if wait and self.rx_usecs and 0 < len(out) < budget:
                self.moderated += 1
                time.sleep(self.rx_usecs * 1e-6)
                self.poll(budget - len(out), out)
        return out

    def poll(self, budget: int, out: list[SkBuff]) -> int:
        """NAPI poll: up to ``budget`` RX descriptors into skbs (appended to ``out``), then
        refill; returns how many skbs it handed out."""
        cons = self.rx_cons
        avail = (_native.ring_index(self.rx_words, self.rx_prod_at, self.rx_addr) - cons) & (
            0xFFFFFFFF
        )
        if not avail:
            if self.posted < self.fill_size and self.nfree:
                self.refill()
            return 0
        take = min(avail, budget)
        self.posted -= take
        umem, base, refs, shift, mask = self.umem, self.base, self.refs, self.shift, self.mask
        ring, raddr, desc, rmask = self.rx_view, self.rx_addr, self.rx_desc, self.rx_mask
        view, vbase = self.view, self.vbase  # the UMEM's bytes, where the skbs point
        home = self.home
        size = self.frame_size
        ifindex = self.ifindex
        snaplen = self.snaplen
        program = self.program
        copy_out = self.chunks_held() > self.copybreak_at
        now = time.time_ns()
        got = nbytes = 0
        for k in range(take):
            addr, length, options = _native.xdp_desc(
                ring, desc + ((cons + k) & rmask) * DESC_SIZE, raddr
            )
            off = addr & mask
            _native.prefetch(base + addr)  # the frame's first line
            skb = self.partial
            if skb is None:
                ref = refs[off >> shift]
                ref.ref = 1
                skb = home.get()
                skb.init_rx(umem, self, base + addr, length, size, view, vbase, False, ref)
                skb.tstamp = now
                skb.wire_len = length
                skb.ifindex = ifindex
                skb.linktype = LINKTYPE_ETHERNET
            else:
                self.add_frag(skb, off, base + addr, length)
            if options & XDP_PKT_CONTD:
                self.partial = skb
                continue
            self.partial = None
            if self.partial_bad:
                self.partial_bad = False
                self.rx_frags_dropped += 1
                skb.free()
                continue
            if program is not None and not filter_skb(program, skb):
                self.filter_dropped += 1
                skb.free()
                continue
            nbytes += skb.wire_len
            if skb.len > snaplen:
                skb.trim(snaplen)
            if copy_out and not skb.frags:
                skb = self.copybreak(skb)
            out.append(skb)
            got += 1
        self.rx_cons = (cons + take) & 0xFFFFFFFF
        _native.set_ring_index(self.rx_words, self.rx_cons_at, raddr, self.rx_cons)
        self.received += got
        self.bytes += nbytes
        self.refill()
        return got

    def add_frag(self, skb: SkBuff, off: int, addr: int, length: int) -> None:
        """A continuation descriptor: the chunk becomes the next frag of ``skb`` (lent)."""
        skb.wire_len += length
        page = self.pages[off >> 12]
        try:
            skb.add_rx_frag(addr, length, self.frame_size)
            self.umem.get_page(page)  # the frag's reference; the chunk is lent
            self.lent.append((off, page))
        except SkbBoundsError:  # past MAX_SKB_FRAGS: the frame is dropped whole
            self.free[self.nfree] = off
            self.nfree += 1
            self.partial_bad = True

    def copybreak(self, skb: SkBuff) -> SkBuff:
        """Copy a frame into pool memory and give its chunk back (held skbs pin too many)."""
        n = skb.len
        c = self.cursor
        addr = c.copy_in(skb.linear_view())
        if addr is None:
            return skb  # no pool memory: keep the chunk
        new = self.home.get()
        new.init_rx(c.pa, c.pa, addr, n, n, c.mv, c.mbase, c.pfmemalloc, c.page)
        new.tstamp, new.wire_len = skb.tstamp, skb.wire_len
        new.ifindex, new.linktype = skb.ifindex, skb.linktype
        skb.free()
        self.copybreak_skbs += 1
        return new

    def drop_partial(self) -> None:
        """Free a multi-buffer frame still missing its last descriptor (at close)."""
        if self.partial is not None:
            self.partial.free()
            self.partial = None

    # ------------------------------------------------------------------ teardown
    def unpost(self) -> None:
        """After the socket closed: the chunks that were on the fill or RX ring are free."""
        lent = {off for off, _page in self.lent}
        free = {self.free[i] for i in range(self.nfree)}
        for i, ref in enumerate(self.refs):
            off = i << self.shift
            if ref.ref == 0 and off not in free and off not in lent:
                self.free[self.nfree] = off
                self.nfree += 1
        self.posted = 0

    def release_pages(self, numbers: list[int]) -> None:
        """Give the allocator each of these pages none of whose chunks an skb holds as its
        head (after close); unmap the UMEM once nothing is left."""
        if self.lent:
            self.reap()
        per_page = PAGE_SIZE >> self.shift
        refs, umem, pages = self.refs, self.umem, self.pages
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
