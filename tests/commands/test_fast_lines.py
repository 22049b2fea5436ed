"""The LineWriter (tcpdump's common lines written as bytes) writes what the Dissector
writes, packet by packet: on the test corpora and on generated headers of every shape
(truncated, fragmented, bad lengths, TCP conversations with options), so the fast path can
never print something the checked text path would not."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from captures_util import CONFORMANCE
from filter_corpus import write_corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fragpool.commands._fast_lines import LineWriter
from fragpool.commands._tcpdump import Clock, Dissector
from fragpool.io.files import open_dump, open_offline
from fragpool.skb import kfree_skb_list

SAMPLE = Path(__file__).resolve().parents[2] / "fragpool" / "data" / "sample.pcap"


def both(skbs, tflag=0, quiet=False, absolute=False, nano=False) -> tuple[list, list]:
    """The lines of the LineWriter and of the Dissector (each with its own state)."""
    chunks: list[bytes] = []
    sink = lambda view: chunks.append(bytes(view))  # noqa: E731 - copied: the buffer is reused
    fast = LineWriter(sink, Clock(tflag, nano), Dissector(quiet=quiet, absolute=absolute))
    clock, dis = Clock(tflag, nano), Dissector(quiet=quiet, absolute=absolute)
    want = []
    for skb in skbs:
        fast.write(skb)
        want.append(clock.stamp(skb.tstamp) + dis.line(bytes(skb), skb.linktype, skb.wire_len))
    fast.flush()
    # a line may hold several (the dump of an undecodable payload): split both alike
    got = b"".join(chunks).decode().split("\n")
    assert got.pop() == ""
    return got, "\n".join(want).split("\n")


def read(path_or_file) -> list:
    with open_offline(path_or_file) as reader:
        skbs = []
        while batch := reader.read_batch(256):
            skbs.extend(batch)
    return skbs


def corpus_files(tmp_path_factory) -> list[Path]:
    files = [SAMPLE, write_corpus(tmp_path_factory.mktemp("c") / "corpus.pcap")]
    files += sorted(CONFORMANCE.glob("output_*/*.pcapng"))
    return files


@pytest.mark.parametrize(
    "opts",
    [{}, {"quiet": True}, {"absolute": True}, {"tflag": 2}, {"tflag": 3}, {"nano": True}],
    ids=["default", "-q", "-S", "-tt", "-ttt", "--nano"],
)
def test_the_corpora_print_the_same(opts, tmp_path_factory):
    for path in corpus_files(tmp_path_factory):
        skbs = read(path)
        try:
            got, want = both(skbs, **opts)
        finally:
            kfree_skb_list(skbs)
        assert got == want, path


# -- generated headers --------------------------------------------------------------------

u8, u16, u32 = (st.integers(0, 2**b - 1) for b in (8, 16, 32))


tcp_option = st.one_of(
    st.builds(lambda v: struct.pack("!BBH", 2, 4, v), u16),  # mss
    st.builds(lambda v: bytes([3, 3, v]), u8),  # wscale
    st.just(bytes([4, 2])),  # sackOK
    st.builds(  # sack: blocks near the numbers the generated segments carry
        lambda blocks: (
            bytes([5, 2 + 8 * len(blocks)]) + b"".join(struct.pack("!II", a, b) for a, b in blocks)
        ),
        st.lists(st.tuples(st.integers(990, 1200), st.integers(990, 1200)), min_size=1, max_size=3),
    ),  # fmt: skip
    st.builds(lambda a, b: struct.pack("!BBII", 8, 10, a, b), u32, u32),  # TS
    st.just(b"\1"),
    st.just(b"\0"),
    st.binary(max_size=6),
)
#: few enough addresses and numbers that the generated segments form conversations
addr4 = st.sampled_from([b"\n\0\0\1", b"\n\0\0\2", b"\xc0\xa8\0\1"])
common_flags = st.sampled_from([0x02, 0x12, 0x10, 0x18])
seq_nums = st.sampled_from([1000, 1001, 1100, 5000, 5001, 0, 2**32 - 1])


@st.composite
def transport(draw, proto: int) -> bytes:
    if proto == 17:
        return struct.pack("!HHHH", draw(u16), draw(u16), draw(st.integers(0, 70)), 0)
    if proto == 6:
        opts = b"".join(draw(st.lists(tcp_option, max_size=4)))[:40]
        opts += bytes(-len(opts) % 4 if draw(st.booleans()) else 0)
        words = draw(st.integers(0, 15))
        head = struct.pack("!HHIIBBHHH", draw(st.sampled_from([80, 80, 443, draw(u16)])),
                           draw(st.sampled_from([5000, draw(u16)])), draw(st.one_of(seq_nums, u32)),
                           draw(st.one_of(seq_nums, u32)),
                           words << 4, draw(st.one_of(common_flags, u8)),
                           draw(u16), 0, draw(u16))  # fmt: skip
        if draw(st.booleans()):  # the header length its options make
            head = head[:12] + bytes([(5 + len(opts) // 4) << 4]) + head[13:]
        return head + opts
    if proto in (1, 58):
        return bytes([draw(st.sampled_from([0, 8, 3, 128, 129, draw(u8)])), draw(u8)]) + (
            draw(st.binary(min_size=2, max_size=30))
        )
    return draw(st.binary(max_size=20))


@st.composite
def ip_packet(draw) -> bytes:
    proto = draw(st.sampled_from([6, 6, 6, 17, 17, 1, 58, 0, 43, 44, draw(u8)]))
    body = draw(transport(proto)) + draw(st.binary(max_size=30))
    if draw(st.booleans()):
        ihl = draw(st.sampled_from([5, 5, 5, 5, 6, draw(st.integers(0, 15))]))
        opts = bytes(4 * max(ihl - 5, 0))
        total = 4 * ihl + len(body)
        total = draw(st.sampled_from([total] * 4 + [draw(u16)]))
        frag = draw(st.sampled_from([0, 0, 0, 0, 0x2000, draw(u16)]))
        src, dst = draw(st.one_of(addr4, st.binary(min_size=4, max_size=4))), draw(addr4)
        head = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 1, frag, 64,
                           proto if proto != 58 else 1, 0, src, dst)  # fmt: skip
        return head + opts + body
    plen = draw(st.sampled_from([len(body)] * 4 + [draw(u16)]))
    addrs = draw(st.sampled_from([bytes(15) + b"\1", b"\xfe\x80" + bytes(13) + b"\1",
                                  draw(st.binary(min_size=16, max_size=16))]))  # fmt: skip
    head = struct.pack("!IHBB", 0x60000000, plen, proto, 64)
    return head + addrs + draw(st.binary(min_size=16, max_size=16)) + body


@st.composite
def frame(draw) -> tuple[int, bytes, int]:
    ip = draw(ip_packet())
    linktype = draw(st.sampled_from([1, 1, 1, 101, 228, 229]))
    if linktype == 1:
        etype = 0x0800 if ip[0] >> 4 == 4 else 0x86DD
        tags = b"".join(
            struct.pack("!HH", draw(u16), t)
            for t in draw(st.lists(st.sampled_from([0x8100, 0x88A8]), max_size=2))
        )
        if tags:
            first = draw(st.sampled_from([0x8100, 0x88A8, 0x9100]))
            data = bytes(6) + b"\2" * 6 + struct.pack("!H", first) + tags[2:]
            data += struct.pack("!H", etype) + ip
        else:
            data = bytes(6) + b"\2" * 6 + struct.pack("!H", draw(st.sampled_from(
                [etype, etype, 0x0806, draw(u16)]))) + ip  # fmt: skip
    else:
        data = ip
    cut = draw(st.integers(0, len(data)))
    data = data[: draw(st.sampled_from([len(data)] * 4 + [cut]))]
    wire = len(data) + draw(st.sampled_from([0, 0, draw(st.integers(0, 100))]))
    return linktype, data, wire


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(frame(), min_size=1, max_size=12), quiet=st.booleans(),
       absolute=st.booleans(), tflag=st.sampled_from([0, 0, 2, 5]))  # fmt: skip
def test_generated_packets_print_the_same(frames, quiet, absolute, tflag):
    got, want = lines_of(frames, quiet, absolute, tflag)
    assert got == want


def lines_of(frames, quiet: bool, absolute: bool, tflag: int) -> tuple[list, list]:
    """The two paths' lines for generated (linktype, data, wire_len) frames."""
    skbs = []
    for i, (linktype, data, wire) in enumerate(frames):
        buf = io.BytesIO()
        with open_dump(buf, linktype, format="pcapng") as w:
            w.write_packet(data, 1_700_000_000_123_456_789 + i * 1_000_003, wire)
        buf.seek(0)
        skbs += read(buf)
    try:
        return both(skbs, tflag=tflag, quiet=quiet, absolute=absolute)
    finally:
        kfree_skb_list(skbs)


