"""SkBuff: struct sk_buff with its head, shared info and page frags.

Addresses are plain integers, as in the kernel: ``head <= data <= tail <= end`` point into
the head buffer, and each frag is ``(addr, size)`` where ``addr`` is a fragment address that
holds one reference on its compound page. Bytes are reached through memoryviews made on
demand; nothing is copied unless asked for.

Ownership. The head buffer belongs to ``head_mem``: the PageAllocator for a page-fragment
head (freed with page_frag_free), the heap for a kmalloc-style head, or another owner with
the same ``frag_free(addr)`` method (a capture ring). An skb that was never cloned owns its
data outright; ``clone()`` moves the data into a :class:`SharedInfo` whose ``dataref``
counts the skbs that share it, and the data is released by the last of them
(skb_release_data).

SkBuff objects are recycled through head caches (see head_cache.py), so an skb that was
freed may reappear as a new packet: keep no reference to a freed skb.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, overload

from .. import _native
from ..mm.errors import DoubleFreeError

try:
    import cython
except ImportError:  # interpreted without Cython installed
    from .. import _cython_shim as cython
from .constants import (
    MAX_SKB_FRAGS,
    SHINFO_SIZE,
    SKB_TRUESIZE,
    skb_head_obj_size,
)
from .head_owner import HeadOwner
from .heap import heap_heads

if TYPE_CHECKING:
    import datetime as _dt

    from ..mm.allocator import Page, PageAllocator


class SkbError(Exception):
    """Base of the skb layer's errors."""


class SkbBoundsError(SkbError, ValueError):
    """An operation would move data, tail or a read past the buffer (skb_over/under_panic)."""


class SkbStateError(SkbError, RuntimeError):
    """An skb used in a state that forbids it: freed twice, used after free, shared data."""


class _Limits:
    max_frags = MAX_SKB_FRAGS


limits = _Limits()


class _Converters:
    """Conversions owned by layers above SkBuff, installed by them on import.

    scapy_interop sits above SkBuff (it builds skbs with the constructors of alloc.py), so
    SkBuff cannot import it; ``fragpool.skb`` imports it, and it puts its converter here.
    """

    to_scapy: Any = None


converters = _Converters()


def set_max_skb_frags(n: int) -> None:
    """CONFIG_MAX_SKB_FRAGS: frags an skb may hold (17..45, default 17)."""
    if not 17 <= n <= 45:
        raise ValueError(f"MAX_SKB_FRAGS {n} must be between 17 and 45")
    limits.max_frags = n


