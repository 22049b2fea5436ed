"""An AF_XDP queue as the example driver's NIC: the fill ring is each RX ring's tail.

``fragpool driver -i IF --xdp``. Each RxRing drives one queue of the interface through an
AF_XDP socket whose UMEM is the device allocator's one arena, cut into 2048-byte chunks: a
half page, igb's buffer. Posting a buffer (igb_alloc_rx_buffers, the tail write) puts its
half page on the fill ring; the kernel writes a frame there, XDP_PACKET_HEADROOM in, and
reports it on the RX ring, which becomes the descriptor's write-back (length, end of
packet). The ring then does what igb does: legacy-rx's igb_construct_skb (headers copied
into a small head, the rest a page frag: build_skb does not fit a 2048-byte chunk), the
half-page flip, reuse with pagecnt_bias, and the NAPI budget. Frames longer than one chunk
come as several descriptors (XDP_USE_SG) and become one skb with frags, as igb's
multi-buffer receive does.

Copy mode completes fill entries in the order they were posted; a completion for any other
chunk stops the run with an error naming both (a zero-copy driver may reorder, and this
ring's descriptors could not follow). Teardown closes the socket before the rings are
drained, as igb_down disables receive before igb_clean_rx_ring.
"""

from __future__ import annotations

import errno
import select
import socket
import time
from typing import Any

from .. import _native
from ..io.live.errors import LiveCaptureError
from ..io.live.interface import interface_mtu
from ..io.live.xdp_program import XdpProgram
from ..io.live.xsk import XDP_PACKET_HEADROOM, XDP_PKT_CONTD, XskSocket, frames_dropped
from ..stats import Snapshot
from .ring import RxRing

CHUNK = 2048


