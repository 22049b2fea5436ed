# C types of fragpool/skb/alloc.py (augmenting declarations; the .py is the source).
import cython

from fragpool cimport _native
from fragpool.mm.allocator cimport Arena, Page, PageAllocator
from fragpool.mm.percpu cimport NapiContext
from fragpool.skb.head_cache cimport SkbHeadCache
from fragpool.skb.skbuff cimport SkBuff, _alloc_heap_skb


cdef class _Counts:
    cdef public Py_ssize_t frag_heads, heap_heads, alloc_fail




@cython.locals(page=Page, size=Py_ssize_t, skb=SkBuff, arena=Arena)
cpdef SkBuff _around(PageAllocator pa, SkbHeadCache cache, Py_ssize_t data,
                     Py_ssize_t frag_size, object pfmemalloc)

# the skb geometry constants, as C values (set once when the module loads)
cdef Py_ssize_t SHINFO_SIZE, SKB_SMALL_HEAD_LIMIT, SKB_FRAG_HEAD_LIMIT, NET_SKB_PAD
cdef Py_ssize_t NET_IP_ALIGN, _NAPI_PAD, _TRUESIZE_OVERHEAD, SMP_CACHE_BYTES

@cython.locals(pa=PageAllocator, cache=SkbHeadCache, size=Py_ssize_t, skb=SkBuff,
               addr=Py_ssize_t, tally=_Counts)
cpdef napi_alloc_skb(Py_ssize_t length, NapiContext ctx=*)

cpdef SkBuff napi_build_skb(Py_ssize_t data, Py_ssize_t frag_size, NapiContext ctx=*)

cdef SkbHeadCache _napi_cache(NapiContext ctx)

cpdef SkBuff _heap_head(PageAllocator pa, Py_ssize_t length, SkbHeadCache cache)
