"""Memory: arenas, compound pages, page_frag_cache, the netdev/napi caches, page_pool, and
debug mode's checks (fragpool.mm.debug) with their errors (fragpool.mm.errors)."""

import sys

if not getattr(sys, "_is_gil_enabled", lambda: True)():
    raise ImportError(
        "fragpool needs CPython's GIL: its lock-free page refcounts rely on the GIL switching "
        "threads only at calls and loop ends; run it on a standard (GIL) interpreter build"
    )

from .allocator import Arena, Page, PageAllocator  # noqa: E402
from .constants import (  # noqa: E402
    PAGE_FRAG_CACHE_MAX_ORDER,
    PAGE_FRAG_CACHE_MAX_SIZE,
    PAGE_SHIFT,
    PAGE_SIZE,
)
from .debug import Leak, MemoryDebugger  # noqa: E402
from .errors import (  # noqa: E402
    BadPageError,
    DebugError,
    DoubleFreeError,
    RedZoneError,
    UseAfterFreeError,
)
from .frag_cache import NaivePageFragCache, PageFragCache, make_frag_cache  # noqa: E402
from .page_pool import PagePool  # noqa: E402
from .percpu import (  # noqa: E402
    NapiContext,
    NapiContextError,
    NetdevFragCache,
    current_napi,
    default_allocator,
    napi_alloc_frag,
    netdev_alloc_frag,
    netdev_frag_cache,
)

__all__ = [
    "PAGE_FRAG_CACHE_MAX_ORDER",
    "PAGE_FRAG_CACHE_MAX_SIZE",
    "PAGE_SHIFT",
    "PAGE_SIZE",
    "Arena",
    "BadPageError",
    "DebugError",
    "DoubleFreeError",
    "Leak",
    "MemoryDebugger",
    "NaivePageFragCache",
    "NapiContext",
    "NapiContextError",
    "NetdevFragCache",
    "Page",
    "PageAllocator",
    "PageFragCache",
    "PagePool",
    "RedZoneError",
    "UseAfterFreeError",
    "current_napi",
    "default_allocator",
    "make_frag_cache",
    "napi_alloc_frag",
    "netdev_alloc_frag",
    "netdev_frag_cache",
]
