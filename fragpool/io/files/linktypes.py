"""Link-layer header types (LINKTYPE_* values of pcap and pcapng) that fragpool names.

Only what the readers and the capture command need: a short name for output lines and the
largest snapshot length a link type allows (libpcap's max_snaplen_for_dlt), which is what a
pcap header's snaplen of 0 stands for and the ceiling no record may exceed.
"""

from __future__ import annotations

#: libpcap's MAXIMUM_SNAPLEN: the default ceiling of a record's captured length.
MAXIMUM_SNAPLEN = 262144

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_IEEE802_11 = 105
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IEEE802_11_RADIOTAP = 127
LINKTYPE_DBUS = 231
LINKTYPE_USBPCAP = 249
LINKTYPE_LINUX_SLL2 = 276
LINKTYPE_EBHSCR = 279

NAMES = {
    LINKTYPE_NULL: "NULL",
    LINKTYPE_ETHERNET: "EN10MB",
    LINKTYPE_RAW: "RAW",
    LINKTYPE_IEEE802_11: "IEEE802_11",
    LINKTYPE_LINUX_SLL: "LINUX_SLL",
    LINKTYPE_IEEE802_11_RADIOTAP: "IEEE802_11_RADIO",
    LINKTYPE_DBUS: "DBUS",
    LINKTYPE_USBPCAP: "USBPCAP",
    LINKTYPE_LINUX_SLL2: "LINUX_SLL2",
    LINKTYPE_EBHSCR: "EBHSCR",
    228: "IPV4",
    229: "IPV6",
    147: "USER0",
}

_MAX_SNAPLEN = {
    LINKTYPE_DBUS: 128 * 1024 * 1024,
    LINKTYPE_EBHSCR: 8 * 1024 * 1024,
    LINKTYPE_USBPCAP: 1024 * 1024,
}


def max_snaplen(linktype: int) -> int:
    """The largest captured length a record of ``linktype`` may have."""
    return _MAX_SNAPLEN.get(linktype, MAXIMUM_SNAPLEN)


#: What tcpdump prints after a link type's name ("EN10MB (Ethernet)").
_DESCRIPTIONS = {
    "NULL": "BSD loopback",
    "EN10MB": "Ethernet",
    "RAW": "Raw IP",
    "IEEE802_11": "802.11",
    "LINUX_SLL": "Linux cooked v1",
    "IEEE802_11_RADIO": "802.11 plus radiotap header",
    "DBUS": "D-Bus",
    "USBPCAP": "USB with USBPcap header",
    "LINUX_SLL2": "Linux cooked v2",
    "EBHSCR": "Elektrobit High Speed Capture and Replay (EBHSCR)",
    "IPV4": "Raw IPv4",
    "IPV6": "Raw IPv6",
    "USER0": "USER 0",
}


def describe(linktype: int) -> str:
    """``linktype`` as tcpdump's header lines name it: "EN10MB (Ethernet)"."""
    short = name(linktype)
    what = _DESCRIPTIONS.get(short)
    return f"{short} ({what})" if what else short


def name(linktype: int) -> str:
    """A short name for ``linktype`` (tcpdump's DLT name where fragpool knows it)."""
    return NAMES.get(linktype, f"LINKTYPE_{linktype}")
