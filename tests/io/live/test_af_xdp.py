"""open_live(mode="af_xdp") over a veth pair in the test's own namespace.

Native XDP on veth needs the peer's MTU at most ~3506, so the native runs use a 1500-MTU
pair; the 9000-MTU pair is where jumbo frames arrive as multi-buffer skbs (auto mode falls
back to generic there by itself). Every test checks that the program is gone afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from netns import (
    BROADCAST,
    collect,
    finish,
    free_all,
    known_frames,
    start_attached,
    trafgen_send,
    vlan_frame,
    xdp_attached,
)

from fragpool.io.files.reader import open_offline
from fragpool.io.live.capture import open_live

live = pytest.mark.live
MULTICAST = bytes.fromhex("01005e000001")


@pytest.fixture
def opened():
    """open_live(mode="af_xdp"); afterwards: closed clean and no program left."""
    caps = []

    def _open(ifname: str, **kw):
        cap = open_live(ifname, mode="af_xdp", **kw)
        caps.append(cap)
        return cap

    yield _open
    for cap in caps:
        report = cap.close()
        assert report.clean, f"chunks still held at close: {report}"
        assert not xdp_attached(cap.ifname), "an XDP program is still attached"


def mix() -> list[bytes]:
    """Minimum and IMIX sizes, VLAN-tagged, broadcast and multicast frames."""
    frames = known_frames((60, 64, 128, 576, 1000, 1514))
    frames += [vlan_frame(7, 0x0064), vlan_frame(8, 0x3FFF, tpid=0x88A8, size=1400)]
    frames += known_frames((60, 300), dst=BROADCAST) + known_frames((90, 1200), dst=MULTICAST)
    return frames


@live
@pytest.mark.parametrize("xdp_mode", ["native", "generic"])
def test_a_mix_arrives_byte_exact(veth1500, opened, xdp_mode):
    frames = mix()
    cap = opened(veth1500.local, xdp_mode=xdp_mode)
    assert xdp_attached(veth1500.local)
    t0 = time.time_ns()
    trafgen_send(veth1500, frames)
    got = collect(cap, len(frames))
    try:
        assert [bytes(s) for s in got] == frames
        for skb, fr in zip(got, frames, strict=True):
            assert skb.len == skb.wire_len == len(fr) and not skb.frags
            assert skb.ifindex == cap.ifindex and skb.linktype == 1
            assert t0 <= skb.tstamp <= time.time_ns()
        st = cap.stats()
        assert st["xdp_mode"] == xdp_mode and st["zerocopy"] is False  # veth: copy mode
        assert st["packets"] == len(frames) and st["drops"] == 0
        for name in ("rx_dropped", "rx_invalid_descs", "rx_ring_full", "rx_fill_ring_empty_descs"):
            assert st[name] == 0
        assert st["chunks_held"] == len(frames)
    finally:
        free_all(got)
    assert cap.stats()["chunks_held"] == 0  # every chunk back in the fill ring or free


@live
def test_half_page_chunks(veth1500, opened):
    frames = mix()
    cap = opened(veth1500.local, frame_size=2048, frames=256)
    trafgen_send(veth1500, frames)
    got = collect(cap, len(frames))
    try:
        assert [bytes(s) for s in got] == frames and not any(s.frags for s in got)
        heads = {s.head & ~2047 for s in got}
        assert len(heads) == len(frames)  # a chunk each, two to a page
        assert len({h & ~4095 for h in heads}) < len(frames)
    finally:
        free_all(got[::2])  # one half of each page first: the other half keeps it
        assert cap.stats()["chunks_held"] > 0
        free_all(got[1::2])
    assert cap.stats()["chunks_held"] == 0


@live
def test_auto_takes_native_where_it_can(veth1500, opened):
    cap = opened(veth1500.local)
    assert cap.stats()["xdp_mode"] == "native" and cap.fallback is None


@live
@pytest.mark.parametrize("xdp_mode", ["generic", "auto"])
def test_jumbo_frames_arrive_as_multi_buffer_skbs(veth, opened, xdp_mode):
    cap = opened(veth.local, xdp_mode=xdp_mode)  # MTU 9000: XDP_USE_SG and a frags program
    st = cap.stats()
    # this kernel's veth takes a frags-aware program natively even at MTU 9000
    assert st["xdp_mode"] == ("generic" if xdp_mode == "generic" else "native")
    assert st["multi_buffer"]
    frames = known_frames((60, 4000, 8000, 9014)) + [vlan_frame(9, 0x10, size=9000)]
    trafgen_send(veth, frames)
    got = collect(cap, len(frames))
    try:
        assert [bytes(s) for s in got] == frames
        assert [len(s.frags) for s in got][0] == 0
        for skb in got[1:]:
            assert skb.frags and skb.len == skb.wire_len
            assert skb.len - skb.data_len <= 4096 - 256  # the head is the first chunk
    finally:
        free_all(got)


@live
def test_auto_falls_back_to_generic_when_native_refuses(veth, opened):
    # without multi-buffer, native veth XDP refuses a peer MTU of 9000 (ERANGE)
    cap = opened(veth.local, multi_buffer=False)
    st = cap.stats()
    assert st["xdp_mode"] == "generic" and not st["multi_buffer"]
    assert "native XDP refused" in cap.fallback and "range" in cap.fallback
    frames = known_frames((1514, 4000, 100))
    trafgen_send(veth, frames)
    got = collect(cap, 2)
    try:
        assert [bytes(s) for s in got] == [frames[0], frames[2]]
        assert cap.stats()["rx_dropped"] == 1  # one chunk cannot hold it: the kernel drops it
    finally:
        free_all(got)


@live
def test_filter_runs_in_the_interpreter(veth1500, opened):
    frames = mix()
    cap = opened(veth1500.local, filter="ether broadcast or ether multicast")
    trafgen_send(veth1500, frames)
    want = [f for f in frames if f[0] & 1]
    got = collect(cap, len(want))
    try:
        assert [bytes(s) for s in got] == want
        assert cap.recv_batch(64, 0.2) == []
        st = cap.stats()
        assert st["filter_dropped"] == len(frames) - len(want)
    finally:
        free_all(got)


@live
def test_held_skbs_do_not_stall_the_queue(veth1500, opened):
    cap = opened(veth1500.local, frames=64, copybreak_at=16)
    frames = known_frames(tuple(60 + i for i in range(200)))
    proc = trafgen_send(veth1500, frames, gap_us=200, wait=False)
    got = collect(cap, len(frames), timeout=15)
    finish(proc)
    try:
        assert [bytes(s) for s in got] == frames  # held all along, none lost
        st = cap.stats()
        assert st["copybreak_skbs"] >= len(frames) - 64
        assert st["chunks_held"] <= 64 and st["drops"] == 0
    finally:
        free_all(got)


@live
def test_skbs_outlive_close(veth1500):
    cap = open_live(veth1500.local, mode="af_xdp")
    frames = known_frames((100, 200))
    trafgen_send(veth1500, frames)
    got = collect(cap, 2)
    report = cap.close()
    assert not report.clean and report.chunks_in_flight == 2
    assert not xdp_attached(veth1500.local)
    assert [bytes(s) for s in got] == frames  # the UMEM stays mapped for them
    free_all(got)
    assert cap.umem.in_use_pages() == 0


_CAPTURER = """
import sys
from fragpool.io.live.capture import open_live
cap = open_live(sys.argv[1], mode="af_xdp", xdp_mode=sys.argv[2])
print("ready", flush=True)
for skb in cap:
    skb.free()
