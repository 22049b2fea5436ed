"""skb and page_pool fast paths: ns per operation and Python heap growth in a receive loop.

Run: .venv/bin/python benchmarks/bench_skb.py

* build_skb + free: the fragment is carved from a PageFragCache outside the timed region
  (in batches of 64, as an RX ring refills), and its cost is reported on its own line.
* napi_alloc_skb + put + free: inside a NapiContext; a 1500-byte request (page-fragment
  head) and a 200-byte one (small heap head, the kernel's kmalloc path).
* page_pool alloc + recycle: the fast path, a pool whose NAPI context the thread is in.
* heap blocks: sys.getallocatedblocks() before and after 1,000,000 packets of a steady
  receive-and-free loop (napi_alloc_skb, put + copy of the payload, read of a header,
  free), after a warm-up that fills the caches.

Each figure is the median of several repeats; the targets are build_skb + free <= 600 ns
and heap-block growth < 1,000 over the million packets.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _common import Verdicts, mode, run_pure, table  # noqa: E402

from fragpool.mm import NapiContext, PageAllocator, PageFragCache, PagePool, netdev_frag_cache  # noqa: E402
from fragpool.skb import build_skb, napi_alloc_skb, napi_skb_cache  # noqa: E402

REPEATS = 7
BATCH = 64
PACKETS = 200_000  # per repeat, for the ns figures
HEAP_PACKETS = 1_000_000
BUILD_TARGET_NS = 100
NAPI_TARGET_NS = 250
HEAP_TARGET_BLOCKS = 1_000


def bench_build_skb(pa: PageAllocator, frag_size: int = 2048) -> tuple[float, float]:
    """(ns per build_skb + free, ns per fragment alloc), medians over the repeats."""
    fc = PageFragCache(pa)
    alloc = fc.alloc
    build, frag = [], []
    perf = time.perf_counter_ns
    for _ in range(REPEATS):
        t_build = t_frag = 0
        for _ in range(PACKETS // BATCH):
            t0 = perf()
            addrs = [alloc(frag_size) for _ in range(BATCH)]
            t1 = perf()
            for addr in addrs:
                build_skb(addr, frag_size, allocator=pa).free()
            t2 = perf()
            t_frag += t1 - t0
            t_build += t2 - t1
        n = (PACKETS // BATCH) * BATCH
        build.append(t_build / n)
        frag.append(t_frag / n)
    fc.drain()
    return statistics.median(build), statistics.median(frag)


def bench_napi_alloc(ctx: NapiContext, length: int) -> float:
    samples = []
    perf = time.perf_counter_ns
    with ctx:
        for _ in range(REPEATS):
            t0 = perf()
            for _ in range(PACKETS):
                skb = napi_alloc_skb(length, ctx)
                skb.put(length)
                skb.free()
            samples.append((perf() - t0) / PACKETS)
        ctx.drain()
    return statistics.median(samples)


def bench_page_pool(pa: PageAllocator) -> float:
    ctx = NapiContext(pa, name="pp")
    pool = PagePool(pa, napi=ctx)
    samples = []
    perf = time.perf_counter_ns
    with ctx:
        pool.recycle(pool.alloc())
        alloc, recycle = pool.alloc, pool.recycle
        for _ in range(REPEATS):
            t0 = perf()
            for _ in range(PACKETS):
                recycle(alloc())
            samples.append((perf() - t0) / PACKETS)
    stats = pool.stats()
    assert stats["slow"] == 1 and stats["cache_full"] == stats["ring"] == 0, stats
    pool.destroy()
    return statistics.median(samples)


def empty_loop_ns() -> float:
    samples = []
    for _ in range(REPEATS):
        t0 = time.perf_counter_ns()
        for _ in range(PACKETS):
            pass
        samples.append((time.perf_counter_ns() - t0) / PACKETS)
    return statistics.median(samples)


def receive_loop(ctx: NapiContext, packets: int, payload: bytes) -> int:
    """A steady receive-and-free loop; returns a checksum so nothing is optimised away."""
    n = len(payload)
    total = 0
    for _ in range(packets):
        skb = napi_alloc_skb(n, ctx)
        skb.put(n)[:] = payload
        total += skb.read(12, 2)[0]
        skb.free()
    return total


def bench_heap_growth(pa: PageAllocator) -> tuple[int, dict]:
    ctx = NapiContext(pa, name="rx")
    payload = bytes(range(256)) * 5 + bytes(220)  # a 1500-byte frame
    with ctx:
        receive_loop(ctx, 10_000, payload)  # warm-up: caches filled, code specialised
        gc.collect()
        before = sys.getallocatedblocks()
        receive_loop(ctx, HEAP_PACKETS, payload)
        gc.collect()
        after = sys.getallocatedblocks()
        cache = napi_skb_cache(ctx).stats()
        ctx.drain()
    return after - before, cache


def timed_rows(pa: PageAllocator) -> dict[str, float]:
    """ns per operation of every timed row, in this process's mode."""
    loop = empty_loop_ns()
    build, frag = bench_build_skb(pa)
    return {
        "build_skb + free (fragment allocated outside the timing)": build,
        "fragment alloc (PageFragCache.alloc 2048), separately": frag,
        "napi_alloc_skb(1500) + put + free (frag head)": bench_napi_alloc(
            NapiContext(pa, name="napi1500"), 1500
        ),
        "napi_alloc_skb(200) + put + free (small heap head)": bench_napi_alloc(
            NapiContext(pa, name="napi200"), 200
        ),
        "page_pool alloc + recycle (fast path, in its NAPI context)": bench_page_pool(pa),
        "empty loop iteration (included above, not subtracted)": loop,
    }


