"""Classic pcap records from a batch of skbs, appended to a writer's pending bytes.

The hot loop of ``fragpool capture -w`` (libpcap's pcap_dump per packet): the 16-byte record
header (seconds, micro- or nanoseconds, captured and wire lengths) and the skb's bytes, for
each skb of the batch, with no Python call per field when compiled.
"""

from __future__ import annotations

from ... import _native
from ...skb.skbuff import SkBuff

NS = 1_000_000_000


def put_records(
    out: bytearray, skbs: list, linktype: int, units: int, big: bool, swapped: bool
) -> int:
    """Append the records of ``skbs`` to ``out`` (``units``: ns per stored fraction unit;
    ``swapped``: the two length fields exchanged, as some old files have them). Stops at
    the first skb of another link type than ``linktype`` (a classic file holds one) and
    returns how many records were appended."""
    done = 0
    for item in skbs:
        skb = _as_skb(item)
        lt = skb.linktype
        if lt != linktype and lt >= 0:
            break
        incl = skb.len
        orig = skb.wire_len or incl
        tstamp = skb.tstamp
        sec = tstamp // NS
        frac = (tstamp - sec * NS) // units
        if swapped:
            _native.append_u32x4(out, sec, frac, orig, incl, big)
        else:
            _native.append_u32x4(out, sec, frac, incl, orig, big)
        if skb.data_len:  # paged: its bytes gathered
            out += bytes(skb)
        else:
            if not skb._live:
                skb._check()  # a freed skb's bytes are not read
            _native.append_from(out, skb.data, incl)
        done += 1
    return done


def _as_skb(item: object) -> SkBuff:
    """``item`` as the skb it must be (a TypeError for anything else)."""
    if not isinstance(item, SkBuff):
        raise TypeError(f"put_records takes skbs, not {type(item).__name__}")
    return item
