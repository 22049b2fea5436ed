"""open_offline's iteration styles mix without losing packets or pages."""

import itertools
from pathlib import Path

import fragpool
from fragpool.mm import PageAllocator

SAMPLE = Path(__file__).resolve().parents[3] / "fragpool" / "data" / "sample.pcap"


def _all_bytes() -> list[bytes]:
    pa = PageAllocator()
    out = []
    with fragpool.open_offline(SAMPLE, allocator=pa) as reader:
        for skb in reader:
            out.append(bytes(skb))
            skb.free()
    assert pa.in_use_pages() == 0
    return out


def test_repeated_islice_continues_where_it_stopped() -> None:
    expected = _all_bytes()
    pa = PageAllocator()
    got = []
    with fragpool.open_offline(SAMPLE, allocator=pa) as reader:
        while chunk := list(itertools.islice(reader, 64)):
            for skb in chunk:
                got.append(bytes(skb))
                skb.free()
    assert got == expected
    assert pa.in_use_pages() == 0


def test_for_loops_next_and_batches_share_one_stream() -> None:
    expected = _all_bytes()
    pa = PageAllocator()
    got = []

    def take(skb) -> None:
        got.append(bytes(skb))
        skb.free()

    with fragpool.open_offline(SAMPLE, allocator=pa) as reader:
        for i, skb in enumerate(reader):
            take(skb)
            if i == 99:
                break  # leaves the rest of the current buffer in the stream
        take(next(reader))
        for skb in reader.read_batch(37):
            take(skb)
        for skb in reader:
            take(skb)
    assert got == expected
    assert pa.in_use_pages() == 0


def test_close_mid_stream_frees_what_was_not_handed_out() -> None:
    pa = PageAllocator()
    reader = fragpool.open_offline(SAMPLE, allocator=pa)
    held = list(itertools.islice(reader, 10))
    reader.close()
    assert pa.in_use_pages() > 0  # the ten skbs still hold their page
    for skb in held:
        skb.free()
    assert pa.in_use_pages() == 0
