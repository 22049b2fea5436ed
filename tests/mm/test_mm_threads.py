"""Frees from other threads, after the kernel's page_frag self-test
(tools/testing/selftests/mm/page_frag/): a producer thread allocates from one cache and a
consumer thread frees through a bounded queue; and a lost-update stress on one refcount."""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Iterator

import pytest

from fragpool.mm import PageAllocator, PageFragCache

#: Fragments per hand-off: batching keeps queue overhead from dominating the run.
BATCH = 64
#: At most this many fragments wait in the queue, like the self-test's 512-entry ring.
RING = 512
TIMEOUT = 60.0

#: (fragsz, align, fragments, switch interval): 2,000,000 fragments across the runs.
RUNS = [
    (75, None, 500_000, None),
    (75, 64, 500_000, None),
    (2048, None, 500_000, None),
    (2048, 64, 500_000, 1e-6),  # force the GIL to change hands as often as it can
]
assert sum(run[2] for run in RUNS) == 2_000_000


@pytest.fixture
def switch_interval() -> Iterator[None]:
    old = sys.getswitchinterval()
    yield
    sys.setswitchinterval(old)


@pytest.mark.parametrize(("fragsz", "align", "count", "interval"), RUNS)
def test_producer_allocates_consumer_frees(
    switch_interval: None, fragsz: int, align: int | None, count: int, interval: float | None
) -> None:
    if interval is not None:
        sys.setswitchinterval(interval)
    pa = PageAllocator()
    cache = PageFragCache(pa)
    ring: queue.Queue[list[int] | None] = queue.Queue(maxsize=RING // BATCH)
    errors: list[BaseException] = []
    freed = [0]

    def consumer() -> None:
        try:
            free = pa.frag_free
            while (batch := ring.get(timeout=TIMEOUT)) is not None:
                for addr in batch:
                    free(addr)
                freed[0] += len(batch)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def producer() -> None:
        try:
            alloc = cache.alloc
            mask = (align or 1) - 1
            for done in range(0, count, BATCH):
                batch = [alloc(fragsz, align) for _ in range(min(BATCH, count - done))]
                for addr in batch:
                    if addr is None or addr & mask:
                        raise AssertionError(f"bad fragment {addr!r} (align {align})")
                ring.put(batch, timeout=TIMEOUT)  # a stuck consumer fails, not hangs
            ring.put(None, timeout=TIMEOUT)
        except BaseException as exc:
            errors.append(exc)

    before = pa.stats()
    threads = [threading.Thread(target=consumer), threading.Thread(target=producer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 2)
        assert not t.is_alive(), "no progress"
    assert not errors, errors
    cache.drain()

    delta = pa.stats() - before
    assert freed[0] == count
    assert cache.stats()["frags_alloc"] == count == delta["frag_frees"]
    assert pa.in_use_pages() == 0
    for order in range(pa.max_order + 1):
        assert delta[f"pages_alloc_order{order}"] == delta[f"pages_freed_order{order}"]
    assert cache.stats()["alloc_fail"] == 0


def test_concurrent_frees_of_one_page_lose_no_update(switch_interval: None) -> None:
    sys.setswitchinterval(1e-6)
    pa = PageAllocator()
    page = pa.alloc_pages(3)
    nthreads, each = 4, 100_000
    pa.page_ref_add(page, nthreads * each)
    start = threading.Barrier(nthreads)

    def worker(n: int) -> None:
        addr = page.addr + n * 100
        free = pa.frag_free
        start.wait()
        for _ in range(each):
            free(addr)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert page.ref == 1, "a refcount update was lost"
    assert pa.frag_frees == nthreads * each
    pa.put_page(page)
    assert pa.in_use_pages() == 0


def test_last_frees_race_page_refills_on_many_threads(switch_interval: None) -> None:
    """Pages released by consumers while the producer refills keep the buddy lists whole."""
    sys.setswitchinterval(1e-6)
    pa = PageAllocator(arena_size=65536)
    cache = PageFragCache(pa)
    ring: queue.Queue[list[int] | None] = queue.Queue(maxsize=32)
    errors: list[BaseException] = []
    consumers = 3

    def consumer() -> None:
        try:
            while (batch := ring.get(timeout=TIMEOUT)) is not None:
                for addr in batch:
                    pa.frag_free(addr)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=consumer) for _ in range(consumers)]
    for t in threads:
        t.start()
    for _ in range(3000):
        ring.put([cache.alloc(3000) for _ in range(20)], timeout=TIMEOUT)
    for _ in threads:
        ring.put(None, timeout=TIMEOUT)
    for t in threads:
        t.join(TIMEOUT)
    assert not errors, errors
    cache.drain()
    assert pa.in_use_pages() == 0
    free_pages = sum(len(blocks) << order for order, blocks in enumerate(pa._free))
    assert free_pages * pa.page_size == pa._mapped_usable, "a block was lost or duplicated"


def test_pages_allocated_and_freed_on_many_threads_keep_the_buddy_lists_whole(
    switch_interval: None,
) -> None:
    """alloc_pages and __free_pages from four threads at once (the zone lock's job).

    Without the lock a thread that had just mapped an arena found its blocks taken by
    another and failed with budget left; the free lists must also add up at the end.
    """
    sys.setswitchinterval(1e-6)
    pa = PageAllocator(arena_size=65536)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        held: list = []
        state = seed
        try:
            for _ in range(20_000):
                state = (state * 1103515245 + 12345) & 0x7FFFFFFF
                if held and state % 3 == 0:  # allocate twice as often: arenas keep mapping
                    pa.put_page(held.pop(state % len(held)))
                else:
                    page = pa.alloc_pages(state % (pa.max_order + 1))
                    if page is None:
                        raise AssertionError("allocation failed with budget left")
                    held.append(page)
            for page in held:
                pa.put_page(page)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert pa.in_use_pages() == 0
    free_pages = sum(len(blocks) << order for order, blocks in enumerate(pa._free))
    assert free_pages * pa.page_size == pa._mapped_usable, "a block was lost or duplicated"
