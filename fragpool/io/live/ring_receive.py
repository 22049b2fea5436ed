"""Live receive from a TPACKET_V3 ring: skbs built in place in kernel-filled blocks.

A ring block is a multi-packet buffer the kernel owns until it retires it to user space.
RingRx walks a retired block and builds one skb per packet on the bytes where the kernel
wrote them (zero copy). The block carries a reference count: one for the walker while it
still has packets to hand out, plus one per skb. An skb's free (``head_mem.frag_free``)
drops its reference; the last one hands the block back to the kernel (TP_STATUS_KERNEL).

Holding skbs must not stall capture. When more than ``copybreak_at`` blocks are held, the
oldest held blocks are emptied by copying their live skbs into pool memory (copybreak):
each such skb keeps its object and its bytes, and moves its head to a pool page; the block
goes back to the kernel as soon as its last reference goes. Views taken earlier with
``skb.linear_view()`` keep pointing into the ring; ``bytes(skb)`` is always right. A cloned
skb cannot be moved (its clones share the head) and keeps its block until it is freed.

skbs may be freed from any thread: a block whose last reference is dropped outside the
receiving thread is queued and handed back by the receiving thread at its next poll.

Kernel counterparts: tpacket_rcv filling blocks, prb_retire_current_block, the user side
of TP_STATUS_USER/TP_STATUS_KERNEL; copybreak as in drivers' rx_copybreak.
"""

from __future__ import annotations

import errno
import threading
from collections import deque

from ... import _native
from ...mm.allocator import RefCount
from ...skb.head_cache import skbuff_head_cache
from ...skb.head_owner import HeadOwner
from ...skb.skbuff import SkBuff
from .errors import LiveCaptureError
from .if_packet import (
    BLOCK_DESC,
    TP_STATUS_VLAN_VALID,
    TPACKET3_HDR_PKTTYPE,
    TPACKET3_HDRLEN,
    VLAN_HLEN,
    VLAN_TAG,
)
from .packet_socket import vlan_of
from .pool_cursor import ALIGN, PoolCursor
from .tpacket import RingReport, TPacketV3Ring

#: The tpacket3_hdr fields the walk needs, in one unpack: tp_next_offset, tp_sec, tp_nsec,
#: tp_snaplen, tp_len, tp_status, tp_mac, hv1.tp_vlan_tci and the sockaddr_ll's
#: sll_pkttype (tp_net, tp_rxhash, tp_vlan_tpid and the padding skipped).
#: _native.tpacket3_hdr reads the header through sll_pkttype: these 59 bytes.
assert TPACKET3_HDR_PKTTYPE.size == 59


class BlockRef(RefCount):
    """The reference count of one ring block (page_ref of a compound page).

    One reference for the walker while the block has packets to hand out, plus one per skb
    built on it. skbs carry it (``skb._page``) so their free drops a reference inline; the
    last one goes through :meth:`RingRx.frag_free`, which hands the block back.
    """

    __slots__ = ()


