"""Between skbs and scapy packets: dissect an skb, or build one from a scapy packet."""

from __future__ import annotations

from typing import Any

from ..mm import PageAllocator
from .alloc import netdev_alloc_skb
from .skbuff import SkBuff, converters

#: LINKTYPE_ values (pcap link types) for the layers fragpool builds skbs from.
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113


def _layer_for(linktype: int) -> Any:
    """scapy's layer for a link type, whatever the user imported: scapy registers a link
    type only when the module defining its layer loads, so load them all if it is unknown."""
    from scapy.config import conf

    layer = conf.l2types.num2layer.get(linktype)
    if layer is None:
        import scapy.layers.all  # noqa: F401 - registers every layer's link type
        from scapy.packet import Raw

        layer = conf.l2types.num2layer.get(linktype, Raw)
    return layer


def to_scapy(skb: SkBuff) -> Any:
    """skb bytes dissected with the scapy layer that pcap maps to the skb's link type."""
    pkt = _layer_for(skb.linktype)(bytes(skb))
    if skb.tstamp:
        from decimal import Decimal

        pkt.time = Decimal(skb.tstamp) / 1_000_000_000
    pkt.wirelen = skb.wire_len or skb.len
    return pkt


def from_scapy(
    pkt: Any,
    *,
    allocator: PageAllocator | None = None,
    linktype: int | None = None,
    tstamp: int | None = None,
) -> SkBuff:
    """An skb (netdev_alloc_skb) holding a scapy packet's bytes, its time and link type."""
    raw = bytes(pkt)
    skb = netdev_alloc_skb(len(raw), allocator=allocator)
    if skb is None:
        raise MemoryError(f"no memory for a {len(raw)}-byte skb: the pool's budget is spent")
    skb.put(len(raw))[:] = raw
    if linktype is None:
        from scapy.config import conf

        linktype = conf.l2types.layer2num.get(type(pkt), LINKTYPE_ETHERNET)
    skb.linktype = linktype
    if tstamp is None:
        # pkt.time is a Decimal-like EDecimal or a float: go through Decimal so
        # nanosecond timestamps survive (a float has only ~0.2 us at today's epoch).
        from decimal import Decimal

        when = getattr(pkt, "time", None)
        tstamp = int((Decimal(str(when)) * 1_000_000_000).to_integral_value()) if when else 0
    skb.tstamp = tstamp
    skb.wire_len = getattr(pkt, "wirelen", None) or len(raw)
    return skb


converters.to_scapy = to_scapy
