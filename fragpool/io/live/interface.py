"""Facts about a network interface that every live receive path reads (sysfs, if_nametoindex)."""

from __future__ import annotations

import errno
from pathlib import Path

from .errors import LiveCaptureError


def interface_mtu(ifname: str) -> int:
    """The interface's MTU from /sys/class/net/<if>/mtu."""
    try:
        return int((Path("/sys/class/net") / ifname / "mtu").read_text())
    except FileNotFoundError:
        raise LiveCaptureError(errno.ENODEV, f"no such network interface: {ifname!r}") from None
    except (OSError, ValueError) as e:
        raise LiveCaptureError(errno.EIO, f"cannot read the MTU of {ifname!r}: {e}") from None
