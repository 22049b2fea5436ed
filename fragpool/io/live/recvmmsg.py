"""Receive with recvmmsg(2) and recvmsg(2) into caller memory given by address.

The system calls are _native.recv_mmsg and recv_msg: C calls when compiled, libc through
ctypes when interpreted. MmsgReceiver pre-builds, once per batch size, the mmsghdr array
with its iovecs, sockaddr_ll name buffers and control buffers (room for SCM_TIMESTAMPNS
and PACKET_AUXDATA). A call points the iovecs at the caller's buffers, resets the
kernel-written header fields from a template, polls, and takes what is queued with
MSG_DONTWAIT. Results land in preallocated per-slot lists (snaplen, wirelen, ts_ns,
pkttype, vlan_tci, vlan_tpid, status), so a batch makes no Python object per packet beyond
the ints.

MsgReceiver is the same for one message per call: one buffer holds the msghdr, its iovec,
the sockaddr_ll and the control buffer, so a receive arms the iovec, calls recvmsg and
reads the results in place. Unlike socket.recvmsg_into it makes no address tuple (whose
interface name costs CPython a SIOCGIFNAME ioctl per packet) and no cmsg list.

Kernel counterparts: __sys_recvmmsg, __sys_recvmsg, struct mmsghdr / msghdr / iovec,
packet_recvmsg.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from collections.abc import Sequence

from ... import _native
from .errors import LiveCaptureError
from .if_packet import (
    MSG_DONTWAIT,
    PACKET_AUXDATA,
    SCM_TIMESTAMPNS,
    SOCKADDR_LL_PKTTYPE_OFF,
    SOCKADDR_LL_SIZE,
    SOL_PACKET,
    SOL_SOCKET,
    TIMESPEC,
    TP_STATUS_VLAN_VALID,
    TPACKET_AUXDATA,
    VLAN_HLEN,
    VLAN_TAG,
)
from .packet_socket import PacketMeta, PacketSocket, vlan_of

_memmove = ctypes.memmove

# LP64 layouts. struct msghdr: name 0, namelen 8, iov 16, iovlen 24, control 32,
# controllen 40, flags 48 (56 bytes); struct mmsghdr adds msg_len at 56 (64 bytes).
_MSGHDR = struct.Struct("=QI4xQQQQi4x")
_MMSGHDR_SIZE = 64
_IOVEC = struct.Struct("=QQ")  # iov_base, iov_len
_MSG_LEN_OFF = 56
_MSG_LEN = struct.Struct("=I")
_CMSGHDR = struct.Struct("=Qii")  # cmsg_len (size_t), cmsg_level, cmsg_type
_CMSG_ALIGN = 8
_CONTROLLEN = struct.Struct("=Q")  # msghdr.msg_controllen, written back by the kernel
_CONTROLLEN_OFF = 40


def _cmsg_space(n: int) -> int:
    return _CMSGHDR.size + ((n + _CMSG_ALIGN - 1) & ~(_CMSG_ALIGN - 1))


_CTRL_SIZE = _cmsg_space(TIMESPEC.size) + _cmsg_space(TPACKET_AUXDATA.size)

MMSGHDR_SIZE = _MMSGHDR_SIZE
#: A slot's msg_controllen and msg_len, read from offset 40 of its mmsghdr.
MSG_RESULT = struct.Struct("=Q8xI")
MSG_RESULT_OFF = _CONTROLLEN_OFF
#: A control buffer as packet_recvmsg fills it: SCM_TIMESTAMPNS (sock_recv_cmsgs) then
#: PACKET_AUXDATA. Read as (level | type << 32 of the first cmsg, tv_sec, tv_nsec, the same
#: key of the second, tp_status, tp_len, tp_vlan_tci, tp_vlan_tpid).
CTRL_USUAL = struct.Struct("=8xQqq8xQII8xHH")
CTRL_USUAL_KEYS = (SOL_SOCKET | SCM_TIMESTAMPNS << 32, SOL_PACKET | PACKET_AUXDATA << 32)
#: msg_controllen when both control messages came (the whole control buffer).
CTRL_SIZE = _CTRL_SIZE


def read_cmsgs(ctrl: memoryview, base: int, used: int) -> tuple[int, int, int, int, int]:
    """Walk the control messages at ``ctrl[base : base + used]`` (CMSG_FIRSTHDR/NXTHDR).

    Returns (timestamp ns from SCM_TIMESTAMPNS, then tp_status, tp_len, tp_vlan_tci and
    tp_vlan_tpid from PACKET_AUXDATA), zeros for a message that is not there.
    """
    off = 0
    ts = status = wire = tci = tpid = 0
    while off + _CMSGHDR.size <= used:
        clen, level, kind = _CMSGHDR.unpack_from(ctrl, base + off)
        at = base + off + _CMSGHDR.size
        if level == SOL_PACKET and kind == PACKET_AUXDATA:
            status, wire, _s, _m, _n, tci, tpid = TPACKET_AUXDATA.unpack_from(ctrl, at)
        elif level == SOL_SOCKET and kind == SCM_TIMESTAMPNS:
            sec, nsec = TIMESPEC.unpack_from(ctrl, at)
            ts = sec * 1_000_000_000 + nsec
        if clen < _CMSGHDR.size:
            break
        off += (clen + _CMSG_ALIGN - 1) & ~(_CMSG_ALIGN - 1)
    return ts, status, wire, tci, tpid


# MsgReceiver's buffer: msghdr 0, iovec 56 (where _native.recv_msg arms it), sockaddr_ll
# 72, control 96.
_MSG_IOV_OFF = 56
MSG_NAME_OFF = 72
MSG_CTRL_OFF = 96
_MSG_BUF_SIZE = MSG_CTRL_OFF + _CTRL_SIZE


class MsgReceiver:
    """recvmsg(2) of one packet for one PacketSocket, into caller memory given by address.

    The per-packet receive of packet_recvmsg without socket.recvmsg_into's objects: the
    msghdr, iovec, sockaddr_ll and control buffer are built once in one ctypes buffer
    (``addr``, viewed by ``view``). A hot loop may inline :meth:`recv` (_native.recv_msg,
    then the usual control messages read in place with _native.mmsg_usual at offset 0 and
    MSG_CTRL_OFF); anything else goes through :meth:`cmsgs`.
    """

    def __init__(self, sock: PacketSocket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.buf = ctypes.create_string_buffer(_MSG_BUF_SIZE)
        self.view = memoryview(self.buf).cast("B")
        self.addr = a = ctypes.addressof(self.buf)
        _MSGHDR.pack_into(
            self.buf, 0, a + MSG_NAME_OFF, SOCKADDR_LL_SIZE, a + _MSG_IOV_OFF, 1,
            a + MSG_CTRL_OFF, _CTRL_SIZE, 0,
        )  # fmt: skip

    def recv(self, addr: int, length: int) -> int:
        """One packet into ``length`` bytes at ``addr`` (MSG_DONTWAIT); -1 when none is queued.

        Returns the bytes received; the metadata is in the buffer (:meth:`meta`).
        """
        while True:
            n = _native.recv_msg(self.fd, self.view, self.addr, addr, length, SOCKADDR_LL_SIZE,
                                 _CTRL_SIZE, MSG_DONTWAIT)  # fmt: skip
            if n >= 0 or not self.retry(-n):
                return n if n >= 0 else -1

    @staticmethod
    def retry(err: int) -> bool:
        """After a call failed with ``err``: True on EINTR (call again), False on EAGAIN,
        else raise.

        The error is a plain OSError, as socket.recvmsg_into raises it, so LiveCapture
        tells an interface that went away (ENETDOWN) the same way in every socket mode.
        """
        if err == errno.EINTR:
            return True
        if err in (errno.EAGAIN, errno.EWOULDBLOCK):
            return False
        raise OSError(err, os.strerror(err))

    def cmsgs(self, used: int) -> tuple[int, int, int, int, int]:
        """The last call's control messages (``used`` = msg_controllen): see read_cmsgs."""
        return read_cmsgs(self.view, MSG_CTRL_OFF, used)

    def meta(self, n: int) -> PacketMeta:
        """The last call's metadata for ``n`` received bytes, as a PacketMeta (no VLAN put back)."""
        used = _CONTROLLEN.unpack_from(self.view, _CONTROLLEN_OFF)[0]
        ts, status, wire, tci, tpid = self.cmsgs(used)
        if status & TP_STATUS_VLAN_VALID or tci:
            tci, tpid = vlan_of(status, tci, tpid)
        else:
            tci = tpid = 0
        ptype = self.view[MSG_NAME_OFF + SOCKADDR_LL_PKTTYPE_OFF]
        return PacketMeta(n, wire, ts, ptype, tci, tpid, status)


