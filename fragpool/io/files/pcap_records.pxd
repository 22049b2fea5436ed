# C types of fragpool/io/files/pcap_records.py (augmenting declarations; the .py is the
# source).
import cython

from fragpool cimport _native
from fragpool.skb.skbuff cimport SkBuff


@cython.locals(skb=SkBuff, done=Py_ssize_t, lt=Py_ssize_t, incl=Py_ssize_t,
               orig=Py_ssize_t)
cpdef Py_ssize_t put_records(bytearray out, list skbs, Py_ssize_t linktype,
                             Py_ssize_t units, bint big, bint swapped) except -1

cdef SkBuff _as_skb(object item)
