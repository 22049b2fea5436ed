"""A short `fragpool capture` starts fast: it imports none of what it does not use (the
time itself is bench_print's), and the help it prints is argparse's own."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fragpool.cli import Parser, build_parser

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "fragpool" / "data" / "sample.pcap"
#: what a file read without a filter or -w never needs: each cost a millisecond or more
NOT_NEEDED = ("shutil", "inspect", "subprocess", "logging", "decimal", "gzip", "lzma",
              "hashlib", "importlib.abc", "fragpool.driver.device", "socket", "datetime",
              "pkgutil")  # fmt: skip


def test_a_short_capture_imports_nothing_it_does_not_use():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "fragpool", "capture", "-r", str(SAMPLE),
         "-c", "3"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")}  # fmt: skip
    assert "fragpool.commands._fast_lines" in imported  # the list is what was imported
    assert not imported & set(NOT_NEEDED), sorted(imported & set(NOT_NEEDED))
    assert len(proc.stdout.splitlines()) == 3


@pytest.mark.parametrize("columns", ["40", "100", "", "junk"])
def test_help_is_as_wide_as_argparse_makes_it(monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", columns)

    def parser(cls):  # noqa: ANN001, ANN202
        p = cls(prog="x", description="a description long enough to be wrapped " * 3)
        p.add_argument("-r", metavar="FILE", help="a help text long enough to wrap " * 4)
        return p

    assert parser(Parser).format_help() == parser(argparse.ArgumentParser).format_help()


def test_every_command_is_registered():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == {"bench", "capture", "driver"}
