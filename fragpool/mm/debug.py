"""Debug mode: SLUB poison and red zones, KASAN's quarantine, page_owner and kmemleak.

One :class:`MemoryDebugger` per PageAllocator, made when the allocator is built with
``debug=True`` or while ``FRAGPOOL_DEBUG=1`` is set; with debug off ``pa.debug`` is None and
the hot paths pay one pointer test (none at all on the frag cache's fast path, which debug
mode forces onto its slow path).

What it tracks, and where each check fires:

- Fragments carved by a page_frag cache get a red zone of :data:`REDZONE` bytes after them
  (0xcc while allocated, 0xbb once freed). A freed fragment is filled with POISON_FREE (0x6b,
  its last byte POISON_END 0xa5) and held in a quarantine (a FIFO bounded in bytes, as
  KASAN's) with its page reference, so its memory is not handed out again until it leaves;
  leaving, and on ``pa.check()``, the poison and the red zone are verified.
- Pages freed by their last reference are poisoned the same way and quarantined before
  their block goes back to the free lists.
- skbs: their views are counted, a reclaimed skb warns (ResourceWarning), and the data of
  an skb whose head is not a tracked fragment (a capture-file chunk, a ring block) is
  poisoned and quarantined with its reference, like a fragment.
- Every view fragpool hands out (``pa.view``, the skb's views) is made from an anchor
  object whose reference count says whether the view is still alive; freeing a buffer
  under a live view raises, as resizing an exported bytearray does.
- Each fragment, page and skb keeps the call site that allocated it (page_owner), so
  :meth:`MemoryDebugger.leaks` groups what is outstanding by the line that allocated it.

A call site is the first frame outside the fragpool package (the user's line), or, when the
whole stack is fragpool's own (the command line), the first frame above the memory and skb
layers. Errors are the classes of fragpool.mm.errors.
"""

from __future__ import annotations

import ctypes
import os
import sys
import warnings
from collections import OrderedDict, deque
from typing import Any, NamedTuple

from .errors import (
    BadPageError,
    DebugError,
    DoubleFreeError,
    RedZoneError,
    UseAfterFreeError,
)

#: The allocator and its pages, as this module sees them (it sits below allocator.py, which
#: imports it: naming the classes here would make an import circle).
Page = Any
PageAllocator = Any

#: SLUB's poison and red-zone bytes (include/linux/poison.h).
POISON_FREE = 0x6B
POISON_END = 0xA5
RED_ACTIVE = 0xCC
RED_INACTIVE = 0xBB
#: Bytes of red zone carved after every fragment.
REDZONE = 16
#: Bytes of freed memory the quarantine holds before the oldest goes back.
QUARANTINE_BYTES = 1 << 20
#: Freed fragments and skbs remembered after leaving quarantine (for double-free reports).
FREE_HISTORY = 4096
#: Frames a site keeps (the caller, then its callers).
STACK_DEPTH = 4

_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_LOW_LAYERS = tuple(_PKG + name + os.sep for name in ("mm", "skb"))


