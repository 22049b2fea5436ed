# C types of fragpool/io/live/ring_receive.py (augmenting declarations; the .py is the source).
import cython

from fragpool cimport _native
from fragpool.io.live.pool_cursor cimport PoolCursor
from fragpool.mm.allocator cimport PageAllocator, RefCount
from fragpool.skb.head_cache cimport SkbHeadCache
from fragpool.skb.head_owner cimport HeadOwner
from fragpool.skb.skbuff cimport SkBuff

cdef Py_ssize_t TPACKET3_HDRLEN, ALIGN
cdef unsigned int TP_STATUS_VLAN_VALID


cdef class BlockRef(RefCount):
    pass


cdef class RingRx(HeadOwner):
    cdef public object ring
    cdef public object sock
    cdef public PoolCursor cursor
    cdef public Py_ssize_t snaplen
    cdef public Py_ssize_t linktype
    cdef public Py_ssize_t ifindex
    cdef public Py_ssize_t copybreak_at
    cdef public Py_ssize_t base
    cdef public Py_ssize_t bs
    cdef public list block_refs
    cdef public list skbs
    cdef public object _order
    cdef public Py_ssize_t _off
    cdef public Py_ssize_t _left
    cdef public object _block
    cdef public list _deferred
    cdef public object _thread
    cdef public bint _closed
    cdef public Py_ssize_t blocks
    cdef public Py_ssize_t bytes
    cdef public Py_ssize_t copybreak_skbs
    cdef public Py_ssize_t copybreak_bytes
    cdef public Py_ssize_t copybreak_fail
    cdef public Py_ssize_t discarded_at_close
    cdef public object report

    @cython.locals(i=Py_ssize_t, blk=BlockRef, n=Py_ssize_t)
    cpdef frag_free(self, Py_ssize_t addr)
    @cython.locals(
        p="const unsigned char *", base=Py_ssize_t, pa=PageAllocator, snaplen=Py_ssize_t,
        lt=Py_ssize_t, ifindex=Py_ssize_t, b=Py_ssize_t, blk=BlockRef, lo=Py_ssize_t,
        hi=Py_ssize_t, free=list, take=list, off=Py_ssize_t, last_sec="long long",
        sec_ns="long long", nbytes=Py_ssize_t, vlan_valid="unsigned int", align=Py_ssize_t,
        mask=Py_ssize_t, skb=SkBuff, nxt=Py_ssize_t, sec="long long", nsec="long long",
        snap=Py_ssize_t, wire=Py_ssize_t, status="unsigned int", mac=Py_ssize_t,
        tci=Py_ssize_t, ptype=int, addr=Py_ssize_t, data=Py_ssize_t,
    )
    cpdef Py_ssize_t _walk(self, Py_ssize_t k, list out) except -1
