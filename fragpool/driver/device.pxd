# C types of fragpool/driver/device.py (augmenting declarations; the .py is the source).
from fragpool.skb.skbuff cimport SkBuff


cdef class CountingHandler:
    cdef public Py_ssize_t packets
    cdef public Py_ssize_t bytes

    cpdef handle(self, SkBuff skb)
