"""Packet filters: tcpdump expressions compiled by libpcap, run by the kernel or by fragpool.

``compile(expr, linktype, snaplen)`` asks libpcap's own compiler (pcap_compile on a
pcap_open_dead handle, through ctypes) for a classic-BPF :class:`Program`. A live socket
attaches it (SO_ATTACH_FILTER); offline reads and any source that cannot attach it run it in
fragpool's classic-BPF interpreter (:func:`filter_skb`), which follows libpcap's
``bpf_filter`` and the kernel's ``__bpf_prog_run`` for classic programs.
"""

from .errors import FilterError
from .interp import filter_bytes, filter_skb
from .libpcap import compile, offline_filter
from .program import Program, accept_all, match_nothing

__all__ = [
    "FilterError",
    "Program",
    "accept_all",
    "compile",
    "filter_bytes",
    "filter_skb",
    "match_nothing",
    "offline_filter",
]
