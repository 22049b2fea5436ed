# C types of fragpool/driver/xdp_wire.py (augmenting declarations; the .py is the source).
import cython

from fragpool cimport _native
from fragpool.driver.ring cimport RxBuffer, RxRing
from fragpool.mm.allocator cimport Page

cdef Py_ssize_t CHUNK
cdef unsigned int XDP_PKT_CONTD


cdef class XdpWire:
    cdef public Py_ssize_t ifindex
    cdef public object ifname
    cdef public object count
    cdef public object xdp_mode
    cdef public double idle_timeout
    cdef public object duration
    cdef public object device
    cdef public list socks
    cdef public object prog
    cdef public object fallback
    cdef public Py_ssize_t offered
    cdef public list per_ring
    cdef public list _posted
    cdef public list _cons
    cdef public list _prod
    cdef public object _deadline
    cdef public bint stopped
    cdef public object _poll
    cdef public Py_ssize_t base
    cdef public Py_ssize_t size
    cdef public bint sg

    @cython.locals(i=Py_ssize_t, end=Py_ssize_t, desc=Py_ssize_t, mask=Py_ssize_t,
                   addr=Py_ssize_t, prod="unsigned long long", count=Py_ssize_t,
                   base=Py_ssize_t, buffers=list, bi=RxBuffer, page=Page)
    cpdef _post(self, Py_ssize_t r, RxRing ring)
    @cython.locals(desc=Py_ssize_t, mask=Py_ssize_t, raddr=Py_ssize_t,
                   cons="unsigned long long", avail="unsigned long long", frames=Py_ssize_t,
                   now="long long", taken="unsigned long long", count=Py_ssize_t,
                   base=Py_ssize_t, buffers=list, wb_len=list, wb_eop=list, wb_tstamp=list,
                   wb_hash=list, addr="unsigned long long", length="unsigned int",
                   options="unsigned int", i=Py_ssize_t, bi=RxBuffer, page=Page,
                   want=Py_ssize_t, eop=bint)
    cpdef Py_ssize_t _complete(self, Py_ssize_t r, RxRing ring, Py_ssize_t limit) except -1
