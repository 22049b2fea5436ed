"""The wire an RX device receives from: frames in memory, a capture file, a live interface.

Each wire has ``attach(nrings)``, ``transmit(burst, dma)``, ``stats()`` and ``close()``.
``transmit`` offers up to ``burst`` frames by calling ``dma(ring, frame, tstamp_ns,
rss_hash)`` for each (the NIC writes the frame into that ring's buffers, or drops it) and
returns how many it offered, or -1 once it has nothing more to offer.

* :class:`MemoryWire`: a list of frames (bytes, or (bytes, tstamp_ns) pairs), steered by RSS
  unless a ``steer`` function says otherwise; for tests and examples.
* :class:`FileWire`: a pcap/pcapng file read with ``fragpool.open_offline``; each frame is
  copied into the descriptor's buffer (that copy is the NIC's DMA) and the reader's skb is
  freed at once. Flows spread over the rings by RSS.
* :class:`LiveWire`: one AF_PACKET socket per ring, all in one PACKET_FANOUT group in hash
  mode, so the kernel spreads flows over the rings as RSS would; a frame is received into
  a per-ring bounce buffer and copied into the descriptors.
"""

from __future__ import annotations

import itertools
import os
import select
import time
from collections.abc import Callable, Iterable, Iterator

from ..mm import PageAllocator
from ..stats import Snapshot
from .rss import Rss

Dma = Callable[[int, "bytes | memoryview", int, int], bool]

_fanout_ids = itertools.count()

#: Link type of Ethernet captures (LINKTYPE_ETHERNET / DLT_EN10MB); others are not steered.
LINKTYPE_ETHERNET = 1


class MemoryWire:
    """Frames from a list: bytes or (bytes, tstamp_ns); RSS steering unless ``steer`` is given.

    ``steer(frame) -> ring index`` overrides RSS (tests use it to load rings on purpose).
    """

    def __init__(
        self,
        frames: Iterable[bytes | tuple[bytes, int]],
        *,
        steer: Callable[[bytes], int] | None = None,
    ) -> None:
        self._frames: Iterator = iter(frames)
        self._steer = steer
        self.rss: Rss | None = None
        self.nrings = 0
        self.offered = 0
        self.dropped = 0
        self.per_ring = [0]

    def attach(self, nrings: int) -> None:
        self.nrings = nrings
        self.rss = Rss(nrings)
        self.per_ring = [0] * nrings

    def _route(self, frame: bytes | memoryview) -> tuple[int, int]:
        if self._steer is not None:
            return self._steer(frame) % self.nrings, 0
        return self.rss.steer(frame)

    def transmit(self, burst: int, dma: Dma) -> int:
        n = 0
        for item in itertools.islice(self._frames, burst):
            frame, tstamp = item if isinstance(item, tuple) else (item, 0)
            ring, rss_hash = self._route(frame)
            self.per_ring[ring] += 1
            if not dma(ring, frame, tstamp, rss_hash):
                self.dropped += 1
            n += 1
        self.offered += n
        return n if n else -1

    def stats(self) -> Snapshot:
        return Snapshot(
            kind="memory", offered=self.offered, dropped=self.dropped, per_ring=self.per_ring
        )

    def close(self) -> None:
        self._frames = iter(())


class FileWire(MemoryWire):
    """A capture file (pcap or pcapng, via ``fragpool.open_offline``) as the wire.

    The reader has a PageAllocator of its own: its buffers are the file's, not the NIC's,
    and stay out of the device's page counts. ``count`` ends the wire after that many
    frames (tcpdump's -c).
    """

    def __init__(self, path: str | os.PathLike[str], count: int | None = None) -> None:
        import fragpool

        if count is not None and count < 1:
            raise ValueError(f"count must be >= 1, not {count}")
        self.count = count
        self.path = os.fspath(path)
        self.reader_allocator = PageAllocator()
        self.reader = fragpool.open_offline(self.path, allocator=self.reader_allocator)
        super().__init__(())
        self._closed = False

    @property
    def linktype(self) -> int:
        return self.reader.linktype

    def transmit(self, burst: int, dma: Dma) -> int:
        n = 0
        ethernet = self.reader.linktype == LINKTYPE_ETHERNET
        steer = self.rss.steer
        if self.count is not None:
            burst = min(burst, self.count - self.offered)
            if burst <= 0:
                return -1
        for skb in self.reader.read_batch(burst) if burst > 0 else ():
            frame = skb.linear_view() if not skb.data_len else bytes(skb)
            ring, rss_hash = steer(frame) if ethernet else (0, 0)
            self.per_ring[ring] += 1
            if not dma(ring, frame, skb.tstamp, rss_hash):
                self.dropped += 1
            del frame
            skb.free()
            n += 1
        self.offered += n
        return n if n else -1

    def stats(self) -> Snapshot:
        snap = super().stats()
        snap["kind"] = "file"
        snap["path"] = self.path
        snap["linktype"] = self.reader.linktype
        return snap

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.reader.close()