class SkbCacheBase:
    """What an skb's home cache is to the skb: a stack of free objects with a capacity.

    ``free()`` pushes the object and calls ``_flush`` when the stack is full
    (kmem_cache_free); head_cache.SkbHeadCache builds the slab and NAPI caches on it.
    """

    __slots__ = ("free", "size")

    def __init__(self, size: int) -> None:
        self.free: list[SkBuff] = []
        self.size = size

    def get(self) -> SkBuff:
        """kmem_cache_alloc(): a free object, or a new one whose home is this cache."""
        free = self.free
        if free:
            return free.pop()
        skb = SkBuff()
        skb._home = self
        return skb

    def _flush(self) -> None:
        """Make room in a full cache (kmem_cache_free_bulk of its newer half)."""
        del self.free[len(self.free) // 2 :]


class SharedInfo:
    """The part of skb_shared_info that clones share: dataref, the frags and the head."""

    __slots__ = ("dataref", "frags", "head", "head_mem", "pa")

    def __init__(self, skb: SkBuff, dataref: int) -> None:
        self.dataref = dataref
        self.frags = skb.frags
        self.head = skb.head
        self.head_mem = skb.head_mem
        self.pa = skb.pa


def _put_frags(pa: Any, frags: list) -> None:
    """Put every frag's page reference and forget the frags."""
    ff = pa.frag_free
    for addr, _size in frags:
        ff(addr)
    frags.clear()


def _release(pa: Any, head_mem: Any, head: int, frags: list) -> None:
    """skb_release_data's last part: put every frag's page, then free the head."""
    if frags:
        _put_frags(pa, frags)
    head_mem.frag_free(head)


class SkBuff:
    """struct sk_buff: geometry, lengths, truesize, flags, metadata and page frags."""

    __slots__ = (
        "pa",
        "head_mem",
        "head",
        "data",
        "tail",
        "end",
        "len",
        "data_len",
        "truesize",
        "head_frag",
        "pfmemalloc",
        "cloned",
        "tstamp",
        "wire_len",
        "ifindex",
        "linktype",
        "protocol",
        "pkt_type",
        "hash",
        "mark",
        "vlan_tci",
        "frags",
        "_shared",
        "_mv",
        "_mbase",
        "_live",
        "_home",
        "_page",
    )

    def __init__(self) -> None:
        self._live = False
        self.frags: list[tuple[int, int]] = []
        self._shared: SharedInfo | None = None
        self._mv: memoryview | None = None
        self._home = None
        #: What counts the references on the head's buffer, when its owner exposes it: the
        #: pool Page when head_mem is the allocator, a ring block's counter when head_mem is
        #: a capture ring (else None). Lets free() drop the head's reference without a
        #: lookup; the owner's ``frag_free`` still takes the last one, and counts in
        #: ``head_mem.frag_frees``.
        self._page: Page | None = None

    # --------------------------------------------------------------- construction
    def _init(
        self,
        pa: PageAllocator,
        head_mem: Any,
        head: int,
        size: int,
        mv: memoryview,
        mbase: int,
        truesize: int,
        head_frag: bool,
        pfmemalloc: bool,
    ) -> SkBuff:
        """__build_skb_around(): an empty skb over ``size`` usable bytes at ``head``."""
        self.pa = pa
        self.head_mem = head_mem
        self.head = self.data = self.tail = head
        self.end = head + size
        self.len = self.data_len = 0
        self.truesize = truesize
        self.head_frag = head_frag
        self.pfmemalloc = pfmemalloc
        self.cloned = False
        self.tstamp = self.wire_len = self.ifindex = self.linktype = 0
        self.protocol = self.pkt_type = self.hash = self.mark = self.vlan_tci = 0
        self._mv = mv
        self._mbase = mbase
        self._page = None
        self._live = True
        if pa is not None and pa.debug is not None:  # debug mode: counted views, its site
            pa.debug.skb_made(self)
        return self

    def init_rx(
        self,
        pa: PageAllocator,
        head_mem: Any,
        addr: int,
        length: int,
        truesize: int,
        mv: memoryview,
        mbase: int,
        pfmemalloc: bool,
        page: Page | None = None,
    ) -> SkBuff:
        """An skb whose head is exactly ``length`` received bytes at ``addr`` (no tailroom).

        For multi-packet receive buffers (a capture-file chunk, a TPACKET_V3 block): the
        packet stays where the device put it and the skb takes one reference on the buffer,
        released through ``head_mem.frag_free(addr)``. Pass ``page`` (the pool page holding
        ``addr`` when ``head_mem`` is the allocator, or the owner's counter object with a
        ``ref`` attribute) to make the free cheaper.
        """
        self.pa = pa
        self.head_mem = head_mem
        self.head = self.data = addr
        self.tail = self.end = addr + length
        self.len = length
        self.data_len = 0
        self.truesize = truesize
        self.head_frag = True
        self.pfmemalloc = pfmemalloc
        self.cloned = False
        self.tstamp = self.wire_len = self.ifindex = self.linktype = 0
        self.protocol = self.pkt_type = self.hash = self.mark = self.vlan_tci = 0
        self._mv = mv
        self._mbase = mbase
        self._page = page
        self._live = True
        if pa.debug is not None:  # debug mode: counted views, its site
            pa.debug.skb_made(self)
        return self

    # --------------------------------------------------------------- free
    def free(self) -> None:
        """kfree_skb(): drop this skb; the data goes when its last holder frees it."""
        if not self._live:
            _double_free(self)
        self._live = False
        self._put_data()
        home = self._home
        if home is not None:  # kmem_cache_free() into the object's home cache, inlined
            cached = home.free
            cached.append(self)
            if len(cached) >= home.size:
                home._flush()

    def _put_data(self) -> None:
        """skb_release_data(): drop this skb's hold on its head and frags (free() and the
        reclaim share it; the caller has cleared ``_live``)."""
        if self._shared is None:
            if self.frags:
                _put_frags(self.pa, self.frags)
            page = self._page
            if page is not None:
                # page_frag_free() of the head inlined (the per-packet path): drop the
                # buffer's reference; the owner's own call handles the last one.
                n = page.ref - 1
                owner = self.head_mem
                if n > 0:
                    page.ref = n
                    pa = self.pa
                    if owner is pa:
                        pa.frag_frees += 1
                    elif isinstance(owner, HeadOwner):
                        ho = owner  # compiled: a C field, no attribute lookup
                        ho.frag_frees += 1
                    else:
                        owner.frag_frees += 1
                elif isinstance(owner, HeadOwner):
                    ho = owner
                    ho.frag_free(self.head)
                else:
                    owner.frag_free(self.head)
            else:
                pa = self.pa
                if pa is not None and pa.debug is not None:  # debug: views, poison
                    pa.debug.skb_put_data(self)
                    return
                owner = self.head_mem
                if isinstance(owner, HeadOwner):  # the heap's kfree: a C call
                    ho = owner
                    ho.frag_free(self.head)
                else:
                    owner.frag_free(self.head)
                self._mv = None  # let a heap head or a capture buffer go
        else:
            pa = self.pa
            if pa is not None and pa.debug is not None:
                pa.debug.skb_put_data(self)
                return
            self._drop_data()
            self._mv = None

    def __del__(self) -> None:
        """Reclaim: an skb that dies without free() (dropped, as dpkt and scapy users drop
        packets) gives its data back once, counted as its allocator's skbs_reclaimed.
        free() stays the fast path: a freed skb's object is recycled, never reclaimed."""
        if self._live and not _finalizing():
            self._live = False
            pa = self.pa
            if pa is not None and pa.debug is not None:  # debug: a ResourceWarning too
                pa.debug.skb_reclaim(self)
            else:
                self._put_data()
            if pa is not None:
                pa.skbs_reclaimed += 1

    def release(self) -> None:
        """skb_release_all(): drop the data but keep the object (the caller recycles it)."""
        if not self._live:
            _double_free(self)
        self._live = False
        self._put_data()  # free()'s own release (and debug mode's checks)
        self._mv = None

    def consume(self) -> None:
        """consume_skb(): the same release as free(), for a packet that was used well."""
        self.free()

    @property
    def is_live(self) -> bool:
        return self._live

    # --------------------------------------------------------------- geometry
    def _check(self) -> None:
        if not self._live:
            raise SkbStateError(f"skb {id(self):#x} used after free")

    def headroom(self) -> int:
        """skb_headroom(): bytes between head and data."""
        return self.data - self.head

    def tailroom(self) -> int:
        """skb_tailroom(): bytes between tail and end (0 for a nonlinear skb)."""
        return 0 if self.data_len else self.end - self.tail

    @property
    def headlen(self) -> int:
        """skb_headlen(): bytes in the linear part."""
        return self.len - self.data_len

    @property
    def nr_frags(self) -> int:
        return len(self.frags)

    def is_nonlinear(self) -> bool:
        return self.data_len != 0

    def put(self, n: int) -> memoryview:
        """skb_put(): extend the tail by ``n`` bytes; a writable view of them."""
        tail = self.tail
        self.put_in_place(n)
        start = tail - self._mbase
        return self._mv[start : start + n]

    def put_in_place(self, n: int) -> None:
        """__skb_put() for bytes already in the buffer (a NIC wrote them): move the tail.

        The same checks as put(), without making a view of the bytes.
        """
        self._check()
        if self._shared is not None:
            self._own_head("skb_put")
        tail = self.tail
        if self.data_len:
            raise SkbStateError("skb_put on a nonlinear skb (its tail is in the frags)")
        if n < 0 or tail + n > self.end:
            raise SkbBoundsError(
                f"skb_put: over by {tail + n - self.end} bytes (put {n}, len {self.len}, "
                f"tailroom {self.end - tail})"
            )
        self.tail = tail + n
        self.len += n

    def push(self, n: int) -> memoryview:
        """skb_push(): extend the data in front by ``n`` bytes; a writable view of them."""
        self._check()
        if self._shared is not None:
            self._own_head("skb_push")
        data = self.data - n
        if n < 0 or data < self.head:
            raise SkbBoundsError(
                f"skb_push: under by {self.head - data} bytes (push {n}, headroom "
                f"{self.data - self.head})"
            )
        self.data = data
        self.len += n
        start = data - self._mbase
        return self._mv[start : start + n]

    def pull(self, n: int) -> None:
        """skb_pull(): remove ``n`` bytes from the front of the linear part."""
        self._check()
        if n < 0 or n > self.len - self.data_len:
            raise SkbBoundsError(
                f"skb_pull: {n} bytes past the linear part ({self.len - self.data_len} bytes)"
            )
        self.data += n
        self.len -= n

    def reserve(self, n: int) -> None:
        """skb_reserve(): make headroom on an empty skb by moving data and tail."""
        self._check()
        if self.len:
            raise SkbStateError(f"skb_reserve on an skb holding {self.len} bytes")
        if n < 0 or self.tail + n > self.end:
            raise SkbBoundsError(
                f"skb_reserve: {n} bytes past the end (tailroom {self.end - self.tail})"
            )
        self.data += n
        self.tail += n

    def trim(self, length: int) -> None:
        """skb_trim() / pskb_trim(): cut the packet to ``length`` bytes, dropping frags past it."""
        self._check()
        if length < 0:
            raise SkbBoundsError(f"skb_trim to negative length {length}")
        if length >= self.len:
            return
        headlen = self.len - self.data_len
        if length <= headlen:
            self._unshare_frags_for_trim()
            for addr, _size in self.frags:
                self.pa.frag_free(addr)
            self.frags.clear()
            self.tail = self.data + length
            self.data_len = 0
        else:
            self._unshare_frags_for_trim()
            keep, offset, frags = [], headlen, self.frags
            for addr, size in frags:
                if offset >= length:
                    self.pa.frag_free(addr)
                    continue
                use = min(size, length - offset)
                keep.append((addr, use))
                offset += size
            frags[:] = keep
            self.data_len = length - headlen
        self.len = length

    def _unshare_frags_for_trim(self) -> None:
        # ___pskb_trim(): a cloned skb gets its own head and frag references first
        # (pskb_expand_head), so trimming never touches what the clones still use.
        if self._shared is not None and self.frags:
            self.unclone()

    def _own_head(self, op: str) -> None:
        """Writes into the head need it unshared; take it back when no clone is left."""
        shared = self._shared
        if shared.dataref > 1:
            raise SkbStateError(
                f"{op} on skb {id(self):#x} whose head is shared with {shared.dataref - 1} "
                "clone(s): call unclone() first (skb_unclone)"
            )
        self._shared = None
        self.cloned = False

    def unclone(self) -> None:
        """skb_unclone() / pskb_expand_head(skb, 0, 0): make the head and frags private.

        When clones still share the data, the head (head..tail) is copied into a new heap
        buffer of the same size and every frag's page gets one more reference for this skb;
        then this skb drops its share of the old data. Without other holders it only takes
        the data back.
        """
        self._check()
        shared = self._shared
        if shared is None:
            return
        if shared.dataref == 1:
            self._shared = None
            self.cloned = False
            return
        size = self.end - self.head
        addr, mv = heap_heads.alloc(size + SHINFO_SIZE)
        start = self.head - self._mbase
        used = self.tail - self.head
        mv[:used] = self._mv[start : start + used]
        pa = self.pa
        frags = list(self.frags)
        for faddr, _size in frags:
            pa.frag_ref(faddr)
        self._drop_data()
        delta = addr - self.head
        self.frags = frags
        self.head_mem = heap_heads
        self._page = None
        self.head = addr
        self.data += delta
        self.tail += delta
        self.end += delta
        self.head_frag = False
        self._mv, self._mbase = mv, addr

    # --------------------------------------------------------------- frags
    def add_rx_frag(self, addr: int, size: int, truesize: int) -> None:
        """skb_add_rx_frag(): append a frag; ``addr`` holds one page reference, now the skb's."""
        self._check()
        if self._shared is not None:
            self._own_head("skb_add_rx_frag")
        frags = self.frags
        if len(frags) >= limits.max_frags:
            raise SkbBoundsError(f"skb already holds MAX_SKB_FRAGS={limits.max_frags} frags")
        if size < 0:
            raise SkbBoundsError(f"frag size {size} is negative")
        page = self.pa.page_of(addr)
        if addr + size > page.addr + page.size:
            raise SkbBoundsError(
                f"frag {addr:#x}+{size} runs past its compound page {page.addr:#x}+{page.size}"
            )
        frags.append((addr, size))
        self.len += size
        self.data_len += size
        self.truesize += truesize
        if page.pfmemalloc:
            self.pfmemalloc = True

    def coalesce_rx_frag(
        self, i: int, size: int, truesize: int, *, addr: int | None = None
    ) -> None:
        """skb_coalesce_rx_frag(): grow frag ``i`` by ``size`` bytes of the same page.

        As in the kernel, the reference on the page that came with the new bytes stays the
        caller's to drop. Pass the new bytes' fragment address as ``addr`` to have it
        checked (it must start where frag ``i`` ends) and its reference dropped here,
        since frag ``i`` already holds one on the page.
        """
        self._check()
        if self._shared is not None:
            self._own_head("skb_coalesce_rx_frag")
        frags = self.frags
        if not 0 <= i < len(frags):
            raise SkbBoundsError(f"skb_coalesce_rx_frag: no frag {i} (nr_frags {len(frags)})")
        if size < 0:
            raise SkbBoundsError(f"frag size {size} is negative")
        start, old = frags[i]
        page = self.pa.page_of(start)
        if start + old + size > page.addr + page.size:
            raise SkbBoundsError(f"coalesced frag {i} would run past its compound page")
        if addr is not None:
            if addr != start + old:
                raise SkbBoundsError(
                    f"skb_coalesce_rx_frag: fragment {addr:#x} does not start where frag {i} "
                    f"ends ({start + old:#x})"
                )
            self.pa.frag_free(addr)
        frags[i] = (start, old + size)
        self.len += size
        self.data_len += size
        self.truesize += truesize

    def frag(self, i: int) -> tuple[Any, int, int]:
        """frags[i] as the kernel spells it: (page, offset in the page, size)."""
        addr, size = self.frags[i]
        page = self.pa.page_of(addr)
        return page, addr - page.addr, size

    # --------------------------------------------------------------- bytes
    def linear_view(self) -> memoryview:
        """A writable view of the linear part (data..tail), no copy."""
        if not self._live:
            self._check()
        start = self.data - self._mbase
        return self._mv[start : start + self.len - self.data_len]

    # The buffer protocol: memoryview(skb), struct.unpack_from(fmt, skb), hashlib.update(skb)
    # on the linear bytes, without a copy. Compiled, the type exports it (the view holds a
    # slice of the arena's view, so the mapping stays exported while it lives); interpreted,
    # Python 3.12+ reads __buffer__; interpreted on 3.11 there is none, and memoryview(skb)
    # is a TypeError (bytes(skb) and skb.read() always work). __getbuffer__ must not call
    # __buffer__: compiled for 3.12+, Cython makes __buffer__ a wrapper of __getbuffer__,
    # and the call would recurse.
    @cython.annotation_typing(True)
    def __getbuffer__(self, buffer: cython.pointer(Py_buffer), flags: cython.int) -> None:  # noqa: F821
        _export(self, self._buffer_view(), buffer, flags)  # noqa: F821 - C, in skbuff.pxd

    @cython.annotation_typing(True)
    def __releasebuffer__(self, buffer: cython.pointer(Py_buffer)) -> None:  # noqa: F821
        _unexport(buffer)  # noqa: F821 - C, in skbuff.pxd

    def __buffer__(self, flags: int) -> memoryview:
        """The linear bytes as a buffer (PEP 688); an skb with frags has none to give."""
        return self._buffer_view()

    def _buffer_view(self) -> memoryview:
        """The view of the linear bytes the buffer protocol exports (a BufferError with
        frags: they are not contiguous)."""
        if not self._live:
            self._check()
        if self.data_len:
            raise BufferError(
                f"a {self.len}-byte skb with {len(self.frags)} frags is not contiguous: "
                "linearize() it first, or use bytes(skb) or skb.read(offset, length)"
            )
        start = self.data - self._mbase
        return self._mv[start : start + self.len]

    def __bytes__(self) -> bytes:
        self._check()
        start = self.data - self._mbase
        linear = self._mv[start : start + self.len - self.data_len]
        if not self.frags:
            return bytes(linear)
        view = self.pa.view
        return b"".join([linear, *(view(addr, size) for addr, size in self.frags)])

    def read(self, offset: int, length: int) -> memoryview:
        """rte_pktmbuf_read(): ``length`` bytes at ``offset``; a view if contiguous, else a copy."""
        self._check()
        if offset < 0 or length < 0 or offset + length > self.len:
            raise SkbBoundsError(
                f"read of {length} bytes at offset {offset} outside a {self.len}-byte skb"
            )
        headlen = self.len - self.data_len
        if offset + length <= headlen:
            start = self.data - self._mbase + offset
            return self._mv[start : start + length]
        pieces: list[memoryview] = []
        pos, want_end = 0, offset + length
        if offset < headlen:
            start = self.data - self._mbase + offset
            pieces.append(self._mv[start : start + headlen - offset])
        pos = headlen
        for addr, size in self.frags:
            lo, hi = max(offset, pos), min(want_end, pos + size)
            if lo < hi:
                pieces.append(self.pa.view(addr + lo - pos, hi - lo))
            pos += size
            if pos >= want_end:
                break
        if len(pieces) == 1:
            return pieces[0]
        return memoryview(b"".join(pieces))

    # --------------------------------------------------------------- clone / copy
    def clone(self) -> SkBuff:
        """skb_clone(): a second skb over the same data; both are marked cloned."""
        self._check()
        shared = self._shared
        if shared is None:
            shared = self._shared = SharedInfo(self, 2)
        else:
            n = shared.dataref + 1
            shared.dataref = n
        home = self._home
        new = home.get() if home is not None else SkBuff()
        for name in _COPY_FIELDS:
            setattr(new, name, getattr(self, name))
        new.frags = self.frags
        new._shared = shared
        new._live = True
        self.cloned = new.cloned = True
        return new

    def copy(self) -> SkBuff:
        """skb_copy(): a private linear copy, head from the heap as __alloc_skb does."""
        self._check()
        headroom = self.data - self.head
        size = headroom + self.len + (self.end - self.tail if not self.data_len else 0)
        new = _alloc_heap_skb(self.pa, size, self._home)
        new.reserve(headroom)
        new.put(self.len)[:] = bytes(self)
        for name in _META_FIELDS:
            setattr(new, name, getattr(self, name))
        return new

    def linearize(self) -> None:
        """skb_linearize(): pull every frag into the linear part, reallocating if needed."""
        self._check()
        if not self.data_len:
            return
        if self._shared is None and self.end - self.tail >= self.data_len:
            pos = self.tail - self._mbase
            view = self.pa.view
            for addr, size in self.frags:
                self._mv[pos : pos + size] = view(addr, size)
                pos += size
                self.pa.frag_free(addr)
            self.frags.clear()
            self.tail += self.data_len
            self.data_len = 0
            return
        # pskb_expand_head(): a new private head holding everything, then drop the old data
        headroom = self.data - self.head
        payload = bytes(self)
        old_size = self.end - self.head
        size = headroom + len(payload)
        addr, mv = heap_heads.alloc(size + SHINFO_SIZE)
        self._drop_data()
        self.head_mem = heap_heads
        self._page = None
        self.head = addr
        self.data = addr + headroom
        self.tail = self.data + len(payload)
        self.end = addr + size
        self.data_len = 0
        self.head_frag = False
        self._mv, self._mbase = mv, addr
        mv[headroom : headroom + len(payload)] = payload
        self.truesize += size - old_size

    def _drop_data(self) -> None:
        """Give up this skb's hold on its data (skb_release_data) without freeing the skb."""
        shared = self._shared
        if shared is None:
            _release(self.pa, self.head_mem, self.head, self.frags)
        else:
            self._shared = None
            self.frags = []
            n = shared.dataref - 1
            shared.dataref = n
            if n == 0:
                _release(shared.pa, shared.head_mem, shared.head, shared.frags)
            self.cloned = False

    # --------------------------------------------------------------- misc
    def to_scapy(self) -> Any:
        """The packet dissected by scapy for this skb's link type (fragpool.skb.to_scapy)."""
        convert = converters.to_scapy
        if convert is None:
            raise SkbError("no scapy converter is installed: import fragpool.skb first")
        return convert(self)

    def __len__(self) -> int:
        return self.len

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> bytes: ...
    def __getitem__(self, index: int | slice) -> int | bytes:
        """``skb[i]``: the packet's i-th byte (frags included); ``skb[a:b]``: those bytes."""
        if isinstance(index, slice):
            self._check()
            start, stop, step = index.indices(self.len)
            if step != 1:
                return bytes(self)[index]
            return bytes(self.read(start, stop - start)) if stop > start else b""
        return self.byte(index)

    def byte(self, i: int) -> int:
        """The packet's byte at offset ``i`` (negative counts from the end), as ``skb[i]``."""
        if not self._live:
            self._check()
        n = self.len
        if i < 0:
            i += n
        if 0 <= i < n - self.data_len:  # in the linear part: one load, bounds checked here
            return _native.byte_at(self._mv, self._mbase, self.data + i)
        if not 0 <= i < n:
            raise IndexError(f"skb index {i} out of range for a {n}-byte skb")
        return self.read(i, 1)[0]

    def __iter__(self) -> Iterator[int]:
        """The packet's bytes, one int each (frags included), as iterating bytes gives."""
        return iter(bytes(self))

    # An skb reads like the bytes it holds: it compares equal to them (bytes, bytearray,
    # memoryview, another skb) and has bytes' read-only methods, each on bytes(skb), so a
    # copy: in a loop over many packets, read the bytes once. Like bytearray it is
    # mutable, so it has no hash.
    def __eq__(self, other: object) -> bool:
        if isinstance(other, SkBuff):
            return self is other or bytes(self) == bytes(other)
        if isinstance(other, (bytes, bytearray, memoryview)):
            return bytes(self) == other
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        same = self.__eq__(other)
        return same if same is NotImplemented else not same

    __hash__ = None  # type: ignore[assignment]

    def __contains__(self, sub: object) -> bool:
        return sub in bytes(self)

    def hex(self, *args: Any) -> str:
        """bytes.hex() of the packet (``sep``, ``bytes_per_sep`` as bytes takes them)."""
        return bytes(self).hex(*args)

    def startswith(self, prefix: Any, *args: Any) -> bool:
        return bytes(self).startswith(prefix, *args)

    def endswith(self, suffix: Any, *args: Any) -> bool:
        return bytes(self).endswith(suffix, *args)

    def find(self, sub: Any, *args: Any) -> int:
        return bytes(self).find(sub, *args)

    def rfind(self, sub: Any, *args: Any) -> int:
        return bytes(self).rfind(sub, *args)

    def index(self, sub: Any, *args: Any) -> int:
        return bytes(self).index(sub, *args)

    def rindex(self, sub: Any, *args: Any) -> int:
        return bytes(self).rindex(sub, *args)

    def count(self, sub: Any, *args: Any) -> int:
        return bytes(self).count(sub, *args)

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return bytes(self).decode(encoding, errors)

    def tobytes(self) -> bytes:
        """memoryview's spelling of bytes(skb)."""
        return bytes(self)

    @property
    def time(self) -> float:
        """The timestamp as float seconds since the epoch (``tstamp`` is the exact ns)."""
        return self.tstamp / 1_000_000_000

    @property
    def datetime(self) -> _dt.datetime:
        """The timestamp as an aware UTC datetime (microseconds: datetime's resolution)."""
        import datetime as _dt  # imported when first asked for (start-up time)

        sec, ns = divmod(self.tstamp, 1_000_000_000)
        epoch = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
        return epoch + _dt.timedelta(seconds=sec, microseconds=ns // 1000)

    def __repr__(self) -> str:
        if not self._live:
            return f"<SkBuff {id(self):#x} freed>"
        when = "no time"
        if self.tstamp:
            import datetime as _dt

            sec, ns = divmod(self.tstamp, 1_000_000_000)
            stamp = _dt.datetime.fromtimestamp(sec, _dt.UTC)
            when = stamp.strftime("%Y-%m-%d %H:%M:%S") + f".{ns:09d}"
        return (
            f"<SkBuff {when} len={self.len} wire_len={self.wire_len} "
            f"linktype={_linktype_name(self.linktype)} nr_frags={len(self.frags)} "
            f"headroom={self.data - self.head} tailroom={self.tailroom()} "
            f"truesize={self.truesize}{' cloned' if self.cloned else ''}>"
        )


class SkbDoubleFreeError(DoubleFreeError, SkbStateError):
    """A second free of an skb in debug mode, naming the first free's site."""


def _double_free(skb: SkBuff) -> None:
    """Raise for a free of an skb that is not live (with the first free's site in debug)."""
    pa = skb.pa
    if pa is not None and pa.debug is not None:
        raise SkbDoubleFreeError(pa.debug.skb_double_free(skb))
    raise SkbStateError(f"skb {id(skb):#x} freed twice (or used after free)")


#: sys.is_finalizing, looked up once: the reclaim asks it for every skb it reclaims.
_finalizing = sys.is_finalizing
#: LINKTYPE_* names repr shows (the common ones; others as numbers). The skb layer sits
#: below the capture formats, so it does not import their full table.
_LINKTYPE_NAMES = {1: "EN10MB", 101: "RAW", 113: "LINUX_SLL", 228: "IPV4", 229: "IPV6"}


def _linktype_name(linktype: int) -> str:
    return _LINKTYPE_NAMES.get(linktype, str(linktype))


_META_FIELDS = (
    "tstamp",
    "wire_len",
    "ifindex",
    "linktype",
    "protocol",
    "pkt_type",
    "hash",
    "mark",
    "vlan_tci",
)
_COPY_FIELDS = (
    "pa",
    "head_mem",
    "head",
    "data",
    "tail",
    "end",
    "len",
    "data_len",
    "truesize",
    "head_frag",
    "pfmemalloc",
    "_mv",
    "_mbase",
    "_home",
    "_page",
    *_META_FIELDS,
)


def kfree_skb_list(skbs: Iterable[SkBuff]) -> None:
    """kfree_skb_list(): free a batch of skbs, as a consumer of ``read_batch`` does.

    The same release as ``SkBuff.free`` for each, with the common case (an unshared head
    on a pool page or a ring block, no frags, not the buffer's last reference) done
    inline: a batch consumer saves a method call per packet. The objects freed inline go
    back to their home cache in runs (napi_skb_cache_put's bulk flush when it fills).
    Anything else goes through ``free()``.
    """
    home = None
    back: list[SkBuff] = []
    for skb in skbs:
        page = skb._page
        if page is None or not skb._live or skb._shared is not None or skb.frags:
            skb.free()
            continue
        n = page.ref - 1
        if n <= 0:
            skb.free()
            continue
        page.ref = n
        skb._live = False
        pa = skb.pa
        owner = skb.head_mem
        if owner is pa:
            pa.frag_frees += 1
        elif isinstance(owner, HeadOwner):
            ho = owner
            ho.frag_frees += 1
        else:
            owner.frag_frees += 1
        h = skb._home
        if h is not home:
            if back:
                _cache_put_bulk(home, back)
                back = []
            home = h
        back.append(skb)
    if back:
        _cache_put_bulk(home, back)


def _cache_put_bulk(home: Any, skbs: list[SkBuff]) -> None:
    """kmem_cache_free_bulk() of freed objects into their home cache (None: to the GC)."""
    if home is None:
        return
    cached = home.free
    cached += skbs
    while len(cached) >= home.size:
        home._flush()


def alloc_heap_skb(pa: PageAllocator, size: int, *, home: Any = None) -> SkBuff:
    """__alloc_skb(): an skb whose head comes from the heap (kmalloc), at least ``size`` bytes.

    The buffer is sized as kmalloc_reserve sizes it (the small-head cache, or the kmalloc
    bucket that fits SKB_HEAD_ALIGN(size)) and the skb uses all of it, so the usable size
    and truesize are those of the kernel: SKB_WITH_OVERHEAD(buffer), SKB_TRUESIZE(usable).
    """
    return _alloc_heap_skb(pa, size, home)


def _alloc_heap_skb(pa: PageAllocator, size: int, home: Any) -> SkBuff:
    """alloc_heap_skb with ``home`` positional: the per-packet callers' C call."""
    sizes = _heap_head_sizes.get(size)
    if sizes is None:  # worked out once per requested size
        obj = skb_head_obj_size(size)
        sizes = _heap_head_sizes[size] = (obj, obj - SHINFO_SIZE, SKB_TRUESIZE(obj - SHINFO_SIZE))
    obj, usable, truesize = sizes
    addr, mv = heap_heads.alloc(obj)
    skb = home.get() if home is not None else SkBuff()
    return skb._init(pa, heap_heads, addr, usable, mv, addr, truesize, False, False)


#: alloc_heap_skb's (buffer, usable, truesize) by requested size.
_heap_head_sizes: dict[int, tuple[int, int, int]] = {}
