"""Offline checks of the live-capture pieces: filters, VLAN re-insertion, fixtures, CI hook."""

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

TESTS = Path(__file__).resolve().parents[2]  # the tests folder, home of conftest.py


def test_compile_filter_ends_in_snaplen_and_drop():
    prog = bpf.compile_filter("udp port 9999", snaplen=1234)
    assert prog.insns[-2:] == ((6, 0, 0, 1234), (6, 0, 0, 0))
    assert prog.source == "udp port 9999" and prog.linktype == 1


def test_compile_filter_is_libpcaps_not_tcpdumps(monkeypatch):
    # no subprocess: with tcpdump hidden from PATH the filter still compiles
    monkeypatch.setenv("PATH", "/nonexistent")
    assert len(bpf.compile_filter("tcp", linktype="RAW")) > 1


def test_bad_filter_quotes_libpcap():
    with pytest.raises(FilterError, match="does not compile: .*syntax error") as ei:
        bpf.compile_filter("udp prot 9999")
    assert isinstance(ei.value, ValueError)


def test_filter_argument_checks():
    with pytest.raises(FilterError, match="is a str"):
        bpf.compile_filter(None)  # type: ignore[arg-type]
    with pytest.raises(FilterError, match="snaplen"):
        bpf.compile_filter("udp", snaplen=0)
    with pytest.raises(FilterError, match="no link type named"):
        bpf.compile_filter("udp", linktype="NOSUCHLINK")
    with pytest.raises(LiveCaptureError, match="no such network interface"):
        bpf.linktype_for("fpnosuch2")


def test_accept_all_and_match_nothing():
    assert bpf.accept_all(96).insns == ((6, 0, 0, 96),)
    assert bpf.match_nothing().insns == ((6, 0, 0, 0),)


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
