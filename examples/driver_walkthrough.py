"""A walk through the example RX driver: rings, descriptors, flip and reuse, budget, teardown.

Run it with `.venv/bin/python examples/driver_walkthrough.py`. Each step prints what the
driver's state looks like, in igb's terms (drivers/net/ethernet/intel/igb/igb_main.c).
"""

from __future__ import annotations

import socket
import struct

from fragpool.driver import MemoryWire, RxDevice


def frame(i: int, size: int) -> bytes:
    """An Ethernet/IPv4/UDP frame of ``size`` bytes from flow ``i``."""
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, size - 14, i, 0, 64, 17, 0,
        socket.inet_aton(f"10.0.0.{i % 250 + 1}"), socket.inet_aton("10.0.1.1"),
    )  # fmt: skip
    udp = struct.pack("!HHHH", 4000 + i, 53, size - 34, 0)
    return b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00" + ip + udp + bytes(size - 42)


def show(ring, title: str) -> None:
    print(f"  {title}: next_to_clean {ring.next_to_clean}, next_to_use {ring.next_to_use}, "
          f"next_to_alloc {ring.next_to_alloc}, NIC head {ring.hw_head}")  # fmt: skip


def main() -> None:
    print("1. A ring is a circle of descriptors, each with half a 4 KiB page.")
    dev = RxDevice(MemoryWire([]), rings=1, ring_size=8, budget=4)
    dev.open()  # igb_configure_rx_ring: every descriptor but one gets a buffer
    ring = dev.rings[0]
    show(ring, "after igb_alloc_rx_buffers")
    for i, bi in enumerate(ring.buffers):
        print(f"    desc {i}: {bi!r}")
    print("  One slot stays empty so next_to_use never catches up with next_to_clean.")
    print("  bias = USHRT_MAX: the driver took 65534 references at once (page_ref_add);")
    print("  handing a buffer up only decrements the bias, no atomic per packet.")

    print("\n2. The NIC writes frames into posted buffers; NAPI polls with a budget.")
    for i in range(6):
        ring.dma(frame(i, 100 + i))
    show(ring, "after 6 frames DMA'd")
    work = ring.poll(4)  # igb_poll -> igb_clean_rx_irq(budget=4)
    print(f"  poll(budget=4) cleaned {work} packets; 2 wait for the next poll")
    show(ring, "after the poll")

    print("\n3. Flip and reuse: the page comes back with the other half ready.")
    first = ring.buffers[ring.next_to_alloc - 1 if ring.next_to_alloc else ring.count - 1]
    print(f"  the buffer moved to next_to_alloc-1: {first!r}")
    print(f"  flips {ring.flips}, reuses {ring.reuses}, releases {ring.releases}: the default")
    print("  handler freed every skb at once, so refcount - bias <= 1 held each time")
    ring.poll(4)

    print("\n4. A handler that keeps skbs: the other half is still out, the page is released.")
    kept = []
    ring.handler = kept.append
    for i in range(12):
        ring.dma(frame(i, 200))
        ring.poll(4)
    print(f"  kept {len(kept)} skbs; reuses {ring.reuses}, releases {ring.releases} "
          f"(__page_frag_cache_drain(page, pagecnt_bias)), fresh pages "
          f"{ring.source.pages_alloc}")  # fmt: skip

    print("\n5. Teardown walks next_to_clean .. next_to_alloc and drains every page.")
    report = dev.teardown()
    print(f"  {report.line()}")
    for skb in kept:
        skb.free()
    print(f"  after the handler frees its skbs: {dev.pa.in_use_pages()} pages in use")

    print("\n6. Several rings: RSS spreads flows, rings are polled round robin.")
    frames = [frame(i, 60 + (i * 37) % 3000) for i in range(2000)]
    dev = RxDevice(MemoryWire(frames), rings=4, ring_size=64, budget=16, burst=32)
    total = dev.run()["total"]
    per_ring = [r.packets for r in dev.rings]
    print(f"  packets per ring {per_ring}, multi-buffer frags {total['multi_buffer']}, "
          f"pages {total['pages']} for {total['buffers']} buffers, "
          f"refcount ops {total['refcount_ops']}")  # fmt: skip
    print(f"  {dev.teardown().line()}")


if __name__ == "__main__":
    main()
