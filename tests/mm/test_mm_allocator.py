"""The page allocator: compound pages, head lookup, budget, reserve, refcounts, drain, stats."""

from __future__ import annotations

import pytest

from fragpool.mm import BadPageError, PageAllocator
from fragpool.stats import Snapshot


@pytest.fixture
def pa() -> PageAllocator:
    return PageAllocator()


@pytest.mark.parametrize("order", [0, 1, 2, 3])
def test_head_lookup_for_every_address_of_a_block(pa: PageAllocator, order: int) -> None:
    # Neighbours on both sides, so a lookup that strays off the block lands on another page.
    before, page, after = (pa.alloc_pages(order) for _ in range(3))
    size = 4096 << order
    assert page.size == size and page.order == order
    assert page.addr % size == 0, "compound pages are naturally aligned"
    for addr in range(page.addr, page.addr + size):
        assert pa.page_of(addr) is page
    for other in (before, after):
        assert pa.page_of(other.addr) is other
        assert pa.page_of(other.addr + size - 1) is other
    for p in (before, page, after):
        pa.put_page(p)
    assert pa.in_use_pages() == 0


def test_head_lookup_refuses_freed_and_foreign_addresses(pa: PageAllocator) -> None:
    page = pa.alloc_pages(3)
    addr = page.addr + 12345
    pa.put_page(page)
    with pytest.raises(BadPageError, match="free block"):
        pa.page_of(addr)
    with pytest.raises(BadPageError, match="not in any fragpool arena"):
        pa.page_of(0x1000)


def test_smaller_block_reuses_freed_memory_and_lookup_follows(pa: PageAllocator) -> None:
    big = pa.alloc_pages(3)
    base = big.addr
    pa.put_page(big)
    small = pa.alloc_pages(0)
    assert small.addr == base, "the freed block is split, lower half first"
    assert pa.page_of(base + 4095) is small
    with pytest.raises(BadPageError):
        pa.page_of(base + 4096)  # the rest of the old block is free again
    pa.put_page(small)


def test_buddies_merge_back_into_a_max_order_block(pa: PageAllocator) -> None:
    pages = [pa.alloc_pages(0) for _ in range(8)]
    base = min(p.addr for p in pages)
    assert sorted(p.addr - base for p in pages) == [i * 4096 for i in range(8)]
    for p in pages:
        pa.put_page(p)
    again = pa.alloc_pages(3)
    assert again.addr == base
    pa.put_page(again)
    assert pa.stats()["arenas_mapped"] == 1


def test_arenas_are_mapped_lazily_and_counted() -> None:
    pa = PageAllocator(arena_size=65536)
    assert pa.stats()["arenas_mapped"] == 0
    pages = [pa.alloc_pages(3) for _ in range(3)]
    snap = pa.stats()
    assert snap["arenas_mapped"] == 2
    assert snap["bytes_mapped"] >= 2 * 65536
    assert snap["pages_alloc_order3"] == 3
    for p in pages:
        pa.put_page(p)
    assert pa.stats()["pages_freed_order3"] == 3


def test_budget_failure_returns_none_and_is_counted() -> None:
    pa = PageAllocator(budget=32768)
    first = pa.alloc_pages(3)
    assert first is not None
    assert pa.alloc_pages(3) is None
    assert pa.alloc_pages(0) is None
    snap = pa.stats()
    assert snap["alloc_fail_order3"] == 1
    assert snap["alloc_fail_order0"] == 1
    assert snap["alloc_fail"] == 2
    assert snap["reserve_alloc"] == 0, "the reserve is only for callers that ask for it"
    pa.put_page(first)
    assert pa.alloc_pages(0) is not None, "freed budget can be allocated again"


def test_reserve_serves_memalloc_order0_only_and_marks_pfmemalloc() -> None:
    pa = PageAllocator(budget=0, reserve_pages=2)
    assert pa.alloc_pages(3, memalloc=True) is None, "high orders never dip into reserves"
    a = pa.alloc_pages(0, memalloc=True)
    b = pa.alloc_pages(0, memalloc=True)
    assert a.pfmemalloc and b.pfmemalloc and a.order == b.order == 0
    assert pa.alloc_pages(0, memalloc=True) is None
    snap = pa.stats()
    assert (snap["reserve_alloc"], snap["reserve_fail"]) == (2, 1)
    pa.put_page(a)
    c = pa.alloc_pages(0, memalloc=True)
    assert c.addr == a.addr and c.pfmemalloc, "a freed reserve page returns to the reserve"
    pa.put_page(b)
    pa.put_page(c)
    assert pa.in_use_pages() == 0


