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
from .afpacket import _ANC_BUFSIZE as _ANC
from .afpacket import PacketSocket, reinsert_vlan, vlan_of
from .if_packet import (
    MSG_DONTWAIT,
    PACKET_AUXDATA,
    SCM_TIMESTAMPNS,
    SOL_PACKET,
    SOL_SOCKET,
    TIMESPEC,
    TP_STATUS_VLAN_VALID,
    TPACKET_AUXDATA,
    VLAN_HLEN,
)
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
        self.bytes = 0  # bytes of the skbs handed out
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
    """One recvmsg_into per packet, into the free tail of the current pool page.

    The receive is PacketSocket.recv_into unrolled into the loop (MSG_DONTWAIT, the
    auxdata and timestamp cmsgs read in place): no PacketMeta per packet.
    """

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
        room = frame - VLAN_HLEN  # 4 bytes kept to put a stripped tag back
        recvmsg_into = sock.sock.recvmsg_into
        aux = TPACKET_AUXDATA.unpack_from
        tspec = TIMESPEC.unpack_from
        free = skbuff_head_cache.free
        get = skbuff_head_cache.get
        append = out.append
        got = nbytes = 0
        while got < budget:
            if (c.page is None or c.size - c.off < frame) and not c.refill(frame):
                if not self._drop_one():
                    break
                continue
            at = c.start + c.off
            mv = c.mv
            try:
                n, anc, _flags, addr = recvmsg_into([mv[at : at + room]], _ANC, MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            ts = status = wire = tci = tpid = 0
            for level, kind, data in anc:
                if level == SOL_PACKET and kind == PACKET_AUXDATA:
                    status, wire, _s, _m, _n, tci, tpid = aux(data)
                elif level == SOL_SOCKET and kind == SCM_TIMESTAMPNS:
                    sec, nsec = tspec(data)
                    ts = sec * 1000000000 + nsec
            if status & TP_STATUS_VLAN_VALID or tci:
                tci, tpid = vlan_of(status, tci, tpid)
                wire += VLAN_HLEN
                n = reinsert_vlan(mv[at : at + frame], n, tci, tpid)
            else:
                tci = 0
            if n > snaplen:  # a re-inserted tag pushed the frame past the snap length
                n = snaplen
            used = (n + ALIGN - 1) & -ALIGN
            c.off += used
            c.bias -= 1
            skb = free.pop() if free else get()
            skb.init_rx(pa, pa, c.mbase + at, n, used, mv, c.mbase, c.pfmemalloc, c.page)
            skb.tstamp = ts
            skb.wire_len = wire
            skb.pkt_type = addr[2]
            skb.vlan_tci = tci
            skb.ifindex = ifindex
            skb.linktype = lt
            append(skb)
            got += 1
            nbytes += n
        self.bytes += nbytes
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
        got = nbytes = 0
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
                nbytes += ln
                addr += frame
            # the next batch starts right after the last packet, not after its slot
            c.off += (n - 1) * frame + ((lens[n - 1] + ALIGN - 1) & -ALIGN)
            c.bias -= n
            got += n
            if n < k:
                break
        self.bytes += nbytes
        return got
