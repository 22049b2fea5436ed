"""`fragpool capture -r F EXPR -w out` keeps exactly what `tcpdump -r F -w ref EXPR` keeps.

On the scapy-made filter corpus (Ethernet, VLAN, IPv4/IPv6, TCP/UDP/ICMP/ARP, fragments,
extension headers), the bundled sample and every conformance capture tcpdump reads, for
each expression of filter_corpus.FILTERS, the two output files are byte-identical. On the
same runs fragpool's interpreter and libpcap's pcap_offline_filter agree on every packet.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from captures_util import CONFORMANCE, need_tool, read_all
from filter_corpus import FILTERS, write_corpus

from fragpool.cli import main
from fragpool.io import bpf

SAMPLE = Path(__file__).resolve().parents[2] / "fragpool" / "data" / "sample.pcap"


def tcpdump_reads(path: Path) -> bool:
    proc = subprocess.run([need_tool("tcpdump"), "-r", str(path)], capture_output=True, check=False)
    return proc.returncode == 0


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[Path]:
    corpus = write_corpus(tmp_path_factory.mktemp("corpus") / "corpus.pcap")
    conformance = sorted(CONFORMANCE.glob("output_*/*/*.pcapng"))
    readable = [p for p in conformance if tcpdump_reads(p)]
    assert len(readable) >= 10, "tcpdump reads fewer conformance captures than expected"
    return [corpus, SAMPLE, *readable]


def tcpdump_write(src: Path, out: Path, expr: str) -> None:
    # -Z root: as root tcpdump would drop to its own user, who cannot write pytest's tmp
    cmd = [need_tool("tcpdump"), "-Z", "root", "-r", str(src), "-w", str(out), expr]
    subprocess.run(cmd, capture_output=True, check=True, timeout=60)


@pytest.mark.parametrize("expr", FILTERS)
def test_capture_keeps_what_tcpdump_keeps(expr, inputs, tmp_path, capsys):
    kept_somewhere = False
    for i, src in enumerate(inputs):
        ours, ref = tmp_path / f"ours{i}.pcap", tmp_path / f"ref{i}.pcap"
        assert main(["capture", "-r", str(src), *expr.split(), "-w", str(ours)]) == 0, src
        tcpdump_write(src, ref, expr)
        assert ours.read_bytes() == ref.read_bytes(), f"{src}: {expr!r}"
        kept_somewhere |= ours.stat().st_size > 24
        # the same verdicts packet by packet, fragpool's interpreter against libpcap's
        for pkt in read_all(src):
            prog = bpf.compile(expr, pkt["linktype"])
            ours_v = bpf.filter_bytes(prog, pkt["data"], pkt["wire_len"])
            assert ours_v == bpf.offline_filter(prog, pkt["data"], pkt["wire_len"]), (src, expr)
    assert kept_somewhere
    capsys.readouterr()


def test_filter_as_trailing_words_or_option_is_one_filter(inputs, tmp_path):
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    assert main(["capture", "-r", str(SAMPLE), "udp", "and", "port", "80", "-w", str(a)]) == 0
    assert main(["capture", "-r", str(SAMPLE), "--filter", "udp and port 80", "-w", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes() and len(read_all(a)) > 0


def test_stats_count_what_the_filter_dropped(capsys):
    import json

    assert main(["capture", "-r", str(SAMPLE), "--json", "udp"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["packets"] == 768 == len(doc["records"])  # what tcpdump -r sample udp keeps
    assert doc["stats"]["filter_dropped"] == 2500 - 768


def test_open_offline_takes_the_same_filter():
    from fragpool import open_offline

    with open_offline(SAMPLE, filter="udp") as reader:
        n = sum(1 for skb in reader if skb.free() is None)
        assert n == 768 and reader.stats()["filter_dropped"] == 1732


def test_bad_filter_is_one_line_with_libpcaps_message(capsys):
    assert main(["capture", "-r", str(SAMPLE), "garbage", "(("]) == 1
    err = capsys.readouterr().err
    assert err == (
        "fragpool capture: filter 'garbage ((' does not compile: "
        "can't parse filter expression: syntax error\n"
    )
