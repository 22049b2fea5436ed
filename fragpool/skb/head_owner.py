"""HeadOwner: what owns skb heads that are not page fragments of the pool.

A capture ring's blocks, an AF_XDP queue's chunks and the heap (kmalloc'd heads) own the
heads of the skbs built on them. skbs drop their references on the owner's counter inline
and count them in ``frag_frees``; the last one calls ``frag_free(addr)``, the owner's
page_frag_free / kfree. Compiled, the skb's free makes both C calls, no attribute lookup.
"""

from __future__ import annotations


class HeadOwner:
    """The owner of skb heads (see the module)."""

    def frag_free(self, addr: int) -> None:
        """Take back the buffer holding ``addr`` (its last skb reference was dropped)."""
        raise TypeError(f"{type(self).__name__} owns skb heads but cannot free {addr:#x}")
