"""`fragpool driver` on the bundled sample, and the file wire under it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import fragpool
from fragpool.cli import main
from fragpool.commands.driver import SAMPLE
from fragpool.driver import FileWire, RxDevice
from fragpool.mm import current_napi

SAMPLE_FRAMES = 2500


def test_sample_is_bundled_and_small() -> None:
    assert SAMPLE.exists()
    assert SAMPLE.stat().st_size < 1 << 20


def test_sample_is_reproducible(tmp_path) -> None:
    out = tmp_path / "again.pcap"
    script = Path(__file__).resolve().parents[2] / "examples" / "data" / "make_sample.py"
    subprocess.run([sys.executable, str(script), "-o", str(out)], check=True, capture_output=True)
    assert out.read_bytes() == SAMPLE.read_bytes()


def test_driver_text_output(capsys) -> None:
    assert main(["driver", "--rings", "2"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith(f"fragpool driver: {SAMPLE}: {SAMPLE_FRAMES} frames, 2 rings")
    assert lines[1].split()[:3] == ["ring", "packets", "bytes"]
    total = next(line for line in lines if line.startswith("total"))
    assert int(total.split()[1]) == SAMPLE_FRAMES
    assert "compound pages mapped" in out
    assert "naive (no pagecnt_bias, measured" in out
    assert "peak RSS" in out
    assert lines[-1] == "teardown: 0 pages in flight"


@pytest.mark.parametrize("pool", ["frag", "page_pool", "naive"])
def test_driver_json(capsys, pool: str) -> None:
    assert main(["driver", "--json", "--pool", pool, "--budget", "16"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["total"]["packets"] == SAMPLE_FRAMES
    assert sum(r["packets"] for r in doc["rings"]) == SAMPLE_FRAMES
    assert len(doc["rings"]) == 4
    assert doc["total"]["drops"] == 0
    assert doc["total"]["multi_buffer"] > 0  # the sample has frames longer than a buffer
    assert doc["total"]["reuses"] > 0
    assert doc["teardown"]["clean"] and doc["teardown"]["pages_in_flight"] == 0
    assert doc["allocator"]["pages_in_use_after_teardown"] == 0
    assert doc["peak_rss_bytes"] > 0
    assert (doc["page_pool"] is not None) == (pool == "page_pool")
    if pool == "naive":
        assert doc["naive"]["method"] == "this run"
    else:
        assert doc["naive"]["method"].startswith("measured")
        assert doc["naive"]["refcount_ops"] > doc["total"]["refcount_ops"]


def test_driver_missing_file(capsys, tmp_path) -> None:
    assert main(["driver", "-r", str(tmp_path / "nope.pcap")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_file_wire_delivers_the_capture_byte_exact() -> None:
    with fragpool.open_offline(SAMPLE) as reader:
        frames = []
        for skb in reader:
            frames.append(bytes(skb))
            skb.free()
    got: list[bytes] = []
    rings: dict[bytes, int] = {}

    def handler(skb) -> None:
        data = bytes(skb)
        got.append(data)
        rings[data] = int(current_napi().name.split("-")[1])
        skb.free()

    dev = RxDevice(FileWire(SAMPLE), rings=3, handler=handler)
    dev.run()
    assert sorted(got) == sorted(frames)
    # per ring, frames arrive in capture order
    for ring in range(3):
        assert [f for f in got if rings[f] == ring] == [f for f in frames if rings[f] == ring]
    assert dev.teardown().clean
    assert dev.wire.reader_allocator.in_use_pages() == 0
