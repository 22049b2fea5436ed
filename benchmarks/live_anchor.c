/* live_anchor: bare C receivers, the floor each fragpool live mode is held against.
 *
 *   live_anchor MODE IFACE SECONDS      MODE: recvmsg | recvmmsg | tpacket_v3 | af_xdp
 *
 * Each mode does the set-up fragpool's mode of the same name does with open_live's
 * defaults, then receives for SECONDS reading one byte of each packet (its EtherType's
 * first), in the same batches of 64 with the same 50 ms wait, and nothing else:
 *
 *   recvmsg     one recvmsg(2) per packet, each into the next cache line of a 1 MiB pool
 *               after the last; PACKET_AUXDATA and SO_TIMESTAMPNS on, a 2 MiB receive
 *               queue, both control messages walked (fragpool recv_into).
 *   recvmmsg    one recvmmsg(2) of 64 per batch into frame-sized slots from where the
 *               last batch ended in the same pool, the same options (fragpool recvmmsg).
 *   tpacket_v3  a TPACKET_V3 ring of 16 blocks of 1 MiB, 2048-byte frames, 10 ms block
 *               timeout; each retired block walked and handed back (fragpool tpacket_v3).
 *   af_xdp      an AF_XDP socket on queue 0: a 4096-chunk UMEM of 4096-byte chunks, rings of
 *               4096, need_wakeup, the six-instruction redirect program attached natively by
 *               a BPF link (native, or generic with a 4th argument "generic"); each chunk back on the fill ring after its byte is read, and a
 *               partial batch waits 50 us once for more (fragpool af_xdp's rx_usecs).
 *
 * It prints "ready" once set up, then one JSON line: received, drops (the kernel's count:
 * PACKET_STATISTICS, or XDP_STATISTICS rx_dropped + rx_ring_full) and the CPU seconds
 * (user + system, and system alone) spent from "ready" to the end.  bench_live builds it
 * (gcc -O2) and runs it beside fragpool's modes.  Facts from the uapi headers; the BPF
 * program is the one AF_XDP.md spells out.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef XDP_FLAGS_DRV_MODE
#define XDP_FLAGS_SKB_MODE (1U << 1)
#define XDP_FLAGS_DRV_MODE (1U << 2)
#endif

enum { BUDGET = 64, WAIT_MS = 50, RX_USECS = 50, VLAN_HLEN = 4 };
/* The socket modes receive into successive places of a 1 MiB pool, as fragpool's capture
 * pool is (each packet keeps its own bytes until freed): not into one buffer kept hot. */
enum { POOL = 1 << 20 };

static volatile unsigned char sink; /* the byte read from each packet */
static double cpu_ready, sys_ready;

static void die(const char *what) {
	fprintf(stderr, "live_anchor: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static void cpu(double *total, double *sys) {
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	*sys = u.ru_stime.tv_sec + u.ru_stime.tv_usec * 1e-6;
	*total = u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + *sys;
}

static void ready(void) {
	cpu(&cpu_ready, &sys_ready);
	printf("ready\n");
	fflush(stdout);
}

static void report(unsigned long long received, unsigned long long drops) {
	double total, sys;
	cpu(&total, &sys);
	printf("{\"received\": %llu, \"drops\": %llu, \"cpu_s\": %.6f, \"sys_s\": %.6f}\n",
	       received, drops, total - cpu_ready, sys - sys_ready);
}

static int wait_in(int fd, int ms) {
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int r = poll(&p, 1, ms);
	if (r < 0 && errno != EINTR)
		die("poll");
	return r > 0;
}

/* -- AF_PACKET -------------------------------------------------------------------------- */

static int ifindex_of(const char *ifname) {
	unsigned int i = if_nametoindex(ifname);
	if (!i)
		die(ifname);
	return (int)i;
}

/* As PacketSocket opens: protocol 0 (nothing queued before bind), options, bind ETH_P_ALL. */
static int packet_socket(int version) {
	int fd = socket(AF_PACKET, SOCK_RAW, 0), one = 1;
	if (fd < 0)
		die("socket(AF_PACKET)");
	if (version >= 0 && setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version))
		die("PACKET_VERSION");
	if (version < 0) {
		int rcvbuf = 2 << 20; /* open_live's DEFAULT_RCVBUF */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf))
			die("SO_RCVBUFFORCE");
		if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one))
			die("PACKET_AUXDATA");
		if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one))
			die("SO_TIMESTAMPNS");
	}
	return fd;
}

