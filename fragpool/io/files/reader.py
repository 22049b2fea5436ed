"""The capture-file reader: an RX device with multi-packet buffers whose DMA is ``readinto``.

:func:`open_offline` (libpcap's pcap_open_offline) opens a pcap or pcapng file, gzip-
compressed or not, and returns an :class:`OfflineReader`: an iterator of skbs and a context
manager, with ``.linktype``, ``.stats()`` and :meth:`OfflineReader.read_batch`.

How a buffer lives. The reader takes a compound page from the page allocator (order 3,
32 KiB by default) and ``readinto``s the file straight into it. The format's parser walks
the records lying whole in the buffer and builds one skb per record on the bytes where they
lie; no packet byte is copied. Each skb holds one reference on the page, counted with the
bias trick of page_frag_cache: when the page is taken its refcount is raised once by the
page size, and each skb only decrements the reader's ``bias``. When the reader moves on it
drops its remaining bias with page_ref_sub_and_test. Zero means every skb of the buffer has
been freed already, so the page is reused in place; otherwise the reader forgets the page,
whose last skb's free releases it, and takes a new one. The bytes of a record cut by the
end of the buffer are copied once to the start of the next. A streaming read whose skbs are
freed as they come therefore keeps reusing one page however long the file. A record larger
than a page gets a buffer of its own.

Bad input raises :class:`~fragpool.io.files.errors.CaptureFormatError`, and only after every
good packet before the damage has been handed out. With ``strict=False`` the reader skips
damage where it can find its footing again and counts what it skipped.
"""

from __future__ import annotations

import ctypes
import io
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO

from ...mm import PageAllocator, default_allocator
from ...skb import SkBuff
from ...skb.pairs import timestamped_bytes
from ...stats import Snapshot
from ..backlog import ALL, Backlog
from ..bpf import FilterError, Program
from ..bpf import compile as compile_filter
from ..bpf.interp import filter_run
from ..bpf.libpcap import MAXIMUM_SNAPLEN
from .errors import CaptureFormatError
from .pcap import FILE_HEADER_LEN, PcapFormat, sniff_pcap

GZIP_MAGIC = b"\x1f\x8b"
#: The first four bytes of a pcapng file: a Section Header Block's type (a palindrome).
SHB_TYPE_BYTES = b"\x0a\x0d\x0d\x0a"
#: Order of the compound pages the reader fills (32 KiB with 4 KiB pages).
DEFAULT_ORDER = 3


class _OwnBuffers:
    """Owner of the private buffers of records too large for a page (kmalloc'd heads).

    ``frag_free(addr)`` is how an skb whose head is such a buffer releases it.
    """

    __slots__ = ("bufs",)

    def __init__(self) -> None:
        self.bufs: dict[int, ctypes.Array] = {}

    def frag_free(self, addr: int) -> None:
        del self.bufs[addr]