class RingRx(HeadOwner):
    """Skbs from a TPacketV3Ring, built in place; blocks refcounted and copied out when short."""

    def __init__(
        self,
        ring: TPacketV3Ring,
        cursor: PoolCursor,
        snaplen: int,
        linktype: int,
        copybreak_at: int,
    ) -> None:
        self.ring = ring
        self.sock = ring.sock
        self.cursor = cursor
        self.snaplen = snaplen
        self.linktype = linktype
        self.ifindex = ring.sock.ifindex
        self.copybreak_at = copybreak_at
        self.base = ring.base_address
        self.bs = ring.block_size
        self.block_refs = [BlockRef() for _ in range(ring.block_nr)]
        self.skbs: list[list[SkBuff]] = [[] for _ in range(ring.block_nr)]
        self._order: deque[int] = deque()  # blocks in the order they were taken
        self._off = 0  # view offset of the walker's next tpacket3_hdr
        self._left = 0  # packets of the walker's block not handed out yet
        self._block: int | None = None  # the block the walker is in
        self._deferred: list[int] = []
        self._thread = threading.get_ident()
        self._closed = False
        self.blocks = 0
        self.bytes = 0  # bytes of the skbs handed out
        self.frag_frees = 0  # skb references dropped on ring blocks
        self.copybreak_skbs = 0
        self.copybreak_bytes = 0
        self.copybreak_fail = 0
        self.discarded_at_close = 0
        #: The ring's teardown report, once every block went back and the ring was closed.
        self.report: RingReport | None = None

    # -- the block owner (head_mem protocol) ----------------------------------------------

    def frag_free(self, addr: int) -> None:
        """Drop one reference on the block holding ``addr``; the last one returns the block."""
        i = (addr - self.base) // self.bs
        blk = self.block_refs[i]
        n = blk.ref - 1
        blk.ref = n
        self.frag_frees += 1
        if n == 0:
            self._block_done(i)

    def _block_done(self, i: int) -> None:
        if not self._closed and threading.get_ident() != self._thread:
            self._deferred.append(i)  # list.append is atomic; handed back at the next poll
            return
        self.skbs[i].clear()
        ring = self.ring
        if ring._mm is None:
            return
        ring.release_block(i)
        if self._closed and not self.held_refs():
            self.report = ring.close()  # the last cloned skb let go after close()

    def _run_deferred(self) -> None:
        deferred = self._deferred
        while deferred:
            i = deferred.pop()
            self.skbs[i].clear()
            self.ring.release_block(i)

    # -- receive --------------------------------------------------------------------------

    def poll(self, budget: int, timeout: float | None, out: list[SkBuff]) -> int:
        """Hand out up to ``budget`` skbs (appended to ``out``); returns how many.

        Waits up to ``timeout`` seconds for a block when none is being walked.
        """
        self._thread = threading.get_ident()
        if self._deferred:
            self._run_deferred()
        ring = self.ring
        got = 0
        wait = timeout
        while got < budget:
            if not self._left:
                if self._block is not None:
                    self._walker_done()
                if ring.held_blocks > self.copybreak_at:
                    self._copybreak()
                b = ring.next_block(wait)
                if b is None:
                    break
                self.blocks += 1
                self._block = b
                self._order.append(b)
                self.block_refs[b].ref = 1
                blk = b * self.bs
                _v, _p, _s, num, first, _len, _seq = BLOCK_DESC.unpack_from(ring.view, blk)
                self._off = blk + first
                self._left = num
                continue
            got += self._walk(min(budget - got, self._left), out)
            wait = 0
        if self._block is not None and not self._left:
            self._walker_done()
        return got

    def _walk(self, k: int, out: list[SkBuff]) -> int:
        """Build skbs for the next ``k`` packets of the block (tpacket3_hdr chain), in place."""
        view = self.ring.view
        p = _native.buffer_address(view)
        base = self.base
        pa = self.cursor.pa
        snaplen, lt, ifindex = self.snaplen, self.linktype, self.ifindex
        b = self._block
        blk = self.block_refs[b]
        lo = b * self.bs
        hi = lo + self.bs
        # the k objects in one slice off the slab (kmem_cache_alloc_bulk)
        free = skbuff_head_cache.free
        take = free[-k:]
        del free[-k:]
        while len(take) < k:
            take.append(skbuff_head_cache.get())
        off = self._off
        last_sec = -1
        sec_ns = nbytes = 0
        vlan_valid = TP_STATUS_VLAN_VALID
        align, mask = ALIGN - 1, -ALIGN
        for skb in take:
            if off < lo or off + TPACKET3_HDRLEN > hi:
                self._outside(b, off - lo, "tpacket3_hdr")
            nxt, sec, nsec, snap, wire, status, mac, tci, ptype = _native.tpacket3_hdr(p, off)
            if off + mac + snap > hi:
                self._outside(b, off - lo, f"frame of {snap} bytes at tp_mac {mac}")
            if status & vlan_valid or tci:
                data, snap, wire, tci = self._vlan(view, off, off + mac, mac, snap, wire)
                addr = base + data
            else:
                addr = base + off + mac
            if snap > snaplen:
                snap = snaplen
            skb.init_rx(pa, self, addr, snap, (snap + align) & mask, view, base, False, blk)
            if sec != last_sec:
                last_sec = sec
                sec_ns = sec * 1000000000
            skb.tstamp = sec_ns + nsec
            skb.wire_len = wire
            skb.pkt_type = ptype
            skb.vlan_tci = tci
            skb.ifindex = ifindex
            skb.linktype = lt
            nbytes += snap
            off += nxt
        out += take
        self._off = off
        self._left -= k
        blk.ref += k
        self.bytes += nbytes
        self.skbs[b] += take
        return k

    def _outside(self, b: int, at: int, what: str) -> None:
        raise LiveCaptureError(
            errno.EIO, f"TPACKET_V3 block {b}: {what} at offset {at} runs past the block"
        )

    def _vlan(
        self, view: memoryview, off: int, data: int, mac: int, snap: int, wire: int
    ) -> tuple[int, int, int, int]:
        """A stripped tag: put it back in the ring in front of the frame (vlan_insert_tag)."""
        hdr = TPACKET3_HDR_PKTTYPE.unpack_from(view, off)
        tci, tpid = vlan_of(hdr[5], hdr[9], hdr[10])
        wire += VLAN_HLEN
        if self.ring.vlan:
            if mac < TPACKET3_HDRLEN + VLAN_HLEN or snap < 12:
                raise LiveCaptureError(
                    errno.EINVAL, f"no room before tp_mac={mac} to re-insert a VLAN tag"
                )
            view[data - VLAN_HLEN : data + 8] = view[data : data + 12]
            VLAN_TAG.pack_into(view, data + 8, tpid, tci)
            data -= VLAN_HLEN
            snap += VLAN_HLEN
        return data, snap, wire, tci

    def _walker_done(self) -> None:
        b, self._block = self._block, None
        self._left = 0
        blk = self.block_refs[b]
        blk.ref -= 1  # the walker's own reference: not an skb's
        if blk.ref == 0:
            self._block_done(b)

    # -- copybreak ------------------------------------------------------------------------

    def _copybreak(self) -> None:
        """Copy the live skbs of the oldest held blocks into pool memory until enough are back."""
        order = self._order
        ring = self.ring
        while ring.held_blocks > self.copybreak_at and order:
            b = order.popleft()
            if self.block_refs[b].ref > 0 and b != self._block and not self._move_out(b):
                order.appendleft(b)
                return

    def _move_out(self, b: int) -> bool:
        """Move every movable skb of block b to pool memory; False when pool memory ran out."""
        lo = self.base + b * self.bs
        hi = lo + self.bs
        cursor = self.cursor
        ring_mv = self.ring.view
        base = self.base
        pa = cursor.pa
        for skb in list({id(s): s for s in self.skbs[b]}.values()):  # once each, by identity
            if not (skb.is_live and skb._shared is None and skb.head_mem is self):
                continue
            head = skb.head
            if not lo <= head < hi:
                continue
            if pa.debug is not None and pa.debug.skb_has_views(skb):
                continue  # debug mode: a live view pins the skb (and its block) in the ring
            n = skb.end - head
            addr = cursor.copy_in(ring_mv[head - base : head - base + n])
            if addr is None:
                self.copybreak_fail += 1
                return False
            delta = addr - head
            skb.head = addr
            skb.data += delta
            skb.tail += delta
            skb.end += delta
            skb._mv = cursor.mv
            skb._mbase = cursor.mbase
            skb.head_mem = pa
            skb._page = cursor.page
            skb.pfmemalloc = cursor.pfmemalloc
            if pa.debug is not None:
                pa.debug.skb_moved(skb)
            self.copybreak_skbs += 1
            self.copybreak_bytes += n
            self.frag_free(head)  # may hand the block back
        return True

    # -- teardown -------------------------------------------------------------------------

    def held_refs(self) -> int:
        """Blocks that still have references (skbs or the walker)."""
        return sum(1 for blk in self.block_refs if blk.ref > 0)

    def close(self) -> tuple[RingReport | None, int]:
        """Copy out every held skb, hand every block back, close the ring.

        Returns (the ring's report, blocks that could not be handed back). A block held by a
        cloned skb keeps the ring mapped until that skb is freed; the socket closes anyway.
        """
        self._thread = threading.get_ident()
        self._run_deferred()
        if self._block is not None:
            self._walker_done()
        for b, blk in enumerate(self.block_refs):
            if blk.ref > 0:
                self._move_out(b)
        ring = self.ring
        stuck = self.held_refs()
        if stuck == 0:
            while True:  # blocks the kernel retired after the last poll: discard them
                b = ring.next_block(0)
                if b is None:
                    break
                self.discarded_at_close += len(ring.packets(b))
                ring.release_block(b)
        self._closed = True
        if stuck:
            ring.sock.close()
            return None, stuck
        self.report = ring.close()
        return self.report, 0
