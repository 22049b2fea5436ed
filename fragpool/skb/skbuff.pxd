# C types of fragpool/skb/skbuff.py (augmenting declarations; the .py is the source).
import cython
from cpython.buffer cimport PyBuffer_FillInfo
from cpython.ref cimport Py_DECREF, Py_INCREF

from fragpool cimport _native
from fragpool.mm.allocator cimport PageAllocator, RefCount
from fragpool.skb.head_owner cimport HeadOwner
from fragpool.skb.heap cimport HeapHeads

cdef HeapHeads heap_heads


cdef class SkbCacheBase:
    cdef public list free
    cdef public Py_ssize_t size

    cpdef SkBuff get(self)
    cpdef _flush(self)


cdef class SharedInfo:
    cdef public Py_ssize_t dataref
    cdef public list frags
    cdef public Py_ssize_t head
    cdef public object head_mem
    cdef public object pa


@cython.final
cdef class SkBuff:
    cdef public PageAllocator pa
    cdef public object head_mem
    cdef public Py_ssize_t head
    cdef public Py_ssize_t data
    cdef public Py_ssize_t tail
    cdef public Py_ssize_t end
    cdef public Py_ssize_t len
    cdef public Py_ssize_t data_len
    cdef public Py_ssize_t truesize
    cdef public bint head_frag
    cdef public bint pfmemalloc
    cdef public bint cloned
    # an exact int: pcapng timestamps can exceed int64 nanoseconds
    cdef public object tstamp
    cdef public Py_ssize_t wire_len
    cdef public Py_ssize_t ifindex
    cdef public Py_ssize_t linktype
    cdef public Py_ssize_t protocol
    cdef public Py_ssize_t pkt_type
    cdef public Py_ssize_t hash
    cdef public Py_ssize_t mark
    cdef public Py_ssize_t vlan_tci
    cdef public list frags
    cdef public SharedInfo _shared
    cdef public object _mv
    cdef public Py_ssize_t _mbase
    cdef public bint _live
    cdef public SkbCacheBase _home
    cdef public RefCount _page

    cpdef SkBuff _init(self, PageAllocator pa, object head_mem, Py_ssize_t head,
                       Py_ssize_t size, object mv, Py_ssize_t mbase, Py_ssize_t truesize,
                       bint head_frag, bint pfmemalloc)
    cpdef SkBuff init_rx(self, PageAllocator pa, object head_mem, Py_ssize_t addr,
                         Py_ssize_t length, Py_ssize_t truesize, object mv,
                         Py_ssize_t mbase, bint pfmemalloc, RefCount page=*)
    @cython.locals(home=SkbCacheBase, cached=list)
    cpdef free(self)
    @cython.locals(page=RefCount, n=Py_ssize_t, pa=PageAllocator, ho=HeadOwner)
    cdef _put_data(self)
    cpdef _check(self)
    @cython.locals(tail=Py_ssize_t)
    cpdef put_in_place(self, Py_ssize_t n)
    @cython.locals(tail=Py_ssize_t, start=Py_ssize_t)
    cpdef put(self, Py_ssize_t n)
    cpdef reserve(self, Py_ssize_t n)
    @cython.locals(start=Py_ssize_t)
    cpdef linear_view(self)
    @cython.locals(n=Py_ssize_t)
    cpdef int byte(self, Py_ssize_t i) except -1
    @cython.locals(shared=SharedInfo, n=Py_ssize_t)
    cpdef _drop_data(self)


cpdef _put_frags(object pa, list frags)
cpdef _release(object pa, object head_mem, Py_ssize_t head, list frags)

@cython.locals(skb=SkBuff, page=RefCount, n=Py_ssize_t, home=SkbCacheBase,
               h=SkbCacheBase, back=list, pa=PageAllocator, ho=HeadOwner)
cpdef kfree_skb_list(skbs)

@cython.locals(cached=list)
cpdef _cache_put_bulk(SkbCacheBase home, list skbs)


# The buffer an skb exports: its linear bytes at their address; ``view`` (a slice of the
# arena's view, which keeps the mapping exported) is held in ``internal`` until release.
cdef inline int _export(SkBuff skb, object view, Py_buffer *buffer, int flags) except -1:
    PyBuffer_FillInfo(buffer, skb, <void *>skb.data, skb.len, 0, flags)
    Py_INCREF(view)
    buffer.internal = <void *>view
    return 0

cdef inline void _unexport(Py_buffer *buffer) noexcept:
    if buffer.internal != NULL:
        Py_DECREF(<object>buffer.internal)
        buffer.internal = NULL

@cython.locals(sizes=tuple, obj=Py_ssize_t, usable=Py_ssize_t, truesize=Py_ssize_t,
               addr=Py_ssize_t, skb=SkBuff)
cpdef SkBuff _alloc_heap_skb(PageAllocator pa, Py_ssize_t size, object home)
