/* SPDX-License-Identifier: MIT */
/* Unit tests for the qcow2 driver: L1/L2 index math, refcount entries of
 * every width, compressed descriptors, compression round trips, header
 * parsing of damaged headers, feature naming, and an end-to-end round trip
 * through temporary image files. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "formats/qcow2/qcow2.h"
#include "formats/qcow2/snapshot-table.h"
#include "qimg/create.h"
#include "qimg/image.h"
#include "util/endian.h"

static void geometry(struct qcow2_state *s, uint32_t bits, bool ext)
{
	memset(s, 0, sizeof(*s));
	s->cluster_bits = bits;
	s->cluster_size = 1ull << bits;
	s->ext_l2 = ext;
	s->l2_entry_size = ext ? 16 : 8;
	s->l2_bits = bits - (ext ? 4 : 3);
	s->l2_entries = 1ull << s->l2_bits;
	s->sc_bits = bits - (ext ? 5 : 0);
	s->sc_size = 1ull << s->sc_bits;
	s->csize_shift = 62 - (bits - 8);
	s->csize_mask = (1ull << (bits - 8)) - 1;
	s->coffset_mask = (1ull << s->csize_shift) - 1;
}

static void test_index_math(void **state)
{
	struct qcow2_state s;

	(void)state;
	geometry(&s, 16, false);
	/* 64 KiB clusters: one L2 table maps 8192 clusters = 512 MiB. */
	assert_int_equal(qcow2_l1_index(&s, 0), 0);
	assert_int_equal(qcow2_l1_index(&s, (512ull << 20) - 1), 0);
	assert_int_equal(qcow2_l1_index(&s, 512ull << 20), 1);
	assert_int_equal(qcow2_l2_index(&s, 0x10000), 1);
	assert_int_equal(qcow2_l2_index(&s, (512ull << 20) + 0x30000), 3);
	assert_int_equal(qcow2_l2_index(&s, 0x1fff0000), 8191);

	geometry(&s, 16, true);
	/* Extended: 4096 entries per table, 2 KiB subclusters. */
	assert_int_equal(qcow2_l1_index(&s, 256ull << 20), 1);
	assert_int_equal(qcow2_l2_index(&s, (256ull << 20) - 1), 4095);
	assert_int_equal(qcow2_sc_index(&s, 0x10000 + 2048 * 5 + 7), 5);
	assert_int_equal(qcow2_sc_index(&s, 0xffff), 31);

	geometry(&s, 9, false);
	assert_int_equal(qcow2_l1_index(&s, 64 * 512), 1);
	assert_int_equal(qcow2_l2_index(&s, 63 * 512), 63);
}

static void test_sc_type(void **state)
{
	struct qcow2_state s;

	(void)state;
	geometry(&s, 16, false);
	assert_int_equal(qcow2_sc_type(&s, 0, 0, 0), QCOW2_UNALLOCATED);
	assert_int_equal(qcow2_sc_type(&s, 1, 0, 0), QCOW2_ZERO_PLAIN);
	assert_int_equal(qcow2_sc_type(&s, 0x50000 | 1, 0, 0),
			 QCOW2_ZERO_ALLOC);
	assert_int_equal(qcow2_sc_type(&s, QCOW2_OFLAG_COPIED | 0x50000, 0, 0),
			 QCOW2_NORMAL);
	assert_int_equal(
		qcow2_sc_type(&s, QCOW2_OFLAG_COMPRESSED | 0x5004f, 0, 0),
		QCOW2_COMPRESSED);

	geometry(&s, 16, true);
	assert_int_equal(qcow2_sc_type(&s, 0x50000, QCOW2_BITMAP_ALLOC(3), 3),
			 QCOW2_NORMAL);
	assert_int_equal(qcow2_sc_type(&s, 0x50000, QCOW2_BITMAP_ALLOC(3), 4),
			 QCOW2_UNALLOCATED_ALLOC);
	assert_int_equal(qcow2_sc_type(&s, 0, 0, 4), QCOW2_UNALLOCATED);
	assert_int_equal(qcow2_sc_type(&s, 0, QCOW2_BITMAP_ZERO(4), 4),
			 QCOW2_ZERO_PLAIN);
	assert_int_equal(qcow2_sc_type(&s, 0x50000, QCOW2_BITMAP_ZERO(4), 4),
			 QCOW2_ZERO_ALLOC);
	/* Both bits, or data without an offset, or a compressed entry with
	 * a bitmap: invalid. */
	assert_int_equal(
		qcow2_sc_type(&s, 0x50000,
			      QCOW2_BITMAP_ZERO(2) | QCOW2_BITMAP_ALLOC(2), 2),
		QCOW2_INVALID);
	assert_int_equal(qcow2_sc_type(&s, 0, QCOW2_BITMAP_ALLOC(0), 0),
			 QCOW2_INVALID);
	assert_int_equal(
		qcow2_sc_type(&s, QCOW2_OFLAG_COMPRESSED | 0x5004f, 1, 0),
		QCOW2_INVALID);
}

