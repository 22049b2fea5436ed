"""Shared pytest set-up: the live veth fixture, and CI's rule that a live test may not skip."""

from __future__ import annotations

import os

import pytest

CI = os.environ.get("CI") == "true"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Under CI=true a skipped @pytest.mark.live test is a failure: CI must run them all."""
    outcome = yield
    rep = outcome.get_result()
    if CI and rep.skipped and not hasattr(rep, "wasxfail") and item.get_closest_marker("live"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = f"live test skipped under CI=true, which must run it: {reason}"


@pytest.fixture
def veth():
    """A veth pair (MTU 9000) with its peer in a fresh network namespace: (local, netns, peer).

    Needs root; skips otherwise (a failure under CI). Missing ip/tcpdump/trafgen fail under
    CI and skip elsewhere. Teardown deletes the pair and the namespace whatever happened.
    """
    yield from _veth_pair(9000)


@pytest.fixture
def veth1500():
    """The same at MTU 1500: what native XDP on veth accepts (it refuses peer MTUs > 3506)."""
    yield from _veth_pair(1500)


def _veth_pair(mtu: int):
    from netns import VethPair, missing_tools

    if os.geteuid() != 0:
        pytest.skip("live test needs root (network namespaces, AF_PACKET)")
    missing = missing_tools()
    if missing:
        msg = f"live test needs {', '.join(missing)} (run `make tools`)"
        if CI:
            pytest.fail(msg)
        pytest.skip(msg)
    pair = VethPair(mtu=mtu).create()
    try:
        yield pair
    finally:
        pair.destroy()
