"""TPACKET_V3 receive ring: kernel-filled blocks of packets, mmap'd, handed back explicitly.

TPacketV3Ring sets PACKET_VERSION=TPACKET_V3 and PACKET_RX_RING (tpacket_req3) on a
PacketSocket before it binds, mmaps the ring, and then:

- next_block(timeout) waits (poll) for the next block the kernel retired to user space
  (block_status & TP_STATUS_USER) and returns its index;
- packets(i) walks block i's tpacket3_hdr chain: for each packet the address of its frame
  inside the ring, snaplen, wire length, timestamp (tp_sec/tp_nsec as ns), sll_pkttype from
  the sockaddr_ll after the header, VLAN TCI/TPID (hv1) and tp_status;
- release_block(i) hands block i back (TP_STATUS_KERNEL). It is a separate call because a
  block can be released only when nothing references its packets any more.

VLAN: the kernel strips 802.1Q tags. With vlan=True the walk puts the tag back in place, in
the ring: the 12 MAC-address bytes move 4 bytes down into the gap the kernel leaves between
sockaddr_ll and tp_mac, the tag goes after them, and the frame's address is tp_mac - 4.

Kernel counterparts: packet_set_ring / tpacket_req3, tpacket_block_desc, tpacket3_hdr,
prb_retire_current_block, tpacket_stats_v3 (freeze count).
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import time
from typing import NamedTuple

from .errors import LiveCaptureError, permission_error
from .if_packet import (
    BLOCK_DESC,
    BLOCK_STATUS_OFF,
    PACKET_RX_RING,
    PACKET_VERSION,
    SOL_PACKET,
    TP_STATUS_KERNEL,
    TP_STATUS_USER,
    TP_STATUS_VLAN_VALID,
    TPACKET3_HDR_PKTTYPE,
    TPACKET3_HDRLEN,
    TPACKET_ALIGNMENT,
    TPACKET_REQ3,
    TPACKET_V3,
    VLAN_HLEN,
    VLAN_TAG,
)
from .packet_socket import DEFAULT_SNAPLEN, PacketSocket, vlan_of

PAGE_SIZE = mmap.PAGESIZE
_NAP = 0.0005  # seconds between re-checks when poll(2) cannot wait for us


class RingPacket(NamedTuple):
    """One packet inside a ring block; addr points into the mmap'd ring."""

    addr: int  # address of the frame's first byte (dst MAC) inside the ring
    snaplen: int  # bytes at addr (tag included when re-inserted)
    wirelen: int  # length on the wire
    ts_ns: int  # tp_sec * 1e9 + tp_nsec
    pkttype: int  # sll_pkttype
    vlan_tci: int  # 0 when untagged
    vlan_tpid: int  # 0 when untagged
    status: int  # tp_status bits


class RingReport(NamedTuple):
    """What close() found: clean when every block was back with the kernel."""

    clean: bool
    held: int  # blocks handed out by next_block and never released
    unread: int  # blocks the kernel had retired to user space that were never taken


def _phys_mem() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 1 << 62


