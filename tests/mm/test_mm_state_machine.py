"""Random alloc / frag_free / drain sequences on a bias cache and a naive cache sharing one
allocator. After every step each live page's refcount must equal its live fragments plus the
bias of every cache holding it; after freeing everything and draining, no page is in use."""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from fragpool.mm import NaivePageFragCache, PageAllocator, PageFragCache

ALIGNS = st.sampled_from([None, None, 1, 8, 64, 512, 4096])


class FragCacheMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pa: PageAllocator | None = None
        self.caches: list[PageFragCache] = []
        #: live fragments: address -> (size, head page address)
        self.live: dict[int, tuple[int, int]] = {}

    @initialize(
        budget=st.sampled_from([0, 4096, 32768 + 8192, 3 * 32768, 1 << 30]),
        two=st.booleans(),
        memalloc=st.booleans(),
    )
    def setup(self, budget: int, two: bool, memalloc: bool) -> None:
        # Small budgets drive order-0 fallbacks, failures and (with memalloc) reserve pages.
        self.pa = PageAllocator(budget=budget, arena_size=65536, reserve_pages=2)
        self.caches = [PageFragCache(self.pa, memalloc=memalloc)]
        if two:
            self.caches.append(NaivePageFragCache(self.pa, memalloc=memalloc))

    @rule(which=st.integers(0, 1), fragsz=st.integers(1, 40000), align=ALIGNS)
    def alloc(self, which: int, fragsz: int, align: int | None) -> None:
        cache = self.caches[which % len(self.caches)]
        addr = cache.alloc(fragsz, align)
        if addr is None:
            return
        page = cache.page
        assert page is not None and self.pa.page_of(addr) is page
        assert page.addr <= addr and addr + fragsz <= page.addr + page.size
        if align is not None:
            assert addr % align == 0
        for other, (size, head) in self.live.items():
            if head == page.addr:
                assert addr + fragsz <= other or other + size <= addr, "fragments overlap"
        self.live[addr] = (fragsz, page.addr)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def frag_free(self, data: st.DataObject) -> None:
        addr = data.draw(st.sampled_from(sorted(self.live)))
        size, _ = self.live.pop(addr)
        self.pa.frag_free(addr + data.draw(st.integers(0, size - 1)))  # any byte finds it

    @rule(which=st.integers(0, 1))
    def drain(self, which: int) -> None:
        self.caches[which % len(self.caches)].drain()

    @invariant()
    def refcounts_balance(self) -> None:
        if self.pa is None:
            return
        frags = Counter(head for _, head in self.live.values())
        bias = Counter()
        for cache in self.caches:
            if cache.page is not None:
                bias[cache.page.addr] += cache.pagecnt_bias
        live = {page.addr: page for page in self.pa.live_pages()}
        assert set(live) == set(frags) | set(bias), "a page is live iff someone holds it"
        for addr, page in live.items():
            assert page.ref == frags[addr] + bias[addr], (page, frags[addr], bias[addr])
        for cache in self.caches:
            assert cache.outstanding() == (frags[cache.page.addr] if cache.page else 0)

    def teardown(self) -> None:
        if self.pa is None:
            return
        for addr in list(self.live):
            self.pa.frag_free(addr)
        self.live.clear()
        for cache in self.caches:
            cache.drain()
        assert self.pa.in_use_pages() == 0
        stats = self.pa.stats()
        for order in range(self.pa.max_order + 1):
            assert stats[f"pages_alloc_order{order}"] == stats[f"pages_freed_order{order}"]
        self.pa.close()


FragCacheMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestFragCacheMachine = FragCacheMachine.TestCase
