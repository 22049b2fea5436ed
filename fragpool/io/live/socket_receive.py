"""Live receive through the socket: recv_into and recvmmsg straight into pool pages.

Both paths receive into the free tail of the cursor's compound page (see pool_cursor) and
build one skb per packet on the bytes where the kernel put them: nothing is copied.

- RecvIntoRx: one recvmsg per packet (_native.recv_msg) into ``tail[:frame]``, where
  ``frame`` is the interface's largest frame (MTU + link header + 4 for a re-inserted VLAN
  tag, capped by the snap length); the next packet starts at the next cache line after
  this one.
- MmsgRx: one recvmmsg per batch (_native.recv_mmsg, no poll once a batch came); the
  iovecs are ``frame``-sized slots carved one after
  another from the tail of the current page (as many as fit, up to the budget). The packet
  after the batch starts right after the last packet, so a short batch wastes no slots.

Kernel counterparts: packet_recvmsg, __sys_recvmsg, __sys_recvmmsg; the pool side is
page_frag_cache.
"""

from __future__ import annotations

from collections.abc import Callable

from ... import _native
from ...skb.head_cache import skbuff_head_cache
from ...skb.skbuff import SkBuff
from .if_packet import (
    MSG_DONTWAIT,
    SOCKADDR_LL_PKTTYPE_OFF,
    SOCKADDR_LL_SIZE,
    TP_STATUS_VLAN_VALID,
    VLAN_HLEN,
)
from .packet_socket import PacketSocket, reinsert_vlan, vlan_of
from .pool_cursor import ALIGN, PoolCursor
from .recvmmsg import (
    CTRL_SIZE,
    CTRL_USUAL_KEYS,
    MMSGHDR_SIZE,
    MSG_CTRL_OFF,
    MSG_NAME_OFF,
    MSG_RESULT_OFF,
    MmsgReceiver,
    MsgReceiver,
)


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
        #: frames longer than the buffers (the MTU grew after open), each cut and counted
        self.buffer_cut = 0
        #: the interface's largest frame now (set by the capture): buffers grow to it
        self.resize: Callable[[], int] | None = None

    def _cut(self) -> None:
        """A frame longer than the buffers sized at open (the MTU grew): counted, and the
        buffers grow to the interface's new largest frame for the packets after it."""
        self.buffer_cut += 1
        if self.resize is not None:
            try:
                frame = self.resize()
            except OSError:  # the interface is going away: the next receive says so
                return
            if frame > self.frame:
                self.frame = frame
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
    """One recvmsg per packet, into the free tail of the current pool page.

    The receive goes through MsgReceiver's prebuilt msghdr (_native.recv_msg points its
    iovec at the pool page and calls recvmsg: C compiled, ctypes interpreted), inlined in
    the loop: no address tuple, no SIOCGIFNAME ioctl and no cmsg list per packet as
    socket.recvmsg_into makes them. The usual control messages (SCM_TIMESTAMPNS then
    PACKET_AUXDATA) and msg_controllen come out of one _native.mmsg_usual load.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.msg = MsgReceiver(self.sock)

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
        m = self.msg
        fd, mview, maddr = m.fd, m.view, m.addr
        pm = _native.buffer_address(mview)
        k1, k2 = CTRL_USUAL_KEYS
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
            mbase = c.mbase
            head = mbase + at
            n = _native.recv_msg(fd, mview, maddr, head, room, SOCKADDR_LL_SIZE, CTRL_SIZE,
                                 MSG_DONTWAIT)  # fmt: skip
            if n < 0:
                if m.retry(-n):
                    continue
                break
            used, _ln, key1, sec, nsec, key2, status, wire, tci, tpid = _native.mmsg_usual(
                pm, MSG_RESULT_OFF, pm, MSG_CTRL_OFF
            )
            ptype = pm[MSG_NAME_OFF + SOCKADDR_LL_PKTTYPE_OFF]
            if used == CTRL_SIZE and key1 == k1 and key2 == k2:
                ts = sec * 1000000000 + nsec  # the usual pair, as packet_recvmsg puts it
            else:
                ts, status, wire, tci, tpid = m.cmsgs(used)
            if n < wire and n < snaplen:  # cut by the buffer, not by the snap length
                self._cut()
                frame = self.frame  # the packets after it get the grown buffer
                room = frame - VLAN_HLEN
            mv = c.mv
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
            skb.init_rx(pa, pa, head, n, used, mv, mbase, c.pfmemalloc, c.page)
            skb.tstamp = ts
            skb.wire_len = wire
            skb.pkt_type = ptype
            skb.vlan_tci = tci
            skb.ifindex = ifindex
            skb.linktype = lt
            append(skb)
            got += 1
            nbytes += n
        self.bytes += nbytes
        return got


class MmsgRx(_SockRx):
    """One recvmmsg per batch, its iovecs carved from the free tail of the current page.

    The control messages are read in the same pass that builds the skbs: the usual slot
    (SCM_TIMESTAMPNS then PACKET_AUXDATA, no VLAN tag) in one unpack; anything else
    through MmsgReceiver.slot.
    """

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
        pm = _native.buffer_address(mm._msgs_view)
        pc = _native.buffer_address(mm._ctrl_view)
        pn = _native.buffer_address(mm._names_view)
        k1, k2 = CTRL_USUAL_KEYS
        vlan = TP_STATUS_VLAN_VALID
        msg_size, ctrl_size, name_size = MMSGHDR_SIZE, CTRL_SIZE, SOCKADDR_LL_SIZE
        fd, maddr, taddr, iov = mm._fd, mm._msgs_addr, mm._template_addr, mm._iov_view
        iaddr = mm._iov_addr
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
            if wait != 0 and not self.sock.wait_readable(wait):
                break
            n = _native.recv_mmsg(fd, maddr, taddr, iov, iaddr, first, frame, frame - VLAN_HLEN,
                                  k, MSG_DONTWAIT)  # fmt: skip
            self.syscalls += 1
            if n < 0:  # EINTR called again, EAGAIN nothing, anything else raised
                wait = 0
                if mm.retry(-n):
                    continue
                break
            if n == 0:
                break
            if n > k:  # what the loads below rely on: n slots of each buffer were filled
                raise ValueError(f"recvmmsg returned {n} messages for {k} slots")
            wait = 0
            mv = c.mv
            pf = c.pfmemalloc
            page = c.page
            addr = first
            moff = MSG_RESULT_OFF
            coff = 0
            noff = SOCKADDR_LL_PKTTYPE_OFF
            ln = 0
            for i in range(n):
                used, ln, key1, sec, nsec, key2, status, wire, tci, _tpid = _native.mmsg_usual(
                    pm, moff, pc, coff
                )
                if used != ctrl_size or key1 != k1 or key2 != k2 or status & vlan or tci:
                    ln, wire, ts, ptype, tci, _tpid, _st = mm.slot(i, addr)
                else:
                    ts = sec * 1000000000 + nsec
                    ptype = pn[noff]
                if ln < wire and ln < snaplen:  # cut by the buffer, not by the snap length
                    self._cut()
                if ln > snaplen:
                    ln = snaplen
                skb = free.pop() if free else skbuff_head_cache.get()
                skb.init_rx(pa, pa, addr, ln, frame, mv, mbase, pf, page)
                skb.tstamp = ts
                skb.wire_len = wire
                skb.pkt_type = ptype
                skb.vlan_tci = tci
                skb.ifindex = ifindex
                skb.linktype = lt
                out.append(skb)
                nbytes += ln
                addr += frame
                moff += msg_size
                coff += ctrl_size
                noff += name_size
            # the next batch starts right after the last packet, not after its slot
            c.off += (n - 1) * frame + ((ln + ALIGN - 1) & -ALIGN)
            frame = self.frame  # grown if a packet of this batch was cut (_cut)
            c.bias -= n
            got += n
            if n < k:
                break
        self.bytes += nbytes
        return got
