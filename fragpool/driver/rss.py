"""Receive-side scaling and header parsing: how a NIC picks a ring, and eth_get_headlen.

A multi-queue NIC hashes each frame's flow (IPv4/IPv6 addresses and, for TCP and UDP, the
ports) with the Toeplitz function over a secret key, and looks the low 7 bits of the hash up
in a 128-entry indirection table (RETA) whose entry names the RX queue. The kernel fills the
table round robin by default (ethtool_rxfh_indir_default: entry i -> queue i % n). Frames
that are not IP, and IPv4 fragments (whose later pieces carry no ports), hash on what they
have: addresses only, or nothing (hash 0, queue of RETA entry 0).

:func:`eth_get_headlen` is the flow dissector's answer to "how many bytes are headers",
which igb's legacy receive path uses to pull headers into the skb's linear part.
"""

from __future__ import annotations

import struct
from array import array

#: The default 40-byte RSS key that Intel and Microsoft drivers ship (and ethtool shows).
DEFAULT_RSS_KEY = bytes.fromhex(
    "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa"
)
#: Entries of the RSS indirection table (ETH_RSS_HASH / igb's IGB_RETA_SIZE).
RETA_SIZE = 128

ETH_HLEN = 14
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
IPPROTO_TCP = 6
IPPROTO_UDP = 17

_U16 = struct.Struct("!H")


class Toeplitz:
    """The Toeplitz hash of Microsoft's RSS specification, over a key of up to 40 bytes.

    Input bit i (from the most significant bit of the first byte) selects the 32-bit window
    of the key that starts at key bit i; the hash is the XOR of the selected windows. The
    windows are folded into one 256-entry table per input byte position (all positions the
    key allows, ``len(key) - 4``, in one flat table), so a hash costs one lookup per byte.
    """

    def __init__(self, key: bytes = DEFAULT_RSS_KEY) -> None:
        if len(key) < 8:
            raise ValueError(f"RSS key of {len(key)} bytes is too short")
        self.key = bytes(key)
        self._kbits = len(key) * 8
        self._k = int.from_bytes(key, "big")
        #: The most input bytes this key can hash.
        self.max_input = len(key) - 4
        flat = array("I")
        for pos in range(self.max_input):
            flat.extend(self._table(pos))
        #: The tables, as a view (typed when compiled: no buffer lookup per hash).
        self._view = memoryview(flat)

    def _table(self, pos: int) -> list[int]:
        windows = []
        for bit in range(8):
            shift = self._kbits - 32 - (pos * 8 + bit)
            windows.append((self._k >> shift) & 0xFFFFFFFF)
        table = [0] * 256
        for value in range(1, 256):
            acc = 0
            for bit in range(8):
                if value & (0x80 >> bit):
                    acc ^= windows[bit]
            table[value] = acc
        return table

    def __call__(self, data: bytes) -> int:
        return self.hash_at(data, 0, len(data), 0)

    def hash_at(self, data: bytes | memoryview, start: int, n: int, pos: int) -> int:
        """The hash of ``data[start:start + n]`` taken as input bytes ``pos`` onwards."""
        if pos < 0 or n < 0 or pos + n > self.max_input:
            raise ValueError(f"input of more than {self.max_input} bytes for this key")
        if start < 0 or start + n > len(data):
            raise ValueError(f"bytes {start}..{start + n} outside a {len(data)}-byte input")
        table = self._view
        h = 0
        base = pos * 256
        for i in range(n):
            h ^= table[base + data[start + i]]
            base += 256
        return h


def _l3(frame: bytes | memoryview) -> tuple[int, int]:
    """(ethertype, offset of the network header), skipping up to two VLAN tags."""
    n = len(frame)
    if n < ETH_HLEN:
        return 0, n
    proto = frame[12] << 8 | frame[13]
    off = ETH_HLEN
    for _ in range(2):
        if proto not in (ETH_P_8021Q, ETH_P_8021AD) or n < off + 4:
            break
        proto = frame[off + 2] << 8 | frame[off + 3]
        off += 4
    return proto, off


def flow_span(frame: bytes | memoryview) -> tuple[int, int, int]:
    """Where the RSS input lies in ``frame``: (address offset, address length, port offset).

    The addresses (IPv4: 8 bytes, IPv6: 32) and, for TCP and UDP outside a fragment, the
    4 bytes of ports (port offset -1 when they do not count); address length 0 when the
    frame is not IP.
    """
    proto, off = _l3(frame)
    n = len(frame)
    if proto == ETH_P_IP and n >= off + 20:
        ihl = (frame[off] & 0x0F) * 4
        fragment = (frame[off + 6] << 8 | frame[off + 7]) & 0x3FFF  # MF flag or an offset
        l4 = off + ihl
        if frame[off + 9] in (IPPROTO_TCP, IPPROTO_UDP) and not fragment and n >= l4 + 4:
            return off + 12, 8, l4
        return off + 12, 8, -1
    if proto == ETH_P_IPV6 and n >= off + 40:
        l4 = off + 40
        if frame[off + 6] in (IPPROTO_TCP, IPPROTO_UDP) and n >= l4 + 4:
            return off + 8, 32, l4
        return off + 8, 32, -1
    return 0, 0, -1


def flow_key(frame: bytes | memoryview) -> bytes:
    """The bytes a NIC feeds to the RSS hash: src/dst address, then src/dst port if known."""
    at, length, ports = flow_span(frame)
    key = bytes(frame[at : at + length])
    return key + bytes(frame[ports : ports + 4]) if ports >= 0 else key


class Rss:
    """A NIC's RSS block: Toeplitz hash and indirection table spreading flows over rings."""

    def __init__(self, nrings: int, key: bytes = DEFAULT_RSS_KEY) -> None:
        if nrings < 1:
            raise ValueError(f"need at least one ring, not {nrings}")
        self.hash = Toeplitz(key)
        #: ethtool_rxfh_indir_default(): entry i steers to queue i % nrings.
        self.reta = [i % nrings for i in range(RETA_SIZE)]

    def steer(self, frame: bytes | memoryview) -> tuple[int, int]:
        """(ring index, 32-bit RSS hash) for one frame (hashed in place, no key copied)."""
        view = frame
        at, length, ports = flow_span(view)
        h = 0
        if length:
            h = self.hash.hash_at(view, at, length, 0)
            if ports >= 0:
                h ^= self.hash.hash_at(view, ports, 4, length)
        return self.reta[h & (RETA_SIZE - 1)], h


def eth_get_headlen(frame: bytes | memoryview, max_len: int) -> int:
    """eth_get_headlen(): bytes of Ethernet, VLAN, IP and TCP/UDP headers, at most max_len.

    Like the kernel's flow dissector it stops at the network header when the transport
    header cannot be read (a later IPv4 fragment, another protocol, a short frame).
    """
    n = min(len(frame), max_len)
    if n < ETH_HLEN:
        return n
    proto, off = _l3(frame)
    hlen = off
    if proto == ETH_P_IP and n >= off + 20:
        ihl = (frame[off] & 0x0F) * 4
        hlen = off + ihl
        ipproto = frame[off + 9]
        later_fragment = _U16.unpack_from(frame, off + 6)[0] & 0x1FFF
        if later_fragment:
            ipproto = -1
    elif proto == ETH_P_IPV6 and n >= off + 40:
        hlen = off + 40
        ipproto = frame[off + 6]
    else:
        return min(hlen, n)
    if ipproto == IPPROTO_TCP and n >= hlen + 13:
        hlen += (frame[hlen + 12] >> 4) * 4
    elif ipproto == IPPROTO_UDP:
        hlen += 8
    return min(hlen, n)