class XdpWire:
    """One AF_XDP socket per ring on queues 0..rings-1 of ``ifname`` (see the module)."""

    def __init__(
        self,
        ifname: str,
        *,
        count: int | None = None,
        xdp_mode: str = "auto",
        idle_timeout: float = 0.1,
        duration: float | None = None,
    ) -> None:
        try:
            self.ifindex = socket.if_nametoindex(ifname)
        except OSError:
            raise LiveCaptureError(errno.ENODEV, f"no such network interface: {ifname!r}") from None
        if xdp_mode not in ("auto", "native", "generic"):
            raise ValueError(f"xdp_mode {xdp_mode!r}: choose auto, native or generic")
        self.ifname, self.count, self.xdp_mode = ifname, count, xdp_mode
        self.idle_timeout, self.duration = idle_timeout, duration
        self.device: Any = None
        self.socks: list[XskSocket] = []
        self.prog: XdpProgram | None = None
        self.fallback: str | None = None
        self.offered = 0
        self.per_ring: list[int] = []
        self._posted: list[int] = []
        self._cons: list[int] = []
        self._prod: list[int] = []
        self._deadline: float | None = None
        self.stopped = False
        self._poll: select.poll | None = None

    def bind_device(self, device: Any) -> None:
        """Before the rings are configured: the UMEM is the device allocator's one arena."""
        pa = device.pa
        if pa.arena_size < pa.budget or pa.page_size != 2 * CHUNK:
            raise ValueError(
                "an AF_XDP UMEM is one contiguous region: the device's PageAllocator needs "
                "4096-byte pages and arena_size equal to its budget (one arena)"
            )
        for ring in device.rings:
            if not ring.legacy_rx:
                raise ValueError(
                    "the AF_XDP driver runs igb's legacy-rx path (build_skb does not fit a "
                    "2048-byte chunk)"
                )
            ring.rx_offset = XDP_PACKET_HEADROOM  # where the kernel writes the frame
            ring.bufsz = CHUNK - XDP_PACKET_HEADROOM
        self.device = device
        page = pa.alloc_pages(0)  # maps the arena
        pa.put_page(page)
        arena = pa.arenas[0]
        self.base, self.size = arena.base, arena.size

    def attach(self, nrings: int) -> None:
        if self.device is None:
            raise ValueError("XdpWire needs its device first (RxDevice calls bind_device)")
        ring_size = self.device.rings[0].count
        entries = 1 << (ring_size - 1).bit_length()  # no fewer than the ring's descriptors
        self.sg = interface_mtu(self.ifname) + 18 > CHUNK - XDP_PACKET_HEADROOM
        try:
            for queue in range(nrings):
                xsk = XskSocket(
                    self.ifindex, queue, self.base, self.size, CHUNK, 0, entries, sg=self.sg
                )
                self.socks.append(xsk)
                xsk.bind()
            self.prog = XdpProgram(nrings, frags=self.sg)
            for queue, xsk in enumerate(self.socks):
                self.prog.set_socket(queue, xsk.fileno())
            self.xdp_mode, self.fallback = self.prog.attach_mode(self.ifindex, self.xdp_mode)
        except BaseException:
            self.close()
            raise
        self._posted = [0] * nrings
        self._cons = [xsk.rx.consumer() for xsk in self.socks]
        self._prod = [xsk.fill.producer() for xsk in self.socks]
        self.per_ring = [0] * nrings
        if self.duration is not None:
            self._deadline = time.monotonic() + self.duration
        self._poll = select.poll()
        for xsk in self.socks:
            self._poll.register(xsk.fileno(), select.POLLIN)

    def stop(self) -> None:
        """End the capture: the next transmit reports the wire exhausted."""
        self.stopped = True

    def _chunk(self, ring: RxRing, i: int) -> int:
        bi = ring.buffers[i]
        return bi.page.addr + (bi.page_offset & -CHUNK) - self.base

    def _post(self, r: int, ring: RxRing) -> None:
        """The tail write: buffers posted since the last one go on the fill ring."""
        i, end = self._posted[r], ring.next_to_use
        if i == end:
            return
        xsk = self.socks[r]
        fill = xsk.fill
        view, desc, mask = fill.view, fill.desc, fill.mask
        addr = _native.mapped_address(view)
        prod = self._prod[r]
        count = ring.count
        base = self.base
        buffers = ring.buffers
        while i != end:
            bi = buffers[i]
            page = bi.page
            _native.put_u64(
                view, desc + (prod & mask) * 8, addr, page.addr + (bi.page_offset & -CHUNK) - base
            )
            prod += 1
            i += 1
            if i == count:
                i = 0
        self._posted[r] = i
        self._prod[r] = prod & 0xFFFFFFFF
        _native.set_ring_index(fill.words, fill.producer_at * 4, addr, prod & 0xFFFFFFFF)
        if fill.needs_wakeup():
            xsk.wakeup()

    def _complete(self, r: int, ring: RxRing, limit: int) -> int:
        """RX ring entries become the descriptors' write-back; returns frames completed."""
        rx = self.socks[r].rx
        view, desc, mask = rx.view, rx.desc, rx.mask
        raddr = _native.mapped_address(view)
        cons = self._cons[r]
        avail = (_native.ring_index(rx.words, rx.producer_at * 4, raddr) - cons) & 0xFFFFFFFF
        frames = 0
        now = time.time_ns()
        taken = 0
        count = ring.count
        base = self.base
        buffers = ring.buffers
        wb_len, wb_eop, wb_tstamp, wb_hash = ring.wb_len, ring.wb_eop, ring.wb_tstamp, ring.wb_hash
        while taken < avail and frames < limit:
            addr, length, options = _native.xdp_desc(view, desc + (cons & mask) * 16, raddr)
            i = ring.hw_head
            bi = buffers[i]
            page = bi.page
            want = page.addr + (bi.page_offset & -CHUNK) - base
            if addr & -CHUNK != want:
                self._out_of_order(r, i, addr, want)
            eop = not options & XDP_PKT_CONTD
            wb_len[i] = length
            wb_eop[i] = eop
            wb_tstamp[i] = now
            wb_hash[i] = 0
            ring.hw_head = 0 if i + 1 == count else i + 1
            cons += 1
            taken += 1
            if eop:
                frames += 1
        if taken:
            self._cons[r] = cons & 0xFFFFFFFF
            _native.set_ring_index(rx.words, rx.consumer_at * 4, raddr, cons & 0xFFFFFFFF)
        return frames

    def _out_of_order(self, r: int, i: int, addr: int, want: int) -> None:
        raise LiveCaptureError(
            errno.EPROTO,
            f"{self.ifname} queue {r}: AF_XDP completed chunk {addr & -CHUNK:#x}, "
            f"descriptor {i} holds {want:#x} (completions out of order)",
        )

    def transmit(self, burst: int, dma: Any) -> int:
        """Post what the rings refilled, collect what the kernel wrote, schedule NAPI."""
        if self._deadline is not None and time.monotonic() >= self._deadline:
            self.stopped = True
        if self.stopped or (self.count is not None and self.offered >= self.count):
            return -1
        limit = burst if self.count is None else min(burst, self.count - self.offered)
        device = self.device
        n = 0
        for r, ring in enumerate(device.rings):
            self._post(r, ring)
            got = self._complete(r, ring, limit - n)
            if got:
                self.per_ring[r] += got
                device.schedule(r, got)
                n += got
        self.offered += n
        if n == 0 and self._poll is not None:
            self._poll.poll(int(self.idle_timeout * 1000))
        return n

    def stats(self) -> Snapshot:
        kernel: dict[str, int] = {}
        for xsk in self.socks:
            if xsk.rings:
                for name, value in xsk.statistics().items():
                    kernel[name] = kernel.get(name, 0) + value
        return Snapshot(
            kind="af_xdp",
            ifname=self.ifname,
            xdp_mode=self.xdp_mode,
            offered=self.offered,
            per_ring=self.per_ring,
            kernel_drops=frames_dropped(kernel),
            **kernel,
        )

    def close(self) -> None:
        """Detach the program and close the sockets: the kernel lets go of every chunk."""
        if self.prog is not None:
            self.prog.close()
            self.prog = None
        for xsk in self.socks:
            xsk.close()
        self.socks = []
