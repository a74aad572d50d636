/* SPDX-License-Identifier: MIT */
/* Image creation and measurement: option validation against the format's
 * and the protocol's schemas, the driver's own validation before any file
 * is touched, and clean-up of a file we created when creation fails. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/driver.h"
#include "core/node.h"
#include "protocols/file.h"

static const struct qimg_driver *find_format(const char *format)
{
	const struct qimg_driver *d = qimg_driver_find(format);

	return d && d->kind == QIMG_DRIVER_FORMAT ? d : NULL;
}

bool qimg_format_known(const char *format)
{
	return find_format(format) != NULL;
}

bool qimg_driver_known(const char *name)
{
	return qimg_driver_find(name) != NULL;
}

bool qimg_format_supports_backing(const char *format)
{
	const struct qimg_driver *d = find_format(format);

	return d && d->supports_backing;
}

bool qimg_format_supports_compression(const char *format)
{
	const struct qimg_driver *d = find_format(format);

	return d && d->write_compressed;
}

/* The protocol driver `format` names when it is one that creates images
 * named as a format (not file, which -f file handles as raw). */
static const struct qimg_driver *as_protocol(const char *format)
{
	const struct qimg_driver *pd = qimg_driver_find(format);

	return pd && pd->kind == QIMG_DRIVER_PROTOCOL && pd->create_opts &&
			       strcmp(format, "file")
		       ? pd
		       : NULL;
}

const struct qimg_opt_desc *
qimg_format_create_opts(const char *format, bool *can_create, bool *known)
{
	const struct qimg_driver *d = find_format(format);

	/* -f file: the file protocol creates the image (its bytes are the
	 * guest's, as raw's), with its own options. */
	if (!strcmp(format, "file")) {
		if (known)
			*known = true;
		if (can_create)
			*can_create = true;
		return qimg_file_create_opts();
	}
	/* A protocol with creation options named as the format (-f ssh,
	 * -f nbd) makes the image itself (create_on_protocol). */
	if (!d && as_protocol(format)) {
		if (known)
			*known = true;
		if (can_create)
			*can_create = true;
		return as_protocol(format)->create_opts;
	}
	/* A protocol or filter named as the format (-f blkdebug) is known:
	 * it just cannot create an image, in qemu-img's words. */
	if (known)
		*known = qimg_driver_find(format) != NULL;
	if (can_create)
		*can_create = d && d->create;
	return d ? d->create_opts : NULL;
}

const struct qimg_opt_desc *qimg_protocol_create_opts(void)
{
	return qimg_file_create_opts();
}

const struct qimg_opt_desc *
qimg_protocol_create_opts_for(const char *filename, struct qimg_error *err)
{
	const struct qimg_driver *drv;
	static const struct qimg_opt_desc none[] = { { NULL, 0, NULL, NULL } };

	if (qimg_protocol_lookup(filename, &drv, err) < 0)
		return NULL;
	if (!drv->create_opts && !drv->create) {
		qimg_error_set(err, ENOTSUP,
			       "Protocol driver '%s' does not support image "
			       "creation",
			       drv->name);
		return NULL;
	}
	return drv->create_opts ? drv->create_opts : none;
}

static int validate(const struct qimg_driver *drv,
		    const struct qimg_driver *proto, struct qimg_opts *opts,
		    struct qimg_error *err)
{
	const struct qimg_opt_desc *schemas[3] = {
		drv->create_opts,
		proto ? proto->create_opts : qimg_file_create_opts(), NULL
	};

	return qimg_opts_validate(opts, schemas, err);
}

/* QEMU's making of an image on a protocol that cannot create takes the
 * image as it is: no preallocation mode but off. */
static int fallback_check(const struct qimg_opts *opts, struct qimg_error *err)
{
	const char *p = qimg_opts_get_str(opts, "preallocation", "off");

	if (!qimg_prealloc_mode_known(p))
		return qimg_error_set(err, EINVAL,
				      "invalid parameter value: %s", p);
	if (strcmp(p, "off"))
		return qimg_error_set(err, ENOTSUP,
				      "Unsupported preallocation mode '%s'", p);
	return 0;
}

