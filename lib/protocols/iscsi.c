/* SPDX-License-Identifier: MIT */
/* The iscsi protocol driver: one LUN of an iSCSI target, with libiscsi
 * (loaded on first use).  Names (iscsi://[USER[%PASSWORD]@]HOST[:PORT]/
 * TARGET/LUN) are split by libiscsi's own URL parser, as qemu-img splits
 * them, into the options transport, portal, target, lun, user and
 * password.  Open logs in (CHAP when a user is given), asks the LUN's
 * type, capacity and block size (READ CAPACITY(16)), whether it is write
 * protected (MODE SENSE(6)), its largest transfer (the Block Limits VPD
 * page) and whether it unmaps (the Logical Block Provisioning page).
 * Reads and writes are READ(16)/WRITE(16) of whole blocks straight from
 * and into the caller's buffers, a flush is SYNCHRONIZE CACHE(16), a
 * discard UNMAP when the LUN can.  One session per node: I/O is serial.
 *
 * A LUN cannot change size: create checks it is large enough, resize
 * refuses any other size. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/driver.h"
#include "protocols/iscsi.h"
#include "protocols/libiscsi-dl.h"
#include "qimg/object.h"

/* The initiator name qemu-img uses when none is given (a fact a target's
 * ACLs may name). */
#define ISCSI_DEFAULT_INITIATOR "iqn.2008-11.org.linux-kvm"
#define ISCSI_MAX_XFER (16u << 20) /* when the LUN names no limit */
#define ISCSI_CHUNK (256u << 10)   /* bytes per command of a transfer */
#define ISCSI_INFLIGHT 8	   /* commands of a transfer at once */

/* One command of a request split for the wire. */
struct iscsi_chunk {
	struct scsi_iovec iov;
	bool busy; /* submitted, not yet seen done */
	bool done; /* set by the callback */
	int status;
	struct scsi_sense sense;
};

struct iscsi_state {
	struct iscsi_context *ctx;
	int lun;
	uint32_t block_size;
	uint64_t blocks;
	bool lbpu;	      /* UNMAP works */
	uint32_t max_unmap;   /* blocks per UNMAP, 0 = no limit */
	bool write_protected; /* from MODE SENSE */
	/* The commands of the transfer under way (serial I/O: one). */
	struct iscsi_chunk chunks[ISCSI_INFLIGHT];
};

static const char *const iscsi_protocols[] = { "iscsi", NULL };
static const char *const iser_protocols[] = { "iser", NULL };

static const struct qimg_opt_desc iscsi_runtime_opts[] = {
	{ "transport", QIMG_OPT_STRING, NULL, NULL },
	{ "portal", QIMG_OPT_STRING, NULL, NULL },
	{ "target", QIMG_OPT_STRING, NULL, NULL },
	{ "user", QIMG_OPT_STRING, NULL, NULL },
	{ "password", QIMG_OPT_STRING, NULL, NULL },
	{ "password-secret", QIMG_OPT_STRING, NULL, NULL },
	{ "lun", QIMG_OPT_NUMBER, NULL, NULL },
	{ "initiator-name", QIMG_OPT_STRING, NULL, NULL },
	{ "header-digest", QIMG_OPT_STRING, NULL, NULL },
	{ "timeout", QIMG_OPT_NUMBER, NULL, NULL },
	{ NULL, 0, NULL, NULL },
};