"""


@live
@pytest.mark.parametrize("xdp_mode", ["native", "generic"])
def test_no_program_remains_after_sigkill(veth1500, xdp_mode):
    proc = subprocess.Popen(
        [sys.executable, "-c", _CAPTURER, veth1500.local, xdp_mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        assert xdp_attached(veth1500.local)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    deadline = time.monotonic() + 5
    while xdp_attached(veth1500.local) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not xdp_attached(veth1500.local)


@live
def test_capture_command_takes_af_xdp(veth1500, tmp_path):
    out = tmp_path / "xdp.pcap"
    frames = mix()
    args = ("capture", "-i", veth1500.local, "--mode", "af_xdp", "-c", str(len(frames)))
    proc = start_attached(veth1500.local, *args, "-w", str(out))
    trafgen_send(veth1500, frames)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    with open_offline(out) as reader:
        assert [bytes(s) for s in reader] == frames
    assert not xdp_attached(veth1500.local)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="xdp_mode"):
        open_live("lo", mode="af_xdp", xdp_mode="fast")
    with pytest.raises(ValueError, match="frame_size 3000"):
        open_live("lo", mode="af_xdp", frame_size=3000)
    with pytest.raises(ValueError, match="promisc"):
        open_live("lo", mode="af_xdp", promisc=True)
    with pytest.raises(ValueError, match="fanout"):
        open_live("lo", mode="af_xdp", fanout=(1, "hash"))
