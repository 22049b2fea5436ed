# C types of fragpool/driver/ring.py (augmenting declarations; the .py is the source).
import cython

from fragpool.mm.allocator cimport Page, PageAllocator
from fragpool.mm.percpu cimport NapiContext
from fragpool.skb cimport alloc
from fragpool.skb.skbuff cimport SkBuff

cdef Py_ssize_t IGB_MAX_FRAME_BUILD_SKB, IGB_RX_BUFFER_WRITE, IGB_RX_HDR_LEN
cdef Py_ssize_t IGB_RX_TRUESIZE, IGB_RXBUFFER_2048, IGB_SKB_PAD, MAX_JUMBO_FRAME_SIZE


cdef class RxBuffer:
    cdef public Page page
    cdef public Py_ssize_t page_offset
    cdef public Py_ssize_t pagecnt_bias


cdef class RxRing:
    cdef public Py_ssize_t index
    cdef public PageAllocator pa
    cdef public Py_ssize_t count
    cdef public bint legacy_rx
    cdef public Py_ssize_t bias_max
    cdef public object handler
    cdef public NapiContext napi
    cdef public object source
    cdef public bint _uses_bias
    cdef public list buffers
    cdef public list wb_len
    cdef public list wb_eop
    cdef public list wb_tstamp
    cdef public list wb_hash
    cdef public Py_ssize_t next_to_use
    cdef public Py_ssize_t next_to_clean
    cdef public Py_ssize_t next_to_alloc
    cdef public Py_ssize_t hw_head
    cdef public SkBuff skb
    cdef public Py_ssize_t bufsz
    cdef public Py_ssize_t rx_offset
    cdef public bint up
    cdef public Py_ssize_t packets, bytes, polls, polls_exhausted, max_work, buffers_used
    cdef public Py_ssize_t handed_up, flips, reuses, releases, restocks, copybreaks
    cdef public Py_ssize_t multi_buffer, alloc_failed, refills, refcount_ops
    cdef public Py_ssize_t rx_no_buffer, rx_length_errors, teardown_lost

    cpdef Py_ssize_t desc_unused(self)
    cpdef Py_ssize_t hw_free(self)
    @cython.locals(page=Page)
    cpdef bint alloc_mapped_page(self, RxBuffer bi) except -1
    @cython.locals(i=Py_ssize_t, count=Py_ssize_t, buffers=list)
    cpdef alloc_rx_buffers(self, Py_ssize_t cleaned_count)
    @cython.locals(n=Py_ssize_t, bufsz=Py_ssize_t, need=Py_ssize_t, i=Py_ssize_t,
                   count=Py_ssize_t, buffers=list, pos=Py_ssize_t, chunk=Py_ssize_t,
                   bi=RxBuffer, page=Page, start=Py_ssize_t, dst="unsigned char[::1]",
                   src="const unsigned char[:]")
    cpdef bint dma(self, frame, object tstamp=*, object rss_hash=*) except -1
    @cython.locals(work=Py_ssize_t)
    cpdef Py_ssize_t poll(self, Py_ssize_t budget) except -1
    @cython.locals(total_packets=Py_ssize_t, cleaned_count=Py_ssize_t, skb=SkBuff,
                   buffers=list, wb_len=list, count=Py_ssize_t, ntc=Py_ssize_t,
                   size=Py_ssize_t, bi=RxBuffer, rx_buf_pgcnt=Py_ssize_t, handed_up=bint,
                   eop=bint, delivered=SkBuff)
    cpdef Py_ssize_t clean_rx_irq(self, Py_ssize_t budget) except -1
    cpdef _hand_up(self, RxBuffer bi)
    cpdef _flip(self, RxBuffer bi)
    @cython.locals(hard_start=Py_ssize_t, skb=SkBuff)
    cpdef SkBuff _build_skb(self, RxBuffer bi, Py_ssize_t size)
    @cython.locals(skb=SkBuff, va=Py_ssize_t, headlen=Py_ssize_t, rest=Py_ssize_t)
    cpdef tuple _construct_skb(self, RxBuffer bi, Py_ssize_t size)
    cpdef _add_rx_frag(self, RxBuffer bi, SkBuff skb, Py_ssize_t size)
    @cython.locals(page=Page)
    cpdef bint can_reuse_rx_page(self, RxBuffer bi, Py_ssize_t rx_buf_pgcnt,
                                 bint handed_up) except -1
    cpdef _put_rx_buffer(self, RxBuffer bi, Py_ssize_t rx_buf_pgcnt, bint handed_up)
    @cython.locals(nta=Py_ssize_t, new=RxBuffer)
    cpdef reuse_rx_page(self, RxBuffer old)