static const struct qimg_opt_desc iscsi_create_opts[] = {
	{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
	/* taken, then refused by the LUN's truncate unless "off" */
	{ "preallocation", QIMG_OPT_STRING,
	  "Preallocation mode (allowed values: off)", NULL },
	{ NULL, 0, NULL, NULL },
};

/* Everything but the timeout says which LUN is reached and how: an iscsi
 * node is always named by json:{...}, as qemu-img names it. */
static const char *const iscsi_strong_opts[] = {
	"transport",	 "portal",   "target",		"lun",
	"user",		 "password", "password-secret", "initiator-name",
	"header-digest", NULL
};

/* --- names ---------------------------------------------------------------- */

static int iscsi_parse_filename(const char *filename, struct qimg_value *opts,
				struct qimg_error *err)
{
	struct iscsi_context *tmp;
	struct iscsi_url *u;
	char lun[16];
	int r;

	r = qimg_libiscsi_load(err);
	if (r < 0)
		return r;
	tmp = iscsi_create_context(ISCSI_DEFAULT_INITIATOR);
	if (!tmp)
		return qimg_error_set(err, ENOMEM,
				      "Could not create iSCSI context.");
	u = iscsi_parse_full_url(tmp, filename);
	if (!u) {
		iscsi_destroy_context(tmp);
		return qimg_error_set(err, EINVAL, "Failed to parse URL : %s",
				      filename);
	}
	snprintf(lun, sizeof(lun), "%d", u->lun);
	r = qimg_dict_put_str(opts, "transport",
			      u->transport == ISER_TRANSPORT ? "iser" : "tcp");
	r |= qimg_dict_put_str(opts, "portal", u->portal);
	r |= qimg_dict_put_str(opts, "target", u->target);
	r |= qimg_dict_put_str(opts, "lun", lun);
	if (u->user[0])
		r |= qimg_dict_put_str(opts, "user", u->user);
	if (u->passwd[0])
		r |= qimg_dict_put_str(opts, "password", u->passwd);
	iscsi_destroy_url(u);
	iscsi_destroy_context(tmp);
	if (r < 0)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	return 0;
}

/* --- commands ------------------------------------------------------------- */

/* A task's outcome: 0, or EIO with the sense (or libiscsi's error). */
static int task_result(struct iscsi_state *s, struct scsi_task *t,
		       const char *what, struct qimg_error *err)
{
	int r = 0;

	if (!t)
		return qimg_error_set(err, EIO, "iSCSI: %s failed: %s", what,
				      iscsi_get_error(s->ctx));
	if (t->status == SCSI_STATUS_CHECK_CONDITION)
		r = qimg_error_set(
			err, EIO,
			"iSCSI: %s failed: SENSE KEY:%s(%d) "
			"ASCQ:%s(0x%04x)",
			what, scsi_sense_key_str(t->sense.key), t->sense.key,
			scsi_sense_ascq_str(t->sense.ascq), t->sense.ascq);
	else if (t->status != SCSI_STATUS_GOOD)
		r = qimg_error_set(err, EIO,
				   "iSCSI: %s failed: SCSI status 0x%02x", what,
				   t->status);
	scsi_free_scsi_task(t);
	return r;
}

/* Device type, capacity, protection and limits of the logged-in LUN. */
static int probe_lun(struct iscsi_state *s, struct qimg_error *err)
{
	struct scsi_task *t;
	struct scsi_inquiry_standard *inq;
	struct scsi_readcapacity16 *rc16;
	struct scsi_mode_sense *ms;
	int type, r;

	t = iscsi_inquiry_sync(s->ctx, s->lun, 0, 0, 64);
	if (!t || t->status != SCSI_STATUS_GOOD ||
	    !(inq = scsi_datain_unmarshall(t))) {
		if (t)
			scsi_free_scsi_task(t);
		return qimg_error_set(err, EIO,
				      "iSCSI: failed to send inquiry "
				      "command: %s",
				      iscsi_get_error(s->ctx));
	}
	type = inq->device_type;
	scsi_free_scsi_task(t);
	if (type != SCSI_INQUIRY_PERIPHERAL_DEVICE_TYPE_DIRECT_ACCESS)
		return qimg_error_set(err, ENOTSUP,
				      "iSCSI: LUN %d is no block device "
				      "(SCSI peripheral device type 0x%02x)",
				      s->lun, type);
	t = iscsi_readcapacity16_sync(s->ctx, s->lun);
	if (!t || t->status != SCSI_STATUS_GOOD ||
	    !(rc16 = scsi_datain_unmarshall(t))) {
		if (t)
			scsi_free_scsi_task(t);
		return qimg_error_set(err, EIO,
				      "iSCSI: failed to send readcapacity16 "
				      "command: %s",
				      iscsi_get_error(s->ctx));
	}
	s->block_size = rc16->block_length;
	s->blocks = rc16->returned_lba + 1;
	scsi_free_scsi_task(t);
	if (s->block_size < 512 || s->block_size > (1u << 16) ||
	    (s->block_size & (s->block_size - 1)))
		return qimg_error_set(err, EIO,
				      "iSCSI: LUN %d reports a block size of "
				      "%u bytes",
				      s->lun, s->block_size);
	if (s->blocks > UINT64_MAX / s->block_size)
		return qimg_error_set(err, EIO,
				      "iSCSI: LUN %d reports %llu blocks",
				      s->lun, (unsigned long long)s->blocks);
	/* Write protection: bit 7 of the device-specific parameter. */
	t = iscsi_modesense6_sync(s->ctx, s->lun, 1, SCSI_MODESENSE_PC_CURRENT,
				  SCSI_MODEPAGE_RETURN_ALL_PAGES, 0, 255);
	if (t && t->status == SCSI_STATUS_GOOD &&
	    (ms = scsi_datain_unmarshall(t)))
		s->write_protected = ms->device_specific_parameter & 0x80;
	if (t)
		scsi_free_scsi_task(t);
	/* Optional pages: what is missing is simply not used. */
	r = 0;
	t = iscsi_inquiry_sync(s->ctx, s->lun, 1,
			       SCSI_INQUIRY_PAGECODE_LOGICAL_BLOCK_PROVISIONING,
			       64);
	if (t && t->status == SCSI_STATUS_GOOD) {
		struct scsi_inquiry_logical_block_provisioning *lbp =
			scsi_datain_unmarshall(t);

		if (lbp)
			s->lbpu = lbp->lbpu;
	}
	if (t)
		scsi_free_scsi_task(t);
	return r;
}

static uint32_t max_transfer(struct iscsi_state *s)
{
	struct scsi_task *t;
	uint64_t max = ISCSI_MAX_XFER;

	t = iscsi_inquiry_sync(s->ctx, s->lun, 1,
			       SCSI_INQUIRY_PAGECODE_BLOCK_LIMITS, 64);
	if (t && t->status == SCSI_STATUS_GOOD) {
		struct scsi_inquiry_block_limits *bl =
			scsi_datain_unmarshall(t);

		if (bl && bl->max_xfer_len &&
		    (uint64_t)bl->max_xfer_len * s->block_size < max)
			max = (uint64_t)bl->max_xfer_len * s->block_size;
		if (bl)
			s->max_unmap = bl->max_unmap;
	}
	if (t)
		scsi_free_scsi_task(t);
	return (uint32_t)max;
}

/* --- connecting ------------------------------------------------------------ */

static void disconnect(struct iscsi_state *s)
{
	if (s->ctx) {
		iscsi_logout_sync(s->ctx);
		iscsi_destroy_context(s->ctx);
	}
	s->ctx = NULL;
}

/* An option of the tree as text (numbers given as JSON numbers too). */
static const char *opt_text(const struct qimg_opts *opts, const char *name)
{
	return qimg_opts_get_str(opts, name, NULL);
}

/* Log in to the LUN the options name, with qemu-img's checks in its
 * order. */
static int iscsi_connect(struct qimg_node *node, const struct qimg_opts *opts,
			 struct qimg_error *err)
{
	struct iscsi_state *s = node->opaque;
	const char *transport = opt_text(opts, "transport");
	const char *portal = opt_text(opts, "portal");
	const char *target = opt_text(opts, "target");
	const char *user = opt_text(opts, "user");
	const char *password = opt_text(opts, "password");
	const char *secret = opt_text(opts, "password-secret");
	const char *digest = opt_text(opts, "header-digest");
	const char *initiator = opt_text(opts, "initiator-name");
	uint64_t lun = qimg_opts_get_u64(opts, "lun", 0);
	enum iscsi_header_digest hd = ISCSI_HEADER_DIGEST_NONE_CRC32C;
	uint8_t *pw = NULL;
	size_t pwlen = 0;
	char *pwstr = NULL;
	int r;

	if (!transport || !portal || !target)
		return qimg_error_set(err, EINVAL,
				      "Need all of transport, portal and "
				      "target options");
	if (strcmp(transport, "tcp") && strcmp(transport, "iser"))
		return qimg_error_set(err, EINVAL, "Unknown transport: %s",
				      transport);
	if (lun > 0xffff)
		return qimg_error_set(err, EINVAL, "Invalid LUN: %llu",
				      (unsigned long long)lun);
	r = qimg_libiscsi_load(err);
	if (r < 0)
		return r;
	s->lun = (int)lun;
	s->ctx = iscsi_create_context(initiator ? initiator
						: ISCSI_DEFAULT_INITIATOR);
	if (!s->ctx)
		return qimg_error_set(err, ENOMEM,
				      "Could not create iSCSI context.");
	if (iscsi_set_targetname(s->ctx, target) ||
	    iscsi_set_session_type(s->ctx, ISCSI_SESSION_NORMAL)) {
		r = qimg_error_set(err, EINVAL, "iSCSI: %s",
				   iscsi_get_error(s->ctx));
		goto fail;
	}
	/* CHAP: a user needs a password, given or from a secret. */
	if (user) {
		if (password && secret) {
			r = qimg_error_set(err, EINVAL,
					   "'password' and 'password-secret' "
					   "properties are mutually exclusive");
			goto fail;
		}
		if (secret) {
			r = qimg_secret_get_utf8(node->objects, secret, &pw,
						 &pwlen, err);
			if (r < 0)
				goto fail;
			pwstr = malloc(pwlen + 1);
			if (pwstr) {
				memcpy(pwstr, pw, pwlen);
				pwstr[pwlen] = '\0';
			}
			qimg_secret_free(pw, pwlen);
			if (!pwstr) {
				r = qimg_error_set(err, ENOMEM,
						   "Out of memory");
				goto fail;
			}
			password = pwstr;
		}
		if (!password) {
			r = qimg_error_set(err, EINVAL,
					   "CHAP username specified but no "
					   "password was given");
			goto fail;
		}
		if (iscsi_set_initiator_username_pwd(s->ctx, user, password)) {
			r = qimg_error_set(err, EINVAL,
					   "Failed to set initiator username "
					   "and password");
			goto fail;
		}
	}
	if (digest) {
		if (!strcmp(digest, "crc32c"))
			hd = ISCSI_HEADER_DIGEST_CRC32C;
		else if (!strcmp(digest, "none"))
			hd = ISCSI_HEADER_DIGEST_NONE;
		else if (!strcmp(digest, "crc32c-none"))
			hd = ISCSI_HEADER_DIGEST_CRC32C_NONE;
		else if (!strcmp(digest, "none-crc32c"))
			hd = ISCSI_HEADER_DIGEST_NONE_CRC32C;
		else {
			r = qimg_error_set(err, EINVAL,
					   "Invalid header-digest setting : %s",
					   digest);
			goto fail;
		}
	}
	iscsi_set_header_digest(s->ctx, hd);
	/* qemu-img's default: no timeout (0). */
	iscsi_set_timeout(s->ctx, (int)qimg_opts_get_u64(opts, "timeout", 0) &
					  0x7fffffff);
	if (!strcmp(transport, "iser")) {
		r = qimg_error_set(err, ENOTSUP,
				   "iSCSI: Failed to connect to LUN : iSER "
				   "(RDMA) is not supported");
		goto fail;
	}
	if (iscsi_full_connect_sync(s->ctx, portal, s->lun)) {
		r = qimg_error_set(err, EIO,
				   "iSCSI: Failed to connect to LUN : %s",
				   iscsi_get_error(s->ctx));
		goto fail;
	}
	r = probe_lun(s, err);
	if (r < 0)
		goto fail;
	if (pwstr) {
		explicit_bzero(pwstr, strlen(pwstr));
		free(pwstr);
	}
	return 0;
fail:
	if (pwstr) {
		explicit_bzero(pwstr, strlen(pwstr));
		free(pwstr);
	}
	disconnect(s);
	return r;
}

/* --- the driver ----------------------------------------------------------- */

static int iscsi_open(struct qimg_node *node, const struct qimg_opts *opts,
		      struct qimg_error *err)
{
	struct iscsi_state *s = node->opaque;
	int r = iscsi_connect(node, opts, err);

	if (r < 0)
		return r;
	if ((node->flags & QIMG_OPEN_RDWR) && s->write_protected) {
		disconnect(s);
		return qimg_error_set(err, EACCES, "LUN is write protected");
	}
	node->size = s->blocks * s->block_size;
	node->limits.request_align = s->block_size;
	node->limits.max_transfer = max_transfer(s);
	node->limits.discard_align = s->block_size;
	if (s->max_unmap)
		node->limits.max_discard =
			(uint64_t)s->max_unmap * s->block_size;
	return 0;
}

static void iscsi_close(struct qimg_node *node)
{
	disconnect(node->opaque);
}

static void chunk_done(struct iscsi_context *ctx, int status, void *data,
		       void *opaque)
{
	struct iscsi_chunk *c = opaque;
	struct scsi_task *t = data;

	(void)ctx;
	c->status = status;
	if (t) {
		c->sense = t->sense;
		scsi_free_scsi_task(t);
	}
	c->done = true;
}

/* A read or write as commands of at most ISCSI_CHUNK bytes, up to
 * ISCSI_INFLIGHT of them at once on the session, so that the target
 * works on several while the next ones travel (qemu-img keeps several
 * requests in flight too; one at a time costs a third of the speed).
 * A failed command stops the submitting; the others are waited for, so
 * that no completion lands in a buffer after this returns.  A session
 * that breaks is torn down (its commands cancelled) and the node fails
 * from then on. */
static int transfer(struct iscsi_state *s, bool write, uint64_t off,
		    uint8_t *buf, size_t len, struct qimg_error *err)
{
	struct iscsi_chunk *c = s->chunks;
	size_t next = 0, n = (len + ISCSI_CHUNK - 1) / ISCSI_CHUNK, i;
	const char *what = write ? "WRITE(16)" : "READ(16)";
	int inflight = 0, r = 0;

	if (!s->ctx)
		return qimg_error_set(err, EIO, "iSCSI: the session was lost");
	for (i = 0; i < ISCSI_INFLIGHT; i++)
		c[i].busy = false;
	while ((r == 0 && next < n) || inflight > 0) {
		struct pollfd p;
		int pr;

		for (i = 0; i < ISCSI_INFLIGHT && r == 0 && next < n; i++) {
			uint64_t o = off + (uint64_t)next * ISCSI_CHUNK;
			size_t l = len - next * ISCSI_CHUNK;
			struct scsi_task *t;

			if (c[i].busy)
				continue;
			if (l > ISCSI_CHUNK)
				l = ISCSI_CHUNK;
			memset(&c[i], 0, sizeof(c[i]));
			c[i].iov.iov_base = buf + next * ISCSI_CHUNK;
			c[i].iov.iov_len = l;
			t = write ? iscsi_write16_iov_task(
					    s->ctx, s->lun, o / s->block_size,
					    NULL, (uint32_t)l,
					    (int)s->block_size, 0, 0, 0, 0, 0,
					    chunk_done, &c[i], &c[i].iov, 1)
				  : iscsi_read16_iov_task(
					    s->ctx, s->lun, o / s->block_size,
					    (uint32_t)l, (int)s->block_size, 0,
					    0, 0, 0, 0, chunk_done, &c[i],
					    &c[i].iov, 1);
			if (!t) {
				r = qimg_error_set(err, EIO,
						   "iSCSI: %s failed: %s", what,
						   iscsi_get_error(s->ctx));
				break;
			}
			c[i].busy = true;
			inflight++;
			next++;
		}
		if (inflight == 0)
			break;
		p.fd = iscsi_get_fd(s->ctx);
		p.events = (short)iscsi_which_events(s->ctx);
		p.revents = 0;
		pr = poll(&p, 1, 1000);
		if ((pr < 0 && errno != EINTR) ||
		    iscsi_service(s->ctx, pr > 0 ? p.revents : 0) < 0) {
			r = qimg_error_set(err, EIO, "iSCSI: %s failed: %s",
					   what, iscsi_get_error(s->ctx));
			/* Cancels what is in flight (their callbacks run
			 * now, with no data); no logout over a broken
			 * session. */
			iscsi_destroy_context(s->ctx);
			s->ctx = NULL;
			return r;
		}
		for (i = 0; i < ISCSI_INFLIGHT; i++) {
			if (!c[i].busy || !c[i].done)
				continue;
			c[i].busy = false;
			inflight--;
			if (c[i].status == SCSI_STATUS_CHECK_CONDITION)
				r = qimg_error_set(
					err, EIO,
					"iSCSI: %s failed: SENSE KEY:%s(%d) "
					"ASCQ:%s(0x%04x)",
					what,
					scsi_sense_key_str(c[i].sense.key),
					c[i].sense.key,
					scsi_sense_ascq_str(c[i].sense.ascq),
					c[i].sense.ascq);
			else if (c[i].status != SCSI_STATUS_GOOD)
				r = qimg_error_set(err, EIO,
						   "iSCSI: %s failed: %s", what,
						   iscsi_get_error(s->ctx));
		}
	}
	return r;
}

static int iscsi_read(struct qimg_node *node, uint64_t off, void *buf,
		      size_t len, struct qimg_error *err)
{
	return transfer(node->opaque, false, off, buf, len, err);
}

static int iscsi_write(struct qimg_node *node, uint64_t off, const void *buf,
		       size_t len, struct qimg_error *err)
{
	return transfer(node->opaque, true, off, (uint8_t *)buf, len, err);
}

static int iscsi_flush(struct qimg_node *node, struct qimg_error *err)
{
	struct iscsi_state *s = node->opaque;

	if (node->cache == QIMG_CACHE_UNSAFE)
		return 0;
	if (!s->ctx)
		return qimg_error_set(err, EIO, "iSCSI: the session was lost");
	return task_result(
		s, iscsi_synchronizecache16_sync(s->ctx, s->lun, 0, 0, 0, 0),
		"SYNCHRONIZE CACHE(16)", err);
}

/* UNMAP when the LUN says it can; otherwise the core ignores the
 * discard, as it may. */
static int iscsi_discard(struct qimg_node *node, uint64_t off, uint64_t len,
			 struct qimg_error *err)
{
	struct iscsi_state *s = node->opaque;
	struct unmap_list l;

	if (!s->lbpu || !s->ctx)
		return -ENOTSUP;
	l.lba = off / s->block_size;
	l.num = (uint32_t)(len / s->block_size);
	if (!l.num)
		return 0;
	return task_result(s, iscsi_unmap_sync(s->ctx, s->lun, 0, 0, &l, 1),
			   "UNMAP", err);
}

/* A LUN keeps its size. */
static int iscsi_truncate(struct qimg_node *node, uint64_t size, unsigned flags,
			  const char *prealloc, struct qimg_error *err)
{
	int r = qimg_truncate_prealloc_off(prealloc, err);

	(void)flags;
	if (r < 0)
		return r;
	if (size != node->size)
		return qimg_error_set(err, ENOTSUP,
				      "Cannot resize iSCSI devices");
	return 0;
}

static int64_t iscsi_length(struct qimg_node *node)
{
	struct iscsi_state *s = node->opaque;

	return (int64_t)(s->blocks * s->block_size);
}

static int64_t iscsi_allocated_size(struct qimg_node *node)
{
	(void)node;
	return -1;
}

/* A LUN answers for info (qemu-img then prints the dirty flag of a raw
 * image over it). */
static int iscsi_get_info(struct qimg_node *node, struct qimg_image_info *info,
			  struct qimg_error *err)
{
	(void)node;
	(void)err;
	info->has_info = true;
	return 0;
}

/* "Creating" an image on a LUN: it must hold the size asked for. */
static int iscsi_create(struct qimg_node *node, const struct qimg_opts *o,
			struct qimg_error *err)
{
	struct iscsi_state *s = node->opaque;
	struct qimg_value *d = qimg_value_dict();
	struct qimg_opts opts = { 0 };
	const struct qimg_opt_desc *schemas[] = { iscsi_runtime_opts, NULL };
	uint64_t size = qimg_opts_get_u64(o, "size", 0);
	size_t i;
	int r;

	if (!d)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = iscsi_parse_filename(node->filename, d, err);
	for (i = 0; r == 0 && i < qimg_value_count(d); i++) {
		const char *k;
		const struct qimg_value *v = qimg_value_at(d, i, &k);

		if (qimg_opts_set(&opts, k, qimg_value_get_str(v)) < 0)
			r = qimg_error_set(err, ENOMEM, "Out of memory");
	}
	if (r == 0)
		r = qimg_opts_validate(&opts, schemas, err);
	if (r == 0)
		r = iscsi_connect(node, &opts, err);
	if (r == 0) {
		if (size > s->blocks * s->block_size)
			r = qimg_error_set(err, ENOSPC,
					   "Cannot grow iSCSI devices");
		disconnect(s);
	}
	qimg_opts_free(&opts);
	qimg_value_free(d);
	return r;
}

#define ISCSI_DRIVER(ident, drvname, protos)                                   \
	const struct qimg_driver ident = {                                     \
		.name = drvname,                                               \
		.kind = QIMG_DRIVER_PROTOCOL,                                  \
		.threads = QIMG_THREADS_SERIAL,                                \
		.state_size = sizeof(struct iscsi_state),                      \
		.create_opts = iscsi_create_opts,                              \
		.protocols = protos,                                           \
		.parse_filename = iscsi_parse_filename,                        \
		.runtime_opts = iscsi_runtime_opts,                            \
		.strong_opts = iscsi_strong_opts,                              \
		.open = iscsi_open,                                            \
		.close = iscsi_close,                                          \
		.create = iscsi_create,                                        \
		.read = iscsi_read,                                            \
		.write = iscsi_write,                                          \
		.flush = iscsi_flush,                                          \
		.discard = iscsi_discard,                                      \
		.truncate = iscsi_truncate,                                    \
		.length = iscsi_length,                                        \
		.allocated_size = iscsi_allocated_size,                        \
		.get_info = iscsi_get_info,                                    \
	}

ISCSI_DRIVER(qimg_driver_iscsi, "iscsi", iscsi_protocols);
ISCSI_DRIVER(qimg_driver_iser, "iser", iser_protocols);
