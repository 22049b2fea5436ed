"""The example RX driver on a live veth: one AF_PACKET socket per ring in a fanout group."""

from __future__ import annotations

import pytest
from netns import finish, trafgen_send, udp_frame, udp_seq

from fragpool.driver import LiveWire, RxDevice
from fragpool.mm import current_napi

pytestmark = pytest.mark.live


@pytest.mark.parametrize("pool", ["frag", "page_pool"])
def test_live_fanout_rings_receive_every_frame_byte_exact(veth, pool: str) -> None:
    flows = 16
    frames = [
        udp_frame(5000 + i % flows, 53, i, size=(64, 300, 1514, 4000)[i % 4]) for i in range(400)
    ]
    got: dict[int, list[bytes]] = {}

    def handler(skb) -> None:
        got.setdefault(int(current_napi().name.split("-")[1]), []).append(bytes(skb))
        skb.free()

    wire = LiveWire(veth.local, count=len(frames), duration=20, rcvbuf=4 << 20)
    dev = RxDevice(wire, rings=3, ring_size=256, pool=pool, handler=handler)
    dev.open()
    sender = trafgen_send(veth, frames, gap_us=50, wait=False)
    dev.run()
    finish(sender)
    received = [f for ring in got.values() for f in ring]
    stats = dev.stats()
    assert len(received) == len(frames), (stats["total"], stats["wire"])
    assert sorted(received, key=udp_seq) == frames
    # PACKET_FANOUT hash keeps each flow on one ring, in order
    for ring_frames in got.values():
        seqs = [udp_seq(f) for f in ring_frames]
        assert seqs == sorted(seqs)
    owner = {}
    for ring, ring_frames in got.items():
        for f in ring_frames:
            assert owner.setdefault(f[34:36], ring) == ring
    assert len(got) > 1
    stats = dev.stats()
    assert stats["total"]["drops"] == 0 and stats["wire"]["kernel_drops"] == 0
    report = dev.teardown()
    assert report.clean and dev.pa.in_use_pages() == 0
