"""Fuzz target: the pcap/pcapng reader on arbitrary bytes, as a file and as a stream.

Any input is refused at its header, or reads to its end or raises CaptureFormatError
(strict); past the header the lenient reader never raises; either way every page of the
reader's own allocator is back after close (no leak). Run by fuzz/run.py under atheris;
the suite replays fuzz/regressions/.
"""

from __future__ import annotations

import io
import sys

from fragpool.io.files.errors import CaptureFormatError
from fragpool.io.files.reader import open_offline
from fragpool.mm import PageAllocator


class _Stream(io.RawIOBase):
    """A pipe-like stream: no seek, short reads."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data, self._at = data, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # noqa: ANN001
        n = min(len(b), 7 + (self._at % 5000), len(self._data) - self._at)
        b[:n] = self._data[self._at : self._at + n]
        self._at += n
        return n


def _read(source: object, strict: bool) -> None:
    pa = PageAllocator(budget=8 << 20)
    try:
        reader = open_offline(source, strict=strict, allocator=pa)
    except CaptureFormatError:
        return  # not a capture at all (its header): refused in either mode
    try:
        with reader:
            for skb in reader:
                bytes(skb[:16])
                skb.free()
    except CaptureFormatError:
        if not strict:
            raise  # a lenient read skips damage, it does not stop at it
    if pa.in_use_pages():
        raise AssertionError(f"{pa.in_use_pages()} pages still in use after close")


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    _read(io.BytesIO(data), strict=True)
    _read(_Stream(data), strict=len(data) % 2 == 0)


if __name__ == "__main__":
    import atheris

    atheris.instrument_all()  # the Python code's coverage too (the C is clang's)
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
