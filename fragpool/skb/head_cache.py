"""Caches of SkBuff objects: the skbuff_head_cache slab and the per-NAPI skb cache.

The kernel allocates struct sk_buff from a slab; inside NAPI it keeps a per-CPU array of
free heads (recent kernels: 128 entries, filled 32 at a time with kmem_cache_alloc_bulk,
half flushed 32 at a time when full). fragpool does the same with Python objects, so a
steady receive loop reuses SkBuff objects instead of creating new ones.
"""

from __future__ import annotations

from ..mm import NapiContext, current_napi
from ..stats import Snapshot
from .constants import NAPI_SKB_CACHE_BULK, NAPI_SKB_CACHE_SIZE
from .skbuff import SkbCacheBase, SkBuff


class SkbHeadCache(SkbCacheBase):
    """A stack of free SkBuff objects with a capacity and a bulk refill/flush size.

    ``parent`` is where bulk refills come from and flushes go (the slab for a NAPI cache);
    with no parent, refills create new objects and overflow is dropped to the GC.
    """

    __slots__ = ("name", "bulk", "parent", "gets", "misses", "refills", "flushes")

    def __init__(self, name: str, size: int, bulk: int, parent: SkbHeadCache | None = None) -> None:
        SkbCacheBase.__init__(self, size)
        self.name = name
        self.bulk = bulk
        self.parent = parent
        self.gets = self.misses = self.refills = self.flushes = 0

    def get(self) -> SkBuff:
        """kmem_cache_alloc / napi_skb_cache_get(): a free SkBuff object."""
        self.gets += 1
        try:  # one pop: another thread may empty the list between a test and a pop
            return self.free.pop()
        except IndexError:
            return self._refill()

    def _refill(self) -> SkBuff:
        self.misses += 1
        self.refills += 1
        parent = self.parent
        free = self.free
        want = self.bulk
        if parent is not None:
            # kmem_cache_alloc_bulk(): take what the parent has cached in one slice; the
            # objects' home stays the parent (kfree_skb returns them there).
            spare = parent.free
            take = spare[-want:]
            del spare[-want:]
            parent.gets += len(take)
            free.extend(take)
            for _ in range(want - len(take)):
                free.append(parent.get())
        else:
            for _ in range(want):
                skb = SkBuff()
                skb._home = self
                free.append(skb)
        return free.pop()

    def put(self, skb: SkBuff) -> None:
        """kmem_cache_free / napi_skb_cache_put(): take back a freed SkBuff object.

        As napi_skb_cache_put does, the object is stored first; a cache that became full
        hands a bulk back to its parent (or to the GC), so it never stays full.
        """
        free = self.free
        free.append(skb)
        if len(free) >= self.size:
            self._flush()

    def _flush(self) -> None:
        """kmem_cache_free_bulk() of the newest ``bulk`` objects of a full cache."""
        self.flushes += 1
        free = self.free
        drop = free[-self.bulk :]
        del free[-self.bulk :]
        parent = self.parent
        if parent is not None:
            for old in drop:
                parent.put(old)

    def stats(self) -> Snapshot:
        return Snapshot(
            gets=self.gets,
            hits=self.gets - self.misses,
            misses=self.misses,
            bulk_refills=self.refills,
            bulk_flushes=self.flushes,
            cached=len(self.free),
        )


#: The slab of skb heads used outside NAPI (kfree_skb returns objects here).
skbuff_head_cache = SkbHeadCache("skbuff_head_cache", size=4096, bulk=NAPI_SKB_CACHE_BULK)


def napi_skb_cache(ctx: NapiContext | None = None) -> SkbHeadCache:
    """The NAPI skb head cache of ``ctx`` (default: the calling thread's NAPI context)."""
    if ctx is None:
        ctx = current_napi()
    cache = ctx.extensions.get("skb_cache")
    if cache is None:
        cache = SkbHeadCache(
            f"napi_skb_cache:{ctx.name}",
            size=NAPI_SKB_CACHE_SIZE,
            bulk=NAPI_SKB_CACHE_BULK,
            parent=skbuff_head_cache,
        )
        ctx.extensions["skb_cache"] = cache
    return cache