static void test_refcount_widths(void **state)
{
	uint8_t blk[512];
	uint32_t order;

	(void)state;
	for (order = 0; order <= 6; order++) {
		uint64_t n = 512 * 8 >> order, i, max;

		max = order == 6 ? UINT64_MAX : (1ull << (1u << order)) - 1;
		memset(blk, 0, sizeof(blk));
		for (i = 0; i < n; i++)
			qcow2_rc_set(blk, i, order,
				     (i * 0x9e3779b97f4a7c15ull) & max);
		for (i = 0; i < n; i++)
			assert_true(qcow2_rc_get(blk, i, order) ==
				    ((i * 0x9e3779b97f4a7c15ull) & max));
		/* Overwrite one entry, the neighbours stay. */
		qcow2_rc_set(blk, 5, order, max);
		assert_true(qcow2_rc_get(blk, 5, order) == max);
		assert_true(qcow2_rc_get(blk, 4, order) ==
			    ((4 * 0x9e3779b97f4a7c15ull) & max));
		assert_true(qcow2_rc_get(blk, 6, order) ==
			    ((6 * 0x9e3779b97f4a7c15ull) & max));
	}
	/* Layout: sub-byte widths LSB first, wider ones big endian. */
	memset(blk, 0, sizeof(blk));
	qcow2_rc_set(blk, 1, 0, 1);
	assert_int_equal(blk[0], 0x02);
	qcow2_rc_set(blk, 3, 1, 3);
	assert_int_equal(blk[0], 0xc2);
	memset(blk, 0, sizeof(blk));
	qcow2_rc_set(blk, 1, 2, 0xa);
	assert_int_equal(blk[0], 0xa0);
	qcow2_rc_set(blk, 1, 4, 0x1234);
	assert_int_equal(blk[2], 0x12);
	assert_int_equal(blk[3], 0x34);
	qcow2_rc_set(blk, 1, 6, 0x0102030405060708ull);
	assert_int_equal(blk[8], 0x01);
	assert_int_equal(blk[15], 0x08);
}

static void test_cdesc(void **state)
{
	struct qcow2_state s;
	uint64_t off, nb, e;
	uint32_t bits;

	(void)state;
	/* The spec's example for 64 KiB clusters. */
	geometry(&s, 16, false);
	qcow2_cdesc_decode(&s, 0x5E0000000005004Full, &off, &nb);
	assert_int_equal(off, 0x5004f);
	assert_int_equal(nb, 121 * 512 - 0x4f);
	assert_int_equal(qcow2_cdesc_encode(&s, 0x5004f, 60000, &e), 0);
	qcow2_cdesc_decode(&s, e, &off, &nb);
	assert_int_equal(off, 0x5004f);
	assert_true(nb >= 60000 && nb < 60000 + 512);

	for (bits = 9; bits <= 21; bits++) {
		uint64_t len;

		geometry(&s, bits, false);
		for (len = 1; len < (1ull << bits); len = len * 3 + 1) {
			uint64_t o = (1ull << 40) + 511;

			assert_int_equal(qcow2_cdesc_encode(&s, o, len, &e), 0);
			assert_true(e & QCOW2_OFLAG_COMPRESSED);
			assert_false(e & QCOW2_OFLAG_COPIED);
			qcow2_cdesc_decode(&s, e, &off, &nb);
			assert_int_equal(off, o);
			assert_true(nb >= len && nb < len + 512);
		}
		/* Too many sectors for the field, offset too large. */
		assert_int_equal(qcow2_cdesc_encode(&s, 511, 2ull << bits, &e),
				 -EINVAL);
		assert_int_equal(qcow2_cdesc_encode(&s, 1ull << 56, 1, &e),
				 -EINVAL);
	}
}

