"""Every packet block of the pcapng-test-generator suite, in both byte orders, against its
.txt description (block counts and order) and against what tshark reports per packet
(interface, timestamp, lengths, bytes). The suite lives in ../shared/captures: if it is
missing these tests fail, they never skip."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from captures_util import CONFORMANCE, read_all, tshark_packets

from fragpool.io.files.pcapng import PACKET_BLOCKS
from fragpool.io.files.reader import open_offline


def suite() -> list[Path]:
    return sorted(CONFORMANCE.glob("output_*/*/test*.pcapng"))


def test_suite_is_present():
    assert CONFORMANCE.is_dir(), f"conformance captures missing: {CONFORMANCE}"
    files = suite()
    assert len(files) >= 40, f"expected the whole suite under {CONFORMANCE}, found {len(files)}"
    assert {p.parent.parent.name for p in files} == {"output_le", "output_be"}


def describe(txt: Path) -> tuple[dict[str, int], list[str]]:
    """Block counts and the block sequence a testNNN.txt gives."""
    text = txt.read_text()
    counts = {m[1]: int(m[2]) for m in re.finditer(r"^\s+([A-Z]+): (\d+)$", text, re.M)}
    seq = re.search(r"^Block sequence: (.*)$", text, re.M)[1]
    return counts, [s.strip() for s in seq.split(",")]


@pytest.mark.parametrize(
    "path", suite() or [CONFORMANCE / "missing"], ids=lambda p: f"{p.parent.parent.name}/{p.name}"
)
def test_conformance_capture(path: Path):
    assert path.exists(), f"conformance capture missing: {path}"
    counts, sequence = describe(path.with_suffix(".txt"))
    got = read_all(path)
    with open_offline(path) as reader:
        for skb in reader:
            skb.free()
        stats = reader.stats()
        blocks = stats["blocks"]
        meta = [b.name for b in reader.fmt.metadata]
        idbs = [b for b in reader.fmt.metadata if b.name == "IDB"]
        orders = [sec["byteorder"] for sec in reader.fmt.sections]
    assert stats["format"] == "pcapng"
    assert blocks == counts
    assert meta == [name for name in sequence if name not in PACKET_BLOCKS]
    assert len(got) == sum(counts.get(name, 0) for name in PACKET_BLOCKS)

    expected = [p for p in tshark_packets(path) if p["iface"] is not None]
    assert len(expected) == len(got)
    for i, (mine, ref) in enumerate(zip(got, expected, strict=True)):
        where = f"{path.name} packet {i + 1}"
        idb = idbs[ref["iface"]] if ref["iface"] < len(idbs) else None
        # tshark numbers interfaces across sections; fragpool numbers them per section
        local = idb.options["interface"] if idb is not None else ref["iface"]
        assert mine["iface"] == local, where
        if idb is not None:
            linktype = int.from_bytes(idb.body[:2], orders[idb.section])
            assert mine["linktype"] == linktype, where
        assert mine["wire_len"] == ref["wire_len"], where
        assert mine["caplen"] == ref["caplen"], where
        assert mine["data"] == ref["data"], where
        if ref["tstamp"] is not None:
            assert mine["tstamp"] == ref["tstamp"], where
