"""tcpdump's ``-Z USER``: open the socket (and attach XDP) as root, then become USER.

The drop happens before the first packet is read and before any output file is created, so
a capture runs, and its files are written, as USER: supplementary groups, gid and uid are
set (initgroups, setgid, setuid), which takes every capability away (the kernel clears them
when a process of uid 0 becomes another uid), and the result is checked from /proc.
"""

from __future__ import annotations

import codecs
import os
import pwd
import sys


class PrivilegeError(Exception):
    """-Z could not be carried out; the message says why."""


def drop_to(user: str) -> None:
    """Become ``user`` for good (groups, gid, uid), with no capability left."""
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        raise PrivilegeError(f"-Z {user}: no such user") from None
    if os.geteuid() != 0:
        if os.geteuid() == pw.pw_uid:
            return  # already that user: nothing to give up
        raise PrivilegeError(
            f"-Z {user}: only root can become another user (this runs as uid {os.geteuid()})"
        )
    # what Python loads lazily must be loaded now: USER may not read this Python's own
    # files (a root-only installation), and a codec is looked up on first use
    for name in ("ascii", "utf-8", "latin-1"):
        codecs.lookup(name)
    try:
        os.setgroups(os.getgrouplist(pw.pw_name, pw.pw_gid))
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    except OSError as err:
        raise PrivilegeError(f"-Z {user}: {err.strerror}") from None
    left = _effective_capabilities()
    if os.getuid() != pw.pw_uid or os.geteuid() != pw.pw_uid or left:
        raise PrivilegeError(
            f"-Z {user}: still uid {os.geteuid()} with capabilities {left:#x} after the drop"
        )


def _effective_capabilities() -> int:
    """CapEff of this process (0: none)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


def drop_or_say(user: str, command: str) -> bool:
    """drop_to(user), or say why not as ``fragpool COMMAND: ...`` on stderr (False)."""
    try:
        drop_to(user)
    except PrivilegeError as err:
        print(f"fragpool {command}: {err}", file=sys.stderr)
        return False
    return True
