"""Live capture in asyncio: ``async with``, ``async for``, ``await arecv_batch``, in every
mode, with the loop free while it waits and nothing left registered after a cancel."""

from __future__ import annotations

import asyncio

import pytest
from netns import free_all, trafgen_send, udp_frame, udp_seq

from fragpool.io.live.capture import ALL_MODES, open_live

live = pytest.mark.live


class Ticker:
    """A task that wakes every millisecond: the gaps between its wakes show a blocked loop."""

    def __init__(self) -> None:
        self.ticks = 0
        self.worst = 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.001)
            now = loop.time()
            self.worst = max(self.worst, now - last)
            last = now
            self.ticks += 1


def _open(veth, mode):
    return open_live(veth.local, mode=mode)  # defaults: af_xdp's 4096 chunks hold the burst


@live
@pytest.mark.parametrize("mode", ALL_MODES)
def test_async_for_receives_a_burst_while_the_loop_keeps_running(veth1500, mode):
    n = 2000
    frames = [udp_frame(5000, 53, i, size=64) for i in range(n)]

    async def main() -> tuple[list[int], Ticker]:
        ticker = Ticker()
        async with _open(veth1500, mode) as cap:
            tick = asyncio.create_task(ticker.run())
            await asyncio.sleep(0.05)
            loop = asyncio.get_running_loop()
            sender = loop.run_in_executor(None, trafgen_send, veth1500, frames)
            seqs = []
            async for skb in cap.apackets(count=n, timeout=20):
                seqs.append(udp_seq(bytes(skb)))
                skb.free()
            await sender
            tick.cancel()
        return seqs, ticker

    seqs, ticker = asyncio.run(main())
    assert seqs == list(range(n))  # every frame, in order
    assert ticker.ticks > 0 and ticker.worst < 0.2, f"the loop stalled {ticker.worst:.3f} s"


@live
@pytest.mark.parametrize("mode", ALL_MODES)
def test_a_cancelled_wait_leaves_no_reader_and_the_capture_usable(veth1500, mode):
    async def main() -> list:
        loop = asyncio.get_running_loop()
        async with _open(veth1500, mode) as cap:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(cap.arecv_batch(64, None), 0.3)
            assert not loop.remove_reader(cap.fileno()), "a reader was left registered"
            assert await cap.arecv_batch(64, 0.2) == []  # a timeout is [] too
            trafgen_send(veth1500, [udp_frame(6000, 53, i, size=64) for i in range(5)])
            got: list = []
            while len(got) < 5:
                batch = await cap.arecv_batch(64, 5)
                assert batch, "frames sent after the cancel never came"
                got += batch
            seqs = [udp_seq(bytes(s)) for s in got]
            free_all(got)
            return seqs

    assert asyncio.run(main()) == list(range(5))


@live
def test_async_for_ends_at_its_timeout_and_idle(veth1500):
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        async with open_live(veth1500.local) as cap:
            t0 = loop.time()
            assert [s async for s in cap.apackets(timeout=0.3)] == []
            t1 = loop.time()
            assert [s async for s in cap.apackets(idle=0.3)] == []
            return t1 - t0, loop.time() - t1

    total, quiet = asyncio.run(main())
    assert 0.25 < total < 1.0 and 0.25 < quiet < 1.0
