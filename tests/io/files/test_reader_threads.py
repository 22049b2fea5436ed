"""A reader used from two threads: the first to read owns it, any other is refused at once
with the rule, and the owner still reads every packet exactly once (issue 19)."""

from __future__ import annotations

import struct
import threading

import pytest

from fragpool.io.files.reader import open_offline

HDR = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
N = 20000


def capture(tmp_path):
    recs = b"".join(struct.pack("<IIII", 1, i, 64, 64) + struct.pack("<I", i) + bytes(60)
                    for i in range(N))  # fmt: skip
    path = tmp_path / "t.pcap"
    path.write_bytes(HDR + recs)
    return path


@pytest.mark.parametrize("how", ["iterate", "read_batch"])
def test_a_second_reading_thread_is_refused_and_nothing_is_lost(tmp_path, how):
    seen: list[int] = []
    errors: dict[str, BaseException] = {}
    started, tried = threading.Event(), threading.Event()
    with open_offline(capture(tmp_path)) as reader:

        def owner():
            for k, skb in enumerate(reader):
                seen.append(struct.unpack_from("<I", bytes(skb[0:4]))[0])
                skb.free()
                if k == 100:  # mid-file: the intruder tries while this thread reads
                    started.set()
                    tried.wait(10)

        def intruder():
            started.wait(10)
            try:
                if how == "iterate":
                    for skb in reader:
                        skb.free()
                else:
                    reader.read_batch(64)
            except RuntimeError as err:
                errors["intruder"] = err
            finally:
                tried.set()

        threads = [threading.Thread(target=owner), threading.Thread(target=intruder)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert seen == list(range(N))  # every packet once, in order, no false damage
        assert "one reading thread" in str(errors["intruder"])
        assert str(reader.path) in str(errors["intruder"])
        assert reader.stats()["packets"] == N
