"""One RX ring of the example driver: descriptors, page flip and reuse, NAPI clean, teardown.

The ring follows igb (drivers/net/ethernet/intel/igb/igb_main.c). Each descriptor has an
:class:`RxBuffer` (page, page_offset, pagecnt_bias), and the ring keeps three indices:

* ``next_to_use``: the first descriptor not yet given to the NIC (the tail register);
* ``next_to_clean``: the next descriptor the driver expects the NIC to have written;
* ``next_to_alloc``: where a buffer the driver keeps goes, ahead of the refill.

The NIC side (``hw_head``, the head register) writes frames into the posted buffers
between ``hw_head`` and ``next_to_use`` and reports each buffer's length and end-of-packet
bit in the descriptor's write-back. A frame longer than one buffer spans several.

A buffer is half a 4 KiB page. When the driver hands one to the stack it flips
``page_offset ^= 2048`` so the descriptor's next use takes the other half, and keeps the page
if nobody but itself holds that other half (igb_can_reuse_rx_page): the buffer then moves to
the ``next_to_alloc`` slot and the refill finds it there without allocating. Otherwise the
page is released with every reference the driver still holds (__page_frag_cache_drain).

Two receive paths, as igb has: build_skb (the default) builds the skb around the buffer
itself, headroom first; the legacy path (ethtool's ``legacy-rx`` flag) copies the headers
into a small napi_alloc_skb head and attaches the rest of the buffer as a page frag, and a
frame that fits entirely in the head leaves the buffer with the driver (copybreak).
"""

from __future__ import annotations

from collections.abc import Callable

from ..mm.allocator import Page, PageAllocator
from ..mm.percpu import NapiContext
from ..skb import alloc
from ..skb.skbuff import SkBuff
from ..stats import Snapshot
from .buffers import BufferSource, make_source
from .constants import (
    DEFAULT_RING_SIZE,
    IGB_MAX_FRAME_BUILD_SKB,
    IGB_RX_BUFFER_WRITE,
    IGB_RX_HDR_LEN,
    IGB_RX_TRUESIZE,
    IGB_RXBUFFER_2048,
    IGB_SKB_PAD,
    MAX_JUMBO_FRAME_SIZE,
    PAGECNT_BIAS_MAX,
)
from .rss import eth_get_headlen

Handler = Callable[[SkBuff], None]


class RxBuffer:
    """struct igb_rx_buffer: the page behind one descriptor and the driver's bias on it."""

    __slots__ = ("page", "page_offset", "pagecnt_bias")

    def __init__(self) -> None:
        self.page: Page | None = None
        self.page_offset = 0
        self.pagecnt_bias = 0

    def __repr__(self) -> str:
        if self.page is None:
            return "<RxBuffer empty>"
        return (
            f"<RxBuffer page {self.page.addr:#x} offset {self.page_offset} "
            f"bias {self.pagecnt_bias} ref {self.page.ref}>"
        )


