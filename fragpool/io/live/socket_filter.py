"""Filters on an AF_PACKET socket: libpcap's compiled program attached with SO_ATTACH_FILTER.

Expressions are compiled by libpcap (fragpool.io.bpf.compile, pcap_compile on a dead handle
for the interface's link type and the capture's snaplen), the same compiler tcpdump uses;
a bad one raises FilterError with libpcap's message.

Known limit, shared with every filter compiled for a dead handle: the kernel strips the
802.1Q tag before socket filters run, and a dead handle's program has no Linux VLAN
ancillary loads, so ``vlan`` primitives match nothing on an AF_PACKET socket and other
primitives match the untagged payload of tagged frames.

Kernel counterparts: struct sock_filter / sock_fprog, sk_attach_filter (SO_ATTACH_FILTER),
SO_DETACH_FILTER.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from ..bpf import FilterError, Program, accept_all, match_nothing
from ..bpf import compile as compile_program
from ..bpf.libpcap import linktype_value
from .errors import LiveCaptureError
from .if_packet import SO_ATTACH_FILTER, SO_DETACH_FILTER, SOL_SOCKET

__all__ = ["accept_all", "attach_filter", "compile_filter", "detach_filter", "match_nothing"]

# ARPHRD_* (from /sys/class/net/<if>/type) -> libpcap's link-type name. Loopback is
# captured with a fake Ethernet header, as libpcap does.
_ARPHRD_LINKTYPE = {1: "EN10MB", 772: "EN10MB", 65534: "RAW", 778: "RAW", 776: "RAW"}


def linktype_for(ifname: str) -> str:
    """libpcap's link-type name for an interface, from its ARPHRD type in sysfs."""
    path = Path("/sys/class/net") / ifname / "type"
    try:
        arphrd = int(path.read_text())
    except FileNotFoundError:
        raise LiveCaptureError(errno.ENODEV, f"no such network interface: {ifname!r}") from None
    try:
        return _ARPHRD_LINKTYPE[arphrd]
    except KeyError:
        raise LiveCaptureError(
            errno.EINVAL,
            f"interface {ifname!r} has ARPHRD type {arphrd}, which fragpool has no link type "
            "for; pass linktype= explicitly (a libpcap name such as EN10MB)",
        ) from None


def compile_filter(expr: str, *, snaplen: int = 262144, linktype: str = "EN10MB") -> Program:
    """A tcpdump expression compiled by libpcap for a link type named as libpcap names it."""
    return compile_program(expr, linktype_value(linktype), snaplen)


def attach_filter(sock: socket.socket, program: Program) -> None:
    """Attach a classic BPF program to a socket (SO_ATTACH_FILTER); it replaces any earlier one."""
    fprog, _insns = program.sock_fprog()  # _insns keeps the array alive through the call
    try:
        sock.setsockopt(SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    except OSError as e:
        raise FilterError(f"the kernel refused the BPF program: {e.strerror}") from None


def detach_filter(sock: socket.socket) -> None:
    """Remove the socket's filter (SO_DETACH_FILTER); a socket without one is left as is."""
    try:
        sock.setsockopt(SOL_SOCKET, SO_DETACH_FILTER, 0)
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise
