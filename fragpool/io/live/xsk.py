"""An AF_XDP socket: its UMEM registration, the four rings' mmaps and the bind.

The UMEM is memory the caller owns (an arena of fragpool's pages); this module registers
it, sizes and maps the fill, completion and RX rings, binds the socket to one queue of an
interface and reads the kernel's xdp_statistics. The rings' producer and consumer indices
are free-running u32s in the shared mapping; reading and writing them as plain 4-byte
loads and stores is ordered enough on x86-64 (AF_XDP.md, gotcha 13), and on other machines
this module refuses to run rather than race the kernel.

Layouts follow linux/if_xdp.h as checked on this kernel (AF_XDP.md): sockaddr_xdp,
xdp_umem_reg, xdp_mmap_offsets, xdp_desc, xdp_statistics.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import platform
import resource
import socket
import struct
import time

from .errors import LiveCaptureError

AF_XDP = 44
SOL_XDP = 283
XDP_MMAP_OFFSETS = 1
XDP_RX_RING = 2
XDP_UMEM_REG = 4
XDP_UMEM_FILL_RING = 5
XDP_UMEM_COMPLETION_RING = 6
XDP_STATISTICS = 7
XDP_OPTIONS = 8
XDP_OPTIONS_ZEROCOPY = 1
XDP_COPY = 2
XDP_USE_NEED_WAKEUP = 8
XDP_USE_SG = 16
XDP_RING_NEED_WAKEUP = 1
XDP_PKT_CONTD = 1
XDP_PACKET_HEADROOM = 256
XDP_PGOFF_RX_RING = 0
XDP_UMEM_PGOFF_FILL_RING = 0x100000000
XDP_UMEM_PGOFF_COMPLETION_RING = 0x180000000
#: xdp_statistics, in the kernel's order and with its names.
STAT_NAMES = (
    "rx_dropped",
    "rx_invalid_descs",
    "tx_invalid_descs",
    "rx_ring_full",
    "rx_fill_ring_empty_descs",
    "tx_ring_empty_descs",
)

_libc = ctypes.CDLL(None, use_errno=True)


def frames_dropped(stats: dict[str, int]) -> int:
    """Frames the kernel dropped on the way to the socket, each once, from its
    xdp_statistics: too large or no chunk to write to (rx_dropped), no room on the RX ring
    (rx_ring_full). rx_fill_ring_empty_descs is not added: it counts failed takes from the
    fill ring, which in copy mode are frames rx_dropped already counts (xsk_rcv counts the
    empty fill ring in both) and in zero-copy mode the driver's refill attempts, not frames.
    """
    return stats.get("rx_dropped", 0) + stats.get("rx_ring_full", 0)


class Ring:
    """One mapped ring: producer and consumer indices, flags, and the descriptor array."""

    def __init__(self, fd: int, pgoff: int, offsets: tuple[int, ...], size: int, entry: int):
        producer, consumer, desc, flags = offsets
        length = desc + size * entry
        try:
            self.map = mmap.mmap(
                fd,
                length,
                mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0x8000),
                mmap.PROT_READ | mmap.PROT_WRITE,
                offset=pgoff,
            )
        except OSError as err:
            raise LiveCaptureError(err.errno, f"mapping an AF_XDP ring: {err.strerror}") from None
        self.words = memoryview(self.map).cast("I")
        self.producer_at = producer // 4
        self.consumer_at = consumer // 4
        self.flags_at = flags // 4
        self.desc = desc
        self.size = size
        self.mask = size - 1
        self.view = memoryview(self.map)

    def producer(self) -> int:
        return self.words[self.producer_at]

    def consumer(self) -> int:
        return self.words[self.consumer_at]

    def set_producer(self, value: int) -> None:
        self.words[self.producer_at] = value & 0xFFFFFFFF

    def set_consumer(self, value: int) -> None:
        self.words[self.consumer_at] = value & 0xFFFFFFFF

    def needs_wakeup(self) -> bool:
        return bool(self.words[self.flags_at] & XDP_RING_NEED_WAKEUP)

    def close(self) -> None:
        self.words.release()
        self.view.release()
        self.map.close()


def _sockopt(sock: socket.socket, opt: int, value: bytes, what: str) -> None:
    try:
        sock.setsockopt(SOL_XDP, opt, value)
    except OSError as err:
        raise LiveCaptureError(err.errno, f"{what}: {err.strerror}") from None


class XskSocket:
    """AF_XDP socket bound to ``queue`` of ``ifindex``, on a UMEM at ``umem_addr``.

    ``ring_size`` entries for each of the fill, completion and RX rings (a power of two);
    ``frame_size`` is the chunk size (2048 or 4096, aligned mode), ``headroom`` the bytes the
    kernel leaves before each frame beyond XDP_PACKET_HEADROOM. ``sg`` asks for multi-buffer
    frames (XDP_USE_SG); ``need_wakeup`` for XDP_USE_NEED_WAKEUP.
    """

    def __init__(
        self,
        ifindex: int,
        queue: int,
        umem_addr: int,
        umem_len: int,
        frame_size: int,
        headroom: int,
        ring_size: int,
        *,
        sg: bool,
        need_wakeup: bool = True,
    ) -> None:
        if platform.machine() != "x86_64":
            raise LiveCaptureError(
                errno.ENOTSUP,
                f"AF_XDP rings need ordered index loads and stores: x86-64 only, not "
                f"{platform.machine()}",
            )
        if ring_size < 2 or ring_size & (ring_size - 1):
            raise ValueError(f"AF_XDP ring size {ring_size} must be a power of two >= 2")
        try:
            self.sock = socket.socket(AF_XDP, socket.SOCK_RAW, 0)
        except OSError as err:
            hint = (
                " (opening an AF_XDP socket needs CAP_NET_RAW)" if err.errno == errno.EPERM else ""
            )
            raise LiveCaptureError(err.errno, f"AF_XDP socket: {err.strerror}{hint}") from None
        self.rings: list[Ring] = []
        try:
            reg = struct.pack("<QQIIII", umem_addr, umem_len, frame_size, headroom, 0, 0)
            try:
                _sockopt(self.sock, XDP_UMEM_REG, reg, "registering the UMEM")
            except LiveCaptureError as err:
                if err.errno not in (errno.ENOBUFS, errno.ENOMEM, errno.EPERM):
                    raise
                soft, _hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
                limit = "unlimited" if soft == resource.RLIM_INFINITY else f"{soft >> 10} KiB"
                raise LiveCaptureError(
                    err.errno,
                    f"registering the UMEM ({umem_len >> 10} KiB): {os.strerror(err.errno)}: "
                    f"the UMEM is locked memory, and RLIMIT_MEMLOCK (ulimit -l) is {limit}; "
                    "raise it, use fewer frames, or run with CAP_IPC_LOCK",
                ) from None
            size = struct.pack("<I", ring_size)
            _sockopt(self.sock, XDP_UMEM_FILL_RING, size, "sizing the fill ring")
            _sockopt(self.sock, XDP_UMEM_COMPLETION_RING, size, "sizing the completion ring")
            _sockopt(self.sock, XDP_RX_RING, size, "sizing the RX ring")
            raw = self.sock.getsockopt(SOL_XDP, XDP_MMAP_OFFSETS, 128)
            offs = struct.unpack("<16Q", raw)
            rx, _tx, fr, cr = (offs[i : i + 4] for i in range(0, 16, 4))
            fd = self.sock.fileno()
            self.rx = Ring(fd, XDP_PGOFF_RX_RING, rx, ring_size, 16)
            self.rings.append(self.rx)
            self.fill = Ring(fd, XDP_UMEM_PGOFF_FILL_RING, fr, ring_size, 8)
            self.rings.append(self.fill)
            self.comp = Ring(fd, XDP_UMEM_PGOFF_COMPLETION_RING, cr, ring_size, 8)
            self.rings.append(self.comp)
            self.flags = (XDP_USE_SG if sg else 0) | (XDP_USE_NEED_WAKEUP if need_wakeup else 0)
            self.ifindex, self.queue = ifindex, queue
        except BaseException:
            self.close()
            raise

    def bind(self) -> None:
        """bind(2) to the queue (through libc: Python's bind does not know AF_XDP).

        Right after another socket on the queue closed the kernel may still be freeing it
        (EBUSY for a few milliseconds): retried briefly.
        """
        addr = struct.pack("<HHIII", AF_XDP, self.flags, self.ifindex, self.queue, 0)
        buf = ctypes.create_string_buffer(addr, len(addr))
        for attempt in range(50):
            if _libc.bind(self.sock.fileno(), buf, len(addr)) == 0:
                return
            err = ctypes.get_errno()
            if err != errno.EBUSY or attempt == 49:
                raise LiveCaptureError(
                    err,
                    f"binding the AF_XDP socket to queue {self.queue} of interface index "
                    f"{self.ifindex}: {os.strerror(err)}",
                )
            time.sleep(0.01)

    def zerocopy(self) -> bool:
        """Whether the kernel runs this socket in zero-copy mode (XDP_OPTIONS)."""
        raw = self.sock.getsockopt(SOL_XDP, XDP_OPTIONS, 4)
        return bool(struct.unpack("<I", raw)[0] & XDP_OPTIONS_ZEROCOPY)

    def statistics(self) -> dict[str, int]:
        """The kernel's xdp_statistics for this socket."""
        raw = self.sock.getsockopt(SOL_XDP, XDP_STATISTICS, 48)
        return dict(zip(STAT_NAMES, struct.unpack("<6Q", raw), strict=True))

    def wakeup(self) -> None:
        """Kick the kernel when a ring asks for it (need_wakeup): a zero-length recv."""
        try:
            self.sock.recv(0, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            pass

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        """Unmap the rings (their views first: mmap holds a dup of the fd), then close."""
        for ring in self.rings:
            ring.close()
        self.rings = []
        self.sock.close()