static void packet_bind(int fd, int ifindex) {
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				  .sll_ifindex = ifindex};
	if (bind(fd, (struct sockaddr *)&sll, sizeof sll))
		die("bind(AF_PACKET)");
}

static unsigned long long packet_drops(int fd, int v3) {
	struct tpacket_stats_v3 st = {0};
	socklen_t len = v3 ? sizeof st : sizeof(struct tpacket_stats);
	if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len))
		die("PACKET_STATISTICS");
	return st.tp_drops;
}

enum { CTRL_SIZE = 72 }; /* CMSG_SPACE(timespec) + CMSG_SPACE(tpacket_auxdata): 32 + 40 */

/* The control messages fragpool reads: the timestamp and the auxdata's wire length. */
static unsigned long long read_cmsgs(struct msghdr *m) {
	unsigned long long acc = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;
			memcpy(&ts, CMSG_DATA(c), sizeof ts);
			acc += ts.tv_sec * 1000000000ULL + ts.tv_nsec;
		} else if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA) {
			struct tpacket_auxdata aux;
			memcpy(&aux, CMSG_DATA(c), sizeof aux);
			acc += aux.tp_len + aux.tp_status + aux.tp_vlan_tci;
		}
	}
	return acc;
}

static void run_recvmsg(int ifindex, int frame, double seconds) {
	int fd = packet_socket(-1);
	packet_bind(fd, ifindex);
	unsigned char *pool = malloc(POOL), *buf;
	size_t at = 0;
	char ctrl[CTRL_SIZE + 16];
	struct sockaddr_ll name;
	struct iovec iov;
	struct msghdr m = {.msg_name = &name, .msg_iov = &iov, .msg_iovlen = 1,
			   .msg_control = ctrl};
	unsigned long long n = 0, acc = 0;
	ready();
	double end = now() + seconds;
	while (now() < end) {
		if (!wait_in(fd, WAIT_MS))
			continue;
		for (int got = 0; got < BUDGET; got++) {
			if (POOL - at < (size_t)frame)
				at = 0;
			buf = pool + at;
			iov.iov_base = buf;
			iov.iov_len = frame - VLAN_HLEN;
			m.msg_namelen = sizeof name;
			m.msg_controllen = sizeof ctrl;
			ssize_t r = recvmsg(fd, &m, MSG_DONTWAIT);
			if (r < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				die("recvmsg");
			}
			acc += read_cmsgs(&m) + name.sll_pkttype;
			sink = buf[12];
			at += ((size_t)r + 63) & ~(size_t)63; /* the next packet's cache line */
			n++;
		}
	}
	sink = (unsigned char)acc;
	report(n, packet_drops(fd, 0));
}

static void run_recvmmsg(int ifindex, int frame, double seconds) {
	int fd = packet_socket(-1);
	packet_bind(fd, ifindex);
	enum { SLAB = 128 << 10 };
	int k = SLAB / frame < BUDGET ? SLAB / frame : BUDGET;
	unsigned char *pool = malloc(POOL);
	size_t at = 0;
	struct mmsghdr msgs[BUDGET], template[BUDGET];
	struct iovec iov[BUDGET];
	struct sockaddr_ll names[BUDGET];
	static char ctrl[BUDGET][CTRL_SIZE];
	for (int i = 0; i < k; i++) {
		iov[i].iov_len = frame - VLAN_HLEN;
		template[i] = (struct mmsghdr){
			.msg_hdr = {.msg_name = &names[i], .msg_namelen = sizeof names[i],
				    .msg_iov = &iov[i], .msg_iovlen = 1, .msg_control = ctrl[i],
				    .msg_controllen = CTRL_SIZE}};
	}
	unsigned long long n = 0, acc = 0;
	ready();
	double end = now() + seconds;
	while (now() < end) {
		if (!wait_in(fd, WAIT_MS))
			continue;
		if (POOL - at < (size_t)k * frame)
			at = 0;
		for (int i = 0; i < k; i++) /* frame-sized slots where the last batch ended */
			iov[i].iov_base = pool + at + (size_t)i * frame;
		memcpy(msgs, template, sizeof msgs[0] * k); /* the fields the kernel wrote back */
		int r = recvmmsg(fd, msgs, k, MSG_DONTWAIT, NULL);
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			die("recvmmsg");
		}
		for (int i = 0; i < r; i++) {
			acc += read_cmsgs(&msgs[i].msg_hdr) + msgs[i].msg_len + names[i].sll_pkttype;
			sink = ((unsigned char *)iov[i].iov_base)[12];
		}
		if (r > 0)
			at += (size_t)(r - 1) * frame + ((msgs[r - 1].msg_len + 63) & ~63U);
		n += r;
	}
	sink = (unsigned char)acc;
	report(n, packet_drops(fd, 0));
}

