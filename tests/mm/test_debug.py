"""Debug mode (fragpool.mm.debug): each fault class raises its error naming both call sites.

Runs in the compiled and the pure run alike. Faults are made the way a user makes them: a
view kept past a free, a write through a stale address (ctypes, as a C extension would), a
write past a fragment's end, a second free, a foreign address, a dropped skb.
"""

from __future__ import annotations

import ctypes
import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fragpool.io.files.reader import open_offline
from fragpool.mm import PageAllocator, PageFragCache
from fragpool.mm.debug import POISON_FREE, REDZONE
from fragpool.mm.errors import (
    BadPageError,
    DebugError,
    DoubleFreeError,
    RedZoneError,
    UseAfterFreeError,
)
from fragpool.skb.skbuff import SkbDoubleFreeError, SkbStateError

SAMPLE = Path(__file__).resolve().parents[2] / "fragpool" / "data" / "sample.pcap"


def here() -> str:
    """``file:line`` of the caller: what a message must name for that line."""
    frame = sys._getframe(1)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def above() -> str:
    """``file:line`` of the line before the caller's."""
    frame = sys._getframe(1)
    return f"{frame.f_code.co_filename}:{frame.f_lineno - 1}"


@pytest.fixture
def pa() -> PageAllocator:
    return PageAllocator(debug=True)


@pytest.fixture
def cache(pa: PageAllocator) -> PageFragCache:
    return PageFragCache(pa)


def test_off_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRAGPOOL_DEBUG", raising=False)
    off = PageAllocator()
    assert off.debug is None
    with pytest.raises(RuntimeError, match="needs debug mode"):
        off.check()
    with pytest.raises(RuntimeError, match="needs debug mode"):
        off.leaks()
    monkeypatch.setenv("FRAGPOOL_DEBUG", "1")
    assert PageAllocator().debug is not None
    assert PageAllocator(debug=False).debug is None
    monkeypatch.setenv("FRAGPOOL_DEBUG", "0")
    assert PageAllocator().debug is None


def test_errors_share_one_base() -> None:
    for cls in (BadPageError, DoubleFreeError, RedZoneError, UseAfterFreeError):
        assert issubclass(cls, DebugError)
    assert issubclass(DoubleFreeError, BadPageError) and issubclass(BadPageError, ValueError)
    assert issubclass(SkbDoubleFreeError, DoubleFreeError)
    assert issubclass(SkbDoubleFreeError, SkbStateError)


# ------------------------------------------------------------------ 1. views outliving
def test_a_live_view_refuses_the_fragment_free(pa: PageAllocator, cache: PageFragCache) -> None:
    addr, made = cache.alloc(100), here()
    view, viewed = pa.view(addr, 100), here()
    view[:5] = b"hello"
    with pytest.raises(UseAfterFreeError) as err:
        pa.frag_free(addr)
    text = str(err.value)
    assert f"{addr:#x}" in text and "100-byte fragment" in text
    assert f"allocated at {made}" in text
    assert f"a view made at {viewed}" in text
    assert bytes(view[:5]) == b"hello"  # refused: nothing was freed or poisoned
    del view
    pa.frag_free(addr)  # the view is gone: the free goes through
    assert pa.leaks() == []


def test_a_slice_of_the_view_counts_too(pa: PageAllocator, cache: PageFragCache) -> None:
    addr = cache.alloc(64)
    part = pa.view(addr, 64)[8:16]
    with pytest.raises(UseAfterFreeError):
        pa.frag_free(addr)
    del part
    pa.frag_free(addr)


def test_a_live_view_refuses_the_skb_free(pa: PageAllocator) -> None:
    with open_offline(SAMPLE, allocator=pa) as reader:
        skb, made = next(reader), here()
        view, viewed = skb.read(0, 14), here()
        with pytest.raises(UseAfterFreeError) as err:
            skb.free()
        text = str(err.value)
        assert f"allocated at {made}" in text
        assert f"a view made at {viewed}" in text
        assert "still live" in text
        assert skb.is_live  # refused: the skb keeps its data
        header = bytes(view)
        del view
        assert bytes(skb)[:14] == header
        skb.free()
    assert pa.leaks() == []


def test_a_view_of_freed_memory_is_refused(pa: PageAllocator, cache: PageFragCache) -> None:
    addr = cache.alloc(100)
    pa.frag_free(addr)
    with pytest.raises(UseAfterFreeError, match="is free"):
        pa.view(addr, 10)


