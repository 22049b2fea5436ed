# C types of fragpool/skb/head_cache.py (augmenting declarations; the .py is the source).
import cython

from fragpool.skb.skbuff cimport SkBuff, SkbCacheBase


cdef class SkbHeadCache(SkbCacheBase):
    cdef public object name
    cdef public Py_ssize_t bulk
    cdef public SkbHeadCache parent
    cdef public Py_ssize_t gets
    cdef public Py_ssize_t misses
    cdef public Py_ssize_t refills
    cdef public Py_ssize_t flushes

    cpdef SkBuff get(self)
    @cython.locals(parent=SkbHeadCache, free=list, spare=list, take=list, want=Py_ssize_t,
                   skb=SkBuff)
    cpdef SkBuff _refill(self)
    @cython.locals(free=list)
    cpdef put(self, SkBuff skb)
    @cython.locals(free=list, drop=list, parent=SkbHeadCache)
    cpdef _flush(self)
