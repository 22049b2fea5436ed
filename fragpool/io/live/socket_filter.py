"""tcpdump-syntax filters compiled to classic BPF and attached with SO_ATTACH_FILTER.

Route chosen: fragpool runs ``tcpdump -dd -y <LINKTYPE> -s <snaplen> <expr>`` and parses the
C-array it prints (one ``{ code, jt, jf, k },`` per sock_filter). That keeps fragpool free of
libpcap bindings and ctypes calls into libpcap; the cost is one subprocess per compile, paid
once at open. tcpdump missing, or an expression it refuses, raises FilterError with the cause
(tcpdump's own message is quoted).

Known limit, shared with every filter compiled for a dead handle: the kernel strips the
802.1Q tag before socket filters run, and ``tcpdump -dd`` cannot emit Linux's VLAN ancillary
loads, so ``vlan`` primitives match nothing on an AF_PACKET socket and other primitives match
the untagged payload of tagged frames.

Kernel counterparts: struct sock_filter / sock_fprog, sk_attach_filter (SO_ATTACH_FILTER),
SO_DETACH_FILTER.
"""

from __future__ import annotations

import ctypes
import errno
import re
import shutil
import socket
import struct
import subprocess
from pathlib import Path

from .errors import FilterError
from .if_packet import SO_ATTACH_FILTER, SO_DETACH_FILTER, SOL_SOCKET

# BPF_RET | BPF_K with k = 0: drop everything (libpcap's "match nothing" program).
BPF_RET_K = 0x06
MATCH_NOTHING: tuple[tuple[int, int, int, int], ...] = ((BPF_RET_K, 0, 0, 0),)
BPF_MAXINSNS = 4096

Insn = tuple[int, int, int, int]

_LINE = re.compile(r"^\{\s*(0x[0-9a-fA-F]+|\d+),\s*(\d+),\s*(\d+),\s*(0x[0-9a-fA-F]+|\d+)\s*\},?$")

# ARPHRD_* (from /sys/class/net/<if>/type) -> the DLT name tcpdump's -y takes. Loopback is
# captured with a fake Ethernet header, as libpcap does.
_ARPHRD_LINKTYPE = {1: "EN10MB", 772: "EN10MB", 65534: "RAW", 778: "RAW", 776: "RAW"}


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


_SOCK_FPROG = struct.Struct("=H6xQ")  # struct sock_fprog: len, pad, filter pointer


def accept_all(snaplen: int) -> tuple[Insn, ...]:
    """A one-instruction program that accepts every packet truncated to snaplen (ret #snaplen)."""
    return ((BPF_RET_K, 0, 0, snaplen),)


def linktype_for(ifname: str) -> str:
    """The tcpdump -y link-type name for an interface, from its ARPHRD type in sysfs."""
    path = Path("/sys/class/net") / ifname / "type"
    try:
        arphrd = int(path.read_text())
    except FileNotFoundError:
        raise FilterError(errno.ENODEV, f"no such network interface: {ifname!r}") from None
    try:
        return _ARPHRD_LINKTYPE[arphrd]
    except KeyError:
        raise FilterError(
            errno.EINVAL,
            f"interface {ifname!r} has ARPHRD type {arphrd}, which fragpool has no link type "
            "for; pass linktype= explicitly (a tcpdump -y name such as EN10MB)",
        ) from None


def parse_dd(text: str) -> tuple[Insn, ...]:
    """Parse ``tcpdump -dd`` output into (code, jt, jf, k) tuples; a malformed line is an error."""
    insns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        m = _LINE.match(line)
        if m is None:
            raise FilterError(errno.EINVAL, f"unexpected line in tcpdump -dd output: {raw!r}")
        code, jt, jf, k = (int(g, 0) for g in m.groups())
        if code > 0xFFFF or jt > 0xFF or jf > 0xFF or k > 0xFFFFFFFF:
            raise FilterError(errno.EINVAL, f"out-of-range field in tcpdump -dd line: {raw!r}")
        insns.append((code, jt, jf, k))
    if not insns:
        raise FilterError(errno.EINVAL, "tcpdump -dd printed no instructions")
    if len(insns) > BPF_MAXINSNS:
        raise FilterError(errno.E2BIG, f"filter has {len(insns)} instructions (max {BPF_MAXINSNS})")
    return tuple(insns)


def compile_filter(
    expr: str, *, snaplen: int = 262144, linktype: str = "EN10MB"
) -> tuple[Insn, ...]:
    """Compile a tcpdump expression to classic BPF with ``tcpdump -dd`` (pcap_compile's output)."""
    if not isinstance(expr, str):
        raise FilterError(errno.EINVAL, f"filter must be a str, not {type(expr).__name__}")
    if not 1 <= snaplen <= 0x7FFFFFFF:
        raise FilterError(errno.EINVAL, f"snaplen {snaplen} out of range 1..2147483647")
    tcpdump = shutil.which("tcpdump") or shutil.which("tcpdump", path="/usr/sbin:/sbin")
    if tcpdump is None:
        raise FilterError(
            errno.ENOENT,
            "tcpdump not found: fragpool compiles filters with `tcpdump -dd`; "
            "install tcpdump (e.g. `make tools` or apt-get install tcpdump)",
        )
    cmd = [tcpdump, "-dd", "-y", linktype, "-s", str(snaplen), "--", expr]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        msg = proc.stderr.strip() or f"exit status {proc.returncode}"
        raise FilterError(errno.EINVAL, f"filter {expr!r} does not compile: {msg}")
    return parse_dd(proc.stdout)


def attach_filter(sock: socket.socket, insns: tuple[Insn, ...]) -> None:
    """Attach a classic BPF program to a socket (SO_ATTACH_FILTER); it replaces any earlier one."""
    n = len(insns)
    if not 1 <= n <= BPF_MAXINSNS:
        raise FilterError(errno.EINVAL, f"a BPF program needs 1..{BPF_MAXINSNS} instructions")
    prog = (_SockFilter * n)(*insns)
    fprog = _SOCK_FPROG.pack(n, ctypes.addressof(prog))
    try:
        sock.setsockopt(SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    except OSError as e:
        raise FilterError(e.errno, f"kernel refused the BPF program: {e.strerror}") from None


def detach_filter(sock: socket.socket) -> None:
    """Remove the socket's filter (SO_DETACH_FILTER); a socket without one is left as is."""
    try:
        sock.setsockopt(SOL_SOCKET, SO_DETACH_FILTER, 0)
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise
