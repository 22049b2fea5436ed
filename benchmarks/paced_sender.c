/* paced_sender: send one frame at an even rate, for bench_live's zero-loss search.
 *
 *   paced_sender IFACE RATE_PPS SECONDS FRAME_HEX
 *
 * trafgen's --rate is an average kept with bursts at its full speed and long pauses
 * (on this VM: ~800k pps bursts for a 300k pps rate), so a receiver that keeps up with an
 * even 300k pps still loses frames to it. This sender spaces frames evenly: frame i leaves
 * at start + i / RATE, the CPU spinning on CLOCK_MONOTONIC in between, one sendto(2) on an
 * AF_PACKET socket with PACKET_QDISC_BYPASS each. A frame that is late goes at once (no
 * catching up in a burst beyond that); the lateness is reported so a rate the sender cannot
 * hold shows. Prints one JSON line: sent, seconds, the achieved rate and the largest lateness.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
	if (argc != 5) {
		fprintf(stderr, "usage: paced_sender IFACE RATE_PPS SECONDS FRAME_HEX\n");
		return 2;
	}
	unsigned int ifindex = if_nametoindex(argv[1]);
	double rate = atof(argv[2]), seconds = atof(argv[3]);
	const char *hex = argv[4];
	size_t len = strlen(hex) / 2;
	if (!ifindex || rate <= 0 || seconds <= 0 || len < ETH_HLEN || len > 9000) {
		fprintf(stderr, "paced_sender: bad interface, rate, time or frame\n");
		return 2;
	}
	unsigned char *frame = malloc(len);
	for (size_t i = 0; i < len; i++)
		sscanf(hex + 2 * i, "%2hhx", &frame[i]);
	int fd = socket(AF_PACKET, SOCK_RAW, 0), one = 1;
	if (fd < 0 || setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one)) {
		perror("paced_sender: socket");
		return 1;
	}
	struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_ifindex = (int)ifindex,
				 .sll_halen = ETH_ALEN};
	memcpy(to.sll_addr, frame, ETH_ALEN);
	unsigned long long sent = 0, total = (unsigned long long)(rate * seconds);
	double start = now(), late = 0, t = start;
	for (; sent < total; sent++) {
		double due = start + sent / rate;
		while ((t = now()) < due)
			;
		if (t - due > late)
			late = t - due;
		while (sendto(fd, frame, len, 0, (struct sockaddr *)&to, sizeof to) < 0) {
			if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
				perror("paced_sender: sendto");
				return 1;
			}
		}
	}
	double elapsed = now() - start;
	printf("{\"sent\": %llu, \"seconds\": %.6f, \"pps\": %.1f, \"late_s\": %.6f}\n", sent,
	       elapsed, sent / elapsed, late);
	return 0;
}