def enabled_by_environment() -> bool:
    """Whether FRAGPOOL_DEBUG asks for debug mode (set, and not 0/empty/false/no/off)."""
    value = os.environ.get("FRAGPOOL_DEBUG", "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


class Site(NamedTuple):
    """Where something happened: the caller's file, line and function, and a short stack
    (``frames``: (file, line, function), innermost first; formatted only when shown)."""

    file: str
    line: int
    function: str
    frames: tuple[tuple[str, int, str], ...]

    def __str__(self) -> str:
        return f"{self.file}:{self.line} in {self.function}"

    @property
    def stack(self) -> tuple[str, ...]:
        """The short stack as "file:line in function" lines."""
        return tuple(f"{file}:{line} in {function}" for file, line, function in self.frames)

    def traceback(self) -> str:
        """The short stack, innermost first, one frame a line."""
        return "\n".join(f"    {frame}" for frame in self.stack)


def call_site(depth: int = STACK_DEPTH) -> Site:
    """The Site of the code that called into fragpool (see the module docstring)."""
    frame: Any = sys._getframe(1)
    above_layers = None
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.startswith(_PKG):
            break
        if above_layers is None and not name.startswith(_LOW_LAYERS):
            above_layers = frame
        frame = frame.f_back
    if frame is None:
        frame = above_layers if above_layers is not None else sys._getframe(1)
    stack = []
    for _ in range(depth):
        code = frame.f_code
        stack.append((code.co_filename, frame.f_lineno, code.co_name))
        frame = frame.f_back
        if frame is None:
            break
    return Site(*stack[0], tuple(stack))


def _anchor_refs() -> int:
    """References a dead anchor has inside :meth:`Views.alive` (calibrated once)."""
    views = Views()
    views.items.append(((ctypes.c_ubyte * 1)(), None))
    return views._refs()[0]


class Views:
    """The views handed out on one buffer: (anchor, site) pairs.

    A view is ``memoryview(anchor).cast("B")`` over a ctypes array placed at the buffer's
    address: every memoryview sliced from it holds the anchor through their shared buffer,
    so an anchor referenced from more than this list is a view still alive.
    """

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[tuple[Any, Site | None]] = []

    def make(self, addr: int, length: int, site: Site) -> memoryview:
        anchor = (ctypes.c_ubyte * length).from_address(addr)
        view = memoryview(anchor).cast("B")
        self.items.append((anchor, site))
        return view

    def _refs(self) -> list[int]:
        return [sys.getrefcount(anchor) for anchor, _site in self.items]

    def alive(self) -> list[Site | None]:
        """Sites of the views still alive (the dead ones are forgotten)."""
        if not self.items:
            return []
        refs = self._refs()
        keep = [item for item, n in zip(self.items, refs, strict=True) if n > _DEAD]
        self.items = keep
        return [site for _anchor, site in keep]


_DEAD = _anchor_refs()


class _Fragment:
    """One fragment a debug page_frag cache carved: where, how big, its sites and views."""

    __slots__ = ("addr", "size", "redzone", "page", "site", "freed", "views", "holders")

    def __init__(self, addr: int, size: int, redzone: int, page: Page, site: Site) -> None:
        #: Holders of the fragment (skb_frag_ref adds one): the last free poisons it.
        self.holders = 1
        self.addr = addr
        self.size = size
        self.redzone = redzone
        self.page = page
        self.site = site
        self.freed: Site | None = None
        self.views = Views()

    def describe(self) -> str:
        return f"{self.size}-byte fragment at {self.addr:#x}"


class _PageRecord:
    """page_owner's record of one compound page: where it was allocated and freed."""

    __slots__ = ("page", "site", "freed", "views")

    def __init__(self, page: Page, site: Site) -> None:
        self.page = page
        self.site = site
        self.freed: Site | None = None
        self.views = Views()

    def describe(self) -> str:
        page = self.page
        return f"page {page.addr:#x} (order {page.order}, {page.size} bytes)"


class _SkbRecord:
    """One live skb: where it was built, the buffer its views show, the views."""

    __slots__ = ("site", "head", "end", "views", "freed")

    def __init__(self, site: Site, head: int, end: int) -> None:
        self.site = site
        self.head = head
        self.end = end
        self.views = Views()
        self.freed: Site | None = None

    def describe(self) -> str:
        return f"{self.end - self.head}-byte skb head at {self.head:#x}"


class TrackedBuffer:
    """What a debug skb slices its views from (its ``_mv``): each slice is a counted view.

    Indexing with an int reads a byte as the memoryview would; slicing makes a view from a
    fresh anchor and records where it was made.
    """

    __slots__ = ("mv", "mbase", "record")

    def __init__(self, mv: Any, mbase: int, record: _SkbRecord) -> None:
        self.mv = mv
        self.mbase = mbase
        self.record = record

    def __getitem__(self, index: Any) -> Any:
        if index.__class__ is slice:
            start, stop, _step = index.indices(len(self.mv))
            return self.record.views.make(self.mbase + start, max(0, stop - start), call_site())
        return self.mv[index]

    def __setitem__(self, index: Any, value: Any) -> None:
        self.mv[index] = value

    def __len__(self) -> int:
        return len(self.mv)


class Leak(NamedTuple):
    """Outstanding memory allocated at one site: what it is, where, how many, how much."""

    kind: str  # "fragment", "page" or "skb"
    file: str
    line: int
    function: str
    count: int
    bytes: int
    stack: tuple[str, ...]

    def __str__(self) -> str:
        return (
            f"{self.count} {self.kind}{'s' if self.count != 1 else ''} ({self.bytes} bytes) "
            f"allocated at {self.file}:{self.line} in {self.function}"
        )


def format_leaks(leaks: list[Leak]) -> str:
    """The leak report: one line a site, largest first, each with its short stack."""
    lines = []
    for leak in leaks:
        lines.append(f"  {leak}")
        lines.extend(f"      {frame}" for frame in leak.stack[1:])
    return "\n".join(lines)


def _sites(what: str, alloc: Site | None, free: Site | None = None) -> str:
    text = f"\n  allocated at {alloc}" if alloc is not None else ""
    if alloc is not None and alloc.stack[1:]:
        text += "\n" + "\n".join(f"      {frame}" for frame in alloc.stack[1:])
    if free is not None:
        text += f"\n  freed at {free}"
        if free.stack[1:]:
            text += "\n" + "\n".join(f"      {frame}" for frame in free.stack[1:])
    return f"{what}{text}"


def _view_sites(sites: list[Site | None]) -> str:
    return "".join(f"\n  a view made at {site} is still alive" for site in sites)


def _first_bad(data: bytes, expect: bytes) -> int:
    """Offset of the first byte of ``data`` that differs from ``expect`` (-1 if none)."""
    if data == expect:
        return -1
    for i, (a, b) in enumerate(zip(data, expect, strict=True)):
        if a != b:
            return i
    return -1


def _poison(addr: int, size: int) -> None:
    if size > 0:
        ctypes.memset(addr, POISON_FREE, size - 1)
        ctypes.memset(addr + size - 1, POISON_END, 1)


def _poison_bytes(size: int) -> bytes:
    return bytes([POISON_FREE]) * (size - 1) + bytes([POISON_END]) if size > 0 else b""


class MemoryDebugger:
    """The debug state of one PageAllocator (``pa.debug``); see the module docstring."""

    def __init__(self, pa: PageAllocator, quarantine_bytes: int = QUARANTINE_BYTES) -> None:
        self.pa = pa
        #: The quarantine's bound in bytes (KASAN's quarantine size).
        self.quarantine_bytes = quarantine_bytes
        self.fragments: dict[int, _Fragment] = {}
        #: Live fragments by the address of their page, for addresses inside a fragment.
        self.by_page: dict[int, dict[int, _Fragment]] = {}
        self.pages: dict[int, _PageRecord] = {}
        self.skbs: dict[int, _SkbRecord] = {}
        #: FIFO of (kind, record, bytes, release) awaiting their return.
        self.quarantine: deque[tuple[str, Any, int, Any]] = deque()
        self.quarantined = 0
        self.freed_fragments: dict[int, _Fragment] = {}
        self.recent_free: OrderedDict[int, Any] = OrderedDict()
        self.freed_pages: OrderedDict[int, _PageRecord] = OrderedDict()
        self.skb_frees: OrderedDict[int, Site] = OrderedDict()
        # counters
        self.checks = 0
        self.evictions = 0
        self._evicting = False

    # ---------------------------------------------------------------- fragments
    def frag_alloc(self, cache: Any, fragsz: int, align: int | None) -> int | None:
        """page_frag_alloc() in debug mode: carve ``fragsz`` plus a red zone, and record it.

        The cache keeps its true size in ``_real_size`` and 0 in ``_size`` between calls, so
        its fast path always falls through to here.
        """
        if fragsz < 1:
            raise ValueError(
                f"fragment size {fragsz} must be >= 1 (zero-size fragments are refused)"
            )
        redzone = REDZONE
        cache._dbg = None
        try:
            cache._size = cache._real_size if cache.page is not None else 0
            addr = cache.alloc(fragsz + redzone, align)
            if addr is None and fragsz + redzone > cache._size > 0:
                redzone = 0  # a fragment as large as a page has no room for a red zone
                addr = cache.alloc(fragsz, align)
        finally:
            cache._real_size = cache._size
            cache._size = 0
            cache._dbg = self
        if addr is None:
            return None
        page = cache.page
        rec = _Fragment(addr, fragsz, redzone, page, call_site())
        if redzone:
            ctypes.memset(addr + fragsz, RED_ACTIVE, redzone)
        self.fragments[addr] = rec
        self.by_page.setdefault(page.addr, {})[addr] = rec
        self.freed_fragments.pop(addr, None)
        self.recent_free.pop(addr, None)
        return addr

    def _fragment_at(self, addr: int) -> _Fragment | None:
        rec = self.fragments.get(addr)
        if rec is not None:
            return rec
        page = self.pa._memmap.get(addr >> self.pa.page_shift)
        if page is None:
            return None
        for rec in self.by_page.get(page.addr, {}).values():
            if rec.addr <= addr < rec.addr + rec.size:
                return rec
        return None

    def _freed_fragment_at(self, addr: int) -> _Fragment | None:
        """The quarantined fragment holding ``addr``, if any."""
        rec = self.freed_fragments.get(addr)
        if rec is not None:
            return rec
        for rec in self.freed_fragments.values():
            if rec.addr <= addr < rec.addr + rec.size:
                return rec
        return None

    def frag_free(self, addr: int) -> None:
        """page_frag_free() in debug mode: the checks, then poison and quarantine."""
        rec = self._fragment_at(addr)
        if rec is None:
            self._untracked_free(addr)
            return
        if rec.holders > 1:  # another holder still has it (skb_frag_ref)
            rec.holders -= 1
            self._drop_frag_ref(rec.page, addr)
            return
        alive = rec.views.alive()
        if alive:
            raise UseAfterFreeError(
                _sites(f"page_frag_free({addr:#x}) of a {rec.describe()}", rec.site)
                + _view_sites(alive)
            )
        site = call_site()
        bad = self._redzone_offset(rec, RED_ACTIVE)
        overflow = self._redzone_message(rec, bad, RED_ACTIVE) if bad >= 0 else ""
        del self.fragments[rec.addr]
        del self.by_page[rec.page.addr][rec.addr]
        rec.freed = site
        _poison(rec.addr, rec.size)
        if rec.redzone:
            ctypes.memset(rec.addr + rec.size, RED_INACTIVE, rec.redzone)
        self.freed_fragments[rec.addr] = rec
        self._enqueue("fragment", rec, rec.size + rec.redzone, None)
        if overflow:
            raise RedZoneError(overflow + f"\n  freed at {site}")
        self._evict()

    def frag_ref(self, addr: int) -> None:
        """skb_frag_ref() of a fragment: one more holder before it may be poisoned."""
        rec = self._fragment_at(addr)
        if rec is not None:
            rec.holders += 1

    def _redzone_offset(self, rec: _Fragment, expect: int) -> int:
        if not rec.redzone:
            return -1
        return _first_bad(
            ctypes.string_at(rec.addr + rec.size, rec.redzone), bytes([expect]) * rec.redzone
        )

    def _redzone_message(self, rec: _Fragment, bad: int, expect: int) -> str:
        got = ctypes.string_at(rec.addr + rec.size + bad, 1)[0]
        return _sites(
            f"red zone overwritten: {rec.describe()}: byte {rec.size + bad} (red zone offset "
            f"{bad}, address {rec.addr + rec.size + bad:#x}) is {got:#04x}, not {expect:#04x}",
            rec.site,
            rec.freed,
        )

    def _untracked_free(self, addr: int) -> None:
        """A free of an address no live fragment holds: a double free, a foreign address, or
        a buffer fragpool carved without a frag cache (a capture chunk, a driver page)."""
        pa = self.pa
        old = self.freed_fragments.get(addr)
        if old is None:
            old = self.recent_free.get(addr)
        if old is not None:
            raise DoubleFreeError(
                _sites(f"page_frag_free({addr:#x}): double free of a {old.describe()}", old.site)
                + f"\n  first freed at {old.freed}\n  freed again at {call_site()}"
            )
        page = pa.head_page(addr)
        if page is None:
            page = pa._memmap.get(addr >> pa.page_shift)
            if page is None:
                raise BadPageError(
                    f"page_frag_free({addr:#x}): not in any fragpool arena (an address "
                    f"fragpool never handed out), at {call_site()}"
                )
            if page.ref <= 0:
                raise DoubleFreeError(
                    f"page_frag_free({addr:#x}): page {page.addr:#x} is already free (double "
                    "free)" + self.page_history(page) + f"\n  freed again at {call_site()}"
                )
        if page.addr in self.by_page:
            raise BadPageError(
                f"page_frag_free({addr:#x}): no fragment fragpool handed out holds this "
                f"address (page {page.addr:#x} is carved by a page_frag cache)"
                + self.page_history(page)
                + f"\n  freed at {call_site()}"
            )
        self._drop_frag_ref(page, addr)

    def _drop_frag_ref(self, page: Page, addr: int) -> None:
        """The non-debug body of page_frag_free on a known page."""
        pa = self.pa
        n = page.ref - 1
        page.ref = n
        pa.frag_frees += 1
        if n <= 0:
            pa._ref_zero(page, n, addr)

    # ---------------------------------------------------------------- pages
    def page_alloc(self, page: Page) -> None:
        """page_owner: remember who allocated ``page``."""
        self.pages[page.addr] = _PageRecord(page, call_site())

    def page_freed(self, page: Page) -> None:
        """__free_pages() in debug mode: poison the block and quarantine it."""
        pa = self.pa
        with pa._lock:
            del pa._live[page.addr]
            pa.pages_freed[page.order] += 1
        rec = self.pages.pop(page.addr, None)
        if rec is None or rec.page is not page:
            rec = _PageRecord(page, Site("?", 0, "?", ()))
        rec.freed = call_site()
        self.freed_pages[page.addr] = rec
        self.freed_pages.move_to_end(page.addr)
        while len(self.freed_pages) > FREE_HISTORY:
            self.freed_pages.popitem(last=False)
        frags = self.by_page.pop(page.addr, None)
        alive = rec.views.alive()
        if not alive:
            _poison(page.addr, page.size)
        self._enqueue("page", rec, page.size, None)
        if frags:
            lost = next(iter(frags.values()))
            raise BadPageError(
                _sites(
                    f"{rec.describe()} freed while {len(frags)} fragment(s) carved from it "
                    f"were never freed; the first is a {lost.describe()}",
                    lost.site,
                )
            )
        if alive:
            raise UseAfterFreeError(
                _sites(f"{rec.describe()} freed", rec.site, rec.freed)
                + _view_sites(alive)
                + "\n  (the free stands; the page is held back until the view is gone)"
            )
        self._evict()

    def page_history(self, page: Page) -> str:
        """Where ``page`` was allocated and freed, for an error message ('' if unknown)."""
        rec = self.freed_pages.get(page.addr)
        if rec is None or rec.page is not page:
            rec = self.pages.get(page.addr)
            if rec is None or rec.page is not page:
                return ""
        return _sites("", rec.site, rec.freed)

    # ---------------------------------------------------------------- views
    def view(self, addr: int, length: int) -> memoryview:
        """pa.view() in debug mode: a counted view (of live memory only)."""
        pa = self.pa
        rec: Any = self._fragment_at(addr)
        if rec is None:
            page = pa.head_page(addr)
            freed = self._freed_fragment_at(addr)
            if page is None or freed is not None:
                old = pa._memmap.get(addr >> pa.page_shift)
                if freed is not None or old is not None:
                    what = freed.describe() if freed is not None else f"page {old.addr:#x}"
                    history = (
                        _sites("", freed.site, freed.freed)
                        if freed is not None
                        else self.page_history(old)
                    )
                    raise UseAfterFreeError(
                        f"view of {length} bytes at {addr:#x}: the {what} is free"
                        + history
                        + f"\n  view made at {call_site()}"
                    )
                pa.page_of(addr)  # raises: not in any arena
            rec = self.pages.get(page.addr)
            if rec is None or rec.page is not page:
                rec = self.pages[page.addr] = _PageRecord(page, Site("?", 0, "?", ()))
        arena = pa.page_of(addr).arena
        if length < 0 or addr + length > arena.base + arena.size:
            raise BadPageError(f"view of {length} bytes at {addr:#x} runs past its arena")
        return rec.views.make(addr, length, call_site())

    # ---------------------------------------------------------------- skbs
    def skb_made(self, skb: Any) -> None:
        """An skb was built: record its site and make its views counted ones."""
        rec = _SkbRecord(call_site(), skb.head, skb.end)
        self.skbs[id(skb)] = rec
        skb._mv = TrackedBuffer(skb._mv, skb._mbase, rec)
        skb._page = None  # the inline free path skips the checks: keep frees on the slow one

    def skb_has_views(self, skb: Any) -> bool:
        """Whether a view of ``skb``'s data is still alive."""
        rec = self.skbs.get(id(skb))
        return rec is not None and bool(rec.views.alive())

    def skb_moved(self, skb: Any) -> None:
        """The skb's head was copied elsewhere (a ring's copybreak): track the new buffer."""
        rec = self.skbs.get(id(skb))
        if rec is None:
            self.skb_made(skb)
            return
        rec.head, rec.end = skb.head, skb.end
        skb._mv = TrackedBuffer(skb._mv, skb._mbase, rec)
        skb._page = None

    def skb_put_data(self, skb: Any, reclaim: bool = False) -> None:
        """skb_release_data() in debug mode (free() and the reclaim; ``_live`` is cleared)."""
        rec = self.skbs.get(id(skb))
        last = skb._shared is None or skb._shared.dataref == 1
        if rec is not None and last:
            alive = rec.views.alive()
            if alive:
                what = f"a {skb.len}-byte skb (head {rec.head:#x})"
                if reclaim:
                    warnings.warn(
                        ResourceWarning(
                            _sites(f"{what} dropped without free() under a live view", rec.site)
                            + _view_sites(alive)
                            + "\n  (its data is kept for the view)"
                        ),
                        stacklevel=2,
                    )
                    return
                skb._live = True
                raise UseAfterFreeError(
                    _sites(f"free of {what}", rec.site)
                    + _view_sites(alive)
                    + f"\n  free attempted at {call_site()} (the skb is still live)"
                )
        if rec is not None:
            del self.skbs[id(skb)]
        site = call_site()
        self.skb_frees[id(skb)] = site
        if len(self.skb_frees) > FREE_HISTORY:
            self.skb_frees.popitem(last=False)
        if skb._shared is not None:
            skb._drop_data()
            skb._mv = None
            return
        if skb.frags:
            _put_frags(skb)
        head_mem, head = skb.head_mem, skb.head
        skb._mv = None
        # A head on a tracked fragment is quarantined by its own free; one on other pool
        # memory (a capture chunk) is quarantined here; a heap or ring head goes at once.
        if (
            rec is None
            or rec.head != head
            or head_mem is not self.pa
            or self._fragment_at(head) is not None
        ):
            head_mem.frag_free(head)
            return
        rec.freed = site
        size = rec.end - rec.head
        _poison(head, size)
        self._enqueue("skb", rec, size, (head_mem, head))
        self._evict()

    def skb_double_free(self, skb: Any) -> str:
        """What to say about a second free of ``skb`` (its first free's site, when known)."""
        site = self.skb_frees.get(id(skb))
        where = f"\n  first freed at {site}" if site is not None else ""
        again = call_site()
        return f"skb {id(skb):#x} freed twice (or used after free){where}\n  freed again at {again}"

    def skb_reclaim(self, skb: Any) -> None:
        """An skb dropped without free(): warn with its site, then release its data."""
        rec = self.skbs.get(id(skb))
        where = f" allocated at {rec.site}" if rec is not None else ""
        if rec is not None and not rec.views.alive():
            warnings.warn(
                ResourceWarning(
                    f"a {skb.len}-byte skb{where} was dropped without free(); "
                    "its data was reclaimed"
                ),
                stacklevel=2,
            )
        self.skb_put_data(skb, reclaim=True)

    # ---------------------------------------------------------------- quarantine
    def _enqueue(self, kind: str, rec: Any, nbytes: int, release: Any) -> None:
        self.quarantine.append((kind, rec, nbytes, release))
        self.quarantined += nbytes

    def _evict(self, limit: int | None = None) -> None:
        """Return the oldest quarantined memory until the quarantine is under ``limit``."""
        if self._evicting:  # a return that frees a page lands here: the outer loop goes on
            return
        self._evicting = True
        try:
            self._evict_to(self.quarantine_bytes if limit is None else limit)
        finally:
            self._evicting = False

    def _evict_to(self, bound: int) -> None:
        quarantine = self.quarantine
        held: list[tuple[str, Any, int, Any]] = []
        errors: list[DebugError] = []
        while quarantine and self.quarantined > bound:
            entry = quarantine.popleft()
            kind, rec, nbytes, release = entry
            if rec.views.alive():  # a view outlived its free: keep the memory for it
                held.append(entry)
                self.quarantined -= nbytes
                continue
            self.quarantined -= nbytes
            self.evictions += 1
            problem = self._verify(kind, rec)
            if problem is not None:
                errors.append(problem)
            self._give_back(kind, rec, release)
        for entry in held:
            quarantine.append(entry)
            self.quarantined += entry[2]
        if errors:
            raise errors[0]

    def _verify(self, kind: str, rec: Any) -> DebugError | None:
        """None if the freed memory still holds its poison (and red zone), else the error."""
        if kind == "fragment":
            addr, size = rec.addr, rec.size
        elif kind == "page":
            addr, size = rec.page.addr, rec.page.size
        else:
            addr, size = rec.head, rec.end - rec.head
        bad = _first_bad(ctypes.string_at(addr, size), _poison_bytes(size))
        if bad >= 0:
            got = ctypes.string_at(addr + bad, 1)[0]
            return UseAfterFreeError(
                _sites(
                    f"use after free: {rec.describe()} was written after its free: byte {bad} "
                    f"(address {addr + bad:#x}) is {got:#04x}, not the poison "
                    f"{(POISON_END if bad == size - 1 else POISON_FREE):#04x}",
                    rec.site,
                    rec.freed,
                )
            )
        if kind == "fragment":
            off = self._redzone_offset(rec, RED_INACTIVE)
            if off >= 0:
                return RedZoneError(self._redzone_message(rec, off, RED_INACTIVE))
        return None

    def _give_back(self, kind: str, rec: Any, release: Any) -> None:
        if kind == "fragment":
            self.freed_fragments.pop(rec.addr, None)
            self.recent_free[rec.addr] = rec
            if len(self.recent_free) > FREE_HISTORY:
                self.recent_free.popitem(last=False)
            self._drop_frag_ref(rec.page, rec.addr)
        elif kind == "page":
            self.pa._give_page_block(rec.page)
        else:
            head_mem, head = release
            head_mem.frag_free(head)

    def flush(self) -> bool:
        """Verify and return everything in quarantine (held-back memory under a live view
        stays); True if anything was returned."""
        before = self.evictions
        while True:
            n = self.evictions
            self._evict(0)
            if self.evictions == n:
                break
        return self.evictions != before

    # ---------------------------------------------------------------- check and leaks
    def check(self) -> None:
        """Verify every live fragment's red zone and all quarantined poison; raise the first
        fault found (RedZoneError or UseAfterFreeError)."""
        self.checks += 1
        for rec in list(self.fragments.values()):
            bad = self._redzone_offset(rec, RED_ACTIVE)
            if bad >= 0:
                raise RedZoneError(self._redzone_message(rec, bad, RED_ACTIVE))
        for kind, rec, _nbytes, _release in list(self.quarantine):
            if kind == "page" and rec.views.alive():
                continue
            problem = self._verify(kind, rec)
            if problem is not None:
                raise problem

    def leaks(self) -> list[Leak]:
        """Outstanding fragments, skbs and pages grouped by allocation site, largest first.

        Pages carved by a page_frag cache are represented by their fragments; the quarantine
        is emptied first, so what remains is what the program holds.
        """
        self.flush()
        groups: dict[tuple[str, str, int, str], list[Any]] = {}

        def add(kind: str, site: Site, nbytes: int) -> None:
            key = (kind, site.file, site.line, site.function)
            entry = groups.get(key)
            if entry is None:
                groups[key] = [0, 0, site.stack]
                entry = groups[key]
            entry[0] += 1
            entry[1] += nbytes

        for rec in self.fragments.values():
            add("fragment", rec.site, rec.size)
        for rec in self.skbs.values():
            add("skb", rec.site, rec.end - rec.head)
        for page in self.pa.live_pages():
            if page.addr in self.by_page:
                continue
            rec = self.pages.get(page.addr)
            if rec is None or rec.page is not page:
                rec = _PageRecord(page, Site("?", 0, "?", ()))
            add("page", rec.site, page.size)
        leaks = [
            Leak(kind, file, line, function, count, nbytes, stack)
            for (kind, file, line, function), (count, nbytes, stack) in groups.items()
        ]
        leaks.sort(key=lambda leak: (-leak.bytes, -leak.count, leak.file, leak.line))
        return leaks

    def report(self, what: str, file: Any = None) -> list[Leak]:
        """Print the leak report for the teardown of ``what`` when anything is in flight."""
        leaks = self.leaks()
        if leaks:
            print(
                f"fragpool debug: {what} torn down with memory still in flight:\n"
                + format_leaks(leaks),
                file=file if file is not None else sys.stderr,
            )
        return leaks


def _put_frags(skb: Any) -> None:
    frag_free = skb.pa.frag_free
    for addr, _size in skb.frags:
        frag_free(addr)
    skb.frags.clear()
