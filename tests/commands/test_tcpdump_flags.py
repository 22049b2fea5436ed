"""tcpdump's remaining habits in `fragpool capture`, each against tcpdump where it runs:
the stderr header line, --count, -F, --print, --json streamed and --json-lines, the
capture's own usage for a flag it does not know, -s 0, -B, -i any."""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from captures_util import need_tool, read_all, slow_writer
from filter_corpus import write_corpus

from fragpool.commands._live_capture import live_options

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "fragpool" / "data" / "sample.pcap"
CAPTURE = [sys.executable, "-m", "fragpool", "capture"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Packets of every protocol fragpool decodes (the sample has HTTP, which tcpdump
    decodes and fragpool does not: its lines are compared with -q only)."""
    return write_corpus(tmp_path_factory.mktemp("corpus") / "corpus.pcap")


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([*CAPTURE, *args], capture_output=True, text=True, timeout=120,
                          env=env, **kw)  # fmt: skip


def tcpdump(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([need_tool("tcpdump"), *args], capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip


def test_the_header_line_on_stderr_is_tcpdumps():
    ours = run("-r", str(SAMPLE), "-c", "1", "-n")
    theirs = tcpdump("-n", "-c", "1", "-r", str(SAMPLE))  # an ARP request: no HTTP
    assert ours.returncode == 0
    assert ours.stderr.splitlines()[0] == theirs.stderr.splitlines()[0]
    assert ours.stderr.startswith("reading from file ")
    assert ours.stdout == theirs.stdout  # and the line itself


@pytest.mark.parametrize("expr", [(), ("udp",), ("tcp", "and", "port", "80")])
def test_count_prints_what_tcpdump_counts(expr):
    ours = run("--count", "-r", str(SAMPLE), *expr)
    theirs = tcpdump("--count", "-r", str(SAMPLE), *expr)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout and ours.stdout.endswith(" packets\n")


def test_a_filter_from_a_file_is_the_same_filter(tmp_path, corpus):
    path = tmp_path / "filter"
    path.write_text("# tcp only\ntcp and\n  not port 7   # no echo\n")
    from_file = run("-r", str(corpus), "-n", "-F", str(path))
    inline = run("-r", str(corpus), "-n", "tcp", "and", "not", "port", "7")
    theirs = tcpdump("-n", "-r", str(corpus), "-F", str(path))
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout == inline.stdout == theirs.stdout and from_file.stdout
    both = run("-r", str(SAMPLE), "-F", str(path), "udp")
    assert both.returncode == 2 and "give the filter once" in both.stderr
    missing = run("-r", str(SAMPLE), "-F", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "nope" in missing.stderr


def test_print_with_w_writes_the_file_and_prints_the_lines(tmp_path, corpus):
    out = tmp_path / "out.pcap"
    proc = run("-r", str(corpus), "-n", "-c", "5", "-w", str(out), "--print")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == tcpdump("-n", "-c", "5", "-r", str(corpus)).stdout
    assert len(read_all(out)) == 5


def test_nano_writes_nanosecond_pcap_and_micro_is_the_default(tmp_path):
    micro, nano = tmp_path / "u.pcap", tmp_path / "n.pcap"
    assert run("-r", str(SAMPLE), "-c", "3", "-w", str(micro)).returncode == 0
    assert run("-r", str(SAMPLE), "-c", "3", "-w", str(nano), "--nano").returncode == 0
    assert micro.read_bytes()[:4] == bytes.fromhex("d4c3b2a1")  # tcpdump's: microseconds
    assert nano.read_bytes()[:4] == bytes.fromhex("4d3cb2a1")
    lines = tcpdump("-n", "--nano", "-r", str(nano)).stdout
    assert lines == tcpdump("-n", "--nano", "-r", str(micro)).stdout


def test_json_is_one_document_and_json_lines_one_object_a_packet():
    doc = run("-r", str(SAMPLE), "-c", "7", "--json", "udp")
    assert doc.returncode == 0, doc.stderr
    parsed = json.loads(doc.stdout)
    assert parsed["packets"] == 7 and len(parsed["records"]) == 7
    assert [r["n"] for r in parsed["records"]] == list(range(1, 8))
    lines = run("-r", str(SAMPLE), "-c", "7", "--json-lines", "udp")
    rows = [json.loads(line) for line in lines.stdout.splitlines()]
    assert rows[:-1] == parsed["records"]
    assert rows[-1]["summary"]["packets"] == 7 and rows[-1]["summary"]["source"] == str(SAMPLE)


@pytest.mark.parametrize("flag", ["--json", "--json-lines"])
def test_json_is_written_as_the_packets_come(flag):
    """The first record is on stdout while the input is still coming: nothing is held."""
    writer = subprocess.Popen(slow_writer(6, 0.5), stdout=subprocess.PIPE)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([*CAPTURE, "-r", "-", flag], stdin=writer.stdout,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)  # fmt: skip
    writer.stdout.close()
    try:
        first = ""
        deadline = time.monotonic() + 2.5  # the input takes 3 s to come
        while '"n": 1' not in first and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], deadline - time.monotonic())
            if ready:
                first += os.read(proc.stdout.fileno(), 65536).decode()
        assert '"n": 1' in first and writer.poll() is None, "no record before the input ended"
        rest = proc.communicate(timeout=30)[0].decode()
    finally:
        writer.kill()
        proc.kill()
    text = first + rest
    if flag == "--json":
        assert len(json.loads(text)["records"]) == 6
    else:
        assert len(text.splitlines()) == 7


def test_an_unknown_flag_prints_captures_usage():
    proc = run("-r", str(SAMPLE), "--no-such-flag")
    assert proc.returncode == 2
    assert "usage: fragpool capture (-r FILE | -i IF | -D)" in proc.stderr
    assert "unrecognized arguments: --no-such-flag" in proc.stderr


def _live_args(**kw) -> argparse.Namespace:
    base = dict(interface="eth9", mode="tpacket_v3", promisc=False, no_promisc=False,
                snaplen=None, buffer_kib=None, direction=None)  # fmt: skip
    return argparse.Namespace(**{**base, **kw})


def test_live_options_are_tcpdumps():
    assert live_options(_live_args(), None)["promisc"] is True  # tcpdump's default
    assert live_options(_live_args(no_promisc=True), None)["promisc"] is False  # -p
    assert live_options(_live_args(mode="af_xdp"), None)["promisc"] is None  # as set
    assert live_options(_live_args(snaplen=0), None)["snaplen"] == 0  # open_live: 262144
    assert live_options(_live_args(buffer_kib=4096), None)["block_nr"] == 4
    assert live_options(_live_args(mode="recvmmsg", buffer_kib=4096), None)["rcvbuf"] == 4 << 20
    assert live_options(_live_args(direction="in"), None)["ignore_outgoing"] is True
    for bad, why in [
        (dict(interface="any"), "-i any"),
        (dict(promisc=True, no_promisc=True), "contradict"),
        (dict(snaplen=-1), "-s -1"),
        (dict(buffer_kib=0), "-B 0"),
        (dict(mode="af_xdp", buffer_kib=64), "UMEM"),
        (dict(mode="af_xdp", direction="out"), "no outgoing"),
    ]:
        message = live_options(_live_args(**bad), None)
        assert isinstance(message, str) and why in message, (bad, message)


def test_i_any_is_refused_with_what_to_do_instead():
    proc = run("-i", "any", "-c", "1")
    assert proc.returncode == 2 and "-i any" in proc.stderr and "-D lists them" in proc.stderr


def test_a_list_of_files_is_refused_with_what_to_do_instead(tmp_path):
    listing = tmp_path / "files"
    listing.write_text(f"{SAMPLE}\n")
    proc = run("-V", str(listing))
    assert proc.returncode == 2 and "once per file" in proc.stderr and "mergecap" in proc.stderr
