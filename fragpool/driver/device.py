"""The example RX device: N rings fed by a wire, polled by NAPI round robin, torn down clean.

An :class:`RxDevice` owns a PageAllocator (its own unless given one), one :class:`RxRing`
per queue and a wire (fragpool.driver.wire) that plays the network: each round the wire
delivers a burst of frames, the NIC steers each to a ring (RSS for a file or memory wire,
one socket per ring joined in a PACKET_FANOUT group for a live one) and writes it into that
ring's posted buffers, raising the ring's interrupt. Then :meth:`net_rx_action` runs the
softirq: scheduled rings are polled in turn with their own budget; a ring that used its
whole budget goes to the back of the poll list, one that did not completes
(napi_complete_done). The round ends when the list is empty or the softirq budget
(netdev_budget) is spent; rings still scheduled are polled first in the next round.

:meth:`teardown` is igb_down / igb_free_all_rx_resources: every ring drains its pages and
its caches, page pools are destroyed, and the report says how many pages are still in
flight (held by skbs the handler kept), as page_pool_destroy does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..mm import PageAllocator
from ..skb.skbuff import SkBuff
from ..stats import Snapshot, peak_rss_bytes
from .buffers import POOL_KINDS
from .constants import (
    DEFAULT_BUDGET,
    DEFAULT_RING_SIZE,
    DEFAULT_RINGS,
    NETDEV_BUDGET,
    PAGECNT_BIAS_MAX,
)
from .ring import Handler, RxRing


class CountingHandler:
    """The default handler: counts packets and bytes, then frees each skb at once."""

    def __init__(self) -> None:
        self.packets = 0
        self.bytes = 0

    def __call__(self, skb: SkBuff) -> None:
        self.handle(skb)

    def handle(self, skb: SkBuff) -> None:
        """Count the skb and free it."""
        self.packets += 1
        self.bytes += skb.len
        skb.free()


@dataclass
class TeardownReport:
    """What igb_clean_rx_ring and page_pool_destroy left behind."""

    pages_in_flight: int
    references_in_flight: int
    page_pool_inflight: int = 0
    lost_frames: int = 0
    per_ring_pool_inflight: list[int] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.pages_in_flight == 0 and self.page_pool_inflight == 0

    def line(self) -> str:
        """One line for people: the clean teardown, or the leak in page_pool's words."""
        if self.clean:
            return "teardown: 0 pages in flight"
        text = (
            f"teardown: stalled: {self.pages_in_flight} pages in flight "
            f"({self.references_in_flight} buffer references held by skbs not freed)"
        )
        if self.page_pool_inflight:
            text += f"; page_pool inflight {self.page_pool_inflight}"
        return text

    def as_dict(self) -> dict:
        return {
            "clean": self.clean,
            "pages_in_flight": self.pages_in_flight,
            "references_in_flight": self.references_in_flight,
            "page_pool_inflight": self.page_pool_inflight,
            "lost_frames": self.lost_frames,
        }