/* One cluster through qcow2_compress_buf, which must succeed: the
 * compressed length (0: store plain). */
static size_t compress_one(struct qimg_codec *codec, int type,
			   const uint8_t *in, size_t len, uint8_t *out,
			   size_t room)
{
	struct qimg_error err = { 0 };
	size_t n = room;

	assert_int_equal(
		qcow2_compress_buf(codec, type, in, len, out, &n, &err), 0);
	return n;
}

static void test_compress(void **state)
{
	static uint8_t in[65536], out[QIMG_COMPRESS_BOUND(65536)], back[65536];
	struct qimg_codec *codec;
	size_t n, i;
	int type, zlib_only;

	(void)state;
	/* Both codec sets: qimg's (ISA-L when built in, zstd level 1) and
	 * qemu-img's (zlib, zstd level 3). */
	for (zlib_only = 0; zlib_only <= 1; zlib_only++) {
		if (zlib_only)
			setenv("QIMG_COMPRESS", "qemu", 1);
		else
			unsetenv("QIMG_COMPRESS");
		codec = qimg_codec_new();
		assert_non_null(codec);
		for (i = 0; i < sizeof(in); i++)
			in[i] = (uint8_t)(i / 100);
		for (type = 0; type <= 1; type++) {
			n = compress_one(codec, type, in, sizeof(in), out,
					 sizeof(out));
			assert_true(n > 0 && n < sizeof(in));
			/* Trailing garbage after the stream is ignored. */
			memset(out + n, 0xaa, 512);
			assert_int_equal(qcow2_decompress_buf(type, out,
							      n + 512, back,
							      sizeof(back)),
					 0);
			assert_memory_equal(in, back, sizeof(in));
			/* Truncated input cannot fill the cluster. */
			assert_int_not_equal(qcow2_decompress_buf(type, out,
								  n / 2, back,
								  sizeof(back)),
					     0);
		}
		/* Random data does not shrink: store plain. */
		srand(1);
		for (i = 0; i < sizeof(in); i++)
			in[i] = (uint8_t)rand();
		for (type = 0; type <= 1; type++)
			assert_int_equal(compress_one(codec, type, in,
						      sizeof(in), out,
						      sizeof(out)),
					 0);
		qimg_codec_free(codec);
	}
	unsetenv("QIMG_COMPRESS");
}

/* A valid v3 header cluster (64 KiB clusters, 64 MiB). */
static void make_header(uint8_t *buf, struct qcow2_exts *e)
{
	struct qcow2_header h;
	struct qimg_error err = { 0 };

	memset(&h, 0, sizeof(h));
	h.version = 3;
	h.cluster_bits = 16;
	h.size = 64 << 20;
	h.l1_size = 1;
	h.l1_table_offset = 0x30000;
	h.refcount_table_offset = 0x10000;
	h.refcount_table_clusters = 1;
	h.refcount_order = 4;
	h.header_length = 112;
	assert_int_equal(qcow2_header_build(&h, e, buf, 65536, &err), 0);
}

static int parse(const uint8_t *buf, struct qimg_error *err)
{
	struct qcow2_header h;

	qimg_error_clear(err);
	return qcow2_header_parse(buf, 65536, &h, err);
}

static void poke32(uint8_t *b, size_t off, uint32_t v)
{
	qimg_store_be32(b + off, v);
}

static void poke64(uint8_t *b, size_t off, uint64_t v)
{
	qimg_store_be64(b + off, v);
}

