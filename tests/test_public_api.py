"""What a user sees of fragpool at the top: the documented names, their real types for type
checkers, the writer, scapy layers whatever was imported. Each check runs in a fresh
interpreter where the imports matter."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "fragpool" / "data" / "sample.pcap"


def fresh(code: str) -> str:
    """Run ``code`` in a new interpreter (fragpool from this checkout); its stdout."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_package_lists_and_documents_its_api():
    out = fresh("""
        import fragpool
        names = dir(fragpool)
        print(all(n in names for n in fragpool.__all__), len(fragpool.__all__))
        openers = ("open_offline", "open_live", "open_dump")
        print(all(callable(getattr(fragpool, n)) for n in openers))
        print("open_offline(path_or_file" in fragpool.__doc__)
        import pydoc
        text = pydoc.render_doc(fragpool, renderer=pydoc.plaintext)
        print("open_offline(source" in text and "class SkBuff" in text and "open_dump(" in text)
    """)
    assert out.split() == ["True", "12", "True", "True", "True"]


def test_to_scapy_finds_the_layer_without_scapy_all():
    out = fresh(f"""
        import sys, fragpool
        with fragpool.open_offline({str(SAMPLE)!r}) as r:
            skb = next(iter(r))
            print(type(skb.to_scapy()).__name__, "scapy.all" in sys.modules)
            skb.free()
    """)
    assert out.split()[0] == "Ether"


def test_open_dump_writes_skbs_bytes_and_scapy_packets(tmp_path):
    out = tmp_path / "mixed.pcap"
    fresh(f"""
        import fragpool
        from scapy.layers.l2 import Ether
        from scapy.layers.inet import IP, UDP
        with fragpool.open_offline({str(SAMPLE)!r}) as r, fragpool.open_dump({str(out)!r}) as w:
            skb = next(iter(r))
            w.write(skb)
            skb.free()
            w.write(b"\\x02" * 60, tstamp=1_700_000_000_000_001_000)
            pkt = Ether() / IP(dst="10.9.9.9") / UDP(dport=9)
            pkt.time = 1_700_000_001.5
            w.write(pkt)
    """)
    out_text = fresh(f"""
        import fragpool
        with fragpool.open_offline({str(out)!r}) as r:
            for skb in r:
                print(skb.tstamp, len(skb))
                skb.free()
    """)
    lines = out_text.splitlines()
    assert len(lines) == 3
    assert lines[1] == "1700000000000001000 60" and lines[2].startswith("1700000001500000000 ")


def test_a_scapy_packet_of_another_link_type_is_refused(tmp_path):
    from scapy.layers.inet import IP

    import fragpool
    from fragpool.io.files import LinkTypeError

    refused = pytest.raises(LinkTypeError, match=r"link type IPV4 \(228\)")
    with fragpool.open_dump(tmp_path / "e.pcap") as w, refused:
        w.write(IP(dst="10.0.0.1"))


def test_stats_packets_counts_what_was_handed_out():
    import fragpool

    with fragpool.open_offline(SAMPLE) as r:
        a, b = next(iter(r)), next(iter(r))
        st = r.stats()
        assert st["packets"] == 2 and st["parsed_ahead"] > 0
        batch = r.read_batch(10)
        assert r.stats()["packets"] == 12
        for skb in (a, b, *batch):
            skb.free()
    assert r.stats()["packets"] == 12  # what close() freed unseen was never handed out


def test_file_objects_seekable_or_not():
    import io

    import fragpool

    data = SAMPLE.read_bytes()

    class Pipe:  # read() only: no seek, no readinto
        def __init__(self) -> None:
            self.buf = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self.buf.read(min(n, 999) if n > 0 else n)

    for src in (io.BytesIO(data), open(SAMPLE, "rb"), Pipe()):  # noqa: SIM115
        with fragpool.open_offline(src) as r:
            assert sum(1 for skb in r if skb.free() is None) == 2500
    with pytest.raises(TypeError, match="binary file object"):
        fragpool.open_offline(io.StringIO("x"))