static void run_tpacket_v3(int ifindex, double seconds) {
	int fd = packet_socket(TPACKET_V3);
	struct tpacket_req3 req = {.tp_block_size = 1 << 20, .tp_block_nr = 16,
				   .tp_frame_size = 2048, .tp_retire_blk_tov = 10};
	req.tp_frame_nr = req.tp_block_size / req.tp_frame_size * req.tp_block_nr;
	if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req))
		die("PACKET_RX_RING");
	size_t size = (size_t)req.tp_block_size * req.tp_block_nr;
	unsigned char *ring = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
				   fd, 0);
	if (ring == MAP_FAILED)
		die("mmap(ring)");
	packet_bind(fd, ifindex);
	unsigned long long n = 0, acc = 0;
	unsigned int b = 0;
	ready();
	double end = now() + seconds;
	while (now() < end) {
		struct tpacket_block_desc *bd = (void *)(ring + (size_t)b * req.tp_block_size);
		if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) {
			wait_in(fd, WAIT_MS);
			continue;
		}
		unsigned int count = bd->hdr.bh1.num_pkts;
		struct tpacket3_hdr *h = (void *)((unsigned char *)bd + bd->hdr.bh1.offset_to_first_pkt);
		for (unsigned int i = 0; i < count; i++) {
			acc += h->tp_sec + h->tp_nsec + h->tp_len + h->tp_snaplen;
			sink = ((unsigned char *)h + h->tp_mac)[12];
			h = (void *)((unsigned char *)h + h->tp_next_offset);
		}
		n += count;
		__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		b = (b + 1) % req.tp_block_nr;
	}
	sink = (unsigned char)acc;
	report(n, packet_drops(fd, 1));
}

/* -- AF_XDP ----------------------------------------------------------------------------- */

static long bpf(int cmd, union bpf_attr *attr) {
	long r = syscall(__NR_bpf, cmd, attr, sizeof *attr);
	return r;
}

/* The XSKMAP and bpf_redirect_map(map, ctx->rx_queue_index, XDP_PASS), attached by a link
 * (it goes when this process exits). Returns the map's fd. */
static int attach_redirect(int ifindex, unsigned int mode_flags) {
	union bpf_attr a;
	memset(&a, 0, sizeof a);
	a.map_type = BPF_MAP_TYPE_XSKMAP;
	a.key_size = 4;
	a.value_size = 4;
	a.max_entries = 1;
	int map = bpf(BPF_MAP_CREATE, &a);
	if (map < 0)
		die("BPF_MAP_CREATE");
	struct bpf_insn prog[] = {
		{.code = 0x61, .dst_reg = 2, .src_reg = 1, .off = 16}, /* r2 = rx_queue_index */
		{.code = 0x18, .dst_reg = 1, .src_reg = BPF_PSEUDO_MAP_FD, .imm = map},
		{0},
		{.code = 0xb7, .dst_reg = 3, .imm = XDP_PASS},
		{.code = 0x85, .imm = BPF_FUNC_redirect_map},
		{.code = 0x95},
	};
	char log[4096] = "";
	memset(&a, 0, sizeof a);
	a.prog_type = BPF_PROG_TYPE_XDP;
	a.insn_cnt = sizeof prog / sizeof prog[0];
	a.insns = (uintptr_t)prog;
	a.license = (uintptr_t) "GPL";
	a.log_level = 1;
	a.log_size = sizeof log;
	a.log_buf = (uintptr_t)log;
	a.expected_attach_type = BPF_XDP;
	int pfd = bpf(BPF_PROG_LOAD, &a);
	if (pfd < 0) {
		fprintf(stderr, "%s", log);
		die("BPF_PROG_LOAD");
	}
	memset(&a, 0, sizeof a);
	a.link_create.prog_fd = pfd;
	a.link_create.target_ifindex = ifindex;
	a.link_create.attach_type = BPF_XDP;
	a.link_create.flags = mode_flags;
	if (bpf(BPF_LINK_CREATE, &a) < 0)
		die("BPF_LINK_CREATE");
	return map;
}

