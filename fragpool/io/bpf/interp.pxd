# C types of fragpool/io/bpf/interp.py (augmenting declarations; the .py is the source).
import cython

from fragpool cimport _native
from fragpool.io.bpf.program cimport Program
from fragpool.skb.skbuff cimport SkBuff

cdef unsigned int _U32

@cython.locals(code="const unsigned short[::1]", jts="const unsigned char[::1]",
               jfs="const unsigned char[::1]", ks="const unsigned int[::1]",
               a="unsigned int", x="unsigned int", k="unsigned int", op="unsigned int",
               pc=Py_ssize_t, off=Py_ssize_t, mem="unsigned int[16]")
cdef long long run(Program prog, object mv, Py_ssize_t mbase, Py_ssize_t data,
                   Py_ssize_t buflen, Py_ssize_t wirelen) except -1

cdef unsigned int _word(object mv, Py_ssize_t mbase, Py_ssize_t addr) noexcept

@cython.locals(wirelen=Py_ssize_t)
cpdef long long filter_skb(Program prog, SkBuff skb) except -1

@cython.locals(dropped=Py_ssize_t, n=Py_ssize_t, linktype=Py_ssize_t, i=Py_ssize_t, skb=SkBuff)
cpdef tuple filter_run(Program prog, list skbs, Py_ssize_t start, list kept)