class RxRing:
    """struct igb_ring for receive: descriptors, the ring's buffer source and NAPI context.

    ``pool`` picks the buffer source (``frag``, ``page_pool`` or ``naive``, see
    fragpool.driver.buffers). ``legacy_rx`` selects igb_construct_skb instead of
    igb_build_skb. ``bias_max`` is the pagecnt_bias a fresh page gets (USHRT_MAX, as in igb;
    a small value makes the bulk restock visible in tests). ``handler`` receives every
    complete skb and owns it.
    """

    def __init__(
        self,
        index: int,
        pa: PageAllocator,
        *,
        size: int = DEFAULT_RING_SIZE,
        pool: str = "frag",
        legacy_rx: bool = False,
        bias_max: int = PAGECNT_BIAS_MAX,
        handler: Handler | None = None,
    ) -> None:
        if size < 2:
            raise ValueError(f"ring size {size} must be at least 2")
        if bias_max < 2:
            raise ValueError(f"bias_max {bias_max} must be at least 2")
        self.index = index
        self.pa = pa
        self.count = size
        self.legacy_rx = legacy_rx
        self.bias_max = bias_max
        self.handler = handler
        self.napi = NapiContext(pa, name=f"rx-{index}", naive=(pool == "naive"))
        self.source: BufferSource = make_source(pool, pa, self.napi)
        #: Whether the source's pages carry the driver's pagecnt_bias (not the naive way).
        self._uses_bias = self.source.uses_bias
        self.buffers = [RxBuffer() for _ in range(size)]
        # descriptor write-back: length (0 = not written yet), end of packet, metadata
        self.wb_len = [0] * size
        self.wb_eop = [False] * size
        self.wb_tstamp = [0] * size
        self.wb_hash = [0] * size
        self.next_to_use = 0
        self.next_to_clean = 0
        self.next_to_alloc = 0
        self.hw_head = 0
        self.skb: SkBuff | None = None
        #: Bytes the NIC may write into one buffer (igb_rx_bufsz).
        self.bufsz = IGB_RXBUFFER_2048 if legacy_rx else IGB_MAX_FRAME_BUILD_SKB
        #: Headroom in front of the frame (igb_rx_offset).
        self.rx_offset = 0 if legacy_rx else IGB_SKB_PAD
        self.up = False
        # counters (igb's rx_stats and the buffer-reuse story)
        self.packets = 0
        self.bytes = 0
        self.polls = 0
        self.polls_exhausted = 0
        self.max_work = 0
        self.buffers_used = 0
        self.handed_up = 0
        self.flips = 0
        self.reuses = 0
        self.releases = 0
        self.restocks = 0
        self.copybreaks = 0
        self.multi_buffer = 0
        self.alloc_failed = 0
        self.refills = 0
        self.refcount_ops = 0
        self.rx_no_buffer = 0
        self.rx_length_errors = 0
        self.teardown_lost = 0

    # ------------------------------------------------------------------ geometry
    def desc_unused(self) -> int:
        """igb_desc_unused(): descriptors the driver may still give to the NIC (one stays free)."""
        ntc, ntu = self.next_to_clean, self.next_to_use
        return (0 if ntc > ntu else self.count) + ntc - ntu - 1

    def hw_free(self) -> int:
        """Posted buffers the NIC has not written yet (from its head to the tail)."""
        return (self.next_to_use - self.hw_head) % self.count

    def pending(self) -> bool:
        """True when the NIC has written descriptors the driver has not cleaned yet."""
        return self.wb_len[self.next_to_clean] != 0

    # ------------------------------------------------------------------ refill
    def configure(self) -> None:
        """igb_configure_rx_ring(): post a buffer in every descriptor but one."""
        with self.napi:
            self.alloc_rx_buffers(self.desc_unused())
        self.up = True

    def alloc_mapped_page(self, bi: RxBuffer) -> bool:
        """igb_alloc_mapped_page(): keep a reused page, else take a fresh one with its bias."""
        if bi.page is not None:
            return True
        page = self.source.alloc_page()
        if page is None:
            self.alloc_failed += 1
            return False
        bi.page = page
        bi.page_offset = self.rx_offset
        if self._uses_bias:
            self.pa.page_ref_add(page, self.bias_max - 1)
            self.refcount_ops += 1
            bi.pagecnt_bias = self.bias_max
        else:
            bi.pagecnt_bias = 1
        return True

    def alloc_rx_buffers(self, cleaned_count: int) -> None:
        """igb_alloc_rx_buffers(): give ``cleaned_count`` buffers back to the NIC."""
        if not cleaned_count:
            return
        self.refills += 1
        i = self.next_to_use
        buffers, count = self.buffers, self.count
        while cleaned_count:
            if not self.alloc_mapped_page(buffers[i]):
                break
            i += 1
            if i == count:
                i = 0
            cleaned_count -= 1
        if i != self.next_to_use:
            self.next_to_use = i
            self.next_to_alloc = i

    # ------------------------------------------------------------------ the NIC side
    def dma(self, frame: bytes | memoryview, tstamp: int = 0, rss_hash: int = 0) -> bool:
        """The NIC receives one frame into the posted buffers; False when it is dropped.

        A frame needs one buffer per ``bufsz`` bytes; without enough posted buffers the NIC
        drops it (rx_no_buffer_count), as it drops frames longer than MAX_JUMBO_FRAME_SIZE
        (rx_length_errors).
        """
        n = len(frame)
        if not 0 < n <= MAX_JUMBO_FRAME_SIZE:
            self.rx_length_errors += 1
            return False
        bufsz = self.bufsz
        need = (n + bufsz - 1) // bufsz
        if need > self.hw_free():
            self.rx_no_buffer += 1
            return False
        i = self.hw_head
        count, buffers = self.count, self.buffers
        src = frame
        pos = 0
        while pos < n:
            chunk = min(bufsz, n - pos)
            bi = buffers[i]
            page = bi.page
            start = page.addr + bi.page_offset - page.arena.raw_addr
            dst = page.arena.bytes_view
            dst[start : start + chunk] = src[pos : pos + chunk]
            pos += chunk
            self.wb_len[i] = chunk
            self.wb_eop[i] = pos == n
            self.wb_tstamp[i] = tstamp
            self.wb_hash[i] = rss_hash
            i += 1
            if i == count:
                i = 0
        self.hw_head = i
        return True

    # ------------------------------------------------------------------ NAPI poll
    def poll(self, budget: int) -> int:
        """igb_poll() for receive: clean up to ``budget`` packets inside the ring's NAPI context."""
        work = 0
        with self.napi:
            work = self.clean_rx_irq(budget)
        self.polls += 1
        if work >= budget:
            self.polls_exhausted += 1
        if work > self.max_work:
            self.max_work = work
        return work

    def clean_rx_irq(self, budget: int) -> int:
        """igb_clean_rx_irq(): turn written descriptors into skbs, at most ``budget`` packets.

        Buffers go back to the NIC every IGB_RX_BUFFER_WRITE descriptors and once more at
        the end. A frame whose last buffer has not been cleaned when the budget runs out
        stays in ``self.skb`` for the next poll.
        """
        total_packets = 0
        cleaned_count = self.desc_unused()
        skb = self.skb
        buffers, wb_len, count = self.buffers, self.wb_len, self.count
        handler = self.handler
        try:
            while total_packets < budget:
                if cleaned_count >= IGB_RX_BUFFER_WRITE:
                    self.alloc_rx_buffers(cleaned_count)
                    cleaned_count = 0
                ntc = self.next_to_clean
                size = wb_len[ntc]
                if not size:
                    break
                bi = buffers[ntc]
                # igb_get_rx_buffer(): sample the page count before the stack can touch it
                rx_buf_pgcnt = bi.page.ref
                if self._uses_bias:
                    bi.pagecnt_bias -= 1
                if skb is not None:
                    self._add_rx_frag(bi, skb, size)
                    handed_up = True
                    self.multi_buffer += 1
                elif self.legacy_rx:
                    skb, handed_up = self._construct_skb(bi, size)
                else:
                    skb = self._build_skb(bi, size)
                    handed_up = True
                if skb is None:
                    self.alloc_failed += 1
                    if self._uses_bias:
                        bi.pagecnt_bias += 1
                    break
                self._put_rx_buffer(bi, rx_buf_pgcnt, handed_up)
                cleaned_count += 1
                self.buffers_used += 1
                wb_len[ntc] = 0
                eop = self.wb_eop[ntc]
                ntc += 1
                self.next_to_clean = 0 if ntc == count else ntc
                if not eop:  # igb_is_non_eop(): the frame goes on in the next buffer
                    continue
                skb.tstamp = self.wb_tstamp[ntc - 1]
                skb.hash = self.wb_hash[ntc - 1]
                self.bytes += skb.len
                self.packets += 1
                total_packets += 1
                delivered, skb = skb, None
                if handler is None:
                    delivered.free()
                else:
                    handler(delivered)  # napi_gro_receive(): the handler owns the skb now
        finally:
            self.skb = skb
            if cleaned_count:
                self.alloc_rx_buffers(cleaned_count)
        return total_packets

    def _hand_up(self, bi: RxBuffer) -> None:
        """The stack takes a reference: the bias already paid for it, the naive way pays now."""
        self.handed_up += 1
        if not self._uses_bias:
            self.pa.get_page(bi.page)
            self.refcount_ops += 1

    def _flip(self, bi: RxBuffer) -> None:
        bi.page_offset ^= IGB_RX_TRUESIZE
        self.flips += 1

    def _build_skb(self, bi: RxBuffer, size: int) -> SkBuff | None:
        """igb_build_skb(): an skb around the buffer itself; headroom, then the frame."""
        hard_start = bi.page.addr + bi.page_offset - self.rx_offset
        skb = alloc.napi_build_skb(hard_start, IGB_RX_TRUESIZE, self.napi)
        skb.reserve(self.rx_offset)
        skb.put_in_place(size)
        self._hand_up(bi)
        self._flip(bi)
        return skb

    def _construct_skb(self, bi: RxBuffer, size: int) -> tuple[SkBuff | None, bool]:
        """igb_construct_skb(): headers copied into a small head, the rest as a page frag.

        Returns the skb and whether the buffer went to the stack (False when the whole frame
        fit in the head: the driver keeps the buffer as it is and restores its bias).
        """
        skb = alloc.napi_alloc_skb(IGB_RX_HDR_LEN, self.napi)
        if skb is None:
            return None, False
        va = bi.page.addr + bi.page_offset
        frame = self.pa.view(va, size)
        headlen = size
        if headlen > IGB_RX_HDR_LEN:
            headlen = eth_get_headlen(frame, IGB_RX_HDR_LEN)
        skb.put(headlen)[:] = frame[:headlen]
        rest = size - headlen
        if rest:
            self._hand_up(bi)
            skb.add_rx_frag(va + headlen, rest, IGB_RX_TRUESIZE)
            self._flip(bi)
            return skb, True
        self.copybreaks += 1
        if self._uses_bias:
            bi.pagecnt_bias += 1
        return skb, False

    def _add_rx_frag(self, bi: RxBuffer, skb: SkBuff, size: int) -> None:
        """igb_add_rx_frag(): the buffer becomes the next page frag of a multi-buffer frame."""
        self._hand_up(bi)
        skb.add_rx_frag(bi.page.addr + bi.page_offset, size, IGB_RX_TRUESIZE)
        self._flip(bi)

    # ------------------------------------------------------------------ reuse or release
    def can_reuse_rx_page(self, bi: RxBuffer, rx_buf_pgcnt: int, handed_up: bool) -> bool:
        """igb_can_reuse_rx_page(): keep the page if only this driver's reference remains.

        Not for pfmemalloc pages (from the emergency reserves). With the bias: reusable when
        ``rx_buf_pgcnt - pagecnt_bias <= 1``, and the bias is restocked in bulk
        (page_ref_add(USHRT_MAX - 1)) once it has run down to 1. The naive way compares the
        page count the same way against its single driver reference.
        """
        page = bi.page
        if page.pfmemalloc:
            return False
        if self._uses_bias:
            if rx_buf_pgcnt - bi.pagecnt_bias > 1:
                return False
            if bi.pagecnt_bias == 1:
                self.pa.page_ref_add(page, self.bias_max - 1)
                self.refcount_ops += 1
                bi.pagecnt_bias = self.bias_max
                self.restocks += 1
            return True
        # naive: rx_buf_pgcnt was read before this buffer's own get_page
        return rx_buf_pgcnt - 1 + handed_up <= 1

    def _put_rx_buffer(self, bi: RxBuffer, rx_buf_pgcnt: int, handed_up: bool) -> None:
        """igb_put_rx_buffer(): reuse the page (igb_reuse_rx_page) or release it."""
        if self.can_reuse_rx_page(bi, rx_buf_pgcnt, handed_up):
            self.reuse_rx_page(bi)
        else:
            self.releases += 1
            self.refcount_ops += 1
            self.source.release(bi.page, bi.pagecnt_bias)
        bi.page = None

    def reuse_rx_page(self, old: RxBuffer) -> None:
        """igb_reuse_rx_page(): move the buffer to the next_to_alloc slot."""
        nta = self.next_to_alloc
        new = self.buffers[nta]
        nta += 1
        self.next_to_alloc = 0 if nta == self.count else nta
        new.page = old.page
        new.page_offset = old.page_offset
        new.pagecnt_bias = old.pagecnt_bias
        self.reuses += 1

    # ------------------------------------------------------------------ teardown
    def clean_rx_ring(self) -> int:
        """igb_clean_rx_ring(): drop a half-built skb and drain every page the ring holds.

        Walks next_to_clean .. next_to_alloc and releases each buffer's page with its bias
        (frames the NIC wrote but the driver never cleaned are lost and counted), drains the
        NAPI context's frag cache and destroys the buffer source. Returns the pages the
        source still counts in flight (page_pool_destroy's figure; 0 for plain pages).
        """
        with self.napi:
            if self.skb is not None:
                self.skb.free()
                self.skb = None
            i = self.next_to_clean
            while i != self.next_to_alloc:
                bi = self.buffers[i]
                if self.wb_len[i] and self.wb_eop[i]:
                    self.teardown_lost += 1
                self.wb_len[i] = 0
                if bi.page is not None:
                    self.refcount_ops += 1
                    self.source.release(bi.page, bi.pagecnt_bias)
                    bi.page = None
                i += 1
                if i == self.count:
                    i = 0
            self.next_to_alloc = self.next_to_clean = self.next_to_use = self.hw_head = 0
            self.napi.drain()
        self.up = False
        return self.source.destroy()

    # ------------------------------------------------------------------ stats
    def stats(self) -> Snapshot:
        """This ring's counters, its buffer source's and its NAPI frag cache's."""
        return Snapshot(
            ring=self.index,
            packets=self.packets,
            bytes=self.bytes,
            polls=self.polls,
            polls_exhausted=self.polls_exhausted,
            max_work=self.max_work,
            pages=self.source.pages_alloc,
            buffers=self.buffers_used,
            handed_up=self.handed_up,
            flips=self.flips,
            reuses=self.reuses,
            releases=self.releases,
            restocks=self.restocks,
            copybreaks=self.copybreaks,
            multi_buffer=self.multi_buffer,
            refills=self.refills,
            alloc_failed=self.alloc_failed,
            refcount_ops=self.refcount_ops,
            rx_no_buffer=self.rx_no_buffer,
            rx_length_errors=self.rx_length_errors,
            teardown_lost=self.teardown_lost,
            drops=self.rx_no_buffer + self.rx_length_errors,
            source=self.source.stats(),
            napi_frag_cache=self.napi.frag_cache.stats(),
        )

    def __repr__(self) -> str:
        return (
            f"<RxRing {self.index} {self.source.kind} ntu {self.next_to_use} "
            f"ntc {self.next_to_clean} nta {self.next_to_alloc} head {self.hw_head}>"
        )