class OfflineReader:
    """An open capture file: an iterator of skbs whose data lie in pool pages.

    Use :func:`open_offline` to make one. Iterating hands out skbs one at a time;
    :meth:`read_batch` hands out up to ``budget`` at once (NAPI-style). Each skb has
    ``tstamp`` (integer nanoseconds since the epoch), ``wire_len`` (original length),
    ``ifindex`` (the pcapng interface id, or the modified-pcap interface index, else 0) and
    ``linktype``. Free every skb (``skb.free()``) when done with it: that is what lets the
    reader reuse its pages.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | BinaryIO,
        strict: bool = True,
        *,
        filter: str | None = None,  # noqa: A002 - libpcap's and tcpdump's word
        allocator: PageAllocator | None = None,
        order: int = DEFAULT_ORDER,
    ) -> None:
        self.strict = strict
        self.pa = allocator if allocator is not None else default_allocator()
        self.order = min(order, self.pa.max_order)
        self.path, raw, self._owns_raw = _open_source(source)
        self._raw = raw
        self._f: Any = raw
        try:
            first = _read_exact(raw, 4)
            self.compressed = first[:2] == GZIP_MAGIC
            if self.compressed:  # no seek back: a pipe cannot, so the bytes read are replayed
                self._f = _Gunzip(self.path, _Replay(first, raw))
                first = _read_exact(self._f, 4)
            self.fmt = self._open_format(first)
        except BaseException:
            self._close_files()
            raise
        self._page = None
        self._mv: memoryview | None = None
        self._mbase = 0
        self._start = 0
        self._size = 0
        self._bias = 0
        self._lo = 0
        self._hi = 0
        self._done = False
        self._closed = False
        self._error: CaptureFormatError | None = None
        self._backlog = Backlog()
        self._stream_it: Iterator[SkBuff] | None = None
        self._thread = 0  # the reading thread, once one has read
        #: lenient reads: why a damaged compressed stream ended the read early (or None)
        self.stream_damage: str | None = None
        self._own = _OwnBuffers()
        # counters
        self.parsed = 0  # skbs built, handed out or still waiting in the backlog
        self.discarded = 0  # skbs parsed ahead that close() freed unseen
        self.bytes_read = 0
        self.chunks = 0
        self.pages_taken = 0
        self.pages_reused = 0
        self.pages_forgotten = 0
        self.straddle_copies = 0
        self.straddle_bytes = 0
        self.oversize_records = 0
        self.filter = filter
        self.filter_dropped = 0
        self._programs: dict[int, Program] = {}
        try:
            if not isinstance(self.fmt, PcapFormat):
                self._prime()
            if filter is not None:  # a bad expression fails here, before any packet
                self._program(self.linktype if self.linktype >= 0 else 1)
                self._backlog.pending = self._filter(self._backlog.pending)
        except BaseException:
            self.close()
            raise

    def _open_format(self, first: bytes) -> Any:
        if sniff_pcap(first):
            header = first + self._read_exact(FILE_HEADER_LEN - len(first))
            self._chunk_off = FILE_HEADER_LEN
            self._prefix = b""
            return PcapFormat(header, self.path, self.pa, self.strict)
        if first == SHB_TYPE_BYTES:
            from .pcapng import PcapngFormat

            self._chunk_off = 0
            self._prefix = first
            return PcapngFormat(self.path, self.pa, self.strict)
        value = f"0x{first.hex()}" if first else "(empty file)"
        raise CaptureFormatError(self.path, 0, "magic", value, "not a pcap or pcapng file")

    def _read_exact(self, n: int) -> bytes:
        return _read_exact(self._f, n)

    def _prime(self) -> None:
        """pcapng: read ahead until the first interface is known (for ``.linktype``)."""
        while not self.fmt.interfaces_seen and not self._done and self._error is None:
            self._backlog.pending.extend(self._fill(False))

    # ------------------------------------------------------------------ the filter
    def _program(self, linktype: int) -> Program:
        """The filter compiled for one link type (a pcapng file may hold several)."""
        prog = self._programs.get(linktype)
        if prog is None:
            snaplen = self.fmt.snaplen or MAXIMUM_SNAPLEN
            prog = self._programs[linktype] = compile_filter(self.filter, linktype, snaplen)
        return prog

    def _filter(self, skbs: list[SkBuff]) -> list[SkBuff]:
        """Keep the skbs the filter accepts; free the rest (counted as filter_dropped). A link
        type the expression cannot be compiled for stops the read there, as damage does."""
        kept: list[SkBuff] = []
        i, n = 0, len(skbs)
        while i < n:
            try:
                prog = self._program(skbs[i].linktype)
            except FilterError as err:
                for rest in skbs[i:]:
                    rest.free()
                self._error = err
                break
            i, dropped = filter_run(prog, skbs, i, kept)
            self.filter_dropped += dropped
        return kept

    # ------------------------------------------------------------------ interface
    @property
    def linktype(self) -> int:
        """The link type of the file (pcapng: of the first interface; -1 if it has none)."""
        return self.fmt.linktype

    @property
    def snaplen(self) -> int:
        return self.fmt.snaplen

    @property
    def packets(self) -> int:
        """Packets handed out so far (parsed ahead of the user's reads is not handed out)."""
        return self.parsed - self._backlog.waiting() - self.discarded

    def __del__(self) -> None:
        # A reader dropped without close() still gives its page bias and backlog back.
        if not getattr(self, "_closed", True) and not sys.is_finalizing():
            self.close()

    def __enter__(self) -> OfflineReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _claim(self) -> None:
        """The calling thread reads: the first to read owns the reader, any other is refused
        at once (one file position, one parse state: two readers would tear records)."""
        me = threading.get_ident()
        if self._thread != me:
            if self._thread:
                raise RuntimeError(
                    f"{self.path}: a reader has one reading thread, and another thread "
                    "reads this one; open the file once per thread (skbs may be freed from "
                    "any thread)"
                )
            self._thread = me

    def __iter__(self) -> Iterator[SkBuff]:
        self._claim()
        # One stream per reader: a second iter() (islice in a loop, a for loop that broke
        # out) must continue where the first stopped, not lose the batch it was holding.
        stream = self._stream_it
        if stream is None:
            stream = self._stream_it = self._stream()
        return stream

    def __next__(self) -> SkBuff:
        return next(iter(self))  # iter() checks the thread

    def pairs(self) -> Iterator[tuple[float, bytes]]:
        """dpkt's loop: ``for ts, buf in reader.pairs()`` gives each packet's time (float
        seconds) and a copy of its bytes, the skb freed at once."""
        return timestamped_bytes(iter(self))

    def _stream(self) -> Iterator[SkBuff]:
        backlog = self._backlog
        while True:
            batch = backlog.take(ALL) or self._next_batch()
            if not batch:
                return
            it = backlog.cur = iter(batch)
            yield from it
            backlog.cur = None

    def read_batch(self, budget: int = 64) -> list[SkBuff]:
        """Up to ``budget`` skbs at once (fewer at a buffer's end); [] when the file ends.

        Raises CaptureFormatError at the damage, once every good skb before it was handed
        out.
        """
        if budget < 1:
            raise ValueError(f"budget {budget} must be >= 1")
        self._claim()
        backlog = self._backlog
        batch = backlog.take(budget)
        if not batch:
            backlog.pending = self._next_batch()
            batch = backlog.take(budget)
        return batch

    def stats(self) -> Snapshot:
        """Counters of this reader: ``packets`` handed out, ``parsed_ahead`` built but not
        handed out yet, ``filter_dropped``, buffers, page reuse, skipped damage, ..."""
        snap = Snapshot(
            packets=self.packets,
            parsed_ahead=self._backlog.waiting(),
            bytes_read=self.bytes_read,
            chunks=self.chunks,
            pages_taken=self.pages_taken,
            pages_reused=self.pages_reused,
            pages_forgotten=self.pages_forgotten,
            straddle_copies=self.straddle_copies,
            straddle_bytes=self.straddle_bytes,
            oversize_records=self.oversize_records,
            filter_dropped=self.filter_dropped,
            skipped_records=self.fmt.skipped_records,
            skipped_bytes=self.fmt.skipped_bytes,
            stream_damage=self.stream_damage,
            linktype=self.fmt.linktype,
            compressed=self.compressed,
        )
        snap.update(self.fmt.stats())
        return snap

    def close(self) -> None:
        """Free the skbs not handed out yet, give back the reader's page bias, close the file.

        skbs already handed out stay valid; their pages go when they are freed.
        """
        if self._closed:
            return
        self._closed = True
        self._done = True
        left = self._backlog.take(ALL)
        self.discarded = len(left)  # parsed ahead, never handed out
        for skb in left:
            skb.free()
        page, self._page = self._page, None
        if page is not None:
            self.pa.drain(page, self._bias)
        self._close_files()
        if self.pa.debug is not None:  # debug mode: name what is still in flight
            self.pa.debug.report(f"reader of {self.path}")

    def _close_files(self) -> None:
        if self._f is not self._raw:
            self._f.close()
        if self._owns_raw:
            self._raw.close()

    # ------------------------------------------------------------------ the device
    def _next_batch(self) -> list[SkBuff]:
        """The skbs of the next buffer(s) holding packets; [] at the end; deferred errors."""
        while True:
            if self._error is not None:
                err, self._error = self._error, None
                self._done = True
                raise err
            if self._done or self._closed:
                return []
            out = self._fill()
            if out:
                return out

    def _fill(self, filtered: bool = True) -> list[SkBuff]:
        """One buffer: move the cut record to a page, read, parse, filter. Errors are deferred."""
        out: list[SkBuff] = []
        try:
            self._chunk(out)
        except CaptureFormatError as err:
            self._error = err
        if filtered and self.filter is not None and out:
            out = self._filter(out)
        self.parsed += len(out)
        return out

    def _take_page(self) -> None:
        pa = self.pa
        for order in range(self.order, -1, -1):
            page = pa.alloc_pages(order)
            if page is not None:
                break
        else:
            raise MemoryError(
                f"{self.path}: the page allocator's budget of {pa.budget} bytes is used up"
            )
        pa.page_ref_add(page, page.size)
        self._bias = page.size + 1
        arena = page.arena
        self._page = page
        self._mv = arena.view
        self._mbase = arena.raw_addr
        self._start = page.addr - arena.raw_addr
        self._size = page.size
        self.pages_taken += 1

    def _recycle_page(self) -> None:
        """Reuse the page in place if every skb on it is gone, else forget it for a new one."""
        pa = self.pa
        page = self._page
        lo, hi = self._lo, self._hi
        if page is None:
            self._take_page()
            return
        if pa.page_ref_sub_and_test(page, self._bias) and not page.pfmemalloc:
            pa.set_page_count(page, page.size + 1)
            self._bias = page.size + 1
            self.pages_reused += 1
            if hi > lo:
                start = self._start
                self._mv[start : start + hi - lo] = bytes(self._mv[start + lo : start + hi])
            return
        if page.ref == 0:  # a pfmemalloc page nobody holds: it must not be reused
            pa.set_page_count(page, 1)
            pa.put_page(page)
        else:
            self.pages_forgotten += 1
        old_mv, old_start = self._mv, self._start
        self._take_page()
        if hi > lo:
            start = self._start
            self._mv[start : start + hi - lo] = old_mv[old_start + lo : old_start + hi]

    def _chunk(self, out: list[SkBuff]) -> None:
        fmt = self.fmt
        lo, hi = self._lo, self._hi
        left = hi - lo
        if left and fmt.need > self._size:
            self._oversize(out, fmt.need)
            return
        if self._page is None:
            self._take_page()
            left = len(self._prefix)
            start = self._start
            self._mv[start : start + left] = self._prefix
            self._prefix = b""
        else:
            self._recycle_page()
            self._chunk_off += lo
            if left:
                self.straddle_copies += 1
                self.straddle_bytes += left
        self.chunks += 1
        mv, start, size = self._mv, self._start, self._size
        # one read(2) at a time from a buffered stream (a pipe's stdin): what came is parsed
        # now, not once the buffer is full, so a slow pipe's records are handed out as they
        # arrive; a short read means nothing more is there yet (a regular file: its end)
        f = self._f
        readinto = getattr(f, "readinto1", None) or f.readinto
        filled = left
        eof = False
        while filled < size:
            want = size - filled
            n = readinto(mv[start + filled : start + size])
            if not n:
                eof = True
                break
            filled += n
            if n < want and filled > left:
                break
        self.bytes_read += filled - left
        self._lo, self._hi = 0, filled
        before = len(out)
        try:
            pos = fmt.parse(
                mv, self._mbase, start, filled, out, self.pa, self._page, self._chunk_off
            )
        finally:
            self._bias -= len(out) - before
        self._lo = pos
        if eof:
            self._done = True
            if self.compressed and self._f.error is not None:
                if self.strict:
                    raise self._f.error  # after the records before the damage were parsed
                self.stream_damage = str(self._f.error)  # lenient: the read ends here
            if pos < filled:
                fmt.truncated(self._chunk_off + pos, filled - pos)

    def _oversize(self, out: list[SkBuff], need: int) -> None:
        """A record larger than a page: read it whole into a buffer of its own."""
        lo, hi = self._lo, self._hi
        left = hi - lo
        buf = (ctypes.c_char * need)()
        mv = memoryview(buf).cast("B")
        start = self._start
        mv[:left] = self._mv[start + lo : start + hi]
        got = left
        readinto = self._f.readinto
        while got < need:
            n = readinto(mv[got:need])
            if not n:
                break
            got += n
        self.bytes_read += got - left
        offset = self._chunk_off + lo
        self._chunk_off = offset + got
        self._lo = self._hi = 0
        self.oversize_records += 1
        if got < need:
            self._done = True
            self.fmt.truncated(offset, got)
            return
        addr = ctypes.addressof(buf)
        before = len(out)
        pos = self.fmt.parse(mv, addr, 0, need, out, self._own, None, offset)
        for skb in out[before:]:
            self._own.bufs[skb.head] = buf
        if pos != need:
            raise CaptureFormatError(
                self.path, offset, "record length", need, "record could not be parsed whole"
            )


def open_offline(
    source: str | os.PathLike[str] | BinaryIO,
    strict: bool = True,
    *,
    filter: str | None = None,  # noqa: A002 - libpcap's and tcpdump's word
    allocator: PageAllocator | None = None,
    order: int = DEFAULT_ORDER,
) -> OfflineReader:
    """pcap_open_offline(): open a pcap or pcapng capture (optionally gzip'd) as skbs.

    ``source`` is a path, or a binary file object (a pipe, ``sys.stdin.buffer``, BytesIO:
    it is read forward only, never seeked, and left open). ``filter`` is a tcpdump
    expression compiled by libpcap and run on every packet (FilterError when it does not
    compile). ``strict=False`` skips damaged records where the reader can resynchronise
    (counted in ``stats()``) instead of raising CaptureFormatError. ``allocator`` is the
    PageAllocator the buffers come from (default: the process-wide one); ``order`` the order
    of the compound pages read into.
    """
    return OfflineReader(source, strict, filter=filter, allocator=allocator, order=order)


def _open_source(source: Any) -> tuple[str, Any, bool]:
    """(name for messages, the binary stream, whether the reader owns it) for a path or file."""
    if isinstance(source, (str, bytes, os.PathLike)):
        path = os.fsdecode(source)
        return path, open(path, "rb", buffering=0), True  # noqa: SIM115 - closed by close()
    if not callable(getattr(source, "read", None)):
        raise TypeError(
            f"open_offline() takes a path or a binary file object, not {type(source).__name__}"
        )
    if isinstance(source, io.TextIOBase):
        raise TypeError("open_offline() needs a binary file object; open the file with 'rb'")
    name = getattr(source, "name", None)
    path = name if isinstance(name, str) else f"<{type(source).__name__}>"
    if not callable(getattr(source, "readinto", None)):
        source = _Replay(b"", source)
    return path, source, False


def _read_exact(f: Any, n: int) -> bytes:
    """Up to ``n`` bytes: fewer only at the end of the stream (pipes return short reads)."""
    data = b""
    while len(data) < n:
        more = f.read(n - len(data))
        if not more:
            break
        data += more
    return data


class _Gunzip(io.RawIOBase):
    """A gzip stream whose damage (cut short, a bad CRC, corrupt deflate data) reads as the
    end of the data, with the CaptureFormatError kept in ``error`` for the reader to raise
    once the records before it are handed out."""

    def __init__(self, path: str, stream: Any) -> None:
        super().__init__()
        import gzip  # only for a compressed file (start-up time)

        self._gz = gzip.GzipFile(fileobj=stream, mode="rb")
        self._errors = (gzip.BadGzipFile, sys.modules["zlib"].error)
        self._path = path
        self._pos = 0  # bytes of the uncompressed stream handed out
        self.error: CaptureFormatError | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.error is not None:
            return 0
        try:
            n = self._gz.readinto(b)
        except EOFError:
            reason = "the compressed file ends before its end-of-stream marker (cut short)"
        except self._errors as err:
            reason = f"the compressed data is damaged ({err})"
        else:
            self._pos += n
            return n
        self.error = CaptureFormatError(self._path, self._pos, "gzip stream", "...", reason)
        return 0

    def close(self) -> None:
        self._gz.close()
        super().close()


class _Replay(io.RawIOBase):
    """A forward-only stream that first replays bytes already read from it (the sniffed
    magic of a pipe, which cannot seek back) and gives any ``read``-only object readinto."""

    def __init__(self, head: bytes, stream: Any) -> None:
        super().__init__()
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        read = getattr(self._stream, "read1", None) or self._stream.read
        data = read(len(view))
        if not data:
            return 0
        view[: len(data)] = data
        return len(data)
