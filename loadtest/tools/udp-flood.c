// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * udp-flood: send small UDP datagrams to one IPv4 address and port as fast as one thread can,
 * for a fixed time, then exit. Used by loadtest/xdp-bench.sh inside the network namespace it
 * creates; built there at run time (clang -O2).
 *
 *   udp-flood ADDRESS PORT SECONDS [PAYLOAD_BYTES]
 *
 * One connected UDP socket, sendmmsg() in batches of BATCH datagrams that all point at the same
 * payload, so the cost per packet is the kernel's. The clock is read once per batch. Errors the
 * flood itself provokes (ECONNREFUSED after an ICMP port unreachable, ENOBUFS, EAGAIN) are
 * counted and the flood goes on; any other error ends it with status 1.
 *
 * Bounded twice: the loop stops after SECONDS, and alarm(SECONDS + 5) kills the process if a
 * send ever blocks past that.
 *
 * Prints one line on stdout: "sent=N errors=E elapsed=S" (S in seconds, from CLOCK_MONOTONIC).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_PAYLOAD 1472

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long parse_number(const char *text, long min, long max, const char *what)
{
	char *end;
	long value;

	errno = 0;
	value = strtol(text, &end, 10);
	if (errno || *end || end == text || value < min || value > max) {
		fprintf(stderr, "udp-flood: %s must be a number from %ld to %ld, not '%s'\n", what, min, max, text);
		exit(2);
	}
	return value;
}

int main(int argc, char **argv)
{
	static char payload[MAX_PAYLOAD];
	struct mmsghdr messages[BATCH];
	struct iovec iov;
	struct sockaddr_in destination = { .sin_family = AF_INET };
	unsigned long long sent = 0, errors = 0;
	double start, deadline, end;
	long seconds, size;
	int fd, i;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: udp-flood ADDRESS PORT SECONDS [PAYLOAD_BYTES]\n");
		return 2;
	}
	if (inet_pton(AF_INET, argv[1], &destination.sin_addr) != 1) {
		fprintf(stderr, "udp-flood: '%s' is not an IPv4 address\n", argv[1]);
		return 2;
	}
	destination.sin_port = htons((unsigned short)parse_number(argv[2], 1, 65535, "PORT"));
	seconds = parse_number(argv[3], 1, 3600, "SECONDS");
	size = argc == 5 ? parse_number(argv[4], 0, MAX_PAYLOAD, "PAYLOAD_BYTES") : 18;
	alarm((unsigned int)seconds + 5);

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&destination, sizeof(destination)) < 0) {
		perror("udp-flood: socket/connect");
		return 1;
	}
	memset(payload, 0xa5, sizeof(payload));
	iov.iov_base = payload;
	iov.iov_len = (size_t)size;
	memset(messages, 0, sizeof(messages));
	for (i = 0; i < BATCH; i++) {
		messages[i].msg_hdr.msg_iov = &iov;
		messages[i].msg_hdr.msg_iovlen = 1;
	}

	start = now();
	deadline = start + seconds;
	do {
		int n = sendmmsg(fd, messages, BATCH, 0);

		if (n >= 0) {
			sent += (unsigned long long)n;
		} else if (errno == ECONNREFUSED || errno == ENOBUFS || errno == EAGAIN || errno == EINTR) {
			errors++;
		} else {
			perror("udp-flood: sendmmsg");
			return 1;
		}
	} while ((end = now()) < deadline);

	printf("sent=%llu errors=%llu elapsed=%.6f\n", sent, errors, end - start);
	close(fd);
	return 0;
}
