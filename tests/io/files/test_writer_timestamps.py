"""open_dump(...).write(data, ts) takes dpkt's and time.time()'s float seconds as well as
fragpool's int nanoseconds, and says what it wants when given anything else."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from fragpool.io.files.reader import open_offline
from fragpool.io.files.writer import open_dump

FRAME = bytes(range(60))


def _times(path) -> list[int]:
    with open_offline(path) as reader:
        skbs = list(reader)
        stamps = [s.tstamp for s in skbs]
        for s in skbs:
            s.free()
    return stamps


@pytest.mark.parametrize("nano", [False, True])
def test_float_seconds_and_int_nanoseconds_mean_the_same_time(tmp_path, nano):
    path = tmp_path / "t.pcap"
    with open_dump(path, nanosecond=nano) as w:
        w.write(FRAME, 1_700_000_000.25)  # float seconds
        w.write(FRAME, 1_700_000_000_250_000_000)  # int ns
        w.write(FRAME, Decimal("1700000000.000001"))
    first, second, third = _times(path)
    assert first == second == 1_700_000_000_250_000_000
    assert third == 1_700_000_000_000_001_000


@pytest.mark.parametrize(
    ("bad", "error", "words"),
    [
        ("12:00", TypeError, "ns since the epoch (int) or seconds (float), not str"),
        (float("nan"), ValueError, "finite"),
        (-1.0, ValueError, ">= 0"),
    ],
)
def test_a_bad_timestamp_is_named(tmp_path, bad, error, words):
    with open_dump(tmp_path / "t.pcap") as w, pytest.raises(error, match=re.escape(words)):
        w.write(FRAME, bad)


def test_pairs_gives_dpkts_ts_and_buf_and_frees_each_skb():
    from pathlib import Path

    from fragpool.mm import PageAllocator

    sample = Path(__file__).resolve().parents[3] / "fragpool" / "data" / "sample.pcap"
    pa = PageAllocator()
    with open_offline(sample, allocator=pa) as reader:
        pairs = list(reader.pairs())
    assert len(pairs) == 2500 and pa.in_use_pages() == 0
    ts, buf = pairs[1]
    assert isinstance(ts, float) and isinstance(buf, bytes)
    with open_offline(sample) as reader:
        skbs = list(reader)
        want = [(s.time, bytes(s)) for s in skbs]
        for s in skbs:
            s.free()
    assert pairs == want
    try:
        import dpkt
    except ImportError:
        return
    with open(sample, "rb") as f:
        theirs = [(ts, bytes(buf)) for ts, buf in dpkt.pcap.Reader(f)]
    assert [(round(t, 6), b) for t, b in pairs] == [(round(t, 6), b) for t, b in theirs]
