"""`fragpool capture -r`: text lines, -c, --json, and -w giving a byte-identical copy."""

from __future__ import annotations

import json
import struct

from fragpool.cli import main

HDR = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def capture(tmp_path, n=5):
    frame = bytes(12) + b"\x08\x00" + bytes([0x45, 0, 0, 28]) + bytes(16) + bytes(8)
    path = tmp_path / "c.pcap"
    recs = b"".join(struct.pack("<IIII", 1_700_000_000 + i, i, 42, 42) + frame for i in range(n))
    path.write_bytes(HDR + recs)
    return path


def test_capture_text_json_and_write(tmp_path, capsys):
    path = capture(tmp_path)
    assert main(["capture", "-r", str(path), "-c", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # what tcpdump -n prints for an IPv4 header of protocol 0 and 8 bytes after it
    assert len(lines) == 3 and all(
        ln.endswith(" IP 0.0.0.0 > 0.0.0.0:  ip-proto-0 8") for ln in lines
    )
    assert main(["capture", "-r", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["packets"] == 5 and doc["records"][1]["tstamp"] == 1_700_000_001_000_001_000
    out = tmp_path / "copy.pcap"
    assert main(["capture", "-r", str(path), "-w", str(out)]) == 0
    assert out.read_bytes() == path.read_bytes()


def test_capture_reports_damage(tmp_path, capsys):
    path = capture(tmp_path)
    path.write_bytes(path.read_bytes()[:-5])
    assert main(["capture", "-r", str(path)]) == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 4 and "caplen" in captured.err
