"""The one error a capture-file reader raises for bad input: CaptureFormatError.

Every damaged or unsupported file (unknown magic, truncated record, impossible length,
block trailer that disagrees with its header, reserved bits set, a packet for an interface
that was never described) ends in this exception. It names the file, the byte offset where
the offending field starts, the field and its value, so a user can look at the bytes with
``xxd -s OFFSET``. A reader raises it only after it has handed out every good packet that
came before the damage.
"""

from __future__ import annotations


class CaptureFormatError(ValueError):
    """A capture file is malformed or uses a format fragpool does not read.

    Attributes: ``path`` (the file), ``offset`` (byte offset of the bad field in the
    uncompressed stream), ``field`` (its name), ``value`` (what was found), ``reason``.
    """

    def __init__(self, path: str, offset: int, field: str, value: object, reason: str) -> None:
        self.path = path
        self.offset = offset
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{path}: offset {offset}: {field} = {value!r}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.offset, self.field, self.value, self.reason))