class LiveWire:
    """An interface as the wire: one AF_PACKET socket per ring in a PACKET_FANOUT hash group.

    ``count`` stops after that many frames (tcpdump's -c), ``duration`` after that many
    seconds from attach; ``idle_timeout`` is how long one ``transmit`` waits for traffic
    before returning 0; ``rcvbuf`` sets each socket's SO_RCVBUFFORCE. Needs CAP_NET_RAW.
    """

    BOUNCE = 65536

    def __init__(
        self,
        ifname: str,
        *,
        count: int | None = None,
        promisc: bool = False,
        filter: str | None = None,
        idle_timeout: float = 0.1,
        duration: float | None = None,
        rcvbuf: int | None = None,
    ) -> None:
        self.ifname = ifname
        self.duration = duration
        self.rcvbuf = rcvbuf
        self._deadline: float | None = None
        self.count = count
        self.promisc = promisc
        self.filter = filter
        self.idle_timeout = idle_timeout
        self.socks: list = []
        self.offered = 0
        self.dropped = 0
        self.per_ring: list[int] = []
        self.stopped = False
        self._poll: select.poll | None = None
        self._bounce: list[memoryview] = []

    def attach(self, nrings: int) -> None:
        from ..io.live.packet_socket import PacketSocket

        group = (os.getpid() * 8 + next(_fanout_ids)) & 0xFFFF  # unique per device
        try:
            for _ in range(nrings):
                self.socks.append(
                    PacketSocket(
                        self.ifname,
                        promisc=self.promisc,
                        filter=self.filter,
                        fanout=(group, "hash"),
                        rcvbuf=self.rcvbuf,
                    )
                )
        except BaseException:
            self.close()
            raise
        self.per_ring = [0] * nrings
        self._bounce = [memoryview(bytearray(self.BOUNCE)) for _ in range(nrings)]
        if self.duration is not None:
            self._deadline = time.monotonic() + self.duration
        self._poll = select.poll()
        for sock in self.socks:
            self._poll.register(sock.fileno(), select.POLLIN)

    def stop(self) -> None:
        """End the capture: the next transmit reports the wire exhausted."""
        self.stopped = True

    def transmit(self, burst: int, dma: Dma) -> int:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            self.stopped = True
        if self.stopped or (self.count is not None and self.offered >= self.count):
            return -1
        limit = burst
        if self.count is not None:
            limit = min(limit, self.count - self.offered)
        n = 0
        idle = [False] * len(self.socks)
        while n < limit and not all(idle):
            for ring, sock in enumerate(self.socks):
                if idle[ring] or n >= limit:
                    continue
                got = sock.recv_into(self._bounce[ring], timeout=0)
                if got is None:
                    idle[ring] = True
                    continue
                nbytes, meta = got
                self.per_ring[ring] += 1
                if not dma(ring, self._bounce[ring][:nbytes], meta.ts_ns, 0):
                    self.dropped += 1
                n += 1
        self.offered += n
        if n == 0 and self._poll is not None:
            self._poll.poll(int(self.idle_timeout * 1000))
        return n

    def stats(self) -> Snapshot:
        kernel = {"packets": 0, "drops": 0}
        for sock in self.socks:
            if not sock.closed:
                counts = sock.stats()
                kernel["packets"] += counts["packets"]
                kernel["drops"] += counts["drops"]
        return Snapshot(
            kind="live",
            ifname=self.ifname,
            offered=self.offered,
            dropped=self.dropped,
            per_ring=self.per_ring,
            kernel_packets=kernel["packets"],
            kernel_drops=kernel["drops"],
        )

    def close(self) -> None:
        for sock in self.socks:
            sock.close()
