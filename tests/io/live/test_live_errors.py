"""open_live's bad input: one clear LiveCaptureError (or FilterError) naming the cause."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from fragpool.io.live import tpacket
from fragpool.io.live.capture import MODES, open_live
from fragpool.io.live.errors import FilterError, LiveCaptureError

live = pytest.mark.live


@pytest.mark.parametrize("mode", MODES)
def test_missing_interface_is_named(mode):
    with pytest.raises(LiveCaptureError, match="no such network interface: 'fpnosuch0'") as ei:
        open_live("fpnosuch0", mode=mode)
    assert ei.value.errno == errno.ENODEV


def test_unknown_mode_and_bad_batch():
    with pytest.raises(LiveCaptureError, match="unknown mode 'mmap'"):
        open_live("lo", mode="mmap")
    with pytest.raises(LiveCaptureError, match="batch must be"):
        open_live("lo", mode="recvmmsg", batch=0)


def test_ring_too_large_for_memory(monkeypatch):
    monkeypatch.setattr(tpacket, "_phys_mem", lambda: 1 << 24)
    with pytest.raises(LiveCaptureError, match="too large for memory") as ei:
        open_live("lo", block_size=1 << 20, block_nr=64)
    assert ei.value.errno == errno.ENOMEM


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="AF_PACKET is Linux only")
@pytest.mark.parametrize("mode", MODES)
def test_no_permission_says_root_or_cap_net_raw(mode):
    code = (
        "from fragpool.io.live.capture import open_live\nfrom fragpool.io.live.errors import "
        f"LiveCaptureError\ntry:\n    open_live('lo', mode={mode!r})\n"
        "except LiveCaptureError as e:\n    print(e)\n"
    )
    cmd = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw", *cmd]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    except FileNotFoundError:
        pytest.skip("setpriv (util-linux) not installed")
    assert "permission denied; AF_PACKET capture needs root or CAP_NET_RAW" in out


@live
@pytest.mark.parametrize("mode", MODES)
def test_filter_that_does_not_compile(veth, mode):
    with pytest.raises(FilterError, match="does not compile") as ei:
        open_live(veth.local, mode=mode, filter="udp port nosuchservice")
    assert "\n" not in str(ei.value).strip()


@live
def test_frames_larger_than_a_given_allocators_pages(veth):
    from fragpool.mm import PageAllocator

    with pytest.raises(LiveCaptureError, match="do not fit the allocator's largest page"):
        open_live(veth.local, mode="recv_into", allocator=PageAllocator(max_order=0))
