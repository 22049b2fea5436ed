"""fragpool's classic-BPF interpreter computes what libpcap's pcap_offline_filter computes.

Random programs (every opcode, loads in and out of the packet, X-relative loads that would
wrap, division by a zero X, shifts of 32 and more) on random packets, and libpcap-compiled
filters on the filter corpus, both run by libpcap itself as the reference.
"""

from __future__ import annotations

import pytest
from filter_corpus import FILTERS, corpus_packets
from hypothesis import given, settings
from hypothesis import strategies as st

from fragpool.io import bpf
from fragpool.io.bpf.program import VALID_CODES

_JUMPS = {0x15, 0x25, 0x35, 0x45, 0x1D, 0x2D, 0x3D, 0x4D}
_MEM = {0x60, 0x61, 0x02, 0x03}
_RETS = {0x06, 0x16}
_BODY = sorted(VALID_CODES - _JUMPS - _RETS - {0x05})
_K = st.one_of(
    st.integers(0, 70),
    st.integers(0, 0xFFFFFFFF),
    st.sampled_from([0xFFFFFFFF, 0xFFFFFFFC, 31, 32]),
)


@st.composite
def programs(draw):
    n = draw(st.integers(1, 24))
    insns = [(0x00, 0, 0, draw(_K))] + [(0x02, 0, 0, i) for i in range(16)]  # every M[] set
    for pc in range(n):
        left = n - pc  # instructions after this one, the final ret included
        kind = draw(st.integers(0, 9))
        if kind < 2:
            code = draw(st.sampled_from(sorted(_JUMPS)))
            insns.append(
                (code, draw(st.integers(0, left - 1)), draw(st.integers(0, left - 1)), draw(_K))
            )
        elif kind == 2:
            insns.append((0x05, 0, 0, draw(st.integers(0, left - 1))))
        else:
            code = draw(st.sampled_from(_BODY))
            k = draw(_K)
            if code in _MEM:
                k %= 16
            elif code in (0x34, 0x94):
                k = k or 1
            elif code in (0x64, 0x74):
                k %= 32
            insns.append((code, 0, 0, k))
    insns.append(draw(st.sampled_from([(0x16, 0, 0, 0), (0x06, 0, 0, draw(_K))])))
    return bpf.Program(insns)


@settings(max_examples=400, deadline=None)
@given(prog=programs(), data=st.binary(max_size=80), extra=st.integers(0, 3000))
def test_random_programs_agree_with_libpcap(prog, data, extra):
    wire = len(data) + extra
    assert bpf.filter_bytes(prog, data, wire) == bpf.offline_filter(prog, data, wire)


@pytest.mark.parametrize(
    "insns, expect",
    [
        ([(0x00, 0, 0, 0x80000001), (0x01, 0, 0, 33), (0x6C, 0, 0, 0), (0x16, 0, 0, 0)], 0),
        ([(0x00, 0, 0, 0x80000001), (0x01, 0, 0, 31), (0x6C, 0, 0, 0), (0x16, 0, 0, 0)], 1 << 31),
        ([(0x00, 0, 0, 7), (0x01, 0, 0, 0), (0x3C, 0, 0, 0), (0x06, 0, 0, 9)], 0),  # A / 0
        ([(0x00, 0, 0, 7), (0x01, 0, 0, 0), (0x9C, 0, 0, 0), (0x06, 0, 0, 9)], 0),  # A % 0
        ([(0x01, 0, 0, 0xFFFFFFFF), (0x50, 0, 0, 1), (0x06, 0, 0, 9)], 0),  # x + k past 2**32
        ([(0x20, 0, 0, 0xFFFFFFFE), (0x06, 0, 0, 9)], 0),  # k + 4 would wrap a u32
        ([(0x20, 0, 0, 0), (0x16, 0, 0, 0)], 0x01020304),
        ([(0x80, 0, 0, 0), (0x16, 0, 0, 0)], 1500),  # ld #len is the wire length
        ([(0x00, 0, 0, 0), (0x84, 0, 0, 0), (0x14, 0, 0, 1), (0x16, 0, 0, 0)], 0xFFFFFFFF),
    ],
)
def test_edge_cases_match_libpcap(insns, expect):
    prog = bpf.Program(insns)
    data = bytes([1, 2, 3, 4, 5])
    assert bpf.offline_filter(prog, data, 1500) == expect
    assert bpf.filter_bytes(prog, data, 1500) == expect


@pytest.fixture(scope="module")
def corpus():
    return [bytes(p) for p in corpus_packets()]


@pytest.mark.parametrize("expr", FILTERS)
def test_libpcap_filters_agree_on_the_corpus(expr, corpus):
    prog = bpf.compile(expr)
    verdicts = [bpf.filter_bytes(prog, d, len(d)) for d in corpus]
    assert verdicts == [bpf.offline_filter(prog, d, len(d)) for d in corpus]
    assert any(verdicts) and not all(verdicts)  # each filter keeps some and drops some


def test_filter_skb_reads_a_frag_skb_through_a_copy():
    from fragpool.mm import PageAllocator, PageFragCache
    from fragpool.skb import netdev_alloc_skb

    pa = PageAllocator()
    fc = PageFragCache(pa)
    data = bytes(corpus_packets()[0])
    rest = len(data) - 14
    skb = netdev_alloc_skb(64, allocator=pa)
    skb.put(14)[:] = data[:14]
    addr = fc.alloc(rest)
    pa.view(addr, rest)[:] = data[14:]
    skb.add_rx_frag(addr, rest, rest)
    assert skb.data_len == rest and bytes(skb) == data
    prog = bpf.compile("udp port 6001")
    assert bpf.filter_skb(prog, skb) == bpf.offline_filter(prog, data) != 0
    assert bpf.filter_skb(bpf.compile("tcp"), skb) == 0
    skb.free()
    fc.drain()
