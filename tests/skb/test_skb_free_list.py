"""kfree_skb_list: a batch free that releases exactly what skb.free() would."""

import pytest

from fragpool.mm import PageAllocator, PageFragCache
from fragpool.skb import SkbStateError, build_skb, kfree_skb_list


@pytest.fixture
def pa() -> PageAllocator:
    return PageAllocator(budget=8 << 20)


def _skbs(pa: PageAllocator, cache: PageFragCache, n: int) -> list:
    return [build_skb(cache.alloc(2048), 2048, allocator=pa) for _ in range(n)]


def test_batch_free_drops_one_reference_per_skb(pa: PageAllocator) -> None:
    cache = PageFragCache(pa)
    skbs = _skbs(pa, cache, 10)
    page = cache.page
    before = page.ref
    frees = pa.frag_frees
    kfree_skb_list(skbs)
    assert page.ref == before - 10
    assert pa.frag_frees == frees + 10
    assert not any(skb.is_live for skb in skbs)
    cache.drain()
    assert pa.in_use_pages() == 0


def test_last_reference_releases_the_page(pa: PageAllocator) -> None:
    cache = PageFragCache(pa)
    skbs = _skbs(pa, cache, 3)
    cache.drain()  # the cache lets go: the skbs hold the page's last references
    assert pa.in_use_pages() == 1
    kfree_skb_list(skbs)
    assert pa.in_use_pages() == 0


def test_clones_and_frags_take_the_full_path(pa: PageAllocator) -> None:
    cache = PageFragCache(pa)
    skb, other = _skbs(pa, cache, 2)
    frag = cache.alloc(100)
    other.add_rx_frag(frag, 100, 128)
    clone = skb.clone()
    kfree_skb_list([skb, other])
    assert clone.is_live and bytes(clone) is not None
    clone.free()
    cache.drain()
    assert pa.in_use_pages() == 0


def test_double_free_in_a_batch_raises(pa: PageAllocator) -> None:
    cache = PageFragCache(pa)
    (skb,) = _skbs(pa, cache, 1)
    skb.free()
    with pytest.raises(SkbStateError):
        kfree_skb_list([skb])
    cache.drain()
    assert pa.in_use_pages() == 0