static void test_header_damaged(void **state)
{
	static uint8_t good[65536], b[65536];
	struct qcow2_exts e;
	struct qimg_error err = { 0 };
	struct {
		size_t off;
		int width;
		uint64_t val;
		const char *msg;
	} cases[] = {
		{ 0, 32, 0x12345678, "Image is not in qcow2 format" },
		{ 4, 32, 4, "Unsupported qcow2 version 4" },
		{ 20, 32, 8, "Unsupported cluster size: 2^8" },
		{ 20, 32, 22, "Unsupported cluster size: 2^22" },
		{ 100, 32, 96, "qcow2 header too short" },
		{ 100, 32, 0x20000, "qcow2 header exceeds cluster size" },
		{ 96, 32, 7,
		  "Reference count entry width too large; may not "
		  "exceed 64 bits" },
		{ 36, 32, 0x10000000, "Active L1 table too large" },
		{ 40, 64, 0x30001, "Active L1 table offset invalid" },
		{ 40, 64, UINT64_MAX & ~0xffffull,
		  "Active L1 table offset "
		  "invalid" },
		{ 48, 64, 0x10001, "Reference count table offset invalid" },
		{ 56, 32, 0, "Image does not contain a reference count table" },
		{ 56, 32, 0x10000, "Reference count table too large" },
		{ 60, 32, 0x10001, "Snapshot table too large" },
		{ 32, 32, 3, "Unsupported encryption method 3" },
		{ 8, 64, 0x20000, "Invalid backing file offset" },
	};
	size_t i;

	(void)state;
	memset(&e, 0, sizeof(e));
	make_header(good, &e);
	assert_int_equal(parse(good, &err), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(b, good, sizeof(b));
		if (cases[i].width == 32)
			poke32(b, cases[i].off, (uint32_t)cases[i].val);
		else
			poke64(b, cases[i].off, cases[i].val);
		assert_true(parse(b, &err) < 0);
		assert_string_equal(err.msg, cases[i].msg);
	}
	/* Compression type without its feature bit and the reverse. */
	memcpy(b, good, sizeof(b));
	b[104] = 1;
	assert_true(parse(b, &err) < 0);
	assert_string_equal(err.msg, "qcow2: Compression type incompatible "
				     "feature bit must be set");
	memcpy(b, good, sizeof(b));
	poke64(b, 72, QCOW2_INCOMPAT_COMPRESSION);
	assert_true(parse(b, &err) < 0);
	b[104] = 2;
	assert_true(parse(b, &err) < 0);
	assert_string_equal(err.msg, "qcow2: unknown compression type: 2");
	/* A short buffer is refused, never read past. */
	assert_true(qcow2_header_parse(good, 40, &(struct qcow2_header){ 0 },
				       &err) < 0);
}

static void test_exts(void **state)
{
	static uint8_t buf[65536], again[65536];
	struct qcow2_header h;
	struct qcow2_exts e, p;
	struct qimg_error err = { 0 };
	uint8_t unk[16] = { 0x12, 0x34, 0x56, 0x78, 0,	 0, 0, 5,
			    'h',  'e',	'l',  'l',  'o', 0, 0, 0 };

	(void)state;
	memset(&e, 0, sizeof(e));
	e.backing_file = strdup("base.qcow2");
	e.backing_fmt = strdup("qcow2");
	assert_int_equal(qcow2_bytes_reserve(&e.unknown, sizeof(unk)), 0);
	memcpy(e.unknown.v, unk, sizeof(unk));
	e.unknown.len = sizeof(unk);
	make_header(buf, &e);
	assert_int_equal(qcow2_header_parse(buf, sizeof(buf), &h, &err), 0);
	assert_int_equal(qcow2_exts_parse(&h, buf, sizeof(buf), &p, &err), 0);
	assert_string_equal(p.backing_file, "base.qcow2");
	assert_string_equal(p.backing_fmt, "qcow2");
	assert_int_equal(p.nb_features, 8);
	assert_int_equal(p.unknown.len, sizeof(unk));
	assert_memory_equal(p.unknown.v, unk, sizeof(unk));
	/* Rebuilding keeps every byte, unknown extension included. */
	assert_int_equal(qcow2_header_build(&h, &p, again, sizeof(again), &err),
			 0);
	assert_memory_equal(buf, again, sizeof(buf));
	qcow2_exts_free(&p);

	/* Extension longer than the space before the backing name. */
	memcpy(again, buf, sizeof(buf));
	poke32(again, 112 + 4, 0x10000);
	assert_int_equal(qcow2_header_parse(again, sizeof(again), &h, &err), 0);
	assert_true(qcow2_exts_parse(&h, again, sizeof(again), &p, &err) < 0);
	assert_string_equal(err.msg, "Header extension too large");
	/* Backing format of 16 bytes. */
	memcpy(again, buf, sizeof(buf));
	poke32(again, 112 + 4, 16);
	qimg_error_clear(&err);
	assert_true(qcow2_exts_parse(&h, again, sizeof(again), &p, &err) < 0);
	assert_string_equal(err.msg, "ERROR: ext_backing_format: len=16 too "
				     "large (>=16)");
	/* Backing name running past the cluster. */
	memcpy(again, buf, sizeof(buf));
	poke64(again, 8, 65530);
	poke32(again, 16, 100);
	qimg_error_clear(&err);
	assert_int_equal(qcow2_header_parse(again, sizeof(again), &h, &err), 0);
	assert_true(qcow2_exts_parse(&h, again, sizeof(again), &p, &err) < 0);
	assert_string_equal(err.msg, "Backing file name too long");
	qcow2_exts_free(&e);
}

