"""Bad input: each damage raises CaptureFormatError naming file, offset, field and value,
after every good packet before it; strict=False skips and counts; a fuzz test mutates
valid captures and checks the reader never hangs and raises nothing else."""

from __future__ import annotations

import gzip
import struct

import pytest
from captures_util import pcapng_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fragpool.io.files.errors import CaptureFormatError
from fragpool.io.files.reader import open_offline

HDR = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def records(n: int, size: int = 60) -> bytes:
    return b"".join(
        struct.pack("<IIII", 1_700_000_000 + i, i, size, size) + bytes([i % 256]) * size
        for i in range(n)
    )


def read(path, strict=True):
    got, err = [], None
    try:
        with open_offline(path, strict=strict) as reader:
            for skb in reader:
                got.append(bytes(skb))
                skb.free()
            stats = reader.stats()
    except CaptureFormatError as e:
        err, stats = e, None
    return got, err, stats


def write(tmp_path, data: bytes, name="f.pcap"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("damage", "field", "offset"),
    [
        (lambda d: d[:-10], "caplen", 24 + 9 * 76 + 8),
        (lambda d: d[: 24 + 9 * 76 + 5], "record header", 24 + 9 * 76),
        (
            lambda d: d[: 24 + 9 * 76 + 8] + struct.pack("<I", 10**6) + d[24 + 9 * 76 + 12 :],
            "caplen",
            24 + 9 * 76 + 8,
        ),
    ],  # fmt: skip
)
def test_pcap_damage_after_good_packets(tmp_path, damage, field, offset):
    path = write(tmp_path, damage(HDR + records(10)))
    got, err, _ = read(path)
    assert len(got) == 9
    assert err is not None and err.field == field and err.offset == offset
    assert str(path) in str(err) and f"offset {offset}" in str(err)


@pytest.mark.parametrize(
    ("header", "field"),
    [
        (b"\x00\x01\x02\x03" + HDR[4:], "magic"),
        (HDR[:20] + struct.pack("<I", 0x00010001), "linktype"),
        (HDR[:4] + struct.pack("<HH", 3, 0) + HDR[8:], "version"),
    ],
)
def test_pcap_header_errors(tmp_path, header, field):
    with pytest.raises(CaptureFormatError) as info:
        open_offline(write(tmp_path, header + records(2)))
    assert info.value.field == field


def test_pcap_variants(tmp_path):
    # FCS bits, snaplen 0, version 2.2 with swapped lengths, big-endian nanoseconds, gzip
    fcs = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 2, 0, 0, 0, 1 | 0x04000000 | (2 << 28))
    rec = struct.pack("<IIII", 5, 6, 100, 60) + b"x" * 60  # 2.2: len, caplen the other way
    with open_offline(write(tmp_path, fcs + rec)) as r:
        (skb,) = list(r)
        assert (skb.len, skb.wire_len, r.fmt.fcs_len, r.snaplen) == (60, 100, 4, 262144)
        skb.free()
    be = struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 0, 1)
    be += struct.pack(">IIII", 7, 999_999_999, 3, 3) + b"abc"
    path = tmp_path / "be.pcap.gz"
    path.write_bytes(gzip.compress(be))
    with open_offline(path) as r:
        (skb,) = list(r)
        assert (skb.tstamp, bytes(skb)) == (7_999_999_999, b"abc")
        skb.free()
    mod = struct.pack("<IHHiIII", 0xA1B2CD34, 2, 4, 0, 0, 0, 1)
    mod += struct.pack("<IIIIiHBx", 1, 2, 2, 2, 7, 0x800, 4) + b"ab"
    with open_offline(write(tmp_path, mod)) as r:
        (skb,) = list(r)
        assert (skb.ifindex, skb.protocol, skb.pkt_type, bytes(skb)) == (7, 0x800, 4, b"ab")
        skb.free()


def test_lenient_skips_and_counts(tmp_path):
    data = HDR + records(5) + struct.pack("<IIII", 1, 1, 10**7, 10**7) + records(5)
    got, err, stats = read(write(tmp_path, data), strict=False)
    assert err is None and len(got) == 10
    assert stats["skipped_records"] == 1 and stats["skipped_bytes"] == 16


