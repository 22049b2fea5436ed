"""page_frag_cache benchmark: the bias trick against the naive cache and plain bytearray.

Run: ``.venv/bin/python benchmarks/bench_frag.py`` (or ``make bench``). It prints, from one
run:

1. ns per alloc+free pair (page_frag_alloc + page_frag_free) for PageFragCache, for the
   naive variant and for ``bytearray(fragsz)``: medians of interleaved repeats, net of the
   loop, compiled and (in a second process, FRAGPOOL_NO_EXTENSIONS=1) interpreted; targets,
   compiled: the bias cache at most 0.7x bytearray and faster than the naive cache.
2. refcount operations per fragment made by each cache on the allocation side (frees are
   one page_frag_free each in both variants and are shown separately); targets: bias trick
   <= 0.01, naive >= 1.
3. compound pages allocated per 1,000,000 fragments of 256 and 1500 bytes, freed as they
   come and kept alive until all are allocated; target: exactly the carving floor, the
   pages whole fragments need (ceil(fragments / fragments per 32 KiB page); 1 when freed).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import Verdicts, interleaved_medians, mode, run_pure, table  # noqa: E402

from fragpool.mm import (  # noqa: E402
    PAGE_FRAG_CACHE_MAX_SIZE,
    PageAllocator,
    PageFragCache,
    make_frag_cache,
)


def pair_bodies(fragsz: int) -> tuple[dict, list[PageFragCache]]:
    """Timed bodies: n alloc+free pairs each. Locals keep attribute lookups out of the loop."""
    bodies = {}
    caches = []
    for name, naive in (("PageFragCache", False), ("naive", True)):
        pa = PageAllocator()
        cache = make_frag_cache(pa, naive)
        caches.append(cache)

        def body(n: int, alloc=cache.alloc, free=pa.frag_free, size=fragsz) -> None:
            for _ in range(n):
                free(alloc(size))

        bodies[name] = body

    def plain(n: int, size: int = fragsz) -> None:
        for _ in range(n):
            bytearray(size)

    bodies["bytearray"] = plain
    return bodies, caches


def pair_figures(sizes: list[int], n: int, repeats: int) -> dict[str, dict[str, float]]:
    """ns per pair for each fragsz: the bias cache, the naive one and bytearray, same run."""
    figures = {}
    for fragsz in sizes:
        bodies, caches = pair_bodies(fragsz)
        ns = interleaved_medians(bodies, n, repeats)
        for cache in caches:
            cache.drain()
            assert cache.pa.in_use_pages() == 0
        figures[str(fragsz)] = ns
    return figures


def bench_pairs(
    sizes: list[int], n: int, repeats: int, verdicts: Verdicts, pure: dict | None
) -> list[list]:
    rows = []
    figures = pair_figures(sizes, n, repeats)
    for fragsz in sizes:
        ns = figures[str(fragsz)]
        bias, naive, plain = ns["PageFragCache"], ns["naive"], ns["bytearray"]
        row = [fragsz, bias, naive, plain, bias / plain, bias / naive]
        if pure is not None:
            p = pure[str(fragsz)]
            row += [p["PageFragCache"], p["PageFragCache"] / p["bytearray"]]
        rows.append(row)
    headers = ["fragsz", "bias ns", "naive ns", "bytearray ns", "bias/bytearray", "bias/naive"]
    if pure is not None:
        headers += ["pure bias ns", "pure bias/bytearray"]
    print("(the pure columns: the same pairs with fragpool interpreted, in a process of its own)")
    print(table(headers, rows))
    for fragsz, bias, naive, plain, to_plain, to_naive, *_ in rows:
        verdicts.check(
            f"alloc+free pair <= 0.7x bytearray({fragsz})",
            to_plain <= 0.7,
            f"{bias:.1f} ns vs {plain:.1f} ns = {to_plain:.2f}x",
        )
        verdicts.check(
            f"alloc+free pair faster than naive ({fragsz} B)",
            bias < naive,
            f"{bias:.1f} ns vs {naive:.1f} ns = {to_naive:.2f}x",
        )
    return rows


def refcount_ops(fragsz: int, naive: bool, count: int) -> tuple[float, float]:
    """(cache refcount ops per fragment, page_frag_free calls per fragment), freed as they come."""
    pa = PageAllocator()
    cache = make_frag_cache(pa, naive)
    alloc, free = cache.alloc, pa.frag_free
    for _ in range(count):
        free(alloc(fragsz))
    snap = cache.stats()
    cache.drain()
    return snap["refcount_ops"] / snap["frags_alloc"], pa.stats()["frag_frees"] / count


def bench_refcounts(sizes: list[int], count: int, verdicts: Verdicts) -> list[list]:
    rows = []
    for fragsz in sizes:
        bias, frees = refcount_ops(fragsz, False, count)
        naive, naive_frees = refcount_ops(fragsz, True, count)
        per_page = PAGE_FRAG_CACHE_MAX_SIZE // fragsz
        rows.append([fragsz, per_page, bias, naive, frees, naive_frees])
    print(
        table(
            ["fragsz", "frags/page", "bias ops/frag", "naive ops/frag", "frees/frag", "(naive)"],
            rows,
        )
    )
    for fragsz, per_page, bias, naive, _, _ in rows:
        # The bias trick costs one atomic op per page cycle (page_ref_sub_and_test; the
        # reuse's set_page_count is a plain store), so ops/fragment = 1 / fragments per page:
        # <= 0.01 needs >= 100 fragments per 32 KiB page (fragsz <= 327). Larger fragments
        # are shown with that arithmetic rather than judged against a bound they cannot meet.
        if per_page >= 100:
            verdicts.check(
                f"bias-trick refcount ops per fragment <= 0.01 ({fragsz} B)",
                bias <= 0.01,
                f"{bias:.4f}",
            )
        else:
            print(
                f"  {fragsz} B: {bias:.4f} ops/fragment = 1 atomic op per {per_page}-fragment "
                "page cycle (the <= 0.01 target needs >= 100 fragments per page)"
            )
        verdicts.check(
            f"naive refcount ops per fragment >= 1 ({fragsz} B)", naive >= 1, f"{naive:.4f}"
        )
    return rows


def pages_used(fragsz: int, count: int, keep: bool) -> tuple[int, int, int]:
    """(compound pages allocated, peak bytes alive, arenas mapped) for ``count`` fragments."""
    pa = PageAllocator(budget=count * fragsz * 2 + (64 << 20))
    cache = PageFragCache(pa)
    alloc, free = cache.alloc, pa.frag_free
    if keep:
        live = [alloc(fragsz) for _ in range(count)]
        assert None not in live
        peak = count * fragsz
        for addr in live:
            free(addr)
    else:
        for _ in range(count):
            free(alloc(fragsz))
        peak = fragsz
    cache.drain()
    snap = pa.stats()
    assert pa.in_use_pages() == 0
    pages = sum(snap[f"pages_alloc_order{o}"] for o in range(pa.max_order + 1))
    arenas = snap["arenas_mapped"]
    pa.close()
    return pages, peak, arenas


def bench_pages(sizes: list[int], count: int, verdicts: Verdicts) -> list[list]:
    rows = []
    for fragsz in sizes:
        for keep in (False, True):
            pages, peak, arenas = pages_used(fragsz, count, keep)
            need = math.ceil(peak / PAGE_FRAG_CACHE_MAX_SIZE)
            per_page = PAGE_FRAG_CACHE_MAX_SIZE // fragsz
            floor = math.ceil(count / per_page) if keep else 1
            kind = "kept alive" if keep else "freed"
            rows.append([fragsz, kind, pages, need, pages / need, floor, arenas])
    print(
        table(
            ["fragsz", "fragments", "pages", "bytes/32768", "ratio", "carving floor", "mmaps"],
            rows,
        )
    )
    for fragsz, kind, pages, need, ratio, floor, _ in rows:
        # The floor: whole fragments per 32 KiB page (the kernel never splits a fragment
        # across pages), so 1500 B kept alive needs 21 per page, 4% above bytes/32768.
        verdicts.check(
            f"pages equal to the carving floor ({fragsz} B, {kind})",
            pages == floor,
            f"{pages} pages, floor {floor}, bytes/32768 {need} (ratio {ratio:.4f})",
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200_000, help="pairs per timed repeat")
    parser.add_argument("--repeats", type=int, default=9, help="timed repeats (median)")
    parser.add_argument("--fragments", type=int, default=1_000_000, help="for page counts")
    parser.add_argument("--emit-json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = [256, 1500]
    if args.emit_json:  # the interpreted run run_pure() asks for: the pair figures only
        doc = pair_figures(sizes, args.pairs, args.repeats)
        print(json.dumps({"mode": mode(), **doc}))
        return 0
    verdicts = Verdicts()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, fragpool {mode()}\n")
    pure = run_pure(__file__, ["--pairs", str(args.pairs), "--repeats", str(args.repeats)])
    print(f"1. ns per alloc+free pair (median of {args.repeats} x {args.pairs:,}, net of loop)")
    bench_pairs(sizes, args.pairs, args.repeats, verdicts, pure)
    print(f"\n2. refcount operations per fragment ({args.fragments:,} freed as they come)")
    bench_refcounts([64, 256, 1500], args.fragments, verdicts)
    print(f"\n3. compound pages allocated per {args.fragments:,} fragments")
    bench_pages([256, 1500], args.fragments, verdicts)
    print(f"\n{verdicts.summary()}")
    return verdicts.status()


if __name__ == "__main__":
    sys.exit(main())