/* The protocol's judgement of the create options the format hands to
 * it (QEMU creates the file with the same options). */
static int protocol_check(const struct qimg_driver *drv,
			  const struct qimg_driver *pdrv,
			  const struct qimg_opts *opts, struct qimg_error *err)
{
	if (!pdrv->create && !drv->create_own_prealloc)
		return fallback_check(opts, err);
	if (!pdrv->create_check)
		return 0;
	return pdrv->create_check(opts, !drv->create_own_prealloc, err);
}

/* Opening a protocol that cannot create failed: qemu-img's words. */
static void no_create_prefix(const struct qimg_driver *pdrv,
			     struct qimg_error *err)
{
	qimg_error_prefix(err,
			  "Protocol driver '%s' does not support image "
			  "creation, and opening the image failed",
			  pdrv->name);
}

/* -f PROTOCOL: the protocol makes the image of the size asked (ssh, nfs
 * create a file and size it); one that cannot create (an NBD export)
 * opens what is there, which must be big enough, and zeroes its first
 * sector, as QEMU's fallback does. */
/* Whether -f PROTOCOL takes QEMU's fallback (open what is there) rather
 * than the driver's own create: drivers without one, and iSCSI, whose
 * LUNs QEMU 7.2 also takes that way when named as the format. */
static bool uses_fallback(const struct qimg_driver *pd)
{
	return !pd->create || !strcmp(pd->name, "iscsi") ||
	       !strcmp(pd->name, "iser");
}

static int create_on_protocol(const struct qimg_driver *pd,
			      const char *filename, struct qimg_opts *opts,
			      struct qimg_error *err)
{
	struct qimg_open_args args = {
		.filename = filename,
		.format = pd->name,
		.flags = QIMG_OPEN_RDWR,
	};
	uint64_t size = qimg_opts_get_u64(opts, "size", 0);
	const char *prealloc = qimg_opts_get_str(opts, "preallocation", "off");
	struct qimg_node *node = NULL;
	int r = 0;

	/* QEMU's fallback takes an image as it is: nothing to preallocate */
	if (uses_fallback(pd)) {
		r = fallback_check(opts, err);
		if (r < 0)
			return r;
	} else {
		struct qimg_node *proto = qimg_node_new(
			pd, filename, QIMG_OPEN_RDWR, QIMG_CACHE_WRITEBACK);

		if (!proto)
			return qimg_error_set(err, ENOMEM, "Out of memory");
		r = pd->create(proto, opts, err);
		qimg_node_free(proto);
		if (r < 0)
			return r;
	}
	r = qimg_open(&args, &node, err);
	if (r < 0) {
		if (uses_fallback(pd))
			no_create_prefix(pd, err);
		return r;
	}
	/* the protocol's create made or emptied it: sized here, with the
	 * preallocation asked for (falloc and full on gluster) */
	if (size > node->size)
		r = qimg_truncate(node, size, 0, prealloc, err);
	/* (a drive without its disc fails QEMU's sizing) */
	if (r == 0 && node->no_medium)
		r = qimg_error_set(err, ENOMEDIUM, "No medium inserted");
	if (r == 0 && node->size && uses_fallback(pd))
		r = qimg_write_zeroes(node, 0,
				      node->size < 512 ? node->size : 512,
				      QIMG_ZERO_MAY_UNMAP, err);
	if (r == 0)
		r = qimg_flush(node, err);
	qimg_close(node);
	return r;
}

int qimg_create(const char *filename, const char *format,
		struct qimg_opts *opts, struct qimg_error *err)
{
	return qimg_create_objects(filename, format, opts, NULL, err);
}

static int create_objects(const char *filename, const char *format,
			  struct qimg_opts *opts,
			  const struct qimg_objects *objects,
			  struct qimg_error *err)
{
	/* -f file writes what raw writes. */
	const struct qimg_driver *drv =
		find_format(strcmp(format, "file") ? format : "raw");
	struct qimg_node *proto = NULL, *file = NULL, *guard = NULL;
	const struct qimg_driver *pdrv;
	char *path = NULL;
	struct stat st;
	bool existed;
	int r;