class MmsgReceiver:
    """A recvmmsg(2) batch of up to `batch` messages for one PacketSocket.

    recv_batch(addrs, lengths, timeout) scatters one packet into each (addr, length) buffer
    and returns how many arrived; the per-slot results are in the lists snaplen, wirelen,
    ts_ns, pkttype, vlan_tci, vlan_tpid and status (valid for indexes below the count).
    """

    def __init__(self, sock: PacketSocket, batch: int = 64, *, vlan: bool = True) -> None:
        if not isinstance(batch, int) or not 1 <= batch <= 1024:
            raise LiveCaptureError(errno.EINVAL, f"batch must be 1..1024, not {batch!r}")
        self.sock = sock
        self.batch = batch
        self.vlan = vlan
        self._fd = sock.fileno()
        self._iov = ctypes.create_string_buffer(16 * batch)
        self._names = ctypes.create_string_buffer(SOCKADDR_LL_SIZE * batch)
        self._ctrl = ctypes.create_string_buffer(_CTRL_SIZE * batch)
        self._msgs = ctypes.create_string_buffer(_MMSGHDR_SIZE * batch)
        iov0 = ctypes.addressof(self._iov)
        names0 = ctypes.addressof(self._names)
        ctrl0 = ctypes.addressof(self._ctrl)
        for i in range(batch):
            _MSGHDR.pack_into(
                self._msgs,
                i * _MMSGHDR_SIZE,
                names0 + i * SOCKADDR_LL_SIZE,
                SOCKADDR_LL_SIZE,
                iov0 + 16 * i,
                1,
                ctrl0 + i * _CTRL_SIZE,
                _CTRL_SIZE,
                0,
            )
        self._template = ctypes.create_string_buffer(bytes(self._msgs), len(self._msgs))
        self._template_addr = ctypes.addressof(self._template)
        self._msgs_addr = ctypes.addressof(self._msgs)
        self._iov_addr = iov0
        self._iov_view = memoryview(self._iov).cast("B")
        self._msgs_view = memoryview(self._msgs).cast("B")
        self._names_view = memoryview(self._names).cast("B")
        self._ctrl_view = memoryview(self._ctrl).cast("B")
        self.snaplen = [0] * batch
        self.wirelen = [0] * batch
        self.ts_ns = [0] * batch
        self.pkttype = [0] * batch
        self.vlan_tci = [0] * batch
        self.vlan_tpid = [0] * batch
        self.status = [0] * batch
        self.count = 0

    def receive(
        self, addrs: Sequence[int], lengths: Sequence[int] | int, timeout: float | None = None
    ) -> int:
        """recvmmsg into the buffers and return how many arrived, leaving the results unread.

        The same as :meth:`recv_batch` without filling the per-slot lists: a caller that
        builds its own per-packet objects reads each slot in the same pass, from
        :meth:`slot` or, in the usual case, straight from the headers (MSG_RESULT,
        CTRL_USUAL). Nothing is re-inserted until a slot is read.
        """
        count = len(addrs)
        if not 1 <= count <= self.batch:
            raise LiveCaptureError(errno.EINVAL, f"need 1..{self.batch} buffers, got {count}")
        spare = VLAN_HLEN if self.vlan else 0
        if isinstance(lengths, int):
            lengths = [lengths] * count
        elif len(lengths) != count:
            raise LiveCaptureError(errno.EINVAL, "addrs and lengths differ in length")
        if min(lengths) <= spare:
            raise LiveCaptureError(errno.ENOBUFS, f"buffer length {min(lengths)} is too small")
        for i in range(count):  # the iovecs, set here: receive_run(room=0) keeps them
            _IOVEC.pack_into(self._iov_view, 16 * i, addrs[i], lengths[i] - spare)
        self.count = 0
        return self.receive_run(0, 0, 0, count, timeout)

    def receive_run(self, first: int, stride: int, room: int, count: int,
                    timeout: float | None) -> int:  # fmt: skip
        """recvmmsg of up to ``count`` packets into ``room``-byte buffers every ``stride``
        bytes from address ``first`` (``room`` 0: into the iovecs already set); how many
        arrived. ``timeout`` 0 makes no poll: the call takes what is queued."""
        if timeout != 0 and not self.sock.wait_readable(timeout):
            return 0
        while True:
            n = _native.recv_mmsg(self._fd, self._msgs_addr, self._template_addr,
                                  self._iov_view, self._iov_addr, first, stride, room, count,
                                  MSG_DONTWAIT)  # fmt: skip
            if n >= 0:
                return n
            if not self.retry(-n):
                return 0

    def retry(self, err: int) -> bool:
        """After a call failed with ``err``: True on EINTR (call again), False on EAGAIN
        (nothing queued); anything else raises, once (the socket's error is cleared)."""
        if err == errno.EINTR:
            return True
        if err in (errno.EAGAIN, errno.EWOULDBLOCK):
            return False
        raise LiveCaptureError(err, f"recvmmsg on {self.sock.ifname!r}: {os.strerror(err)}")

    def recv_batch(
        self, addrs: Sequence[int], lengths: Sequence[int] | int, timeout: float | None = None
    ) -> int:
        """Receive up to len(addrs) packets into the buffers; 0 when none came within timeout.

        lengths is one size for every buffer or one per buffer. With vlan=True each buffer
        keeps 4 bytes free to re-insert a stripped 802.1Q tag. Waits (poll) up to timeout
        seconds (None: forever) for the first packet, then takes what is queued. The
        results of each slot are in the per-slot lists (and :meth:`meta`).
        """
        n = self.receive(addrs, lengths, timeout)
        self._parse(n, addrs)
        self.count = n
        return n

    def slot(self, i: int, addr: int) -> tuple[int, int, int, int, int, int, int]:
        """Slot i of the batch just received into ``addr``, any control messages.

        Returns (length, wire length, timestamp ns, packet type, vlan_tci, vlan_tpid,
        tp_status). A stripped VLAN tag is put back into the bytes at ``addr`` (with
        vlan=True) and counted in the length, as packet_recvmsg's reader would.
        """
        msgs = self._msgs_view
        size = _MSG_LEN.unpack_from(msgs, i * _MMSGHDR_SIZE + _MSG_LEN_OFF)[0]
        used = _CONTROLLEN.unpack_from(msgs, i * _MMSGHDR_SIZE + _CONTROLLEN_OFF)[0]
        ts, status, wire, tci, tpid = read_cmsgs(self._ctrl_view, i * _CTRL_SIZE, used)
        if status & TP_STATUS_VLAN_VALID or tci:
            tci, tpid = vlan_of(status, tci, tpid)
            wire += VLAN_HLEN
            if self.vlan and size >= 12:
                _memmove(addr + 16, addr + 12, size - 12)
                _memmove(addr + 12, VLAN_TAG.pack(tpid, tci), VLAN_HLEN)
                size += VLAN_HLEN
        else:
            tci = tpid = 0
        ptype = self._names_view[i * SOCKADDR_LL_SIZE + SOCKADDR_LL_PKTTYPE_OFF]
        return size, wire, ts, ptype, tci, tpid, status

    def _parse(self, n: int, addrs: Sequence[int]) -> None:
        slot = self.slot
        for i in range(n):
            size, wire, ts, ptype, tci, tpid, status = slot(i, addrs[i])
            self.snaplen[i] = size
            self.wirelen[i] = wire
            self.ts_ns[i] = ts
            self.pkttype[i] = ptype
            self.vlan_tci[i] = tci
            self.vlan_tpid[i] = tpid
            self.status[i] = status

    def meta(self, i: int) -> PacketMeta:
        """The metadata of slot i of the last batch as a PacketMeta."""
        if not 0 <= i < self.count:
            raise IndexError(f"slot {i} is outside the last batch of {self.count}")
        return PacketMeta(
            self.snaplen[i],
            self.wirelen[i],
            self.ts_ns[i],
            self.pkttype[i],
            self.vlan_tci[i],
            self.vlan_tpid[i],
            self.status[i],
        )
