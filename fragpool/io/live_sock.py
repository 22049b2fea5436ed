"""Live receive through the socket: recv_into and recvmmsg straight into pool pages.

Both paths receive into the free tail of the cursor's compound page (see live_pool) and
build one skb per packet on the bytes where the kernel put them: nothing is copied.

- RecvIntoRx: one recvmsg_into per packet into ``tail[:frame]``, where ``frame`` is the
  interface's largest frame (MTU + link header + 4 for a re-inserted VLAN tag, capped by
  the snap length); the next packet starts at the next cache line after this one.
- MmsgRx: one recvmmsg per batch; the iovecs are ``frame``-sized slots carved one after
  another from the tail of the current page (as many as fit, up to the budget). The packet
  after the batch starts right after the last packet, so a short batch wastes no slots.

Kernel counterparts: packet_recvmsg, __sys_recvmmsg; the pool side is page_frag_cache.
"""

from __future__ import annotations

from ..skb import SkBuff, skbuff_head_cache
from .afpacket import PacketSocket
from .live_pool import ALIGN, PoolCursor
from .recvmmsg import MmsgReceiver


class _SockRx:
    """What both socket paths share: the socket, the cursor and the skb metadata."""

    def __init__(
        self,
        sock: PacketSocket,
        cursor: PoolCursor,
        frame: int,
        snaplen: int,
        linktype: int,
    ) -> None:
        self.sock = sock
        self.cursor = cursor
        self.frame = frame
        self.snaplen = snaplen
        self.linktype = linktype
        self.ifindex = sock.ifindex
        self.dropped_no_mem = 0
        self._scratch = bytearray(frame)

    def _drop_one(self) -> bool:
        """No pool memory: take one packet off the socket into scratch (counted); True if any."""
        r = self.sock.recv_into(self._scratch, 0)
        if r is None:
            return False
        self.dropped_no_mem += 1
        return True

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()


class RecvIntoRx(_SockRx):
    """One recvmsg_into per packet, into the free tail of the current pool page."""

    def poll(self, budget: int, timeout: float | None, out: list[SkBuff]) -> int:
        """Receive up to ``budget`` packets as skbs appended to ``out``; returns how many.

        Waits up to ``timeout`` seconds for the first packet, then takes what is queued.
        """
        sock = self.sock
        if not sock.wait_readable(timeout):
            return 0
        c = self.cursor
        pa = c.pa
        frame, snaplen, lt, ifindex = self.frame, self.snaplen, self.linktype, self.ifindex
        recv = sock.recv_into
        free = skbuff_head_cache.free
        get = skbuff_head_cache.get
        append = out.append
        got = 0
        while got < budget:
            if (c.page is None or c.size - c.off < frame) and not c.refill(frame):
                if not self._drop_one():
                    break
                continue
            at = c.start + c.off
            mv = c.mv
            r = recv(mv[at : at + frame], 0)
            if r is None:
                break
            n, meta = r
            if n > snaplen:  # a re-inserted tag pushed the frame past the snap length
                n = snaplen
            used = (n + ALIGN - 1) & -ALIGN
            c.off += used
            c.bias -= 1
            skb = free.pop() if free else get()
            skb.init_rx(pa, pa, c.mbase + at, n, used, mv, c.mbase, c.pfmemalloc, c.page)
            skb.tstamp = meta.ts_ns
            skb.wire_len = meta.wirelen
            skb.pkt_type = meta.pkttype
            skb.vlan_tci = meta.vlan_tci
            skb.ifindex = ifindex
            skb.linktype = lt
            append(skb)
            got += 1
        return got


class MmsgRx(_SockRx):
    """One recvmmsg per batch, its iovecs carved from the free tail of the current page."""

    def __init__(self, *args: object, batch: int = 64) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.mm = MmsgReceiver(self.sock, batch)
        self.batch = batch
        self.syscalls = 0

    def poll(self, budget: int, timeout: float | None, out: list[SkBuff]) -> int:
        """Receive up to ``budget`` packets as skbs appended to ``out``; returns how many."""
        c = self.cursor
        pa = c.pa
        mm = self.mm
        frame, snaplen, lt, ifindex = self.frame, self.snaplen, self.linktype, self.ifindex
        free = skbuff_head_cache.free
        get = skbuff_head_cache.get
        append = out.append
        got = 0
        wait = timeout
        while got < budget:
            if (c.page is None or c.size - c.off < frame) and not c.refill(frame):
                if not self.sock.wait_readable(wait) or not self._drop_one():
                    break
                wait = 0
                continue
            k = min(budget - got, self.batch, (c.size - c.off) // frame)
            base = c.start + c.off
            mbase = c.mbase
            first = mbase + base
            n = mm.recv_batch(range(first, first + k * frame, frame), frame, wait)
            self.syscalls += 1
            if n == 0:
                break
            wait = 0
            mv = c.mv
            pf = c.pfmemalloc
            page = c.page
            lens, wire, ts = mm.snaplen, mm.wirelen, mm.ts_ns
            ptype, tci = mm.pkttype, mm.vlan_tci
            addr = first
            for i in range(n):
                ln = lens[i]
                if ln > snaplen:
                    ln = snaplen
                skb = free.pop() if free else get()
                skb.init_rx(pa, pa, addr, ln, frame, mv, mbase, pf, page)
                skb.tstamp = ts[i]
                skb.wire_len = wire[i]
                skb.pkt_type = ptype[i]
                skb.vlan_tci = tci[i]
                skb.ifindex = ifindex
                skb.linktype = lt
                append(skb)
                addr += frame
            # the next batch starts right after the last packet, not after its slot
            c.off += (n - 1) * frame + ((lens[n - 1] + ALIGN - 1) & -ALIGN)
            c.bias -= n
            got += n
            if n < k:
                break
        return got
