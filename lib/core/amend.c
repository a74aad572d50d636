/* SPDX-License-Identifier: MIT */
/* Amending an image's options (qemu-img amend): the format's amend schema
 * for -o help, validation of the -o list with qemu-img's messages (the
 * "only supported for image creation" hint included), and dispatch to the
 * format driver. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/driver.h"
#include "qimg/amend.h"

static int no_amend(const char *name, struct qimg_error *err)
{
	return qimg_error_set(err, ENOTSUP,
			      "Format driver '%s' does not support option "
			      "amendment",
			      name);
}

const struct qimg_opt_desc *qimg_format_amend_opts(const char *format,
						   struct qimg_error *err)
{
	const struct qimg_driver *d = qimg_driver_find(format);
	struct qimg_error tmp = { 0 };

	/* Any driver name is a "format" here, protocols included, as in
	 * qemu-img ("Format driver 'file' does not support ..."). */
	if (d && d->amend && d->amend_opts)
		return d->amend_opts;
	if (d) {
		no_amend(format, err);
		return NULL;
	}
	/* A format qimg lacks (none of them has an amendment in qemu-img
	 * either: qcow2 and luks are qimg's): qemu-img's refusal; unknown
	 * names as qemu-img words them. */
	if (qimg_format_missing_error(format, true, &tmp) == -ENOTSUP)
		no_amend(format, err);
	else
		qimg_format_missing_error(format, false, err);
	return NULL;
}

const struct qimg_opt_desc *qimg_node_amend_opts(const struct qimg_node *node,
						 struct qimg_error *err)
{
	if (!node->drv->amend || !node->drv->amend_opts) {
		no_amend(node->drv->name, err);
		return NULL;
	}
	return node->drv->amend_opts;
}

/* Would the same list parse as create options?  qemu-img parses it again
 * against them to decide whether to add the hint; a copy is parsed so
 * that the caller's list keeps its amend typing. */
static bool valid_for_create(const struct qimg_driver *drv,
			     const struct qimg_opts *opts)
{
	const struct qimg_opt_desc *schemas[2] = { drv->create_opts, NULL };
	struct qimg_opts copy = { 0 };
	struct qimg_error ignored = { 0 };
	bool ok = true;
	size_t i;

	if (!drv->create_opts)
		return false;
	for (i = 0; ok && i < opts->len; i++)
		ok = qimg_opts_set(&copy, opts->v[i].name, opts->v[i].value) ==
		     0;
	ok = ok && qimg_opts_validate(&copy, schemas, &ignored) == 0;
	qimg_opts_free(&copy);
	return ok;
}

int qimg_amend_validate(const struct qimg_node *node, struct qimg_opts *opts,
			bool *create_valid, struct qimg_error *err)
{
	const struct qimg_opt_desc *schema = qimg_node_amend_opts(node, err);
	const struct qimg_opt_desc *schemas[2] = { schema, NULL };
	struct qimg_error first = { 0 };
	int r;

	if (create_valid)
		*create_valid = false;
	if (!schema)
		return -ENOTSUP;
	r = qimg_opts_validate(opts, schemas, &first);
	if (r == 0)
		return 0;
	if (first.errnum == EINVAL &&
	    !strncmp(first.msg, "Invalid parameter '", 19) &&
	    valid_for_create(node->drv, opts)) {
		if (create_valid)
			*create_valid = true;
		return qimg_error_set(err, EINVAL,
				      "%s\nThis option is only supported for "
				      "image creation",
				      first.msg);
	}
	return qimg_error_set(err, first.errnum, "%s", first.msg);
}

int qimg_amend(struct qimg_node *node, struct qimg_opts *opts,
	       const struct qimg_amend_opts *o, struct qimg_error *err)
{
	static const struct qimg_amend_opts none = { 0 };
	int r;

	r = qimg_amend_validate(node, opts, NULL, err);
	if (r < 0)
		return r;
	if (!(node->flags & QIMG_OPEN_RDWR))
		return qimg_error_set(err, EBADF, "Image is read-only");
	return node->drv->amend(node, opts, o ? o : &none, err);
}