static void test_features(void **state)
{
	static uint8_t buf[65536];
	struct qcow2_header h;
	struct qcow2_exts e, p;
	struct qimg_error err = { 0 };

	(void)state;
	memset(&e, 0, sizeof(e));
	make_header(buf, &e);
	/* Rename table entry "dirty bit" to bit 8, then set bits 5 and 8. */
	assert_int_equal(buf[112 + 8 + 1], 0);
	buf[112 + 8 + 1] = 8;
	poke64(buf, 72, (1u << 8) | (1u << 5));
	assert_int_equal(qcow2_header_parse(buf, sizeof(buf), &h, &err), 0);
	assert_int_equal(qcow2_exts_parse(&h, buf, sizeof(buf), &p, &err), 0);
	assert_int_equal(qcow2_check_features(&h, &p, &err), -ENOTSUP);
	assert_string_equal(err.msg, "Unsupported qcow2 feature(s): dirty bit, "
				     "Unknown incompatible feature: 20");
	qcow2_exts_free(&p);
}

/* End to end through files: create, write, reopen, read. */
static void test_roundtrip(void **state)
{
	const char *optsets[] = { "",
				  "cluster_size=512,refcount_bits=1",
				  "extended_l2=on",
				  "compat=0.10",
				  "compression_type=zstd,lazy_refcounts=on",
				  "refcount_bits=64,cluster_size=4k" };
	char path[] = "/tmp/qimg-test-qcow2-XXXXXX";
	static uint8_t w[300000], r[300000];
	size_t i, k;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	for (i = 0; i < sizeof(w); i++)
		w[i] = (uint8_t)(i * 7 + i / 4096);
	for (k = 0; k < sizeof(optsets) / sizeof(optsets[0]); k++) {
		struct qimg_opts o = { 0 };
		struct qimg_error err = { 0 };
		struct qimg_open_args a = { .filename = path,
					    .format = "qcow2",
					    .flags = QIMG_OPEN_RDWR };
		struct qimg_node *n;
		struct qimg_extent ext;

		unlink(path);
		if (*optsets[k])
			assert_int_equal(qimg_opts_parse(&o, optsets[k], &err),
					 0);
		assert_int_equal(qimg_opts_set(&o, "size", "8M"), 0);
		assert_int_equal(qimg_create(path, "qcow2", &o, &err), 0);
		qimg_opts_free(&o);
		assert_int_equal(qimg_open(&a, &n, &err), 0);
		assert_int_equal(qimg_write(n, 12345, w, sizeof(w), &err), 0);
		assert_int_equal(qimg_write_zeroes(n, 100000, 70000, 0, &err),
				 0);
		memset(w + 100000 - 12345, 0, 70000);
		assert_int_equal(
			qimg_write_compressed(n, 4 << 20, w,
					      65536 > qimg_cluster_size(n)
						      ? qimg_cluster_size(n)
						      : 65536,
					      &err),
			0);
		qimg_close(n);

		a.flags = 0;
		assert_int_equal(qimg_open(&a, &n, &err), 0);
		assert_int_equal(qimg_read(n, 12345, r, sizeof(w), &err), 0);
		assert_memory_equal(w, r, sizeof(w));
		assert_int_equal(
			qimg_read(n, 4 << 20, r, qimg_cluster_size(n), &err),
			0);
		assert_memory_equal(w, r, qimg_cluster_size(n));
		/* Unwritten space is unallocated at this layer. */
		assert_int_equal(
			qimg_block_status(n, 6 << 20, 1 << 20, &ext, &err), 0);
		assert_int_equal(ext.flags & (QIMG_BS_DATA | QIMG_BS_ZERO), 0);
		assert_int_equal(ext.len, 1 << 20);
		qimg_close(n);
		for (i = 0; i < sizeof(w); i++)
			w[i] = (uint8_t)(i * 7 + i / 4096);
	}
	unlink(path);
}