	if (!drv && !qimg_driver_find(format))
		return qimg_format_missing_error(format, false, err);
	if (!drv && as_protocol(format))
		return create_on_protocol(as_protocol(format), filename, opts,
					  err);
	if (!drv || !drv->create)
		return qimg_error_set(err, ENOTSUP,
				      "Format driver '%s' does not support "
				      "image creation",
				      format);
	r = qimg_protocol_resolve(filename, &pdrv, &path, err);
	if (r < 0)
		return r;
	r = validate(drv, pdrv, opts, err);
	if (r == 0 && drv->create_validate_early)
		r = drv->create_validate_early(opts, err);
	if (r == 0 && drv->create_file_first)
		r = protocol_check(drv, pdrv, opts, err);
	if (r == 0 && drv->create_validate)
		r = drv->create_validate(opts, err);
	if (r == 0 && !drv->create_file_first)
		r = protocol_check(drv, pdrv, opts, err);
	if (r < 0) {
		free(path);
		return r;
	}
	if (!pdrv->create) {
		/* A protocol that cannot create (an NBD export) is used as
		 * it is: opened, its first sector zeroed so that nothing old
		 * is probed, then formatted below (a preallocation the
		 * format hands to it was refused above). */
		r = qimg_protocol_open(filename, QIMG_OPEN_RDWR,
				       QIMG_CACHE_WRITEBACK, &file, err);
		if (r < 0)
			no_create_prefix(pdrv, err);
		/* raw's size is the node's: one it cannot take fails before
		 * anything is written, as QEMU sizes before it zeroes */
		if (r == 0 && !strcmp(format, "raw") && file->drv->truncate &&
		    qimg_opts_get_u64(opts, "size", 0) > file->size)
			r = qimg_truncate(file,
					  qimg_opts_get_u64(opts, "size", 0), 0,
					  "off", err);
		/* QEMU sizes the device first: a drive without its disc
		 * fails there */
		if (r == 0 && file->no_medium)
			r = qimg_error_set(err, ENOMEDIUM,
					   "No medium inserted");
		if (r == 0 && file->size)
			r = qimg_write_zeroes(
				file, 0, file->size < 512 ? file->size : 512,
				QIMG_ZERO_MAY_UNMAP, err);
		qimg_protocol_close(file);
		file = NULL;
		if (r < 0) {
			free(path);
			return r;
		}
		existed = true;
		goto format;
	}
	existed = !pdrv->default_protocol || stat(path, &st) == 0;
	/* An image that exists is locked for writing before it is touched:
	 * one that a running QEMU holds is refused, as qemu-img refuses it.
	 * The lock is held until the new image is written.  What cannot be
	 * opened as an image (a directory, a device named file:) is left to
	 * the protocol's create, which says why in QEMU's words. */
	if (existed && pdrv->set_perm &&
	    qimg_protocol_open(filename, QIMG_OPEN_RDWR, QIMG_CACHE_WRITEBACK,
			       &guard, &(struct qimg_error){ 0 }) == 0) {
		r = guard->drv->set_perm(
			guard,
			QIMG_PERM_CONSISTENT_READ | QIMG_PERM_WRITE |
				QIMG_PERM_RESIZE,
			QIMG_PERM_WRITE | QIMG_PERM_RESIZE, err);
		if (r < 0) {
			qimg_protocol_close(guard);
			free(path);
			return r;
		}
	}
	proto = qimg_node_new(pdrv, path, QIMG_OPEN_RDWR, QIMG_CACHE_WRITEBACK);
	if (!proto) {
		free(path);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	proto->objects = objects; /* secrets the options name (rbd's key) */
	r = proto->drv->create(proto, opts, err);
	qimg_node_free(proto);
	if (r < 0 ||
	    (pdrv->create_writes_content && !strcmp(drv->name, "raw"))) {
		/* raw over a protocol that made the image at its size (rbd)
		 * has nothing more to do: not even to open it, as qemu-img
		 * (whose name may carry a snapshot that is not there) */
		qimg_protocol_close(guard);
		free(path);
		return r;
	}
format:
	r = qimg_protocol_open(filename, QIMG_OPEN_RDWR, QIMG_CACHE_WRITEBACK,
			       &file, err);
	if (r == 0) {
		file->objects = objects;
		r = drv->create(file, opts, err);
		if (r == 0)
			r = qimg_flush(file, err);
		qimg_protocol_close(file);
	}
	if (r == -EFBIG) {
		struct qimg_error e2 = { 0 };

		qimg_error_set(&e2, EFBIG,
			       "The image size is too large for file format "
			       "'%s'%s",
			       format,
			       qimg_opts_has(opts, "cluster_size")
				       ? " (try using a larger cluster size)"
				       : "");
		*err = e2;
	}
	if (r < 0 && !existed)
		unlink(path);
	qimg_protocol_close(guard);
	free(path);
	return r;
}

int qimg_create_aux_file(const char *filename, const struct qimg_opts *opts,
			 struct qimg_node **out, char **remove_path,
			 struct qimg_error *err)
{
	const struct qimg_driver *pdrv;
	struct qimg_node *proto;
	struct stat st;
	char *path = NULL;
	bool existed;
	int r;

