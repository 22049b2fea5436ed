"""Live capture from AF_PACKET sockets: recv_into, recvmmsg and the TPACKET_V3 ring.

``open_live`` opens an interface as an RX device that hands out skbs on pool pages or in
place in the kernel's ring; :class:`PacketSocket` is the socket underneath it, with its
filters (``compile_filter``), fanout and statistics.
"""

from .capture import MODES, LiveCapture, LiveReport, open_live
from .errors import FilterError, LiveCaptureError
from .packet_socket import PacketMeta, PacketSocket
from .recvmmsg import MmsgReceiver, MsgReceiver
from .socket_filter import compile_filter
from .tpacket import RingPacket, TPacketV3Ring

__all__ = [
    "MODES",
    "FilterError",
    "LiveCapture",
    "LiveCaptureError",
    "LiveReport",
    "MmsgReceiver",
    "MsgReceiver",
    "PacketMeta",
    "PacketSocket",
    "RingPacket",
    "TPacketV3Ring",
    "compile_filter",
    "open_live",
]
