/* SPDX-License-Identifier: MIT */
/* qcow2 part of `info`: cluster size, dirty and encryption flags and the
 * format-specific dict with qemu-img's members, inserted in the order of
 * QEMU's ImageInfoSpecificQCow2 schema (the renderer orders them as QEMU's
 * QDict would). */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "util/endian.h"

#define LUKS_HDR_LEN 592
#define LUKS_SLOT_ENABLED 0x00ac71f3u

/* A NUL-terminated copy of a fixed-size header string field. */
static void field(char *dst, const uint8_t *src, size_t n)
{
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The LUKS header inside the image, as qemu-img shows it. */
static int put_luks(struct qcow2_state *s, struct qimg_value *enc)
{
	struct qimg_error err = { 0 };
	uint8_t h[LUKS_HDR_LEN];
	char cipher[33], mode[33], hash[33], uuid[41], alg[48];
	char *iv, *ivhash;
	struct qimg_value *slots;
	uint32_t keybits;
	int i, r;

	if (!s->ext.has_crypto ||
	    qimg_pread(s->file, s->ext.crypto_offset, h, sizeof(h), &err) < 0 ||
	    memcmp(h, "LUKS\xba\xbe", 6) || qimg_load_be16(h + 6) != 1)
		return 1;
	field(cipher, h + 8, 32);
	field(mode, h + 40, 32);
	field(hash, h + 72, 32);
	field(uuid, h + 168, 40);
	keybits = qimg_load_be32(h + 108) * 8;
	/* "xts-plain64", "cbc-essiv:sha256": mode, IV generator, its hash */
	iv = strchr(mode, '-');
	if (iv)
		*iv++ = '\0';
	ivhash = iv ? strchr(iv, ':') : NULL;
	if (ivhash)
		*ivhash++ = '\0';
	if (!strcmp(mode, "xts"))
		keybits /= 2;
	snprintf(alg, sizeof(alg), "%s-%" PRIu32, cipher, keybits);

	r = qimg_dict_put_str(enc, "cipher-alg", alg);
	if (r == 0)
		r = qimg_dict_put_str(enc, "cipher-mode", mode);
	if (r == 0 && iv)
		r = qimg_dict_put_str(enc, "ivgen-alg", iv);
	/* A plain IV's hash ("cbc-plain64:md5") is in the header but not
	 * shown, as qemu-img shows only ESSIV's. */
	if (r == 0 && ivhash && iv && !strcmp(iv, "essiv"))
		r = qimg_dict_put_str(enc, "ivgen-hash-alg", ivhash);
	if (r == 0)
		r = qimg_dict_put_str(enc, "hash-alg", hash);
	if (r == 0)
		r = qimg_dict_put_int(enc, "payload-offset",
				      (int64_t)qimg_load_be32(h + 104) * 512);
	if (r == 0)
		r = qimg_dict_put_int(enc, "master-key-iters",
				      qimg_load_be32(h + 164));
	if (r == 0)
		r = qimg_dict_put_str(enc, "uuid", uuid);
	slots = qimg_value_list();
	if (!slots)
		return -ENOMEM;
	for (i = 0; r == 0 && i < 8; i++) {
		const uint8_t *k = h + 208 + i * 48;
		bool on = qimg_load_be32(k) == LUKS_SLOT_ENABLED;
		struct qimg_value *sl = qimg_value_dict();

		if (!sl) {
			r = -ENOMEM;
			break;
		}
		r = qimg_dict_put_bool(sl, "active", on);
		if (r == 0 && on)
			r = qimg_dict_put_int(sl, "iters",
					      qimg_load_be32(k + 4));
		if (r == 0 && on)
			r = qimg_dict_put_int(sl, "stripes",
					      qimg_load_be32(k + 44));
		if (r == 0)
			r = qimg_dict_put_int(sl, "key-offset",
					      (int64_t)qimg_load_be32(k + 40) *
						      512);
		if (r == 0)
			r = qimg_list_append(slots, sl);
		else
			qimg_value_free(sl);
	}
	if (r == 0)
		return qimg_dict_put(enc, "slots", slots);
	qimg_value_free(slots);
	return r;
}

/* "encrypt": {"format": "aes"} or the LUKS description. */
static int put_encrypt(struct qcow2_state *s, struct qimg_value *d)
{
	struct qimg_value *enc;
	int r;

	if (!s->h.crypt_method)
		return 0;
	enc = qimg_value_dict();
	if (!enc)
		return -ENOMEM;
	r = qimg_dict_put_str(enc, "format",
			      s->h.crypt_method == 1 ? "aes" : "luks");
	if (r == 0 && s->h.crypt_method == 2) {
		r = put_luks(s, enc);
		if (r > 0) {
			/* Unreadable header: leave the member out. */
			qimg_value_free(enc);
			return 0;
		}
	}
	if (r == 0)
		return qimg_dict_put(d, "encrypt", enc);
	qimg_value_free(enc);
	return r;
}

/* [{"flags": [...], "name": .., "granularity": ..}, ...] */
static int put_bitmaps(struct qcow2_state *s, struct qimg_value *d)
{
	struct qimg_error err = { 0 };
	struct qcow2_bitmap *b;
	struct qimg_value *list;
	size_t n, i;
	int r;

	/* A damaged directory only hides the list, as in qemu-img. */
	if (qcow2_bitmaps_read(s, &b, &n, &err) < 0 || !n)
		return 0;
	list = qimg_value_list();
	r = list ? 0 : -ENOMEM;
	for (i = 0; r == 0 && i < n; i++) {
		struct qimg_value *e = qimg_value_dict();
		struct qimg_value *fl = qimg_value_list();

		if (!e || !fl) {
			qimg_value_free(e);
			qimg_value_free(fl);
			r = -ENOMEM;
			break;
		}
		if (b[i].flags & 1)
			r = qimg_list_append(fl, qimg_value_str("in-use"));
		if (r == 0 && (b[i].flags & 2))
			r = qimg_list_append(fl, qimg_value_str("auto"));
		if (r == 0)
			r = qimg_dict_put(e, "flags", fl);
		else
			qimg_value_free(fl);
		if (r == 0)
			r = qimg_dict_put_str(e, "name", b[i].name);
		if (r == 0)
			r = qimg_dict_put_int(e, "granularity",
					      1ll << b[i].gran_bits);
		if (r == 0)
			r = qimg_list_append(list, e);
		else
			qimg_value_free(e);
	}
	qcow2_bitmaps_free(b, n);
	if (r == 0)
		return qimg_dict_put(d, "bitmaps", list);
	qimg_value_free(list);
	return r;
}

static int fill_data(struct qcow2_state *s, struct qimg_value *d)
{
	uint64_t inc = s->h.incompatible_features;
	int r;

	r = qimg_dict_put_str(d, "compat", s->h.version >= 3 ? "1.1" : "0.10");
	if (r == 0)
		r = qimg_dict_put_str(
			d, "compression-type",
			s->h.compression_type == QCOW2_COMPRESS_ZSTD ? "zstd"
								     : "zlib");
	if (r == 0 && s->h.version >= 3)
		r = qimg_dict_put_bool(d, "lazy-refcounts",
				       s->h.compatible_features &
					       QCOW2_COMPAT_LAZY_REFCOUNTS);
	if (r == 0 && s->h.version >= 3)
		r = put_bitmaps(s, d);
	if (r == 0)
		r = qimg_dict_put_int(d, "refcount-bits",
				      1ll << s->h.refcount_order);
	if (r == 0 && s->h.version >= 3 && s->ext.data_file)
		r = qimg_dict_put_str(d, "data-file", s->ext.data_file);
	if (r == 0)
		r = put_encrypt(s, d);
	if (r == 0 && s->h.version >= 3 && (inc & QCOW2_INCOMPAT_DATA_FILE))
		r = qimg_dict_put_bool(d, "data-file-raw",
				       s->h.autoclear_features &
					       QCOW2_AUTOCLEAR_DATA_FILE_RAW);
	if (r == 0 && s->h.version >= 3)
		r = qimg_dict_put_bool(d, "corrupt",
				       inc & QCOW2_INCOMPAT_CORRUPT);
	if (r == 0 && s->h.version >= 3)
		r = qimg_dict_put_bool(d, "extended-l2",
				       inc & QCOW2_INCOMPAT_EXTL2);
	return r;
}

/* The snapshot list (SnapshotInfo members, in schema order). */
static int get_snapshots(struct qcow2_state *s, struct qimg_value **out,
			 struct qimg_error *err)
{
	struct qcow2_snapshot *sn;
	struct qimg_value *list;
	size_t n, i;
	int r;

	*out = NULL;
	r = qcow2_snapshots_read(s, &sn, &n, NULL, err);
	if (r < 0 || !n)
		return r;
	list = qimg_value_list();
	r = list ? 0 : -ENOMEM;
	for (i = 0; r == 0 && i < n; i++) {
		struct qimg_value *d = qimg_value_dict();

		if (!d) {
			r = -ENOMEM;
			break;
		}
		r = qimg_dict_put_str(d, "id", sn[i].id);
		if (r == 0)
			r = qimg_dict_put_str(d, "name", sn[i].name);
		if (r == 0)
			r = qimg_dict_put_int(d, "vm-state-size",
					      (int64_t)sn[i].vm_state_size);
		if (r == 0)
			r = qimg_dict_put_int(d, "date-sec", sn[i].date_sec);
		if (r == 0)
			r = qimg_dict_put_int(d, "date-nsec", sn[i].date_nsec);
		if (r == 0)
			r = qimg_dict_put_int(
				d, "vm-clock-sec",
				(int64_t)(sn[i].vm_clock_ns / 1000000000ull));
		if (r == 0)
			r = qimg_dict_put_int(
				d, "vm-clock-nsec",
				(int64_t)(sn[i].vm_clock_ns % 1000000000ull));
		if (r == 0 && sn[i].has_icount)
			r = qimg_dict_put_int(d, "icount",
					      (int64_t)sn[i].icount);
		if (r == 0)
			r = qimg_list_append(list, d);
		else
			qimg_value_free(d);
	}
	qcow2_snapshots_free(sn, n);
	if (r < 0) {
		qimg_value_free(list);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	*out = list;
	return 0;
}

int qcow2_get_info(struct qimg_node *node, struct qimg_image_info *info,
		   struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	struct qimg_value *top, *data;

	info->has_info = true;
	info->cluster_size = (uint32_t)s->cluster_size;
	info->dirty = s->h.incompatible_features & QCOW2_INCOMPAT_DIRTY;
	info->encrypted = s->h.crypt_method != 0;
	top = qimg_value_dict();
	data = qimg_value_dict();
	if (!top || !data || qimg_dict_put_str(top, "type", "qcow2") < 0 ||
	    fill_data(s, data) < 0) {
		qimg_value_free(top);
		qimg_value_free(data);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	if (qimg_dict_put(top, "data", data) < 0) {
		qimg_value_free(top);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	info->format_specific = top;
	return get_snapshots(s, &info->snapshots, err);
}
