"""A state machine that builds skbs from random fragments and checks every byte against a model.

Each live skb is paired with the bytes it must hold. Rules build skbs (netdev_alloc_skb and
put, or build_skb around a fragment), append frags carved from a PageFragCache (coalescing
when the new fragment continues the last frag), clone, copy, linearize, unclone, push, pull,
trim, read and free them in any order. After every step every live skb's bytes equal its
model; at teardown, with the caches drained, no page and no heap head is left in use.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fragpool.mm import PageAllocator, PageFragCache, netdev_frag_cache
from fragpool.skb import (
    SkbBoundsError,
    SkbStateError,
    build_skb,
    heap_heads,
    netdev_alloc_skb,
)

payload = st.binary(min_size=1, max_size=600)


class SkbMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pa = PageAllocator(arena_size=1 << 18)
        self.fc = PageFragCache(self.pa)
        self.heads = heap_heads.in_use()
        self.live: list[list] = []  # [skb, model bytes]

    def _pick(self, i: int) -> list:
        return self.live[i % len(self.live)]

    # ------------------------------------------------------------------ constructors
    @rule(data=st.binary(max_size=3000), extra=st.integers(0, 200))
    def new_netdev_skb(self, data: bytes, extra: int) -> None:
        skb = netdev_alloc_skb(len(data) + extra, allocator=self.pa)
        if data:
            skb.put(len(data))[:] = data
        self.live.append([skb, data])

    @rule(data=payload, size=st.sampled_from([512, 1024, 2048, 4096]))
    def new_build_skb(self, data: bytes, size: int) -> None:
        addr = self.fc.alloc(size)
        skb = build_skb(addr, size, allocator=self.pa)
        n = min(len(data), skb.tailroom())
        skb.put(n)[:] = data[:n]
        self.live.append([skb, data[:n]])

    # ------------------------------------------------------------------ frags
    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 1000), data=payload)
    def add_frag(self, i: int, data: bytes) -> None:
        entry = self._pick(i)
        skb = entry[0]
        addr = self.fc.alloc(len(data))
        self.pa.view(addr, len(data))[:] = data
        if skb.nr_frags:
            last, size = skb.frags[-1]
            if addr == last + size and (skb._shared is None or skb._shared.dataref == 1):
                skb.coalesce_rx_frag(skb.nr_frags - 1, len(data), len(data), addr=addr)
                entry[1] += data
                return
        try:
            skb.add_rx_frag(addr, len(data), len(data))
        except SkbStateError:  # frags shared with a clone
            assert skb._shared is not None and skb._shared.dataref > 1
            self.pa.frag_free(addr)
            return
        except SkbBoundsError:  # MAX_SKB_FRAGS
            assert skb.nr_frags == 17
            self.pa.frag_free(addr)
            return
        entry[1] += data

    # ------------------------------------------------------------------ sharing
    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 1000))
    def clone(self, i: int) -> None:
        skb, model = self._pick(i)
        self.live.append([skb.clone(), model])

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 1000))
    def copy(self, i: int) -> None:
        skb, model = self._pick(i)
        self.live.append([skb.copy(), model])

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 1000))
    def linearize(self, i: int) -> None:
        skb = self._pick(i)[0]
        skb.linearize()
        assert skb.nr_frags == 0 and skb.data_len == 0

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 1000))
    def unclone(self, i: int) -> None:
        skb = self._pick(i)[0]
        skb.unclone()
        assert not skb.cloned

    # ------------------------------------------------------------------ geometry
    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 1000), n=st.integers(0, 700))
    def pull(self, i: int, n: int) -> None:
        entry = self._pick(i)
        skb = entry[0]
        n %= skb.headlen + 2  # now and then exactly one past the linear part
        if n > skb.headlen:
            try:
                skb.pull(n)
            except SkbBoundsError:
                return
            raise AssertionError("pull past the linear part was accepted")
        skb.pull(n)
        entry[1] = entry[1][n:]

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 1000), n=st.integers(0, 4000))
    def trim(self, i: int, n: int) -> None:
        entry = self._pick(i)
        n %= len(entry[1]) + 2  # anywhere in the packet, or exactly at / past its end
        entry[0].trim(n)
        entry[1] = entry[1][:n]

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 1000), data=st.binary(min_size=1, max_size=80))
    def push(self, i: int, data: bytes) -> None:
        entry = self._pick(i)
        skb = entry[0]
        shared = skb._shared is not None and skb._shared.dataref > 1
        try:
            skb.push(len(data))[:] = data
        except SkbStateError:
            assert shared
            return
        except SkbBoundsError:
            assert not shared and skb.headroom() < len(data)
            return
        assert not shared
        entry[1] = data + entry[1]

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 1000), off=st.integers(0, 5000), n=st.integers(0, 5000))
    def read(self, i: int, off: int, n: int) -> None:
        skb, model = self._pick(i)
        if off + n > len(model):
            try:
                skb.read(off, n)
            except SkbBoundsError:
                return
            raise AssertionError("read past the end was accepted")
        assert bytes(skb.read(off, n)) == model[off : off + n]

    # ------------------------------------------------------------------ free
    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 1000))
    def free(self, i: int) -> None:
        entry = self._pick(i)
        # by identity: an skb compares equal to any skb holding the same bytes (a clone)
        self.live = [e for e in self.live if e is not entry]
        skb = entry[0]
        skb.free()
        try:
            skb.free()
        except SkbStateError:
            pass
        else:
            raise AssertionError("a second free was accepted")

    @invariant()
    def bytes_match_the_model(self) -> None:
        for skb, model in self.live:
            assert skb.len == len(model)
            assert bytes(skb) == model
            assert skb.head <= skb.data <= skb.tail <= skb.end

    def teardown(self) -> None:
        for skb, _model in self.live:
            skb.free()
        self.live.clear()
        self.fc.drain()
        netdev_frag_cache(self.pa).drain()
        assert self.pa.in_use_pages() == 0, list(self.pa.live_pages())
        assert heap_heads.in_use() == self.heads
        self.pa.close()


SkbMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSkbMachine = SkbMachine.TestCase