def main(argv: list[str] | None = None) -> int:
    global REPEATS, PACKETS, HEAP_PACKETS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=REPEATS, help="timed repeats (median)")
    parser.add_argument("--ops", type=int, default=PACKETS, help="operations per repeat")
    parser.add_argument(
        "--heap-packets", type=int, default=HEAP_PACKETS, help="packets of the heap-growth loop"
    )
    parser.add_argument("--emit-json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    REPEATS, PACKETS, HEAP_PACKETS = args.repeats, args.ops, args.heap_packets
    pa = PageAllocator()
    if args.emit_json:  # the interpreted run run_pure() asks for: the timed rows only
        doc = timed_rows(pa)
        netdev_frag_cache(pa).drain()
        print(json.dumps({"mode": mode(), **doc}))
        return 0
    print(
        f"fragpool skb / page_pool benchmark: Python {sys.version.split()[0]}, fragpool "
        f"{mode()}, {REPEATS} repeats of {PACKETS:,} operations, medians; the pure column "
        "ran the same with fragpool interpreted, in a process of its own"
    )
    pure = run_pure(__file__, ["--repeats", str(REPEATS), "--ops", str(PACKETS)])
    ns = timed_rows(pa)
    growth, cache = bench_heap_growth(pa)
    netdev_frag_cache(pa).drain()
    rows = [(name, value, pure[name], pure[name] / value) for name, value in ns.items()]
    print(table(("operation", "ns", "pure ns", "pure / compiled"), rows))
    print(
        f"heap blocks: {growth:+d} over {HEAP_PACKETS:,} packets "
        f"(napi skb cache: {cache['hits']:,} hits, {cache['misses']} misses, "
        f"{cache['bulk_refills']} bulk refills)"
    )
    build = ns["build_skb + free (fragment allocated outside the timing)"]
    napi = ns["napi_alloc_skb(1500) + put + free (frag head)"]
    verdicts = Verdicts()
    verdicts.check(
        "build_skb + free", build <= BUILD_TARGET_NS, f"{build:.0f} ns <= {BUILD_TARGET_NS} ns"
    )
    verdicts.check(
        "napi_alloc_skb(1500) + put + free",
        napi <= NAPI_TARGET_NS,
        f"{napi:.0f} ns <= {NAPI_TARGET_NS} ns",
    )
    verdicts.check(
        "heap-block growth",
        growth < HEAP_TARGET_BLOCKS,
        f"{growth:+d} blocks < {HEAP_TARGET_BLOCKS} over {HEAP_PACKETS:,} packets",
    )
    print(verdicts.summary())
    leaked = pa.in_use_pages()
    if leaked:
        print(f"FAIL  pages still in use after the run: {leaked}")
        return 1
    return verdicts.status()


if __name__ == "__main__":
    sys.exit(main())