/* Damaged images must be refused cleanly, never crash. */
static void test_damaged_l2(void **state)
{
	char path[] = "/tmp/qimg-test-qcow2-XXXXXX";
	struct qimg_opts o = { 0 };
	struct qimg_error err = { 0 };
	struct qimg_open_args a = { .filename = path,
				    .format = "qcow2",
				    .flags = QIMG_OPEN_RDWR };
	struct qimg_node *n;
	uint8_t buf[4096], l1e[8];
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	assert_int_equal(qimg_opts_set(&o, "size", "8M"), 0);
	assert_int_equal(qimg_create(path, "qcow2", &o, &err), 0);
	qimg_opts_free(&o);
	/* L1[0] -> an L2 table far beyond the end of the file. */
	qimg_store_be64(l1e, QCOW2_OFLAG_COPIED | (1ull << 40));
	f = fopen(path, "r+b");
	assert_non_null(f);
	fseek(f, 0x30000, SEEK_SET);
	fwrite(l1e, 1, 8, f);
	fclose(f);
	assert_int_equal(qimg_open(&a, &n, &err), 0);
	assert_int_equal(qimg_read(n, 0, buf, sizeof(buf), &err), -EIO);
	/* The corruption report is a note, the error an I/O error. */
	assert_non_null(strstr(err.notes, "qcow2: Marking image as corrupt: "));
	assert_string_equal(err.msg, "Input/output error");
	qimg_close(n);
	/* Now marked corrupt: read-write opens are refused. */
	qimg_error_clear(&err);
	assert_int_not_equal(qimg_open(&a, &n, &err), 0);
	assert_string_equal(err.msg, "qcow2: Image is corrupt; cannot be "
				     "opened read/write");
	a.flags = 0;
	assert_int_equal(qimg_open(&a, &n, &err), 0);
	qimg_close(n);
	unlink(path);
}

/* A dirty image (lazy refcounts, not closed cleanly) gets its refcounts
 * rebuilt on a read-write open. */
static void test_dirty_repair(void **state)
{
	char path[] = "/tmp/qimg-test-qcow2-XXXXXX";
	struct qimg_opts o = { 0 };
	struct qimg_error err = { 0 };
	struct qimg_open_args a = { .filename = path,
				    .format = "qcow2",
				    .flags = QIMG_OPEN_RDWR };
	static uint8_t good[65536], bad[65536], w[200000];
	struct qimg_node *n;
	uint8_t inc[8];
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	assert_int_equal(qimg_opts_parse(&o, "lazy_refcounts=on", &err), 0);
	assert_int_equal(qimg_opts_set(&o, "size", "8M"), 0);
	assert_int_equal(qimg_create(path, "qcow2", &o, &err), 0);
	qimg_opts_free(&o);
	memset(w, 0x42, sizeof(w));
	assert_int_equal(qimg_open(&a, &n, &err), 0);
	assert_int_equal(qimg_write(n, 70000, w, sizeof(w), &err), 0);
	assert_int_equal(qimg_write_compressed(n, 1 << 20, w, 65536, &err), 0);
	qimg_close(n);

	/* Wipe the refcount block, set the dirty bit. */
	f = fopen(path, "r+b");
	assert_non_null(f);
	fseek(f, 0x20000, SEEK_SET);
	assert_int_equal(fread(good, 1, sizeof(good), f), sizeof(good));
	memset(bad, 0, sizeof(bad));
	fseek(f, 0x20000, SEEK_SET);
	fwrite(bad, 1, sizeof(bad), f);
	qimg_store_be64(inc, QCOW2_INCOMPAT_DIRTY);
	fseek(f, 72, SEEK_SET);
	fwrite(inc, 1, 8, f);
	fclose(f);

	assert_int_equal(qimg_open(&a, &n, &err), 0);
	qimg_close(n);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 72, SEEK_SET);
	assert_int_equal(fread(inc, 1, 8, f), 8);
	assert_int_equal(qimg_load_be64(inc), 0);
	fseek(f, 0x20000, SEEK_SET);
	assert_int_equal(fread(bad, 1, sizeof(bad), f), sizeof(bad));
	fclose(f);
	assert_memory_equal(good, bad, sizeof(good));
	unlink(path);
}

