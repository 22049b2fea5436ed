"""(timestamp, bytes) pairs out of skbs, for code written against dpkt's readers.

dpkt's ``for ts, buf in dpkt.pcap.Reader(f)`` gives float seconds and the packet's bytes;
fragpool's readers and captures give skbs, whose bytes live in pooled buffers. A capture's
``pairs()`` is the same loop: each skb's time and a copy of its bytes, the skb freed at
once (also when the loop breaks).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .skbuff import SkBuff


def timestamped_bytes(skbs: Iterable[SkBuff]) -> Iterator[tuple[float, bytes]]:
    """(skb.time, bytes(skb)) for each skb of ``skbs``, each skb freed after it is read."""
    for skb in skbs:
        try:
            pair = (skb.tstamp / 1_000_000_000, bytes(skb))
        finally:
            skb.free()
        yield pair
