# C types of fragpool/io/live/xdp_receive.py (augmenting declarations; the .py is the source).
import cython

from fragpool cimport _native
from fragpool.io.bpf.interp cimport filter_skb
from fragpool.io.bpf.program cimport Program
from fragpool.io.live.pool_cursor cimport PoolCursor
from fragpool.mm.allocator cimport Page, PageAllocator, RefCount
from fragpool.skb.head_cache cimport SkbHeadCache
from fragpool.skb.head_owner cimport HeadOwner
from fragpool.skb.skbuff cimport SkBuff

cdef Py_ssize_t LINKTYPE_ETHERNET, DESC_SIZE, ADDR_SIZE
cdef unsigned int XDP_PKT_CONTD


cdef class XdpRx(HeadOwner):
    cdef public object xsk
    cdef public PageAllocator umem
    cdef public PoolCursor cursor
    cdef public SkbHeadCache home
    cdef public Py_ssize_t base
    cdef public object view
    cdef public Py_ssize_t vbase
    cdef public Py_ssize_t frame_size
    cdef public int shift
    cdef public Py_ssize_t mask
    cdef public Py_ssize_t ifindex
    cdef public Py_ssize_t snaplen
    cdef public Py_ssize_t copybreak_at
    cdef public object program
    cdef public list refs
    cdef long long[::1] free
    cdef public Py_ssize_t nfree
    cdef public Py_ssize_t posted
    cdef public list lent
    cdef public dict pages
    cdef public object rx_words
    cdef public object rx_view
    cdef public Py_ssize_t rx_addr
    cdef public Py_ssize_t rx_prod_at
    cdef public Py_ssize_t rx_cons_at
    cdef public Py_ssize_t rx_desc
    cdef public Py_ssize_t rx_mask
    cdef public object fill_words
    cdef public object fill_view
    cdef public Py_ssize_t fill_addr
    cdef public Py_ssize_t fill_prod_at
    cdef public Py_ssize_t fill_flags_at
    cdef public Py_ssize_t fill_desc
    cdef public Py_ssize_t fill_mask
    cdef public Py_ssize_t fill_size
    cdef public unsigned long long rx_cons
    cdef public unsigned long long fill_prod
    cdef public SkBuff partial
    cdef public bint partial_bad
    cdef public unsigned long thread
    cdef public bint closed
    cdef public Py_ssize_t received
    cdef public Py_ssize_t bytes
    cdef public Py_ssize_t filter_dropped
    cdef public Py_ssize_t copybreak_skbs
    cdef public Py_ssize_t rx_frags_dropped
    cdef public Py_ssize_t wakeups
    cdef public Py_ssize_t rx_usecs
    cdef public Py_ssize_t moderated

    @cython.locals(out=list)
    cpdef list ready(self, Py_ssize_t budget, object backlog, bint wait)

    @cython.locals(off=Py_ssize_t, ref=RefCount, n=Py_ssize_t)
    cpdef frag_free(self, Py_ssize_t addr)
    @cython.locals(free="long long[::1]", room=Py_ssize_t, prod="unsigned long long",
                   addr=Py_ssize_t, desc=Py_ssize_t, mask=Py_ssize_t, _=Py_ssize_t,
                   top=Py_ssize_t)
    cpdef refill(self)
    cpdef Py_ssize_t chunks_held(self)
    @cython.locals(
        cons="unsigned long long", avail="unsigned long long", take=Py_ssize_t,
        umem=PageAllocator, base=Py_ssize_t, refs=list, shift=int, mask=Py_ssize_t,
        raddr=Py_ssize_t, desc=Py_ssize_t, rmask=Py_ssize_t, vbase=Py_ssize_t,
        home=SkbHeadCache, size=Py_ssize_t, ifindex=Py_ssize_t, snaplen=Py_ssize_t,
        copy_out=bint, now="long long", got=Py_ssize_t, nbytes=Py_ssize_t, k=Py_ssize_t,
        addr="unsigned long long", length="unsigned int", options="unsigned int",
        off=Py_ssize_t, skb=SkBuff, ref=RefCount,
    )
    cpdef Py_ssize_t poll(self, Py_ssize_t budget, list out) except -1