	*out = NULL;
	*remove_path = NULL;
	r = qimg_protocol_resolve(filename, &pdrv, &path, err);
	if (r < 0)
		return r;
	if (pdrv->create) {
		existed = !pdrv->default_protocol || stat(path, &st) == 0;
		proto = qimg_node_new(pdrv, path, QIMG_OPEN_RDWR,
				      QIMG_CACHE_WRITEBACK);
		if (!proto) {
			free(path);
			return qimg_error_set(err, ENOMEM, "Out of memory");
		}
		r = proto->drv->create(proto, opts, err);
		qimg_node_free(proto);
		if (r < 0) {
			free(path);
			return r;
		}
		if (!existed) {
			*remove_path = path;
			path = NULL;
		}
	}
	free(path);
	/* A protocol that cannot create (an NBD export) is used as it is. */
	r = qimg_protocol_open(filename, QIMG_OPEN_RDWR, QIMG_CACHE_WRITEBACK,
			       out, err);
	if (r < 0 && !pdrv->create)
		no_create_prefix(pdrv, err);
	if (r < 0) {
		qimg_remove_aux_file(*remove_path);
		*remove_path = NULL;
	}
	return r;
}

void qimg_remove_aux_file(char *path)
{
	if (path)
		unlink(path);
	free(path);
}

int qimg_measure(const char *format, struct qimg_opts *opts,
		 struct qimg_node *in, uint64_t size, struct qimg_measure *out,
		 struct qimg_error *err)
{
	return qimg_measure_objects(format, opts, NULL, in, size, out, err);
}

int qimg_measure_objects(const char *format, struct qimg_opts *opts,
			 const struct qimg_objects *objects,
			 struct qimg_node *in, uint64_t size,
			 struct qimg_measure *out, struct qimg_error *err)
{
	const struct qimg_driver *drv = find_format(format);
	int r;

	memset(out, 0, sizeof(*out));
	if (!drv && !qimg_driver_find(format))
		return qimg_format_missing_error(format, false, err);
	if (!drv || !drv->measure)
		return qimg_error_set(err, ENOTSUP,
				      "Block driver '%s' does not support size "
				      "measurement",
				      format);
	r = validate(drv, NULL, opts, err);
	if (r < 0)
		return r;
	return drv->measure(opts, in, size, objects, out, err);
}

int qimg_create_objects(const char *filename, const char *format,
			struct qimg_opts *opts,
			const struct qimg_objects *objects,
			struct qimg_error *err)
{
	char *name;
	int r;

	if (strcmp(format, "file") || !strncmp(filename, "file:", 5))
		return create_objects(filename, format, opts, objects, err);
	/* -f file: the name is a path whatever it looks like (a file named
	 * nbd://x), as in qemu-img */
	if (asprintf(&name, "file:%s", filename) < 0)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = create_objects(name, format, opts, objects, err);
	free(name);
	return r;
}
