"""The README's Python examples run as written: the file examples in order as one session in
an empty directory (the first makes the capture.pcapng the others read), with a capture on
standard input; the live ones (open_live, asyncio, scapy) each inside a network namespace
of the test's own, where a veth end is called eth0."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "fragpool" / "data" / "sample.pcap"
BLOCKS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)


def test_the_readme_has_its_examples():
    assert len(BLOCKS) >= 4 and any("open_live" in b for b in BLOCKS)


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO)}


LIVE = ("open_live", "L2ListenSocket")


def _live(block: str) -> bool:
    return any(word in block for word in LIVE)


def test_file_and_memory_examples_run_as_written(tmp_path):
    """In an empty directory: the first example makes the capture.pcapng the others read."""
    code = "\n".join(b for b in BLOCKS if not _live(b))
    with open(SAMPLE, "rb") as stdin:
        proc = subprocess.run([sys.executable, "-c", code], stdin=stdin, capture_output=True,
                              text=True, timeout=120, cwd=tmp_path, env=_env())  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") > 2500  # a line per packet, then the stats


@pytest.mark.live
def test_live_example_runs_as_written_on_an_eth0_of_our_own():
    blocks = [b for b in BLOCKS if _live(b)]
    assert len(blocks) >= 3  # open_live, asyncio, scapy
    ns = f"fp-readme-{secrets.token_hex(3)}"
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, timeout=30)  # noqa: E731
    run("ip", "netns", "add", ns)
    try:
        run("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
        run("ip", "-n", ns, "link", "set", "eth0", "up")
        run("ip", "-n", ns, "link", "set", "eth1", "up")
        for block in blocks:
            code = "import fragpool\n" + block
            proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code],
                                  capture_output=True, text=True, timeout=60,
                                  env=_env())  # fmt: skip
            assert proc.returncode == 0, proc.stderr
            assert "packets" in proc.stdout.splitlines()[-1]  # the count after the timeout
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
