"""What `fragpool capture` prints: tcpdump-like lines with their dumps, and the --json document.

Shared by the file source (capture.py) and the live one (_live_capture.py), with the signal
guard both capture loops run under.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from typing import Any

from ._fast_lines import CAPACITY, LineWriter
from ._tcpdump import Clock, Dissector, ascii_dump, hex_ascii_dump, hex_dump


class PacketPrinter:
    """One line per packet, as tcpdump prints it: the time column (-t..), the description
    (-e, -q), then the dump asked for (-x/-xx, -X/-XX, -A) and with -v scapy's summary."""

    def __init__(self, args: argparse.Namespace, out: Any) -> None:
        self.out = out
        self.clock = Clock(getattr(args, "tflag", 0), nano=getattr(args, "nano", False))
        self.number = 0 if getattr(args, "number", False) else None  # -#: packet numbers
        self.hex = getattr(args, "hex", 0)
        self.hex_ascii = getattr(args, "hex_ascii", 0)
        self.dissector = Dissector(
            quiet=getattr(args, "quiet", False),
            link=getattr(args, "link", False),
            dumping=bool(self.hex or self.hex_ascii),
            absolute=getattr(args, "absolute", False),
        )
        self.ascii = getattr(args, "ascii", 0)
        self.verbose = getattr(args, "verbose", 0)
        self.lines: list[str] = []  # this batch's lines, written at once by flush()
        #: the plain lines (no -e, -#, -v or dump) are written as bytes by a LineWriter
        plain = not (self.dissector.link or self.number is not None or self.verbose)
        plain = plain and not (self.hex or self.hex_ascii or self.ascii)
        self.fast = LineWriter(_binary_sink(out), self.clock, self.dissector) if plain else None
        if self.fast is not None:
            self.print = self.fast.write  # type: ignore[method-assign]

    def flush(self, eager: bool = True) -> None:
        """Write the lines printed since the last flush (``eager=False``: only once a
        buffer's worth has gathered, for a file read to its end)."""
        if self.fast is not None:
            if eager or self.fast.pos >= CAPACITY // 2:
                self.fast.flush()
                if eager:
                    _flush_binary(self.out)
        elif self.lines:
            self.out.write("".join(self.lines))
            self.lines.clear()

    def print(self, skb: Any) -> None:
        data = bytes(skb)
        text = self.clock.stamp(skb.tstamp) + self.dissector.line(data, skb.linktype, skb.wire_len)
        if self.number is not None:
            self.number += 1
            text = f"{self.number:5d}  {text}"
        if self.verbose:
            text += "\n    " + _scapy_summary(skb)
        for level, dump in (
            (self.hex_ascii, hex_ascii_dump),
            (self.hex, hex_dump),
            (self.ascii, ascii_dump),
        ):
            if level:  # once: the link header too, twice; nothing past it, no dump
                body = data if level > 1 else data[self.dissector.hdrlen :]
                if body:
                    text += dump(body)
                break
        self.lines.append(text + "\n")


def _binary_sink(out: Any) -> Any:
    """Where bytes of lines go for the text stream ``out``: its binary buffer (after what
    the text layer holds), or the text decoded for a stream that has none (io.StringIO)."""
    binary = getattr(out, "buffer", None)
    if binary is None:
        return lambda data: out.write(bytes(data).decode())

    def write(data: Any) -> None:
        out.flush()  # anything written as text before comes first
        binary.write(data)

    return write


def _flush_binary(out: Any) -> None:
    binary = getattr(out, "buffer", None)
    if binary is not None:
        binary.flush()


def _scapy_summary(skb: Any) -> str:
    try:
        return skb.to_scapy().summary()
    except Exception as err:  # noqa: BLE001 - a dissector's failure is shown, not fatal
        return f"(scapy could not decode this packet: {type(err).__name__}: {err})"


class Stop:
    """SIGINT/SIGTERM/SIGHUP set a flag the capture loop checks between batches (no
    KeyboardInterrupt mid-record), so every -w file is closed whole; SIGHUP (a closed
    terminal or ssh session) ends a capture as tcpdump's does, exit status 0."""

    def __init__(self) -> None:
        self.signum = 0
        self._old: dict[int, Any] = {}

    def __enter__(self) -> Stop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def _handler(self, signum: int, _frame: Any) -> None:
        self.signum = signum

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def one_line(err: BaseException) -> str:
    """An exception as one line (an OSError with its file name)."""
    text = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    if isinstance(err, OSError) and err.filename and err.filename not in text:
        text = f"{err.filename}: {text}"
    return " ".join(text.split())


class JsonStream:
    """--json written as the capture goes, so it holds nothing in memory: the document's
    opening keys, each packet's record as it comes, then the keys known only at the end
    (count, stats, error). --json-lines: one JSON object per packet per line, then a last
    line ``{"summary": {...}}`` with the same keys the document has."""

    def __init__(self, out: Any, head: dict, *, lines: bool, records: bool) -> None:
        self.out = out
        self.head = head
        self.lines = lines
        self.records = records
        self.n = 0
        if not lines:
            text = json.dumps(head, default=str)
            out.write(text[:-1])  # the closing brace comes with the last keys
            self.sep = ", " if head else ""
            if records:
                out.write(f'{self.sep}"records": [')
                self.sep = ", "

    def record(self, rec: dict) -> None:
        """One packet's record."""
        text = json.dumps(rec, default=str)
        if self.lines:
            self.out.write(text + "\n")
        else:
            self.out.write(f", {text}" if self.n else text)
        self.n += 1

    def finish(self, tail: dict, error: str | None) -> None:
        """The keys known at the end (the error among them, if any) and the closing."""
        if error:
            tail = {**tail, "error": error}
        if self.lines:
            self.out.write(json.dumps({"summary": {**self.head, **tail}}, default=str) + "\n")
            return
        if self.records:
            self.out.write("]")
        for key, value in tail.items():
            self.out.write(f"{self.sep}{json.dumps(key)}: {json.dumps(value, default=str)}")
            self.sep = ", "
        self.out.write("}\n")


_JSON_DISSECTOR = Dissector()


def json_record(n: int, skb: Any) -> dict:
    """One packet as --json lists it."""
    return {
        "n": n,
        "tstamp": skb.tstamp,
        "caplen": skb.len,
        "wire_len": skb.wire_len,
        "ifindex": skb.ifindex,
        "linktype": skb.linktype,
        "summary": _JSON_DISSECTOR.line(bytes(skb), skb.linktype, skb.wire_len),
    }
