"""Errors raised by the live-capture layer (AF_PACKET sockets, filters, TPACKET_V3 rings)."""

from __future__ import annotations

import errno


class LiveCaptureError(OSError):
    """A live capture could not be set up or used; the message names the cause and the fix."""


class FilterError(LiveCaptureError, ValueError):
    """A tcpdump-syntax filter could not be compiled to classic BPF or attached."""


def permission_error(what: str) -> LiveCaptureError:
    """The error for EPERM/EACCES on an AF_PACKET operation."""
    return LiveCaptureError(
        errno.EPERM,
        f"{what}: permission denied; AF_PACKET capture needs root or CAP_NET_RAW",
    )
