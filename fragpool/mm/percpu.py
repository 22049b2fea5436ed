"""The per-context fragment caches of net/core/skbuff.c: netdev_alloc_cache and napi_alloc_cache.

The kernel keeps both per CPU. The netdev cache may be used from any context, so it is
guarded (the kernel disables interrupts; fragpool takes one lock). The napi cache is only
used inside a NAPI poll, which runs on one CPU at a time, so it needs no lock; fragpool
models the poll context as a :class:`NapiContext` that one thread enters at a time, and
refuses use of its cache from any thread that has not entered it.
"""

from __future__ import annotations

import threading
from threading import get_ident

from .. import _native
from ..stats import Snapshot
from .allocator import PageAllocator
from .frag_cache import make_frag_cache


class NapiContextError(RuntimeError):
    """The napi cache was used outside the NAPI poll context that owns it."""


class NetdevFragCache:
    """netdev_alloc_cache: a page_frag_cache that any thread may allocate from (one lock)."""

    __slots__ = ("cache", "_lock")

    def __init__(self, pa: PageAllocator, *, naive: bool = False) -> None:
        self.cache = make_frag_cache(pa, naive)
        self._lock = threading.Lock()

    def alloc(self, fragsz: int, align: int | None = None) -> int | None:
        """netdev_alloc_frag() / __netdev_alloc_frag_align()."""
        with self._lock:
            return self.cache.alloc(fragsz, align)

    def drain(self) -> None:
        with self._lock:
            self.cache.drain()

    def stats(self) -> Snapshot:
        with self._lock:
            return self.cache.stats()


_current = threading.local()


class NapiContext:
    """A NAPI poll context: its page_frag_cache (napi_alloc_cache) belongs to it alone.

    ``with ctx:`` makes the calling thread the context's owner (re-entrant for that thread);
    another thread entering while it is owned, or allocating from it without entering,
    raises :class:`NapiContextError`. Other layers keep their own per-context caches (the
    skb head cache) in ``ctx.extensions``.
    """

    __slots__ = ("pa", "frag_cache", "name", "_owner", "_depth", "_outer", "extensions")

    def __init__(self, pa: PageAllocator, *, name: str = "napi", naive: bool = False) -> None:
        self.pa = pa
        self.frag_cache = make_frag_cache(pa, naive)
        self.name = name
        #: The owner thread's ident, 0 while no thread is inside (idents are never 0).
        self._owner = 0
        self._depth = 0
        self._outer: NapiContext | None = None
        self.extensions: dict[str, object] = {}

    def __enter__(self) -> NapiContext:
        tid = get_ident()
        if self._owner and self._owner != tid:
            raise NapiContextError(
                f"NAPI context {self.name!r} is already running on thread {self._owner}; "
                "a napi cache belongs to one poll context at a time"
            )
        if self._depth == 0:
            self._owner = tid
            self._outer = getattr(_current, "ctx", None)
            _current.ctx = self
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            _current.ctx = self._outer
            self._outer = None
            self._owner = 0

    @property
    def owner(self) -> int | None:
        return self._owner or None

    def check(self) -> None:
        """Raise unless the calling thread is inside this context."""
        if self._owner != get_ident():
            raise NapiContextError(
                f"napi cache of {self.name!r} used outside its NAPI poll context: it belongs to "
                "the one thread that entered it (`with ctx:`); use netdev_alloc_frag elsewhere"
            )

    def alloc_frag(self, fragsz: int, align: int | None = None) -> int | None:
        """napi_alloc_frag() / __napi_alloc_frag_align(): lock-free, owner thread only."""
        if self._owner != _native.thread_ident():
            self.check()
        return self.frag_cache.alloc(fragsz, align)

    def drain(self) -> None:
        """Return the context's cached page (page_frag_cache_drain), owner thread only."""
        if self._owner:
            self.check()
        self.frag_cache.drain()


def current_napi() -> NapiContext:
    """The NAPI context the calling thread is running in, or an error naming the rule."""
    ctx = getattr(_current, "ctx", None)
    if ctx is None:
        raise NapiContextError(
            "napi_alloc_* called outside any NAPI poll context: enter one with "
            "`with NapiContext(allocator):` or use the netdev_alloc_* calls"
        )
    return ctx


_default: PageAllocator | None = None
_default_lock = threading.Lock()


def default_allocator() -> PageAllocator:
    """The process-wide PageAllocator with default options (created on first use)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = PageAllocator()
    return _default


def netdev_frag_cache(pa: PageAllocator) -> NetdevFragCache:
    """The netdev_alloc_cache of allocator ``pa`` (created on first use, once)."""
    cache = pa.netdev_cache
    if cache is None:
        with _default_lock:  # two first users must not each install a cache
            cache = pa.netdev_cache
            if cache is None:
                cache = pa.netdev_cache = NetdevFragCache(pa)
    return cache


def netdev_alloc_frag(
    fragsz: int, align: int | None = None, *, allocator: PageAllocator | None = None
) -> int | None:
    """netdev_alloc_frag(): a fragment from the allocator's netdev cache, from any thread."""
    return netdev_frag_cache(allocator or default_allocator()).alloc(fragsz, align)


def napi_alloc_frag(fragsz: int, align: int | None = None) -> int | None:
    """napi_alloc_frag(): a fragment from the calling thread's current NAPI context."""
    return current_napi().alloc_frag(fragsz, align)