struct ring {
	unsigned int *producer, *consumer, *flags, mask;
	void *desc;
};

static void map_ring(struct ring *r, int fd, const struct xdp_ring_offset *off, unsigned int n,
		     size_t entry, off_t pgoff) {
	unsigned char *p = mmap(NULL, off->desc + n * entry, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_POPULATE, fd, pgoff);
	if (p == MAP_FAILED)
		die("mmap(AF_XDP ring)");
	r->producer = (void *)(p + off->producer);
	r->consumer = (void *)(p + off->consumer);
	r->flags = (void *)(p + off->flags);
	r->desc = p + off->desc;
	r->mask = n - 1;
}

static void run_af_xdp(int ifindex, double seconds, unsigned int mode_flags) {
	enum { FRAMES = 4096, CHUNK = 4096, RING = 4096 };
	unsigned char *umem = mmap(NULL, (size_t)FRAMES * CHUNK, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (umem == MAP_FAILED)
		die("mmap(UMEM)");
	int fd = socket(AF_XDP, SOCK_RAW, 0);
	if (fd < 0)
		die("socket(AF_XDP)");
	struct xdp_umem_reg reg = {.addr = (uintptr_t)umem, .len = (size_t)FRAMES * CHUNK,
				   .chunk_size = CHUNK};
	if (setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof reg))
		die("XDP_UMEM_REG");
	int n_ring = RING;
	if (setsockopt(fd, SOL_XDP, XDP_UMEM_FILL_RING, &n_ring, sizeof n_ring) ||
	    setsockopt(fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &n_ring, sizeof n_ring) ||
	    setsockopt(fd, SOL_XDP, XDP_RX_RING, &n_ring, sizeof n_ring))
		die("sizing the AF_XDP rings");
	struct xdp_mmap_offsets off;
	socklen_t len = sizeof off;
	if (getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &len))
		die("XDP_MMAP_OFFSETS");
	struct ring rx, fill, comp;
	map_ring(&rx, fd, &off.rx, RING, sizeof(struct xdp_desc), XDP_PGOFF_RX_RING);
	map_ring(&fill, fd, &off.fr, RING, sizeof(uint64_t), XDP_UMEM_PGOFF_FILL_RING);
	map_ring(&comp, fd, &off.cr, RING, sizeof(uint64_t), XDP_UMEM_PGOFF_COMPLETION_RING);
	uint64_t *fq = fill.desc;
	for (unsigned int i = 0; i < FRAMES; i++)
		fq[i & fill.mask] = (uint64_t)i * CHUNK;
	__atomic_store_n(fill.producer, FRAMES, __ATOMIC_RELEASE);
	struct sockaddr_xdp sxdp = {.sxdp_family = AF_XDP, .sxdp_flags = XDP_USE_NEED_WAKEUP,
				    .sxdp_ifindex = ifindex, .sxdp_queue_id = 0};
	int tries = 0; /* the queue's last socket may still be going (AF_XDP.md, gotcha 8) */
	while (bind(fd, (struct sockaddr *)&sxdp, sizeof sxdp)) {
		if (errno != EBUSY || ++tries > 100)
			die("bind(AF_XDP)");
		usleep(10000);
	}
	int map = attach_redirect(ifindex, mode_flags);
	union bpf_attr a;
	memset(&a, 0, sizeof a);
	unsigned int key = 0, value = fd;
	a.map_fd = map;
	a.key = (uintptr_t)&key;
	a.value = (uintptr_t)&value;
	if (bpf(BPF_MAP_UPDATE_ELEM, &a))
		die("BPF_MAP_UPDATE_ELEM");

	struct xdp_desc *rxd = rx.desc;
	unsigned int rx_cons = *rx.consumer, fill_prod = FRAMES;
	unsigned long long n = 0, acc = 0;
	ready();
	double end = now() + seconds;
	while (now() < end) {
		unsigned int avail = __atomic_load_n(rx.producer, __ATOMIC_ACQUIRE) - rx_cons;
		if (!avail) {
			if (__atomic_load_n(fill.flags, __ATOMIC_RELAXED) & XDP_RING_NEED_WAKEUP)
				recvfrom(fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
			wait_in(fd, WAIT_MS);
			continue;
		}
		if (avail < BUDGET) { /* a partial batch waits once for more, as rx_usecs does */
			usleep(RX_USECS);
			avail = __atomic_load_n(rx.producer, __ATOMIC_ACQUIRE) - rx_cons;
		}
		if (avail > BUDGET)
			avail = BUDGET;
		for (unsigned int i = 0; i < avail; i++) {
			struct xdp_desc *d = &rxd[(rx_cons + i) & rx.mask];
			acc += d->len;
			sink = umem[d->addr + 12];
			fq[(fill_prod + i) & fill.mask] = d->addr & ~(uint64_t)(CHUNK - 1);
		}
		rx_cons += avail;
		fill_prod += avail;
		__atomic_store_n(rx.consumer, rx_cons, __ATOMIC_RELEASE);
		__atomic_store_n(fill.producer, fill_prod, __ATOMIC_RELEASE);
		n += avail;
	}
	struct xdp_statistics st;
	len = sizeof st;
	if (getsockopt(fd, SOL_XDP, XDP_STATISTICS, &st, &len))
		die("XDP_STATISTICS");
	sink = (unsigned char)acc;
	(void)comp;
	report(n, st.rx_dropped + st.rx_ring_full);
}

