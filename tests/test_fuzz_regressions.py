"""The fuzz targets' inputs replayed without atheris: the seeds and every crash the fuzzer
found (fuzz/regressions/TARGET/), through the same TestOneInput, compiled and pure."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("reader", "bpf", "dissector")


def inputs() -> list[tuple[str, Path]]:
    out = []
    for target in TARGETS:
        for kind in ("seeds", "regressions"):
            folder = ROOT / "fuzz" / kind / target
            if folder.is_dir():
                out += [(target, p) for p in sorted(folder.iterdir()) if p.is_file()]
    return out


def target(name: str):
    sys.path.insert(0, str(ROOT))
    try:
        return importlib.import_module(f"fuzz.fuzz_{name}")
    finally:
        sys.path.remove(str(ROOT))


def test_every_target_has_seeds():
    assert {t for t, _ in inputs()} == set(TARGETS)


@pytest.mark.parametrize(("name", "path"), inputs(), ids=lambda v: getattr(v, "name", v))
def test_replay(name, path):
    try:
        target(name).TestOneInput(path.read_bytes())
    except Exception as err:  # noqa: BLE001 - whatever the fuzzer would flag
        pytest.fail(f"fuzz/{path.parent.parent.name}/{name}/{path.name}: {err!r}")


def test_the_bpf_target_catches_a_disagreement(monkeypatch):
    """The differential check can fail: a verdict that differs from libpcap's raises."""
    fuzz_bpf = target("bpf")
    data = next(p for t, p in inputs() if t == "bpf").read_bytes()
    monkeypatch.setattr(fuzz_bpf, "filter_bytes", lambda *a: 12345)
    with pytest.raises(AssertionError, match="vs libpcap"):
        fuzz_bpf.TestOneInput(data)
