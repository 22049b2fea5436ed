"""Offline checks of the live-capture pieces: BPF parsing, VLAN re-insertion, fixtures, CI hook."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from netns import frame_seq, known_frames, trafgen_config, udp_frame, udp_seq, vlan_frame

from fragpool.io.live import socket_filter as bpf
from fragpool.io.live.errors import FilterError
from fragpool.io.live.if_packet import TP_STATUS_VLAN_TPID_VALID, TP_STATUS_VLAN_VALID
from fragpool.io.live.packet_socket import LiveCaptureError, reinsert_vlan, vlan_of

needs_tcpdump = pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump not installed")

TESTS = Path(__file__).resolve().parents[2]  # the tests folder, home of conftest.py


def test_parse_dd_reads_tcpdump_output():
    text = "{ 0x28, 0, 0, 0x0000000c },\n{ 0x15, 0, 1, 0x00000800 },\n{ 0x6, 0, 0, 0x00040000 },\n"
    assert bpf.parse_dd(text) == ((0x28, 0, 0, 12), (0x15, 0, 1, 0x800), (6, 0, 0, 0x40000))


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "no instructions"),
        ("{ 0x28, 0, 0 },", "unexpected line"),
        ("{ 0x1ffff, 0, 0, 0 }", "range"),
    ],
)
def test_parse_dd_rejects_malformed(text, match):
    with pytest.raises(FilterError, match=match):
        bpf.parse_dd(text)


@needs_tcpdump
def test_compile_filter_ends_in_snaplen_and_drop():
    insns = bpf.compile_filter("udp port 9999", snaplen=1234)
    assert insns[-2:] == ((6, 0, 0, 1234), (6, 0, 0, 0))
    assert all(len(i) == 4 for i in insns)


@needs_tcpdump
def test_bad_filter_quotes_tcpdump():
    with pytest.raises(FilterError, match="does not compile: tcpdump: .*syntax error") as ei:
        bpf.compile_filter("udp prot 9999")
    assert isinstance(ei.value, ValueError) and isinstance(ei.value, LiveCaptureError)


def test_missing_tcpdump_is_named(monkeypatch):
    monkeypatch.setattr(bpf.shutil, "which", lambda *a, **k: None)
    with pytest.raises(FilterError, match="tcpdump not found"):
        bpf.compile_filter("udp")


def test_filter_argument_checks():
    with pytest.raises(FilterError, match="must be a str"):
        bpf.compile_filter(None)  # type: ignore[arg-type]
    with pytest.raises(FilterError, match="snaplen"):
        bpf.compile_filter("udp", snaplen=0)
    with pytest.raises(FilterError, match="no such network interface"):
        bpf.linktype_for("fpnosuch2")


def test_accept_all_and_match_nothing():
    assert bpf.accept_all(96) == ((6, 0, 0, 96),)
    assert bpf.MATCH_NOTHING == ((6, 0, 0, 0),)


def test_reinsert_vlan_in_place():
    wire = vlan_frame(3, 0xA123, size=90)
    stripped = wire[:12] + wire[16:]
    buf = bytearray(len(wire) + 10)
    buf[: len(stripped)] = stripped
    assert reinsert_vlan(memoryview(buf), len(stripped), 0xA123, 0x8100) == len(wire)
    assert bytes(buf[: len(wire)]) == wire


def test_reinsert_vlan_needs_room_and_a_header():
    with pytest.raises(LiveCaptureError, match="no room"):
        reinsert_vlan(memoryview(bytearray(64)), 64, 1, 0x8100)
    with pytest.raises(LiveCaptureError, match="too short"):
        reinsert_vlan(memoryview(bytearray(64)), 10, 1, 0x8100)


def test_vlan_of_reads_status_bits():
    assert vlan_of(0, 0, 0) == (0, 0)
    assert vlan_of(TP_STATUS_VLAN_VALID, 0, 0) == (0, 0x8100)  # VID 0, priority-tagged
    assert vlan_of(TP_STATUS_VLAN_VALID | TP_STATUS_VLAN_TPID_VALID, 5, 0x88A8) == (5, 0x88A8)
    assert vlan_of(0, 7, 0) == (7, 0x8100)  # old kernels: no VALID bit, tci != 0


def test_frame_helpers():
    frames = known_frames()
    assert [len(f) for f in frames][-1] == 9014
    assert [frame_seq(f) for f in frames] == list(range(len(frames)))
    f = udp_frame(1, 9999, 42, size=100)
    assert len(f) == 100 and udp_seq(f) == 42 and f[36:38] == b"\x27\x0f"
    assert frame_seq(vlan_frame(9, 1), tagged=True) == 9


def test_trafgen_config_is_one_block_per_frame():
    cfg = trafgen_config([b"\x01\x02", b"\xff"])
    assert cfg == "{ 0x01, 0x02 }\n{ 0xff }\n"


_HOOK_TEST = """
import pytest

@pytest.mark.live
def test_live_skip():
    pytest.skip("no root here")

def test_plain_skip():
    pytest.skip("not live")
"""


@pytest.mark.parametrize("ci", [True, False])
def test_ci_turns_live_skips_into_failures(tmp_path: Path, ci: bool):
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_hook.py").write_text(_HOOK_TEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    live: live\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    if ci:
        assert proc.returncode == 1, proc.stdout
        assert "1 failed, 1 skipped" in proc.stdout
        assert "skipped under CI=true" in proc.stdout
    else:
        assert proc.returncode == 0, proc.stdout
        assert "2 skipped" in proc.stdout
