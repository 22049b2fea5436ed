"""The example driver on a real queue: RxDevice over XdpWire (AF_XDP) on a veth pair."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
from netns import CLI, known_frames, start_attached, trafgen_send, vlan_frame, xdp_attached

from fragpool.driver import RxDevice
from fragpool.driver.xdp_wire import XdpWire
from fragpool.mm import PageAllocator

live = pytest.mark.live
UMEM = 16 << 20


def run_device(
    pair, frames: list[bytes], gap_us: int | None = None, **kw
) -> tuple[list[bytes], list[int], RxDevice]:
    """Receive ``frames`` sent by trafgen on the far end; the bytes and frag counts seen.

    More frames than the ring holds need ``gap_us``: a NIC drops what finds no buffer.
    """
    got: list[bytes] = []
    nfrags: list[int] = []

    def handler(skb) -> None:
        got.append(bytes(skb))
        nfrags.append(len(skb.frags))
        skb.free()

    wire = XdpWire(pair.local, count=len(frames), **kw)
    dev = RxDevice(
        wire,
        rings=1,
        ring_size=64,
        legacy_rx=True,
        handler=handler,
        allocator=PageAllocator(arena_size=UMEM, budget=UMEM),
    )
    dev.open()
    assert xdp_attached(pair.local)
    sender = threading.Thread(target=trafgen_send, args=(pair, frames), kwargs={"gap_us": gap_us})
    sender.start()
    deadline = time.monotonic() + 20
    runner = threading.Thread(target=dev.run)
    runner.start()
    sender.join()
    while runner.is_alive() and time.monotonic() < deadline:
        runner.join(0.1)
    if runner.is_alive():
        wire.stop()
        runner.join()
    return got, nfrags, dev


@live
@pytest.mark.parametrize("xdp_mode", ["native", "generic"])
def test_frames_arrive_byte_exact_and_every_chunk_comes_back(veth1500, xdp_mode):
    frames = known_frames(tuple(60 + 37 * i for i in range(40)))  # 60 .. 1503 bytes
    frames += [vlan_frame(41, 0x64)] * 3
    got, nfrags, dev = run_device(veth1500, frames * 5, gap_us=300, xdp_mode=xdp_mode)
    try:
        assert got == frames * 5
        assert dev.wire.xdp_mode == xdp_mode
        total = dev.stats()["total"]
        assert total["flips"] > 0 and total["reuses"] > 0  # half-page flip and reuse
        assert total["copybreaks"] > 0  # small frames: all of it in the head
        assert any(nfrags)  # the rest as a page frag of its chunk (igb_construct_skb)
    finally:
        report = dev.teardown()
    assert report.clean and report.pages_in_flight == 0
    assert not xdp_attached(veth1500.local)


@live
def test_jumbo_frames_become_multi_buffer_skbs(veth):
    frames = known_frames((60, 3000, 9014)) + [vlan_frame(5, 0x20, size=7000)]
    got, nfrags, dev = run_device(veth, frames, xdp_mode="generic")
    try:
        assert got == frames
        assert nfrags[1] >= 2 and nfrags[2] >= 5  # a frag per 1792-byte chunk past the head
        assert dev.stats()["total"]["multi_buffer"] > 0
    finally:
        report = dev.teardown()
    assert report.clean and not xdp_attached(veth.local)


@live
def test_the_command_runs_over_veth_and_tears_down_clean(veth1500):
    frames = known_frames(tuple(60 + 11 * i for i in range(100)))
    args = ("driver", "-i", veth1500.local, "--xdp", "--rings", "1", "-c", str(len(frames)))
    proc = start_attached(veth1500.local, *args, "--json")
    trafgen_send(veth1500, frames)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    doc = json.loads(out)
    assert doc["total"]["packets"] == len(frames)
    assert doc["config"]["legacy_rx"] is True
    assert doc["teardown"]["clean"] and doc["teardown"]["line"] == "teardown: 0 pages in flight"
    assert not xdp_attached(veth1500.local)


def test_xdp_needs_an_interface():
    done = subprocess.run(
        [sys.executable, "-c", CLI, "driver", "--xdp"], capture_output=True, text=True
    )
    assert done.returncode == 1 and "--xdp drives an interface's queues" in done.stderr