class RxDevice:
    """A multi-queue NIC and its driver: rings, the wire, NAPI scheduling, teardown.

    ``wire`` is one of fragpool.driver.wire's sources; ``rings``, ``ring_size``, ``budget``
    (NAPI weight per ring) and ``pool`` (``frag``, ``page_pool`` or ``naive``) shape the
    device; ``handler`` gets every skb and must free it (default: :class:`CountingHandler`).
    ``burst`` is how many frames the wire offers per round (default: one budget per ring);
    ``netdev_budget`` bounds the packets of one softirq round.
    """

    def __init__(
        self,
        wire: object,
        *,
        rings: int = DEFAULT_RINGS,
        ring_size: int = DEFAULT_RING_SIZE,
        budget: int = DEFAULT_BUDGET,
        pool: str = "frag",
        legacy_rx: bool = False,
        handler: Handler | None = None,
        allocator: PageAllocator | None = None,
        burst: int | None = None,
        netdev_budget: int = NETDEV_BUDGET,
        bias_max: int = PAGECNT_BIAS_MAX,
    ) -> None:
        if rings < 1:
            raise ValueError(f"--rings must be at least 1, not {rings}")
        if budget < 1:
            raise ValueError(f"--budget must be at least 1, not {budget}")
        if pool not in POOL_KINDS:
            raise ValueError(f"unknown buffer pool {pool!r}; one of {', '.join(POOL_KINDS)}")
        self.pa = allocator if allocator is not None else PageAllocator()
        self.wire = wire
        self.budget = budget
        self.pool = pool
        self.legacy_rx = legacy_rx
        self.handler = handler if handler is not None else CountingHandler()
        self.burst = burst if burst is not None else budget * rings
        self.netdev_budget = netdev_budget
        self.rings = [
            RxRing(
                i,
                self.pa,
                size=ring_size,
                pool=pool,
                legacy_rx=legacy_rx,
                bias_max=bias_max,
                handler=self.handler,
            )
            for i in range(rings)
        ]
        self.poll_list: deque[RxRing] = deque()
        self._scheduled = [False] * rings
        #: Ring indices in the order they were polled (kept when ``trace_polls`` is set).
        self.trace_polls = False
        self.poll_trace: list[tuple[int, int]] = []
        self.rounds = 0
        self.time_squeeze = 0
        self.frames_offered = 0
        self.peak_rss = 0
        self.report: TeardownReport | None = None
        self._up = False
        self._stalled = False

    # ------------------------------------------------------------------ bring-up
    def open(self) -> None:
        """igb_open(): post buffers on every ring and attach the wire."""
        if self._up:
            return
        bind = getattr(self.wire, "bind_device", None)
        if bind is not None:  # a wire that is the rings' NIC itself (AF_XDP) sees them first
            bind(self)
        self.wire.attach(len(self.rings))
        for ring in self.rings:
            ring.configure()
        self._up = True

    # ------------------------------------------------------------------ the NIC
    def _dma(self, ring_index: int, frame: bytes | memoryview, tstamp: int, rss_hash: int) -> bool:
        ring = self.rings[ring_index]
        self.frames_offered += 1
        ok = ring.dma(frame, tstamp, rss_hash)
        if ok and not self._scheduled[ring_index]:  # the queue's MSI-X vector: napi_schedule
            self._scheduled[ring_index] = True
            self.poll_list.append(ring)
        return ok

    def schedule(self, ring_index: int, frames: int) -> None:
        """A NIC that wrote ``frames`` into a ring's buffers itself raises its interrupt."""
        self.frames_offered += frames
        if not self._scheduled[ring_index]:
            self._scheduled[ring_index] = True
            self.poll_list.append(self.rings[ring_index])

    # ------------------------------------------------------------------ NAPI
    def net_rx_action(self) -> int:
        """net_rx_action(): poll scheduled rings round robin within netdev_budget."""
        left = self.netdev_budget
        done = 0
        poll_list, weight = self.poll_list, self.budget
        while poll_list:
            if left <= 0:
                self.time_squeeze += 1
                break
            ring = poll_list.popleft()
            work = ring.poll(weight)
            if self.trace_polls:
                self.poll_trace.append((ring.index, work))
            done += work
            left -= work
            if work >= weight:
                poll_list.append(ring)  # budget used up: stay scheduled, go to the back
            else:
                self._scheduled[ring.index] = False  # napi_complete_done()
        return done

    def run(self, progress: Callable[[RxDevice], None] | None = None) -> Snapshot:
        """Receive everything the wire offers, polling as it comes; returns :meth:`stats`."""
        self.open()
        wire = self.wire
        while True:
            offered = wire.transmit(self.burst, self._dma)
            self.rounds += 1
            done = self.net_rx_action()
            if progress is not None:
                progress(self)
            if offered < 0 and not self.poll_list:
                # A poll cut short (a failed allocation) completes with frames left on its
                # ring; give such rings another poll while they make progress.
                waiting = [ring for ring in self.rings if ring.pending()]
                if not waiting or (done == 0 and self._stalled):
                    break
                self._stalled = done == 0
                for ring in waiting:
                    self._scheduled[ring.index] = True
                    self.poll_list.append(ring)
        self.peak_rss = peak_rss_bytes()
        return self.stats()

    # ------------------------------------------------------------------ teardown
    def teardown(self) -> TeardownReport:
        """igb_free_all_rx_resources(): drain every ring and report pages still in flight."""
        if self.report is not None:
            return self.report
        self.wire.close()  # igb_down: receive stops before the rings are drained
        per_pool = [ring.clean_rx_ring() for ring in self.rings]
        if self.pa.debug is not None:  # debug mode: name what is still in flight
            self.pa.debug.report("driver")
        live = list(self.pa.live_pages())
        self.report = TeardownReport(
            pages_in_flight=len(live),
            references_in_flight=sum(page.ref for page in live),
            page_pool_inflight=sum(per_pool),
            lost_frames=sum(ring.teardown_lost for ring in self.rings),
            per_ring_pool_inflight=per_pool,
        )
        self._up = False
        return self.report

    def __enter__(self) -> RxDevice:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    # ------------------------------------------------------------------ stats
    def stats(self) -> Snapshot:
        """Per-ring counters, their totals, the allocator's and the wire's."""
        rings = [ring.stats() for ring in self.rings]
        total = Snapshot()
        for snap in rings:
            for key, value in snap.items():
                if isinstance(value, int) and not isinstance(value, bool) and key != "ring":
                    total[key] = total.get(key, 0) + value
        return Snapshot(
            pool=self.pool,
            legacy_rx=self.legacy_rx,
            rings=rings,
            total=total,
            allocator=self.pa.stats(),
            wire=self.wire.stats(),
            rounds=self.rounds,
            time_squeeze=self.time_squeeze,
            frames_offered=self.frames_offered,
            peak_rss_bytes=self.peak_rss,
        )
