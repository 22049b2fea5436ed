"""The skbs a receive device has built but not handed out yet (its poll backlog)."""

from __future__ import annotations

import operator
from collections.abc import Iterator

from ..skb import SkBuff

#: A budget larger than any backlog: take everything.
ALL = 1 << 62


class Backlog:
    """Built skbs waiting for the user, and the batch an iterator is part-way through.

    An iterator that hands out a batch records its list iterator in ``cur``; ``take``
    first puts back what that iterator has not yielded, so batch calls, ``next()`` and
    iterators that were abandoned mid-batch all continue from the same packet.
    """

    __slots__ = ("pending", "cur")

    def __init__(self) -> None:
        self.pending: list[SkBuff] = []
        self.cur: Iterator[SkBuff] | None = None

    def waiting(self) -> int:
        """How many skbs wait: the pending ones and those the current iterator still holds."""
        cur = self.cur
        return len(self.pending) + (operator.length_hint(cur) if cur is not None else 0)

    def take(self, budget: int) -> list[SkBuff]:
        """Up to ``budget`` waiting skbs, oldest first ([] when none wait)."""
        cur, self.cur = self.cur, None
        if cur is not None:
            self.pending[:0] = cur
        pending = self.pending
        if len(pending) <= budget:
            self.pending = []
            return pending
        batch = pending[:budget]
        del pending[:budget]
        return batch