def ng(order="<", iface=0, tail=b""):
    pkts = [(iface, 1000 + i, 60, bytes([i]) * 60) for i in range(3)]
    return pcapng_file([{"order": order, "ifaces": [(1, 6, 0)], "packets": pkts}]) + tail


def test_pcapng_damage(tmp_path):
    good = ng()
    cases = {
        "interface id": ng(iface=1),
        "trailing block total length": good[:-4] + b"\x01\x00\x00\x00",
        "block total length": good[:-92] + struct.pack("<II", 6, 93) + good[-84:],
    }
    for field, data in cases.items():
        got, err, _ = read(write(tmp_path, data, "f.pcapng"))
        assert err is not None and err.field == field, (field, err)
    got, err, _ = read(write(tmp_path, good[:-20], "t.pcapng"))
    assert len(got) == 2 and err.field == "block total length"


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_a_cut_short_gzip_is_a_capture_format_error(tmp_path, keep):
    whole = gzip.compress(HDR + records(2000))
    path = write(tmp_path, whole[: int(len(whole) * keep)], "cut.pcap.gz")
    got, err, _ = read(path)
    assert isinstance(err, CaptureFormatError) and err.field == "gzip stream", err
    assert "cut short" in str(err) and str(path) in str(err)
    assert 0 < len(got) < 2000  # every whole record before the cut was handed out
    assert got == [bytes([i % 256]) * 60 for i in range(len(got))]
    assert err.offset >= 24 + 76 * len(got)
    lenient, err, stats = read(path, strict=False)  # the read ends there, said in stats
    assert err is None and lenient == got and "cut short" in stats["stream_damage"]


def test_a_huge_pcapng_block_is_refused_before_allocating(tmp_path):
    import resource
    import time

    good = ng()
    huge = good + struct.pack("<II", 6, 0xFFFFFFF0) + bytes(64)
    path = write(tmp_path, huge, "huge.pcapng")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    got, err, _ = read(path)
    assert time.monotonic() - t0 < 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 64 * 1024  # KiB
    assert err.field == "block total length" and err.value == 0xFFFFFFF0
    assert "16 MiB" in err.reason and err.offset == len(good) + 4
    assert len(got) == 3  # the packets before it


VALID = [HDR + records(40, 50), ng() + ng(">")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.sampled_from([0, 1]),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
    strict=st.booleans(),
)
def test_fuzz_mutated_captures(tmp_path_factory, which, edits, cut, strict):
    data = bytearray(VALID[which])
    first_change = len(data)
    for pos, value in edits:
        pos %= len(data)
        data[pos] = value
        first_change = min(first_change, pos)
    if cut is not None:
        cut %= len(data) + 1
        data = data[:cut]
        first_change = min(first_change, cut)
    path = tmp_path_factory.mktemp("fuzz") / ("f.pcapng" if which else "f.pcap")
    path.write_bytes(bytes(data))
    try:
        got, err, _ = read(path, strict=strict)
    except CaptureFormatError:
        return  # a damaged file header: nothing to deliver
    clean, _, _ = read(write(path.parent, VALID[which], "clean"))
    if strict:
        # every packet that lies wholly before the first damaged byte came out unchanged
        ends = ends_of(VALID[which], which)
        before = sum(1 for end in ends if end <= first_change)
        assert got[:before] == clean[:before]


def ends_of(data: bytes, pcapng: bool) -> list[int]:
    """Byte offset just past each packet record of a valid capture."""
    ends, pos = [], 0 if pcapng else 24
    while pos < len(data):
        if pcapng:
            btype, blen = struct.unpack_from("<II", data, pos)
            big_shb = btype == 0x0A0D0D0A and data[pos + 8 : pos + 12] == b"\x1a\x2b\x3c\x4d"[::-1]
            if big_shb or btype not in (0x0A0D0D0A, 1, 6):
                blen = struct.unpack_from(">I", data, pos + 4)[0]
            pos += blen
            if btype in (6, 0x06000000):
                ends.append(pos)
        else:
            pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
            ends.append(pos)
    return ends