class TPacketV3Ring:
    """A TPACKET_V3 PACKET_RX_RING of block_nr blocks of block_size bytes on one interface.

    Socket options (snaplen, promisc, filter, fanout, ...) are those of PacketSocket.
    retire_tov_ms is the block retire timeout (tp_retire_blk_tov; 0 lets the kernel pick
    from the link speed). frame_size only sizes tp_frame_nr; V3 packs packets densely.
    """

    def __init__(
        self,
        ifname: str,
        *,
        block_size: int = 1 << 17,
        block_nr: int = 32,
        frame_size: int = 2048,
        retire_tov_ms: int = 10,
        vlan: bool = True,
        snaplen: int = DEFAULT_SNAPLEN,
        **sock_options: object,
    ) -> None:
        _check_geometry(block_size, block_nr, frame_size, retire_tov_ms)
        self.block_size = block_size
        self.block_nr = block_nr
        self.size = block_size * block_nr
        self.vlan = vlan
        self.retire_tov_ms = retire_tov_ms
        self.sock = PacketSocket(ifname, snaplen=snaplen, start=False, **sock_options)
        self._mm: mmap.mmap | None = None
        self._view_released = False
        try:
            self._setup_ring(frame_size)
            self.sock.start()
        except BaseException:
            self._unmap()
            self.sock.close()
            raise
        self._cursor = 0
        self._held = bytearray(block_nr)
        self._walked = bytearray(block_nr)
        self._held_count = 0
        self._report: RingReport | None = None

    def _setup_ring(self, frame_size: int) -> None:
        s = self.sock
        try:
            s.sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        except OSError as e:
            raise LiveCaptureError(e.errno, f"PACKET_VERSION TPACKET_V3: {e.strerror}") from None
        s.tpacket_version = TPACKET_V3
        frame_nr = self.size // frame_size
        req = TPACKET_REQ3.pack(
            self.block_size, self.block_nr, frame_size, frame_nr, self.retire_tov_ms, 0, 0
        )
        try:
            s.sock.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
        except OSError as e:
            if e.errno == errno.ENOMEM:
                raise LiveCaptureError(
                    e.errno,
                    f"ring of {self.size} bytes ({self.block_nr} x {self.block_size}) too large "
                    "for memory: the kernel could not allocate it; use fewer or smaller blocks",
                ) from None
            if e.errno in (errno.EPERM, errno.EACCES):
                raise permission_error("PACKET_RX_RING") from None
            raise LiveCaptureError(e.errno, f"PACKET_RX_RING refused: {e.strerror}") from None
        try:
            self._mm = mmap.mmap(
                s.fileno(), self.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
            )
        except OSError as e:
            raise LiveCaptureError(
                e.errno, f"mmap of the {self.size}-byte ring failed: {e.strerror}"
            ) from None
        self.view = memoryview(self._mm)
        anchor = ctypes.c_char.from_buffer(self._mm)
        self.base_address = ctypes.addressof(anchor)
        del anchor  # from_buffer pins the mmap; the address stays valid until munmap

    # -- blocks ---------------------------------------------------------------------------

    def block_address(self, i: int) -> int:
        """Virtual address of block i (the ring is block_nr blocks of block_size, contiguous)."""
        return self.base_address + i * self.block_size

    def block_status(self, i: int) -> int:
        """tpacket_hdr_v1.block_status of block i."""
        return int.from_bytes(self.view[i * self.block_size + BLOCK_STATUS_OFF :][:4], "little")

    def next_block(self, timeout: float | None = None) -> int | None:
        """The index of the next block retired to user space, or None after timeout seconds.

        Blocks come in ring order; a block still held from the previous lap is never handed
        out twice. Waits with poll(2); None waits forever.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        view, bs, off = self.view, self.block_size, BLOCK_STATUS_OFF
        while True:
            i = self._cursor
            if not self._held[i]:
                status = int.from_bytes(view[i * bs + off : i * bs + off + 4], "little")
                if status & TP_STATUS_USER:
                    self._cursor = (i + 1) % self.block_nr
                    self._held[i] = 1
                    self._held_count += 1
                    return i
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            nap = _NAP if remaining is None else min(_NAP, remaining)
            if self._held[i]:
                # Lapped: the next block in ring order is still held, so nothing can arrive
                # before the caller (another thread) releases it.
                time.sleep(nap)
            elif self.sock.wait_readable(remaining) and self._held_count:
                # tpacket_poll reports POLLIN while the previously retired block is still
                # user-owned; when we hold it, poll returns at once, so pace the re-check.
                time.sleep(nap)

    def packets(self, i: int) -> list[RingPacket]:
        """Walk block i (tpacket3_hdr chain) and describe each packet; the block must be held."""
        if not 0 <= i < self.block_nr or not self._held[i]:
            raise LiveCaptureError(errno.EINVAL, f"block {i} is not held by the caller")
        view = self.view
        blk = i * self.block_size
        _v, _p, _status, num_pkts, first, _len, _seq = BLOCK_DESC.unpack_from(view, blk)
        fix_vlan = self.vlan and not self._walked[i]
        self._walked[i] = 1
        hdr = TPACKET3_HDR_PKTTYPE.unpack_from
        base = self.base_address
        out = []
        off = blk + first
        for _ in range(num_pkts):
            nxt, sec, nsec, snap, wire, status, mac, _net, _h, tci, tpid, _pad, pkttype = hdr(
                view, off
            )
            data = off + mac
            if status & TP_STATUS_VLAN_VALID or tci:
                tci, tpid = vlan_of(status, tci, tpid)
                wire += VLAN_HLEN
                if self.vlan:
                    if mac < TPACKET3_HDRLEN + VLAN_HLEN or snap < 12:
                        raise LiveCaptureError(
                            errno.EINVAL, f"no room before tp_mac={mac} to re-insert a VLAN tag"
                        )
                    if fix_vlan:
                        view[data - VLAN_HLEN : data + 8] = view[data : data + 12]
                        VLAN_TAG.pack_into(view, data + 8, tpid, tci)
                    data -= VLAN_HLEN
                    snap += VLAN_HLEN
            else:
                tci = tpid = 0
            out.append(
                RingPacket(
                    base + data, snap, wire, sec * 1_000_000_000 + nsec, pkttype, tci, tpid, status
                )
            )
            off += nxt
        return out

    def release_block(self, i: int) -> None:
        """Hand block i back to the kernel (block_status = TP_STATUS_KERNEL)."""
        if not 0 <= i < self.block_nr:
            raise LiveCaptureError(errno.EINVAL, f"block index {i} outside 0..{self.block_nr - 1}")
        if not self._held[i]:
            raise LiveCaptureError(errno.EINVAL, f"block {i} is not held: released twice?")
        self._held[i] = 0
        self._walked[i] = 0
        self._held_count -= 1
        off = i * self.block_size + BLOCK_STATUS_OFF
        self.view[off : off + 4] = TP_STATUS_KERNEL.to_bytes(4, "little")

    @property
    def held_blocks(self) -> int:
        """Blocks handed out by next_block and not yet released."""
        return self._held_count

    def user_owned(self) -> int:
        """Blocks whose status is TP_STATUS_USER now (held or retired and not yet taken)."""
        return sum(1 for i in range(self.block_nr) if self.block_status(i) & TP_STATUS_USER)

    def stats(self) -> dict[str, int]:
        """PACKET_STATISTICS (tpacket_stats_v3) totals: {packets, drops, freeze_q_cnt}."""
        return self.sock.stats()

    def fileno(self) -> int:
        """The socket's file descriptor."""
        return self.sock.fileno()

    # -- teardown -------------------------------------------------------------------------

    def close(self) -> RingReport:
        """Unmap the ring and close the socket; report whether every block was with the kernel.

        Addresses from packets() are invalid afterwards. A memoryview still open onto the
        ring makes the unmap fail with LiveCaptureError (the socket is closed regardless).
        """
        if self._report is not None:
            return self._report
        held = self._held_count
        unread = 0
        if self._mm is not None and not self._view_released:
            unread = sum(
                1
                for i in range(self.block_nr)
                if not self._held[i] and self.block_status(i) & TP_STATUS_USER
            )
        report = RingReport(held == 0 and unread == 0, held, unread)
        try:
            self._unmap()
        finally:
            self.sock.close()
        self._report = report
        return report

    def _unmap(self) -> None:
        if self._mm is None:
            return
        view = getattr(self, "view", None)
        if view is not None:
            view.release()
            self._view_released = True
        try:
            self._mm.close()
        except BufferError as e:
            raise LiveCaptureError(
                errno.EBUSY, "ring still exported (a memoryview onto it is alive); release it"
            ) from e
        self._mm = None

    def __enter__(self) -> TPacketV3Ring:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_geometry(block_size: int, block_nr: int, frame_size: int, tov: int) -> None:
    for name, v in (("block_size", block_size), ("block_nr", block_nr), ("frame_size", frame_size)):
        if not isinstance(v, int) or v <= 0:
            raise LiveCaptureError(errno.EINVAL, f"{name} must be a positive int, not {v!r}")
    if block_size % PAGE_SIZE:
        raise LiveCaptureError(
            errno.EINVAL, f"block_size {block_size} is not a multiple of the page size {PAGE_SIZE}"
        )
    if frame_size % TPACKET_ALIGNMENT or frame_size < TPACKET3_HDRLEN + 16:
        raise LiveCaptureError(
            errno.EINVAL,
            f"frame_size {frame_size} must be a multiple of {TPACKET_ALIGNMENT} and at least "
            f"{TPACKET3_HDRLEN + 16}",
        )
    if frame_size > block_size:
        raise LiveCaptureError(errno.EINVAL, f"frame_size {frame_size} > block_size {block_size}")
    if not isinstance(tov, int) or not 0 <= tov <= 0xFFFFFFFF:
        raise LiveCaptureError(errno.EINVAL, f"retire_tov_ms must be 0..2**32-1, not {tov!r}")
    total = block_size * block_nr
    if total >= 1 << 32 or (total // frame_size) >= 1 << 32:
        raise LiveCaptureError(
            errno.ENOMEM, f"ring of {total} bytes too large: the kernel limits a ring below 4 GiB"
        )
    phys = _phys_mem()
    if total > phys:
        raise LiveCaptureError(
            errno.ENOMEM,
            f"ring of {total} bytes ({block_nr} x {block_size}) too large for memory: "
            f"the machine has {phys} bytes",
        )
