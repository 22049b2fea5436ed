"""The ``-w`` output of `fragpool capture`: one file, standard output, or tcpdump's rotation.

``-w -`` writes the capture to standard output (so it pipes into ``tcpdump -r -``). With
``-C SIZE`` a new file is started before a packet would be written to a file already
larger than SIZE millions of bytes: OUT, then OUT1, OUT2, ...; ``-W COUNT`` names them with
a fixed number of digits (OUT0 .. OUT{COUNT-1}) and starts again at the first, a ring of
files. With ``-G SECONDS`` the file is replaced every SECONDS (checked as packets arrive),
OUT being a strftime(3) pattern of the local time (no number added unless -C is given
too); ``-W COUNT`` then stops the capture after COUNT files. These are tcpdump's rules.
Each file is closed whole before the next opens, so a signal between packets leaves every
file complete.

Every failure to open or write is a :class:`SaveFileError` whose message names the file.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from ..io.files.linktypes import MAXIMUM_SNAPLEN
from ..io.files.writer import PcapWriter, open_dump

MEGA = 1_000_000  # tcpdump's -C unit: millions of bytes


class SaveFileError(Exception):
    """Writing the capture failed; the message is one line naming the file."""


class FileLimitReached(Exception):  # noqa: N818 - a stop signal, not a failure
    """-G with -W: the last of the COUNT files is full (tcpdump exits with status 0)."""


def _digits(count: int) -> int:
    """How many digits tcpdump gives the numbers of COUNT rotated files (those of COUNT-1)."""
    return len(str(count - 1)) if count > 1 else 0


class SaveFiles:
    """Where the packets go: ``write(skb)``, ``close()``; ``names`` lists the files opened.

    ``like`` is the reader of a classic pcap input, whose header a pcap output repeats (so
    a copy is byte-identical); otherwise the file declares ``snaplen``, as tcpdump's do. A
    name ending in .pcapng is written as pcapng.
    """

    def __init__(
        self,
        out: str,
        linktype: int,
        *,
        snaplen: int = MAXIMUM_SNAPLEN,
        like: Any = None,
        file_size: int | None = None,
        file_count: int | None = None,
        rotate_seconds: int | None = None,
        packet_buffered: bool = False,
        nanosecond: bool = False,
    ) -> None:
        self.out = out
        self.packet_buffered = packet_buffered
        self.nanosecond = nanosecond  # --nano: nanosecond pcap, else microseconds
        self.linktype = linktype
        self.snaplen = snaplen
        self.like = like
        self.limit = file_size * MEGA if file_size else None
        self.count = file_count
        self.seconds = rotate_seconds
        # numbered files are -C's: with -G alone the strftime pattern names each file
        self.digits = _digits(file_count) if file_count and file_size else 0
        self.names: list[str] = []
        self.packets = 0
        self._number = 0
        self._rotations = 0
        self._opened_at = time.time()
        self._writer: Any = None
        self._open(self._name(0))

    @property
    def stdout(self) -> bool:
        return self.out == "-"

    def _name(self, number: int) -> str:
        base = self.out
        if self.seconds:
            base = time.strftime(base, time.localtime(self._opened_at))
        if number == 0 and self.digits == 0:
            return base
        return f"{base}{number:0{self.digits}d}"

    def _open(self, name: str) -> None:
        target: Any = sys.stdout.buffer if self.stdout else name
        shown = "standard output" if self.stdout else name
        try:
            if self.like is not None and not name.endswith(".pcapng"):
                self._writer = PcapWriter.like(self.like, target)
            else:
                self._writer = open_dump(
                    target, self.linktype, snaplen=self.snaplen, nanosecond=self.nanosecond
                )
        except OSError as err:
            raise SaveFileError(f"{shown}: {err.strerror or err}") from None
        if name not in self.names:
            self.names.append(name)

    def _rotate(self) -> None:
        now = time.time()
        if self.seconds and now - self._opened_at >= self.seconds:
            self._rotations += 1
            if self.count and self._rotations >= self.count:
                raise FileLimitReached(f"Maximum file limit reached: {self.count}")
            self._close_current()
            self._opened_at = now
            self._number = 0
            self._open(self._name(0))
        if self.limit is not None and self._writer.size > self.limit:
            self._close_current()
            self._number += 1
            if self.count and self._number >= self.count:
                self._number = 0
            self._open(self._name(self._number))

    def write(self, skb: Any) -> None:
        """Write one packet, starting the next file first when the rotation rules say so."""
        if not self.stdout and (self.limit is not None or self.seconds):
            self._rotate()
        try:
            self._writer.write(skb)
            if self.packet_buffered:  # -U
                self._writer.flush()
        except BrokenPipeError:  # the reader of -w - went away: the capture just ends
            raise
        except OSError as err:
            raise self._failed(self._writer, err) from None
        except ValueError as err:  # a link type the file cannot hold: the message names it
            raise SaveFileError(str(err)) from None
        self.packets += 1

    def write_batch(self, skbs: list) -> None:
        """Write a batch of packets: in one call to the writer, unless a rotation rule or
        -U needs a look after each packet."""
        if self.limit is not None or self.seconds or self.packet_buffered:
            for skb in skbs:
                self.write(skb)
            return
        writer = self._writer
        before = writer.packets
        try:
            writer.write_skbs(skbs)
        except BrokenPipeError:
            raise
        except OSError as err:
            raise self._failed(writer, err) from None
        except ValueError as err:  # a link type the file cannot hold: the message names it
            raise SaveFileError(str(err)) from None
        finally:
            self.packets += writer.packets - before

    def _where(self) -> str:
        return "standard output" if self.stdout else self.names[-1]

    def _close_current(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.close()
            except BrokenPipeError:
                raise
            except OSError as err:
                raise self._failed(writer, err) from None

    def _failed(self, writer: Any, err: OSError) -> SaveFileError:
        """A write that failed (a full disk): the error, and what the file holds."""
        text = f"{self._where()}: {err.strerror or err}"
        if getattr(writer, "cut_back", False):
            text += (
                f"; {writer.packets_written} packets written to it, the file ends on the "
                "last whole record"
            )
        return SaveFileError(text)

    def close(self) -> None:
        """Close the current file (flushing it: a full disk shows here, naming the file)."""
        self._close_current()