/* Snapshot table encoding: entries short of extra data get the 24 bytes
 * current writers store (disk size filled in, no instruction count),
 * oversized extra data is cut to 1024 bytes, entries are 8-byte aligned and
 * the last one's padding is not part of the stored length. */
static void test_snapshot_table_encode(void **state)
{
	uint8_t big[1024], eight[8], *buf;
	struct qcow2_sn_entry e[3];
	size_t len, i;

	(void)state;
	memset(e, 0, sizeof(e));
	memset(big, 0xab, sizeof(big));
	qimg_store_be64(eight, 77);
	e[0] = (struct qcow2_sn_entry){ .l1_offset = 0x60000,
					.l1_size = 1,
					.vm_state_size32 = 5,
					.extra_size = 8,
					.extra = eight,
					.id_len = 1,
					.name_len = 2,
					.id = "1",
					.name = "s1" };
	e[1] = (struct qcow2_sn_entry){ .extra_size = 0,
					.vm_state_size32 = 9,
					.id_len = 1,
					.name_len = 1,
					.id = "2",
					.name = "b" };
	e[2] = (struct qcow2_sn_entry){ .extra_size = 2024,
					.extra = big,
					.id_len = 2,
					.name_len = 3,
					.id = "33",
					.name = "big" };
	assert_int_equal(qcow2_sn_encoded_size(&e[0]), 72);
	assert_int_equal(qcow2_sn_encoded_size(&e[1]), 72);
	assert_int_equal(qcow2_sn_encoded_size(&e[2]), 1072);
	assert_int_equal(qcow2_sn_encode(e, 3, 1 << 20, &buf, &len), 0);
	assert_int_equal(len, 72 + 72 + 40 + 1024 + 5);

	/* entry 0: its 8 bytes kept, disk size and icount filled in */
	assert_int_equal(qimg_load_be64(buf), 0x60000);
	assert_int_equal(qimg_load_be32(buf + 36), 24);
	assert_int_equal(qimg_load_be64(buf + 40), 77);
	assert_int_equal(qimg_load_be64(buf + 48), 1 << 20);
	assert_true(qimg_load_be64(buf + 56) == UINT64_MAX);
	assert_memory_equal(buf + 64, "1s1", 3);
	/* entry 1: no extra data: the 32-bit VM state size is widened */
	assert_int_equal(qimg_load_be64(buf + 72 + 40), 9);
	assert_memory_equal(buf + 72 + 64, "2b", 2);
	/* entry 2: 1024 bytes kept */
	assert_int_equal(qimg_load_be32(buf + 144 + 36), 1024);
	for (i = 0; i < 1024; i++)
		assert_int_equal(buf[144 + 40 + i], 0xab);
	assert_memory_equal(buf + 144 + 40 + 1024, "33big", 5);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_index_math),
		cmocka_unit_test(test_sc_type),
		cmocka_unit_test(test_refcount_widths),
		cmocka_unit_test(test_cdesc),
		cmocka_unit_test(test_compress),
		cmocka_unit_test(test_header_damaged),
		cmocka_unit_test(test_exts),
		cmocka_unit_test(test_features),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_damaged_l2),
		cmocka_unit_test(test_dirty_repair),
		cmocka_unit_test(test_snapshot_table_encode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
