"""Errors raised by the live-capture layer (AF_PACKET sockets, filters, TPACKET_V3 rings)."""

from __future__ import annotations

import errno

from ..bpf.errors import FilterError  # one error for filters, offline and live

__all__ = ["FilterError", "LiveCaptureError", "permission_error"]


class LiveCaptureError(OSError):
    """A live capture could not be set up or used; the message names the cause and the fix."""


def permission_error(what: str) -> LiveCaptureError:
    """The error for EPERM/EACCES on an AF_PACKET operation."""
    return LiveCaptureError(
        errno.EPERM,
        f"{what}: permission denied; AF_PACKET capture needs root or CAP_NET_RAW",
    )
