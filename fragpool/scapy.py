"""scapy's sniff() on fragpool's rings: ``conf.L2listen = fragpool.scapy.L2ListenSocket``.

scapy's own listener reads one frame per recv() from a socket queue of ``conf.bufsize``
(64 KiB, about 85 small frames), so a burst that comes while its dissector runs is lost.
This SuperSocket receives through ``open_live`` instead (a 16 MiB TPACKET_V3 ring by
default; ``mode=`` picks recv_into, recvmmsg or af_xdp): a batch of frames comes off the
ring at once, each copied into bytes of its own and its pool buffer freed at once, and
scapy's recv() dissects them one at a time from that queue. The queue is bounded by one
batch (64): the ring is the buffer.

It takes what scapy passes to ``conf.L2listen`` (``iface``, ``type``, ``promisc``,
``filter``, ``nofilter``, ``monitor``) and open_live's own options (``mode``,
``ring_bytes``, ``snaplen``, ``block_size``, ``block_nr``, ``rcvbuf``, ...). Frames already
taken from the ring keep ``fileno()`` readable (an epoll descriptor over the capture's
socket and an eventfd raised while frames wait), so scapy's sniff loop, AsyncSniffer and
plain ``select()`` see them; ``select`` answers without a system call while frames wait.

scapy is an optional dependency: importing this module without it raises ImportError.
Kernel counterparts: the receive side of libpcap's pcap-linux.c, which scapy's
``conf.use_pcap`` would use.
"""

from __future__ import annotations

import collections
import os
import select as _select
from typing import Any

from scapy.config import conf
from scapy.data import ETH_P_ALL
from scapy.interfaces import network_name
from scapy.supersocket import SuperSocket
from scapy.utils import EDecimal

from .io.live.capture import open_live

__all__ = ["L2ListenSocket"]

BATCH = 64  # frames taken off the ring per receive: the queue's bound
#: open_live's keywords a caller may pass through (sniff() forwards what it does not use).
LIVE_OPTIONS = frozenset(
    {"snaplen", "batch", "block_size", "block_nr", "retire_tov_ms", "copybreak_at",
     "rcvbuf", "ignore_outgoing", "fanout", "queue", "xdp_mode", "frames", "frame_size",
     "headroom", "ring_size", "rx_usecs", "allocator"}
)  # fmt: skip