@st.composite
def segment(draw) -> tuple[int, bytes, int]:
    """One valid TCP segment of a single conversation, in either direction, IPv4 or IPv6."""
    back = draw(st.booleans())
    v6 = draw(st.booleans())
    opts = b"".join(draw(st.lists(tcp_option, max_size=3)))[:40]
    opts += bytes(-len(opts) % 4)
    payload = bytes(draw(st.sampled_from([0, 0, 1, 100])))
    ports = (80, 5000) if back else (5000, 80)
    flags = draw(st.sampled_from([0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x30]))
    t = struct.pack("!HHIIBBHHH", *ports, draw(seq_nums), draw(seq_nums),
                    (5 + len(opts) // 4) << 4, flags, 512, 0, 7) + opts + payload  # fmt: skip
    if v6:
        a, b = bytes(15) + b"\1", bytes(15) + b"\2"
        a, b = (b, a) if back else (a, b)
        ip = struct.pack("!IHBB", 0x60000000, len(t), 6, 64) + a + b + t
        data = bytes(12) + b"\x86\xdd" + ip
    else:
        a, b = (b"\n\0\0\2", b"\n\0\0\1") if back else (b"\n\0\0\1", b"\n\0\0\2")
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(t), 1, 0, 64, 6, 0, a, b) + t
        data = bytes(12) + b"\x08\x00" + ip
    return 1, data, len(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(segment(), min_size=2, max_size=10), quiet=st.booleans(),
       absolute=st.booleans())  # fmt: skip
def test_generated_conversations_print_the_same(frames, quiet, absolute):
    got, want = lines_of(frames, quiet, absolute, 0)
    assert got == want


def test_a_conversation_keeps_its_relative_numbers_across_both_paths():
    """A TCP conversation whose packets take both paths (one whose IP length claims more
    than the wire carried: the Dissector prints its truncated-ip line) keeps one set of
    initial sequence numbers."""

    def tcp(seq: int, ack: int, flags: int, missing: int = 0) -> bytes:
        opts = bytes([1, 1, 8, 10]) + bytes(8)
        t = struct.pack("!HHIIBBHHH", 5000, 80, seq, ack, (5 + len(opts) // 4) << 4, flags,
                        512, 0, 0) + opts + bytes(100 if flags & 0x08 else 0)  # fmt: skip
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(t) + missing, 1, 0, 64, 6, 0,
                         b"\n\0\0\1", b"\n\0\0\2") + t  # fmt: skip
        return bytes(12) + b"\x08\x00" + ip

    frames = [tcp(1000, 0, 0x02), tcp(1001, 5001, 0x10), tcp(1001, 5001, 0x18, 10),
              tcp(1101, 5001, 0x18)]  # fmt: skip
    buf = io.BytesIO()
    with open_dump(buf, 1, format="pcapng") as w:
        for i, data in enumerate(frames):
            w.write_packet(data, 1_700_000_000_000_000_000 + i, len(data))
    buf.seek(0)
    skbs = read(buf)
    try:
        got, want = both(skbs)
    finally:
        kfree_skb_list(skbs)
    assert got == want
    assert "truncated-ip - 10 bytes missing!" in got[2] and "seq 0:110, ack 1," in got[2]
    assert "seq 100:200, ack 1," in got[3]
