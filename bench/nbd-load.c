/* SPDX-License-Identifier: MIT */
/* Load for an NBD server, through libnbd: CONNS connections, each keeping
 * DEPTH requests of BS bytes in flight for SECONDS (or until "ops=N"
 * requests completed), at random BS-aligned offsets (randread,
 * randwrite) or in order (read, write), over the whole export.  Prints
 * "ops N bytes N seconds S" (all connections).
 * Usage: nbd-load URI read|write|randread|randwrite BS DEPTH SECONDS|ops=N
 * [CONNS] */
#include <errno.h>
#include <inttypes.h>
#include <libnbd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct nbd_handle **h;
	uint64_t ops = 0, bytes = 0, size, blocks, *next, max_ops = 0,
		 issued = 0;
	uint32_t bs;
	int depth, conns, i, write, rnd;
	double secs, t0, end;
	char *buf;
	unsigned int seed = 7;

	if (argc < 6) {
		fprintf(stderr, "usage: nbd-load URI read|write|randread|"
				"randwrite BS DEPTH SECONDS [CONNS]\n");
		return 2;
	}
	write = strstr(argv[2], "write") != NULL;
	rnd = !strncmp(argv[2], "rand", 4);
	bs = (uint32_t)strtoul(argv[3], NULL, 0);
	depth = atoi(argv[4]);
	if (!strncmp(argv[5], "ops=", 4)) {
		max_ops = strtoull(argv[5] + 4, NULL, 0);
		secs = 1e9;
	} else {
		secs = atof(argv[5]);
	}
	conns = argc > 6 ? atoi(argv[6]) : 1;
	if (!bs || depth < 1 || conns < 1)
		return 2;
	h = calloc((size_t)conns, sizeof(*h));
	next = calloc((size_t)conns, sizeof(*next));
	buf = malloc(bs);
	if (!h || !next || !buf)
		return 1;
	memset(buf, 0x5a, bs);
	for (i = 0; i < conns; i++) {
		h[i] = nbd_create();
		if (!h[i] || nbd_connect_uri(h[i], argv[1]) < 0) {
			fprintf(stderr, "%s\n", nbd_get_error());
			return 1;
		}
	}
	size = (uint64_t)nbd_get_size(h[0]);
	blocks = size / bs;
	if (!blocks)
		return 1;
	for (i = 0; i < conns; i++)
		next[i] = (blocks / (uint64_t)conns) * (uint64_t)i;
	t0 = now();
	end = t0 + secs;
	/* Read into one shared buffer: the data is not looked at. */
	while (now() < end && (!max_ops || ops < max_ops)) {
		for (i = 0; i < conns; i++) {
			while (nbd_aio_in_flight(h[i]) < depth &&
			       (!max_ops || issued < max_ops)) {
				uint64_t b =
					rnd ? ((uint64_t)rand_r(&seed) << 16 ^
					       (uint64_t)rand_r(&seed)) %
							blocks
					    : next[i]++ % blocks;
				int64_t c =
					write ? nbd_aio_pwrite(
							h[i], buf, bs, b * bs,
							NBD_NULL_COMPLETION, 0)
					      : nbd_aio_pread(
							h[i], buf, bs, b * bs,
							NBD_NULL_COMPLETION, 0);

				if (c < 0) {
					fprintf(stderr, "%s\n",
						nbd_get_error());
					return 1;
				}
				issued++;
			}
			if (nbd_poll(h[i], conns > 1 ? 0 : -1) < 0) {
				fprintf(stderr, "%s\n", nbd_get_error());
				return 1;
			}
			for (;;) {
				int64_t c =
					nbd_aio_peek_command_completed(h[i]);

				if (c <= 0)
					break;
				if (nbd_aio_command_completed(
					    h[i], (uint64_t)c) < 0) {
					fprintf(stderr, "%s\n",
						nbd_get_error());
					return 1;
				}
				ops++;
				bytes += bs;
			}
		}
	}
	for (i = 0; i < conns; i++) {
		while (nbd_aio_in_flight(h[i]) > 0)
			if (nbd_poll(h[i], -1) < 0)
				break;
		nbd_shutdown(h[i], 0);
		nbd_close(h[i]);
	}
	printf("ops %" PRIu64 " bytes %" PRIu64 " seconds %.3f\n", ops, bytes,
	       now() - t0);
	free(buf);
	free(next);
	free(h);
	return 0;
}
