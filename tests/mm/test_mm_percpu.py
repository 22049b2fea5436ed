"""The netdev and napi fragment caches: who may use them, and from which thread."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from fragpool.mm import (
    NapiContext,
    NapiContextError,
    PageAllocator,
    current_napi,
    default_allocator,
    napi_alloc_frag,
    netdev_alloc_frag,
    netdev_frag_cache,
)


def on_thread(fn: Callable[[], object]) -> BaseException | object:
    """Run ``fn`` on a fresh thread; return its result or the exception it raised."""
    out: list[object] = []

    def body() -> None:
        try:
            out.append(fn())
        except BaseException as exc:  # handed back to the test
            out.append(exc)

    t = threading.Thread(target=body)
    t.start()
    t.join()
    return out[0]


def test_napi_cache_works_inside_its_context() -> None:
    pa = PageAllocator()
    ctx = NapiContext(pa, name="rx0")
    with ctx:
        assert current_napi() is ctx
        a = napi_alloc_frag(256)
        b = ctx.alloc_frag(64, 64)
        assert b == a + 256
    assert ctx.owner is None
    pa.frag_free(a)
    pa.frag_free(b)
    ctx.drain()
    assert pa.in_use_pages() == 0


def test_another_thread_may_not_use_a_context_it_did_not_enter() -> None:
    pa = PageAllocator()
    ctx = NapiContext(pa, name="rx0")
    with ctx:
        addr = ctx.alloc_frag(100)
        err = on_thread(lambda: ctx.alloc_frag(100))
        assert isinstance(err, NapiContextError)
        assert "rx0" in str(err) and "outside its NAPI poll context" in str(err)
        err = on_thread(ctx.__enter__)
        assert isinstance(err, NapiContextError) and "already running" in str(err)
        err = on_thread(ctx.drain)
        assert isinstance(err, NapiContextError)
    # Nobody owns it now, but a thread must still enter before allocating.
    err = on_thread(lambda: ctx.alloc_frag(100))
    assert isinstance(err, NapiContextError)
    with pytest.raises(NapiContextError):
        ctx.alloc_frag(100)

    def enter_and_alloc() -> int | None:
        with ctx:
            return ctx.alloc_frag(100)

    other = on_thread(enter_and_alloc)
    assert other == addr + 100, "a poll context moves between threads, one at a time"
    pa.frag_free(addr)
    pa.frag_free(other)
    ctx.drain()
    assert pa.in_use_pages() == 0


def test_napi_alloc_frag_outside_any_context_names_the_rule() -> None:
    with pytest.raises(NapiContextError, match="outside any NAPI poll context"):
        napi_alloc_frag(100)
    err = on_thread(current_napi)
    assert isinstance(err, NapiContextError), "a fresh thread runs in no context"


def test_nested_contexts_restore_the_outer_one() -> None:
    pa = PageAllocator()
    outer, inner = NapiContext(pa, name="a"), NapiContext(pa, name="b")
    with outer:
        with inner:
            assert current_napi() is inner
            with inner:  # re-entrant for its owner
                assert current_napi() is inner
            assert current_napi() is inner
        assert current_napi() is outer
    with pytest.raises(NapiContextError):
        current_napi()


def test_netdev_cache_is_shared_by_threads() -> None:
    pa = PageAllocator()
    per_thread = 2000
    results: list[list[int]] = []

    def worker() -> None:
        mine = [netdev_alloc_frag(128, 64, allocator=pa) for _ in range(per_thread)]
        results.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    addrs = sorted(a for r in results for a in r)
    assert len(addrs) == len(set(addrs)) == 4 * per_thread, "no fragment handed out twice"
    assert all(a % 64 == 0 for a in addrs)
    assert all(b - a >= 128 for a, b in zip(addrs, addrs[1:], strict=False))
    cache = netdev_frag_cache(pa)
    assert cache.stats()["frags_alloc"] == 4 * per_thread
    for a in addrs:
        pa.frag_free(a)
    cache.drain()
    assert pa.in_use_pages() == 0


def test_default_allocator_is_one_per_process() -> None:
    assert default_allocator() is default_allocator()
    addr = netdev_alloc_frag(64)
    default_allocator().frag_free(addr)
