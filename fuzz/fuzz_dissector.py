"""Fuzz target: the tcpdump line dissector (and its hex/ASCII dumps) on (link type, packet).

Whatever the bytes, a line comes out and nothing raises: a truncated or lying header is
printed as tcpdump prints it ("[|...]", "truncated"), never a traceback.
"""

from __future__ import annotations

import sys

from fragpool.commands._tcpdump import Dissector, ascii_dump, hex_ascii_dump, hex_dump

#: The link types the dissector decodes, and one it does not.
LINKTYPES = (1, 101, 228, 229, 113, 276, 0, 147)


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    if not data:
        return
    linktype = LINKTYPES[data[0] % len(LINKTYPES)]
    packet = data[1:]
    dis = Dissector(quiet=bool(data[0] & 8), link=bool(data[0] & 16), dumping=bool(data[0] & 32))
    for wire in (len(packet), len(packet) + 100):
        line = dis.line(packet, linktype, wire)
        if not isinstance(line, str):
            raise AssertionError(f"line() gave {type(line).__name__}")
    hex_dump(packet)
    hex_ascii_dump(packet)
    ascii_dump(packet)


if __name__ == "__main__":
    import atheris

    atheris.instrument_all()  # the Python code's coverage too (the C is clang's)
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
