"""skb sizes and macros of include/linux/skbuff.h, for x86_64 with a distro kernel config."""

import os

from ..mm.constants import PAGE_SIZE

#: L1 cache line (SMP_CACHE_BYTES): what SKB_DATA_ALIGN rounds to.
SMP_CACHE_BYTES = 64
#: Headroom every RX skb gets: max(32, L1_CACHE_BYTES).
NET_SKB_PAD = max(32, SMP_CACHE_BYTES)
#: Extra headroom so the IP header lands 4-byte aligned; x86 sets 0, other arches 2.
NET_IP_ALIGN = 0 if os.uname().machine in ("x86_64", "AMD64", "i386", "i686") else 2
#: Default frags per skb (CONFIG_MAX_SKB_FRAGS, configurable 17..45).
MAX_SKB_FRAGS = 17

#: sizeof(struct sk_buff) and sizeof(struct skb_shared_info) on x86_64 (17 frags).
SIZEOF_SK_BUFF = 232
SIZEOF_SHARED_INFO = 320


def SKB_DATA_ALIGN(x: int) -> int:  # noqa: N802 - kernel macro name
    """Round up to the cache line."""
    return (x + SMP_CACHE_BYTES - 1) & -SMP_CACHE_BYTES


SHINFO_SIZE = SKB_DATA_ALIGN(SIZEOF_SHARED_INFO)
SKB_STRUCT_SIZE = SKB_DATA_ALIGN(SIZEOF_SK_BUFF)


def SKB_WITH_OVERHEAD(x: int) -> int:  # noqa: N802
    """Usable bytes of a buffer of ``x`` once the shared info sits at its end."""
    return x - SHINFO_SIZE


def SKB_HEAD_ALIGN(x: int) -> int:  # noqa: N802
    """Buffer size for ``x`` usable bytes plus the shared info."""
    return SKB_DATA_ALIGN(x) + SHINFO_SIZE


def SKB_TRUESIZE(x: int) -> int:  # noqa: N802
    """Memory charged for an skb whose head holds ``x`` usable bytes."""
    return x + SKB_STRUCT_SIZE + SHINFO_SIZE


#: MAX_TCP_HEADER on x86_64 distro configs (L1_CACHE_ALIGN(128 + MAX_HEADER)).
MAX_TCP_HEADER = 320
SKB_SMALL_HEAD_SIZE = SKB_HEAD_ALIGN(MAX_TCP_HEADER)
SKB_SMALL_HEAD_CACHE_SIZE = (
    SKB_SMALL_HEAD_SIZE + SMP_CACHE_BYTES
    if SKB_SMALL_HEAD_SIZE & (SKB_SMALL_HEAD_SIZE - 1) == 0
    else SKB_SMALL_HEAD_SIZE
)
#: __netdev_alloc_skb / napi_alloc_skb use kmalloc heads for requests at or below this...
SKB_SMALL_HEAD_LIMIT = SKB_WITH_OVERHEAD(SKB_SMALL_HEAD_CACHE_SIZE)
#: ...and above this (a head that would not fit in one page with its shared info).
SKB_FRAG_HEAD_LIMIT = SKB_WITH_OVERHEAD(PAGE_SIZE)

#: The kmalloc caches of SLUB on x86_64 up to KMALLOC_MAX_CACHE_SIZE (two pages).
KMALLOC_SIZES = (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192)


def kmalloc_size_roundup(size: int) -> int:
    """kmalloc_size_roundup(): the bytes kmalloc really hands out for a ``size`` request.

    The smallest kmalloc cache that fits, or a whole power-of-two number of pages above
    KMALLOC_MAX_CACHE_SIZE (the page allocator serves those).
    """
    for bucket in KMALLOC_SIZES:
        if size <= bucket:
            return bucket
    pages = -(-size // PAGE_SIZE)
    return PAGE_SIZE << (pages - 1).bit_length()


def skb_head_obj_size(size: int) -> int:
    """kmalloc_reserve(): the buffer __alloc_skb takes for ``size`` usable bytes.

    Heads up to SKB_SMALL_HEAD_CACHE_SIZE come from skb_small_head_cache; larger ones from
    kmalloc, rounded up to the cache that serves them. The skb uses the whole buffer: its
    usable size is SKB_WITH_OVERHEAD of the result.
    """
    obj = SKB_HEAD_ALIGN(size)
    if obj <= SKB_SMALL_HEAD_CACHE_SIZE:
        return SKB_SMALL_HEAD_CACHE_SIZE
    return kmalloc_size_roundup(obj)


#: NAPI skb head cache (net/core/skbuff.c, recent kernels): size, bulk alloc, bulk free.
NAPI_SKB_CACHE_SIZE = 128
NAPI_SKB_CACHE_BULK = 32
NAPI_SKB_CACHE_HALF = NAPI_SKB_CACHE_SIZE // 2 - NAPI_SKB_CACHE_BULK

#: Packet types (skb->pkt_type, <linux/if_packet.h>).
PACKET_HOST = 0
PACKET_BROADCAST = 1
PACKET_MULTICAST = 2
PACKET_OTHERHOST = 3
PACKET_OUTGOING = 4