# ------------------------------------------------------------------ 2. write after free
def test_a_write_after_free_is_caught_by_check(pa: PageAllocator, cache: PageFragCache) -> None:
    addr, made = cache.alloc(100), here()
    pa.frag_free(addr)
    freed = above()
    assert ctypes.string_at(addr, 2) == bytes([POISON_FREE]) * 2
    ctypes.memset(addr + 40, 0x41, 1)  # a stale pointer's write
    with pytest.raises(UseAfterFreeError) as err:
        pa.check()
    text = str(err.value)
    assert "written after its free: byte 40" in text
    assert f"{addr + 40:#x}" in text and "0x41" in text
    assert f"allocated at {made}" in text and f"freed at {freed}" in text


def test_a_write_after_free_is_caught_leaving_quarantine(
    pa: PageAllocator, cache: PageFragCache
) -> None:
    first = cache.alloc(200)
    pa.frag_free(first)
    ctypes.memset(first + 199, 0, 1)  # overwrites POISON_END
    pa.debug.quarantine_bytes = 0  # the next free pushes the oldest out
    second = cache.alloc(50)
    with pytest.raises(UseAfterFreeError, match="byte 199"):
        pa.frag_free(second)
    assert pa.leaks() == []  # both went back: nothing is lost to the report


def test_freed_memory_is_not_handed_out_while_quarantined(
    pa: PageAllocator, cache: PageFragCache
) -> None:
    addr = cache.alloc(1000)
    pa.frag_free(addr)
    again = {cache.alloc(1000) for _ in range(64)}
    assert addr not in again


def test_an_skb_written_after_free_is_caught(pa: PageAllocator) -> None:
    with open_offline(SAMPLE, allocator=pa) as reader:
        skb, made = next(reader), here()
        head = skb.head
        skb.free()
        ctypes.memset(head, 0, 1)
        with pytest.raises(UseAfterFreeError) as err:
            pa.check()
        ctypes.memset(head, POISON_FREE, 1)  # undo it, or the reader's teardown reports it
    text = str(err.value)
    assert "skb head" in text and "byte 0" in text and f"allocated at {made}" in text


# ------------------------------------------------------------------ 3. overflow
def test_an_overflow_is_caught_by_check_and_free(pa: PageAllocator, cache: PageFragCache) -> None:
    addr, made = cache.alloc(100), here()
    neighbour = cache.alloc(100)
    assert neighbour >= addr + 100 + REDZONE
    ctypes.memmove(addr + 100, b"oops", 4)  # 4 bytes past the end
    with pytest.raises(RedZoneError) as err:
        pa.check()
    text = str(err.value)
    assert "byte 100" in text and f"allocated at {made}" in text
    with pytest.raises(RedZoneError, match="red zone overwritten"):
        pa.frag_free(addr)
    with pytest.raises(DoubleFreeError):  # the free itself went through
        pa.frag_free(addr)
    pa.frag_free(neighbour)
    assert pa.leaks() == []


def test_an_overflow_through_a_view_is_caught(pa: PageAllocator, cache: PageFragCache) -> None:
    addr = cache.alloc(100)
    view = pa.view(addr, 104)
    view[100:104] = b"\0\0\0\0"
    del view
    with pytest.raises(RedZoneError, match="is 0x00, not 0xcc"):
        pa.frag_free(addr)


# ------------------------------------------------------------------ 4. double and foreign free
def test_a_fragment_freed_twice(pa: PageAllocator, cache: PageFragCache) -> None:
    addr, made = cache.alloc(100), here()
    pa.frag_free(addr)
    first = above()
    with pytest.raises(DoubleFreeError) as err:
        pa.frag_free(addr)
    again = above()
    text = str(err.value)
    assert "double free" in text and f"allocated at {made}" in text
    assert f"first freed at {first}" in text
    assert f"freed again at {again}" in text


def test_a_fragment_freed_twice_after_quarantine(pa: PageAllocator, cache: PageFragCache) -> None:
    addr = cache.alloc(100)
    pa.debug.quarantine_bytes = 0
    pa.frag_free(addr)
    assert not pa.debug.quarantine
    with pytest.raises(DoubleFreeError, match="first freed at"):
        pa.frag_free(addr)


def test_an_skb_freed_twice(pa: PageAllocator) -> None:
    with open_offline(SAMPLE, allocator=pa) as reader:
        skb = next(reader)
        skb.free()
        first = above()
        with pytest.raises(SkbDoubleFreeError) as err:
            skb.free()
    assert f"first freed at {first}" in str(err.value)


