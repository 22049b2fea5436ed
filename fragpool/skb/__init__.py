"""skb: SkBuff with head and frags, its constructors, head caches and scapy interop."""

from .alloc import (
    alloc_skb,
    build_skb,
    napi_alloc_skb,
    napi_build_skb,
    napi_consume_skb,
    netdev_alloc_skb,
)
from .alloc import stats as skb_stats
from .constants import (
    MAX_SKB_FRAGS,
    NET_IP_ALIGN,
    NET_SKB_PAD,
    SKB_DATA_ALIGN,
    SKB_HEAD_ALIGN,
    SKB_TRUESIZE,
    SKB_WITH_OVERHEAD,
)
from .head_cache import SkbHeadCache, napi_skb_cache, skbuff_head_cache
from .heap import heap_heads
from .scapy_interop import from_scapy, to_scapy
from .skbuff import (
    SharedInfo,
    SkbBoundsError,
    SkbError,
    SkbStateError,
    SkBuff,
    alloc_heap_skb,
    kfree_skb_list,
    set_max_skb_frags,
)

__all__ = [
    "MAX_SKB_FRAGS",
    "NET_IP_ALIGN",
    "NET_SKB_PAD",
    "SKB_DATA_ALIGN",
    "SKB_HEAD_ALIGN",
    "SKB_TRUESIZE",
    "SKB_WITH_OVERHEAD",
    "SharedInfo",
    "SkBuff",
    "SkbBoundsError",
    "SkbError",
    "SkbHeadCache",
    "SkbStateError",
    "alloc_heap_skb",
    "alloc_skb",
    "build_skb",
    "from_scapy",
    "heap_heads",
    "kfree_skb_list",
    "napi_alloc_skb",
    "napi_build_skb",
    "napi_consume_skb",
    "napi_skb_cache",
    "netdev_alloc_skb",
    "set_max_skb_frags",
    "skb_stats",
    "skbuff_head_cache",
    "to_scapy",
]