/* The interface's largest frame, as fragpool sizes its buffers: MTU + Ethernet header +
 * room for a VLAN tag put back. */
static int frame_of(const char *ifname) {
	char path[128];
	snprintf(path, sizeof path, "/sys/class/net/%s/mtu", ifname);
	FILE *f = fopen(path, "r");
	int mtu = 1500;
	if (f) {
		if (fscanf(f, "%d", &mtu) != 1)
			mtu = 1500;
		fclose(f);
	}
	return mtu + ETH_HLEN + VLAN_HLEN;
}

int main(int argc, char **argv) {
	if (argc != 4 && !(argc == 5 && !strcmp(argv[1], "af_xdp"))) {
		fprintf(stderr, "usage: live_anchor recvmsg|recvmmsg|tpacket_v3 IFACE SECONDS\n"
				"       live_anchor af_xdp IFACE SECONDS [native|generic]\n");
		return 2;
	}
	const char *mode = argv[1], *ifname = argv[2];
	double seconds = atof(argv[3]);
	int ifindex = ifindex_of(ifname);
	if (!strcmp(mode, "recvmsg"))
		run_recvmsg(ifindex, frame_of(ifname), seconds);
	else if (!strcmp(mode, "recvmmsg"))
		run_recvmmsg(ifindex, frame_of(ifname), seconds);
	else if (!strcmp(mode, "tpacket_v3"))
		run_tpacket_v3(ifindex, seconds);
	else if (!strcmp(mode, "af_xdp"))
		run_af_xdp(ifindex, seconds,
			   argc == 5 && !strcmp(argv[4], "generic") ? XDP_FLAGS_SKB_MODE
								     : XDP_FLAGS_DRV_MODE);
	else {
		fprintf(stderr, "live_anchor: no mode %s\n", mode);
		return 2;
	}
	return 0;
}