def test_a_page_put_twice(pa: PageAllocator) -> None:
    page, made = pa.alloc_pages(0), here()
    pa.put_page(page)
    first = above()
    with pytest.raises(DoubleFreeError) as err:
        pa.put_page(page)
    text = str(err.value)
    assert f"allocated at {made}" in text
    assert f"freed at {first}" in text


def test_foreign_addresses(pa: PageAllocator, cache: PageFragCache) -> None:
    buf = ctypes.create_string_buffer(64)
    with pytest.raises(BadPageError, match="not in any fragpool arena"):
        pa.frag_free(ctypes.addressof(buf))
    addr = cache.alloc(100)
    page = pa.page_of(addr)
    with pytest.raises(BadPageError, match="no fragment fragpool handed out"):
        pa.frag_free(page.addr + page.size - 8)  # carved from, but never handed out
    pa.frag_free(addr)  # the real fragment is untouched by the refused frees


# ------------------------------------------------------------------ 5. leaks
def test_leaks_are_grouped_by_site_largest_first(pa: PageAllocator, cache: PageFragCache) -> None:
    small = [cache.alloc(100) for _ in range(3)]
    small_at = above()
    big, big_at = cache.alloc(2000), here()
    leaks = pa.leaks()
    assert [(leak.kind, leak.count, leak.bytes) for leak in leaks] == [
        ("fragment", 1, 2000),
        ("fragment", 3, 300),
    ]
    assert f"{leaks[0].file}:{leaks[0].line}" == big_at
    assert f"{leaks[1].file}:{leaks[1].line}" == small_at
    assert leaks[1].function == "<listcomp>" or leaks[1].function.startswith("test_leaks")
    for addr in [*small, big]:
        pa.frag_free(addr)
    assert pa.leaks() == []


def test_a_reader_torn_down_with_skbs_out_names_them(
    pa: PageAllocator, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_offline(SAMPLE, allocator=pa) as reader:
        kept = [next(reader) for _ in range(3)]
        kept_at = above()
    err = capsys.readouterr().err
    assert f"reader of {SAMPLE}" in err and "still in flight" in err
    assert "3 skbs" in err and kept_at in err
    for skb in kept:
        skb.free()
    assert pa.leaks() == [] and pa.in_use_pages() == 0


def test_a_clean_teardown_prints_nothing(
    pa: PageAllocator, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_offline(SAMPLE, allocator=pa) as reader:
        for skb in reader:
            skb.free()
    assert capsys.readouterr().err == ""
    pa.check()
    assert pa.in_use_pages() == 0


# ------------------------------------------------------------------ 6. dropped skbs
def test_a_dropped_skb_warns_with_its_site(pa: PageAllocator) -> None:
    with open_offline(SAMPLE, allocator=pa) as reader:
        skbs, made = list(reader), here()  # the reader's backlog lets go of them all
    for skb in skbs[1:]:
        skb.free()
    del skb
    with pytest.warns(ResourceWarning, match=f"allocated at {made}"):
        del skbs
        gc.collect()
    assert pa.skbs_reclaimed == 1 and pa.leaks() == []


# ------------------------------------------------------------------ the whole program
def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full, check=False
    )


def test_fragpool_debug_checks_a_whole_program() -> None:
    code = f"""
import ctypes, fragpool
from fragpool.mm import default_allocator
with fragpool.open_offline({str(SAMPLE)!r}) as r:
    skbs = list(r)
pa = default_allocator()
assert pa.debug is not None
for skb in skbs:
    skb.free()
skbs[0].free()
"""
    done = _run(code, FRAGPOOL_DEBUG="1")
    assert done.returncode == 1
    assert "SkbDoubleFreeError" in done.stderr and "first freed at <string>:9" in done.stderr


@pytest.mark.parametrize("command", [["driver", "-c", "300"], ["capture", "-r", str(SAMPLE)]])
def test_the_commands_take_debug(command: list[str]) -> None:
    code = "import sys, fragpool.cli; sys.exit(fragpool.cli.main(sys.argv[1:]))"
    env = {k: v for k, v in os.environ.items() if k != "FRAGPOOL_DEBUG"}
    done = subprocess.run(
        [sys.executable, "-c", code, *command, "--debug"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "in flight" not in done.stderr.replace("0 pages in flight", "")
    assert (
        "debug"
        in subprocess.run(
            [sys.executable, "-c", code, command[0], "--help"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        ).stdout
    )
