"""The one error of the filter layer: an expression libpcap refuses, or an invalid program."""

from __future__ import annotations


class FilterError(ValueError):
    """A filter expression did not compile, or a classic-BPF program is invalid or refused.

    The message is one line: the expression and libpcap's (or the kernel's) own words.
    """
