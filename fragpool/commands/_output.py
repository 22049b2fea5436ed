"""What `fragpool capture` prints for packets: tcpdump-like lines and the --json document.

Shared by the file source (capture.py) and the live one (_live_capture.py).
"""

from __future__ import annotations

import json
import socket
import struct
import time
from typing import Any


def timestr(tstamp: int) -> str:
    """tcpdump's default time column: local time of day with microseconds."""
    sec, ns = divmod(tstamp, 1_000_000_000)
    return time.strftime("%H:%M:%S", time.localtime(sec)) + f".{ns // 1000:06d}"


def summary(data: bytes, linktype: int, wire_len: int) -> str:
    """A one-line description of a packet (Ethernet/IPv4/IPv6 with TCP/UDP ports)."""
    if linktype == 1 and len(data) >= 14:
        ethertype = struct.unpack_from("!H", data, 12)[0]
        payload = data[14:]
        if ethertype == 0x0800:
            return _ipv4(payload, wire_len)
        if ethertype == 0x86DD:
            return _ipv6(payload, wire_len)
        if ethertype == 0x0806:
            return f"ARP, length {wire_len}"
        return f"ethertype 0x{ethertype:04x}, length {wire_len}"
    if linktype in (101, 228) and data:
        return _ipv4(data, wire_len) if data[0] >> 4 == 4 else _ipv6(data, wire_len)
    return f"linktype {linktype}, length {wire_len}"


def _ports(proto: int, l4: bytes) -> tuple[str, str, str]:
    name = {6: "TCP", 17: "UDP", 1: "ICMP", 58: "ICMP6"}.get(proto, f"ip-proto-{proto}")
    if proto in (6, 17) and len(l4) >= 4:
        sport, dport = struct.unpack_from("!HH", l4)
        return f".{sport}", f".{dport}", name
    return "", "", name


def _ipv4(ip: bytes, wire_len: int) -> str:
    if len(ip) < 20:
        return f"IP truncated, length {wire_len}"
    ihl = (ip[0] & 15) * 4
    sport, dport, name = _ports(ip[9], ip[ihl:])
    src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
    return f"IP {src}{sport} > {dst}{dport}: {name}, length {wire_len}"


def _ipv6(ip: bytes, wire_len: int) -> str:
    if len(ip) < 40:
        return f"IP6 truncated, length {wire_len}"
    sport, dport, name = _ports(ip[6], ip[40:])
    src = socket.inet_ntop(socket.AF_INET6, ip[8:24])
    dst = socket.inet_ntop(socket.AF_INET6, ip[24:40])
    return f"IP6 {src}{sport} > {dst}{dport}: {name}, length {wire_len}"


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


def json_record(n: int, skb: Any) -> dict:
    """One packet as --json lists it."""
    return {
        "n": n,
        "tstamp": skb.tstamp,
        "caplen": skb.len,
        "wire_len": skb.wire_len,
        "ifindex": skb.ifindex,
        "linktype": skb.linktype,
        "summary": summary(bytes(skb), skb.linktype, skb.wire_len),
    }
