"""Sizes and limits of the memory layer, named after their kernel counterparts (4 KiB pages)."""

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT

#: page_frag_cache refills with a compound page of this order (8 pages, 32 KiB) when it can.
PAGE_FRAG_CACHE_MAX_ORDER = 3
PAGE_FRAG_CACHE_MAX_SIZE = PAGE_SIZE << PAGE_FRAG_CACHE_MAX_ORDER

#: The allocator's default largest compound page: the page_frag_cache's refill order.
DEFAULT_MAX_ORDER = PAGE_FRAG_CACHE_MAX_ORDER
#: One arena (one mmap call) holds this many bytes of usable memory by default.
DEFAULT_ARENA_SIZE = 1 << 20
#: Total usable bytes the allocator may map before allocations fail like GFP_ATOMIC.
DEFAULT_BUDGET = 1 << 30
#: Order-0 pages kept aside for callers allowed to dip into reserves (pfmemalloc pages).
DEFAULT_RESERVE_PAGES = 16

#: The largest value of a u16 bias restock (drivers use page_ref_add(page, USHRT_MAX)).
USHRT_MAX = 0xFFFF