def test_drain_drops_count_references_and_frees_at_zero(pa: PageAllocator) -> None:
    page = pa.alloc_pages(0)
    pa.page_ref_add(page, 9)
    pa.drain(page, 4)
    assert page.ref == 6
    pa.drain(page.addr + 100, 6)  # any address inside the page finds its head
    assert page.ref == 0 and pa.in_use_pages() == 0


def test_drain_below_zero_raises_naming_the_page(pa: PageAllocator) -> None:
    page = pa.alloc_pages(1)
    pa.page_ref_add(page, 2)
    with pytest.raises(BadPageError, match=f"{page.addr:#x}.*refcount 3.*below zero"):
        pa.drain(page, 4)
    assert page.ref == 3, "a refused drain changes nothing"
    pa.drain(page, 3)
    with pytest.raises(BadPageError, match=f"{page.addr:#x}"):
        pa.drain(page, 1)
    assert pa.in_use_pages() == 0


def test_double_free_raises(pa: PageAllocator) -> None:
    page = pa.alloc_pages(2)
    pa.page_ref_add(page, 1)
    pa.frag_free(page.addr + 10)
    pa.frag_free(page.addr + 9000)
    assert pa.in_use_pages() == 0
    with pytest.raises(BadPageError, match="double free"):
        pa.frag_free(page.addr + 10)
    with pytest.raises(BadPageError, match="double free"):
        pa.put_page(page)
    assert page.ref == 0, "the refused free does not push the refcount below zero"
    with pytest.raises(BadPageError, match="not in any fragpool arena"):
        pa.frag_free(0x2000)


def test_view_reads_and_writes_the_memory(pa: PageAllocator) -> None:
    page = pa.alloc_pages(0)
    view = pa.view(page.addr + 8, 5)
    view[:] = b"hello"
    assert bytes(pa.view(page.addr + 6, 9)) == b"\0\0hello\0\0"
    view.release()
    pa.put_page(page)


def test_close_unmaps_and_refuses_while_pages_are_live() -> None:
    pa = PageAllocator(budget=65536)
    page = pa.alloc_pages(3)
    with pytest.raises(BadPageError, match="still in use"):
        pa.close()
    pa.put_page(page)
    pa.close()
    assert pa.arenas == []
    # the whole budget is available again after close
    pages = [pa.alloc_pages(3), pa.alloc_pages(3)]
    assert None not in pages
    for p in pages:
        pa.put_page(p)


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError):
        PageAllocator(page_size=3000)
    with pytest.raises(ValueError):
        PageAllocator(max_order=11)
    with pytest.raises(ValueError):
        PageAllocator(budget=-1)
    with pytest.raises(ValueError, match="order 4"):
        PageAllocator().alloc_pages(4)


def test_stats_snapshots_subtract(pa: PageAllocator) -> None:
    before = pa.stats()
    pages = [pa.alloc_pages(0) for _ in range(3)]
    pa.put_page(pages.pop())
    delta = pa.stats() - before
    assert isinstance(delta, Snapshot) and isinstance(delta, dict)
    assert delta["pages_alloc_order0"] == 3
    assert delta["pages_freed_order0"] == 1
    assert delta["pages_in_use"] == 2
    assert delta["budget"] == 0
    for p in pages:
        pa.put_page(p)


def test_snapshot_subtraction_rules() -> None:
    later = Snapshot(n=10, x=1.5, flag=True, name="b", nested={"a": 5, "b": 1}, new=3)
    earlier = Snapshot(n=4, x=0.5, flag=False, name="a", nested={"a": 2, "b": 1})
    delta = later - earlier
    assert delta == {
        "n": 6,
        "x": 1.0,
        "flag": True,
        "name": "b",
        "nested": {"a": 3, "b": 0},
        "new": 3,
    }
    assert isinstance(delta["nested"], Snapshot)
