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

from ._tcpdump import Clock, Dissector, ascii_dump, hex_ascii_dump, hex_dump


class PacketPrinter:
    """One line per packet, as tcpdump prints it: the time column (-t..), the description
    (-e, -q), then the dump asked for (-x/-xx, -X/-XX, -A) and with -v scapy's summary."""

    def __init__(self, args: argparse.Namespace, out: Any) -> None:
        self.out = out
        self.clock = Clock(getattr(args, "tflag", 0))
        self.hex = getattr(args, "hex", 0)
        self.hex_ascii = getattr(args, "hex_ascii", 0)
        self.dissector = Dissector(
            quiet=getattr(args, "quiet", False),
            link=getattr(args, "link", False),
            dumping=bool(self.hex or self.hex_ascii),
        )
        self.ascii = getattr(args, "ascii", 0)
        self.verbose = getattr(args, "verbose", 0)

    def print(self, skb: Any) -> None:
        data = bytes(skb)
        text = self.clock.stamp(skb.tstamp) + self.dissector.line(data, skb.linktype, skb.wire_len)
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
        self.out.write(text + "\n")


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


def emit_json(out: Any, doc: dict, error: str | None, records: list | None, written: str) -> None:
    """Print --json's one document: ``doc`` plus the error, and the records or the -w file."""
    if error:
        doc["error"] = error
    if records is not None:
        doc["records"] = records
    else:
        doc["written"] = written
    json.dump(doc, out, default=str)
    out.write("\n")


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
