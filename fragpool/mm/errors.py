"""Errors of the memory layer: misuse of fragpool memory, and what debug mode catches.

Every one is a :class:`DebugError`, so a program run under ``FRAGPOOL_DEBUG=1`` can catch
them all at once. :class:`BadPageError` and :class:`DoubleFreeError` are also raised with
debug mode off (a refcount taken below zero, an address outside every arena); the others
need debug mode's poison, red zones and view counts. Messages name the address, the size and
the call sites that allocated and freed it (SLUB's alloc/free tracks, KASAN's stacks).
"""

from __future__ import annotations


class DebugError(Exception):
    """A misuse of fragpool memory, caught by a check (the base of the layer's errors)."""


class BadPageError(DebugError, ValueError):
    """A bad address or page: outside every arena, never handed out, a refcount below zero."""


class DoubleFreeError(BadPageError):
    """A fragment, page or skb freed a second time; names the first free's call site."""


class UseAfterFreeError(DebugError):
    """Memory used after its free: a view still alive at the free, or freed memory written."""


class RedZoneError(DebugError):
    """Bytes past the end of a fragment were written (SLUB's "Redzone overwritten")."""