class L2ListenSocket(SuperSocket):
    """Listen at layer 2 on ``iface`` through a fragpool capture (receives frames going out
    too, as scapy's own L2ListenSocket); send() is refused."""

    desc = "read packets at layer 2 through fragpool's capture rings (open_live)"
    nonblocking_socket = False  # sniff() adds its control pipe and waits in select()

    def __init__(
        self,
        iface: Any = None,
        type: int = ETH_P_ALL,  # noqa: A002 - scapy's name
        promisc: bool | None = None,
        filter: str | None = None,  # noqa: A002 - scapy's name
        nofilter: int = 0,
        monitor: bool | None = None,
        mode: str = "tpacket_v3",
        ring_bytes: int | None = None,
        **kwargs: Any,
    ) -> None:
        unknown = sorted(set(kwargs) - LIVE_OPTIONS)
        if unknown:
            raise TypeError(
                f"L2ListenSocket got options it does not know: {', '.join(unknown)} "
                f"(open_live's are: {', '.join(sorted(LIVE_OPTIONS))})"
            )
        if monitor:
            raise ValueError("monitor mode is not supported by fragpool's capture")
        self.iface = iface or conf.iface
        self.type = type
        self.promisc = conf.sniff_promisc if promisc is None else promisc
        if not nofilter and conf.except_filter:
            filter = (
                f"({filter}) and not ({conf.except_filter})"
                if filter
                # noqa: A001
                else (f"not ({conf.except_filter})")
            )
        if type != ETH_P_ALL:
            proto = f"ether proto {type:#06x}"
            filter = f"({filter}) and {proto}" if filter else proto  # noqa: A001
        self.filter = filter
        options = dict(kwargs)
        if ring_bytes is not None:
            if mode != "tpacket_v3":
                raise ValueError("ring_bytes sizes the tpacket_v3 ring; use rcvbuf or frames")
            size = options.get("block_size", 1 << 20)
            options["block_nr"] = max(1, -(-int(ring_bytes) // size))
        promiscuous = self.promisc if mode != "af_xdp" else (True if promisc else None)
        self.cap = open_live(  # a bad filter raises here, as scapy's listener does
            network_name(self.iface), promisc=promiscuous, filter=filter, mode=mode, **options
        )
        self.mode = mode
        self.LL = conf.l2types.num2layer.get(self.cap.linktype, conf.raw_layer)
        self._queue: collections.deque[tuple[bytes, int, int]] = collections.deque()
        self._ready = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._poll = _select.epoll()
        self._poll.register(self.cap.fileno(), _select.EPOLLIN)
        self._poll.register(self._ready, _select.EPOLLIN)
        self._raised = False
        self.ins = self.outs = None  # type: ignore[assignment] - no socket object of scapy's

    # -- what scapy's loops call ----------------------------------------------------------

    def fileno(self) -> int:
        """Readable while frames wait here or on the ring (an epoll descriptor)."""
        return self._poll.fileno()

    @staticmethod
    def select(sockets: list[Any], remain: float | None = None) -> list[Any]:
        """The sockets ready to recv(): at once those holding frames, else select(2)."""
        ready = [s for s in sockets if getattr(s, "_queue", None)]
        if ready:
            return ready
        try:
            inp, _, _ = _select.select(sockets, [], [], remain)
        except InterruptedError:
            return []
        return inp

    def recv_raw(self, x: int = 65535) -> tuple[Any, bytes | None, float | None]:
        """(layer, bytes, time) of the next frame, or (None, None, None) if none is there."""
        item = self._next()
        if item is None:
            return None, None, None
        data, tstamp, _wire = item
        return self.LL, data, tstamp / 1_000_000_000

    def recv(self, x: int = 65535, **kwargs: Any) -> Any:
        """The next frame dissected as the link type's layer, with ``time`` (exact, from
        the capture's nanoseconds) and ``wirelen``; None if none is there."""
        item = self._next()
        if item is None:
            return None
        data, tstamp, wire = item
        try:
            pkt = self.LL(data, **kwargs)
        except Exception:  # noqa: BLE001 - what scapy's own recv does with a bad frame
            if conf.debug_dissector:
                raise
            pkt = conf.raw_layer(data)
        pkt.time = EDecimal(tstamp) / 1_000_000_000
        pkt.wirelen = wire
        return pkt

    def send(self, x: Any) -> int:
        raise OSError("L2ListenSocket listens only: send with conf.L2socket")

    def stats(self) -> dict[str, int]:
        """The kernel's counts: packets received (accepted by the filter) and dropped."""
        st = self.cap.stats()
        return {"received": st["packets"], "dropped": st["drops"]}

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if "cap" not in self.__dict__:  # the constructor raised (a bad filter): nothing open
            return
        self.cap.close()
        self._queue.clear()
        self._poll.close()
        os.close(self._ready)

    # -- the queue between the ring and scapy ----------------------------------------------

    def _next(self) -> tuple[bytes, int, int] | None:
        if self.closed:
            return None
        if not self._queue:
            self._fill()
        if not self._queue:
            return None
        item = self._queue.popleft()
        if not self._queue and self._raised:
            os.eventfd_read(self._ready)  # empty again: fileno() follows the ring alone
            self._raised = False
        return item

    def _fill(self) -> None:
        """One batch off the ring, each frame copied out and its buffer freed at once."""
        batch = self.cap.recv_batch(BATCH, 0)
        queue = self._queue
        for skb in batch:
            try:
                queue.append((bytes(skb), skb.tstamp, skb.wire_len or skb.len))
            finally:
                skb.free()
        if queue and not self._raised:
            os.eventfd_write(self._ready, 1)
            self._raised = True
