"""Sizes of the example RX driver, named after igb's (drivers/net/ethernet/intel/igb/igb.h)."""

from ..mm.constants import PAGE_SIZE, USHRT_MAX
from ..skb.constants import NET_IP_ALIGN, NET_SKB_PAD

#: One receive buffer is half a 4 KiB page; the driver flips between the two halves.
IGB_RXBUFFER_2048 = 2048
#: truesize charged for a buffer handed to the stack (igb_rx_pg_size(ring) / 2).
IGB_RX_TRUESIZE = PAGE_SIZE // 2
#: Headroom before the frame in build_skb mode (NET_SKB_PAD + NET_IP_ALIGN).
IGB_SKB_PAD = NET_SKB_PAD + NET_IP_ALIGN
#: Bytes the NIC writes into one buffer in build_skb mode (IGB_MAX_FRAME_BUILD_SKB): the
#: rest of the half page holds the headroom and the skb_shared_info.
IGB_MAX_FRAME_BUILD_SKB = 1536 - NET_IP_ALIGN
#: Linear head of an skb built by the legacy receive path (igb_construct_skb).
IGB_RX_HDR_LEN = 256
#: Descriptors are given back to the NIC in batches of this many (igb_clean_rx_irq).
IGB_RX_BUFFER_WRITE = 16
#: Largest frame the NIC accepts (MAX_JUMBO_FRAME_SIZE); longer ones are length errors.
MAX_JUMBO_FRAME_SIZE = 9728
#: igb_alloc_mapped_page() takes USHRT_MAX - 1 extra references and keeps USHRT_MAX as bias.
PAGECNT_BIAS_MAX = USHRT_MAX

#: The buffer sources a ring may draw from (driver.buffers.make_source).
POOL_KINDS = ("frag", "page_pool", "naive")
#: Default geometry of the example device (igb: IGB_DEFAULT_RXD 256, NAPI weight 64).
DEFAULT_RINGS = 4
DEFAULT_RING_SIZE = 256
DEFAULT_BUDGET = 64
#: net_rx_action's budget across all rings in one softirq round (net.core.netdev_budget).
NETDEV_BUDGET = 300
