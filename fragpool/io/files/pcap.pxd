# C types of fragpool/io/files/pcap.py (augmenting declarations; the .py is the source).
import cython

from fragpool cimport _native
from fragpool.mm.allocator cimport Page, PageAllocator
from fragpool.skb.head_cache cimport SkbHeadCache
from fragpool.skb.skbuff cimport SkBuff


cdef class PcapFormat:
    cdef public object path
    cdef public PageAllocator pa
    cdef public bint strict
    cdef public bytes header
    cdef public str byteorder
    cdef public bint _big
    cdef public unsigned int magic
    cdef public bint nanosecond
    cdef public bint modified
    cdef public tuple version
    cdef public Py_ssize_t linktype
    cdef public Py_ssize_t linktype_field
    cdef public object fcs_len
    cdef public Py_ssize_t max_caplen
    cdef public Py_ssize_t header_snaplen
    cdef public Py_ssize_t snaplen
    cdef public int swapped
    cdef public Py_ssize_t hdrlen
    cdef public Py_ssize_t mult
    cdef public object _rec
    cdef public Py_ssize_t need
    cdef public Py_ssize_t skipped_records
    cdef public Py_ssize_t skipped_bytes
    cdef public bint _lost
    cdef public Py_ssize_t _last_sec

    @cython.locals(
        p="const unsigned char *", big=bint, cache=SkbHeadCache, free=list, out=list,
        pa=PageAllocator, lt=Py_ssize_t, mult=Py_ssize_t, at=Py_ssize_t, top=Py_ssize_t,
        stop=Py_ssize_t, end=Py_ssize_t, limit=Py_ssize_t, pfmemalloc=bint,
        last_sec="long long", sec_ns="long long", sec="long long", frac="long long",
        incl="long long", orig="long long", skb=SkBuff,
    )
    cpdef Py_ssize_t parse(self, object mv, Py_ssize_t mbase, Py_ssize_t start,
                           Py_ssize_t filled, list out, object head_mem, Page page,
                           Py_ssize_t file_off) except -1
