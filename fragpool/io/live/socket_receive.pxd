# C types of fragpool/io/live/socket_receive.py (augmenting declarations; the .py is the
# source).
import cython

from fragpool cimport _native
from fragpool.io.live.pool_cursor cimport PoolCursor
from fragpool.mm.allocator cimport PageAllocator, RefCount
from fragpool.skb.head_cache cimport SkbHeadCache
from fragpool.skb.skbuff cimport SkBuff

cdef Py_ssize_t ALIGN, MMSGHDR_SIZE, CTRL_SIZE, SOCKADDR_LL_SIZE, MSG_RESULT_OFF
cdef Py_ssize_t SOCKADDR_LL_PKTTYPE_OFF
cdef unsigned int TP_STATUS_VLAN_VALID


cdef class _SockRx:
    cdef public object sock
    cdef public PoolCursor cursor
    cdef public Py_ssize_t frame
    cdef public Py_ssize_t snaplen
    cdef public Py_ssize_t linktype
    cdef public Py_ssize_t ifindex
    cdef public Py_ssize_t dropped_no_mem
    cdef public Py_ssize_t bytes
    cdef public bytearray _scratch
    cdef public Py_ssize_t buffer_cut
    cdef public object resize


cdef class RecvIntoRx(_SockRx):
    cdef public object msg

    @cython.locals(
        pa=PageAllocator, frame=Py_ssize_t, snaplen=Py_ssize_t, lt=Py_ssize_t,
        ifindex=Py_ssize_t, room=Py_ssize_t, fd=int, maddr=Py_ssize_t,
        pm="const unsigned char *", k1="unsigned long long", k2="unsigned long long",
        got=Py_ssize_t, nbytes=Py_ssize_t, at=Py_ssize_t, mbase=Py_ssize_t, head=Py_ssize_t,
        n=Py_ssize_t, used="unsigned long long", key1="unsigned long long",
        key2="unsigned long long", sec="long long", nsec="long long", status="unsigned int",
        wire=Py_ssize_t, tci=Py_ssize_t, tpid=Py_ssize_t, ptype=Py_ssize_t, skb=SkBuff,
        free=list, c=PoolCursor,
    )
    cpdef Py_ssize_t poll(self, Py_ssize_t budget, object timeout, list out) except -1


cdef class MmsgRx(_SockRx):
    cdef public object mm
    cdef public Py_ssize_t batch
    cdef public Py_ssize_t syscalls

    @cython.locals(
        pa=PageAllocator, frame=Py_ssize_t, snaplen=Py_ssize_t, lt=Py_ssize_t,
        ifindex=Py_ssize_t, free=list, pm="const unsigned char *", pc="const unsigned char *",
        pn="const unsigned char *", k1="unsigned long long", k2="unsigned long long",
        vlan="unsigned int", msg_size=Py_ssize_t, ctrl_size=Py_ssize_t, name_size=Py_ssize_t,
        got=Py_ssize_t, nbytes=Py_ssize_t, k=Py_ssize_t, base=Py_ssize_t, mbase=Py_ssize_t,
        first=Py_ssize_t, n=Py_ssize_t, pf=bint, page=RefCount, addr=Py_ssize_t,
        moff=Py_ssize_t, coff=Py_ssize_t, noff=Py_ssize_t, ln=Py_ssize_t, i=Py_ssize_t,
        used="unsigned long long", key1="unsigned long long", sec="long long",
        nsec="long long", key2="unsigned long long", status="unsigned int", wire=Py_ssize_t,
        tci=Py_ssize_t, skb=SkBuff, fd=int, maddr=Py_ssize_t, taddr=Py_ssize_t,
        iaddr=Py_ssize_t, c=PoolCursor,
    )
    cpdef Py_ssize_t poll(self, Py_ssize_t budget, object timeout, list out) except -1
