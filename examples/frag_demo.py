"""A walk through page_frag_cache and its bias trick, printing the counters at each step.

Run: ``.venv/bin/python examples/frag_demo.py``
"""

from __future__ import annotations

from fragpool.mm import NaivePageFragCache, PageAllocator, PageFragCache


def show(step: str, pa: PageAllocator, cache: PageFragCache) -> None:
    page = cache.page
    where = f"page {page.addr:#x} order {page.order} refcount {page.ref}" if page else "no page"
    print(f"{step}\n    {where}; pagecnt_bias {cache.pagecnt_bias}; offset {cache.offset}")
    print(f"    fragments out on the cached page = refcount - bias = {cache.outstanding()}")


def main() -> None:
    pa = PageAllocator()
    cache = PageFragCache(pa)
    show("A new cache holds no page.", pa, cache)

    first = cache.alloc(1500)
    show(
        "page_frag_alloc(1500): refill with a 32 KiB compound page; refcount raised once\n"
        "by 32768 and the bias set to 32769.",
        pa,
        cache,
    )

    frags = [first] + [cache.alloc(1500, 64) for _ in range(9)]
    show("Nine more, aligned to 64: only the bias moved, the refcount never did.", pa, cache)
    print("    offsets:", [addr - cache.page.addr for addr in frags])

    for addr in frags[:5]:
        pa.frag_free(addr)
    show("page_frag_free() of five: each drops one real reference.", pa, cache)

    for addr in frags[5:]:
        pa.frag_free(addr)
    pa.frag_free(cache.alloc(32768 - cache.offset))  # carve the rest of the page
    again = cache.alloc(100)  # does not fit: the slow path
    show(
        "Every fragment back and the page used up: the slow path finds refcount == bias\n"
        "and reuses the page in place from offset 0.",
        pa,
        cache,
    )
    pa.frag_free(again)

    naive = NaivePageFragCache(pa)
    for _ in range(1000):
        pa.frag_free(naive.alloc(256))
    for _ in range(1000):
        pa.frag_free(cache.alloc(256))
    cache_stats, naive_stats = cache.stats(), naive.stats()
    print("\nRefcount operations by the cache per fragment allocated:")
    for name, snap in (("bias trick", cache_stats), ("naive", naive_stats)):
        print(f"    {name:10} {snap['refcount_ops'] / snap['frags_alloc']:.4f}")

    cache.drain()
    naive.drain()
    print(f"\nAfter draining both caches, compound pages in use: {pa.in_use_pages()}")
    print("Cache counters:", dict(cache.stats()))
    print("Allocator counters:", {k: v for k, v in pa.stats().items() if v})


if __name__ == "__main__":
    main()
