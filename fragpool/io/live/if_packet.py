"""Linux AF_PACKET ABI: constants and struct layouts from <linux/if_packet.h>.

One place for the numbers and byte layouts the socket, recvmmsg and TPACKET_V3 modules share,
so each layout is written once and named as the kernel names it. x86-64 / aarch64 (LP64,
little endian) layouts; the values are those of the generic Linux ABI.
"""

from __future__ import annotations

import struct

# Socket families, levels, protocols.
AF_PACKET = 17
SOL_SOCKET = 1
SOL_PACKET = 263
ETH_P_ALL = 0x0003
ETH_P_8021Q = 0x8100

# SOL_SOCKET options (asm-generic/socket.h).
SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
SO_TIMESTAMPNS = 35  # SO_TIMESTAMPNS_OLD; SCM_TIMESTAMPNS has the same value
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
SO_RCVBUFFORCE = 33

# SOL_PACKET options.
PACKET_ADD_MEMBERSHIP = 1
PACKET_DROP_MEMBERSHIP = 2
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_AUXDATA = 8
PACKET_VERSION = 10
PACKET_HDRLEN = 11
PACKET_RESERVE = 12
PACKET_FANOUT = 18
PACKET_IGNORE_OUTGOING = 23

# packet_mreq.mr_type
PACKET_MR_MULTICAST = 0
PACKET_MR_PROMISC = 1
PACKET_MR_ALLMULTI = 2

# sockaddr_ll.sll_pkttype
PACKET_HOST = 0
PACKET_BROADCAST = 1
PACKET_MULTICAST = 2
PACKET_OTHERHOST = 3
PACKET_OUTGOING = 4
PKTTYPE_NAMES = {
    PACKET_HOST: "host",
    PACKET_BROADCAST: "broadcast",
    PACKET_MULTICAST: "multicast",
    PACKET_OTHERHOST: "otherhost",
    PACKET_OUTGOING: "outgoing",
}

# PACKET_FANOUT modes and flags; the option value is group_id | (mode | flags) << 16.
PACKET_FANOUT_HASH = 0
PACKET_FANOUT_LB = 1
PACKET_FANOUT_CPU = 2
PACKET_FANOUT_ROLLOVER = 3
PACKET_FANOUT_RND = 4
PACKET_FANOUT_QM = 5
PACKET_FANOUT_FLAG_ROLLOVER = 0x1000
PACKET_FANOUT_FLAG_DEFRAG = 0x8000
FANOUT_MODES = {
    "hash": PACKET_FANOUT_HASH,
    "lb": PACKET_FANOUT_LB,
    "cpu": PACKET_FANOUT_CPU,
    "rollover": PACKET_FANOUT_ROLLOVER,
    "rnd": PACKET_FANOUT_RND,
    "qm": PACKET_FANOUT_QM,
}

# tpacket_versions
TPACKET_V1 = 0
TPACKET_V2 = 1
TPACKET_V3 = 2

# tp_status bits (RX side).
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1 << 0
TP_STATUS_COPY = 1 << 1
TP_STATUS_LOSING = 1 << 2
TP_STATUS_CSUMNOTREADY = 1 << 3
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_BLK_TMO = 1 << 5
TP_STATUS_VLAN_TPID_VALID = 1 << 6
TP_STATUS_CSUM_VALID = 1 << 7

# recvmmsg flags
MSG_DONTWAIT = 0x40
MSG_TRUNC = 0x20
MSG_WAITFORONE = 0x10000

# struct tpacket_auxdata: tp_status, tp_len, tp_snaplen, tp_mac, tp_net, tp_vlan_tci,
# tp_vlan_tpid (20 bytes).
TPACKET_AUXDATA = struct.Struct("=IIIHHHH")

# struct timespec as carried by SCM_TIMESTAMPNS.
TIMESPEC = struct.Struct("=qq")

# struct tpacket_stats (v1/v2) and tpacket_stats_v3 (adds tp_freeze_q_cnt).
TPACKET_STATS = struct.Struct("=II")
TPACKET_STATS_V3 = struct.Struct("=III")

# struct packet_mreq: mr_ifindex, mr_type, mr_alen, mr_address[8].
PACKET_MREQ = struct.Struct("=iHH8s")

# struct tpacket_req3: block_size, block_nr, frame_size, frame_nr, retire_blk_tov,
# sizeof_priv, feature_req_word.
TPACKET_REQ3 = struct.Struct("=7I")

# struct tpacket_block_desc with its tpacket_hdr_v1 (48 bytes):
#   0 version, 4 offset_to_priv, 8 block_status, 12 num_pkts, 16 offset_to_first_pkt,
#   20 blk_len, 24 seq_num (u64), 32 ts_first_pkt, 40 ts_last_pkt.
BLOCK_STATUS_OFF = 8
BLOCK_DESC = struct.Struct("=IIIIIIQ")  # through seq_num

# struct tpacket3_hdr (48 bytes) then struct sockaddr_ll at TPACKET_ALIGN(48) = 48:
#   0 tp_next_offset, 4 tp_sec, 8 tp_nsec, 12 tp_snaplen, 16 tp_len, 20 tp_status,
#   24 tp_mac, 26 tp_net, 28 hv1.tp_rxhash, 32 hv1.tp_vlan_tci, 36 hv1.tp_vlan_tpid,
#   38 hv1.tp_padding, 40 tp_padding[8]; sockaddr_ll.sll_pkttype at 48 + 10 = 58.
TPACKET3_HDR_PKTTYPE = struct.Struct("=IIIIIIHHIIHH18xB")
TPACKET3_HDRLEN = 48 + 20  # TPACKET_ALIGN(sizeof(tpacket3_hdr)) + sizeof(sockaddr_ll)
TPACKET_ALIGNMENT = 16

# struct sock_filter: code, jt, jf, k.
SOCK_FILTER = struct.Struct("=HBBI")

# sockaddr_ll: family, protocol (be16), ifindex, hatype, pkttype, halen, addr[8] (20 bytes).
SOCKADDR_LL_SIZE = 20
SOCKADDR_LL_PKTTYPE_OFF = 10

# The 802.1Q tag as it sits on the wire after the two MAC addresses.
VLAN_TAG = struct.Struct("!HH")
VLAN_HLEN = 4
