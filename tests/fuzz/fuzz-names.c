/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for what a user types: the input, as text, is given to
 * the --object parser (secret, tls-creds-*, authz-*, throttle-group, and
 * the JSON form; alone and after a master key, for encrypted secrets), the key=value option parser, the JSON parser, and every
 * protocol driver's file name parser (nbd:, ssh://, http://, iscsi://,
 * nfs://, rbd:, ...), the options trees of --image-opts and json:{...} with the typed drivers' option checks on what a name
 * gives and on a JSON object.  Nothing is opened. */
#include <stdlib.h>
#include <string.h>

#include "core/driver.h"
#include "fuzz-text.h"
#include "qimg/image.h"
#include "qimg/object.h"
#include "qimg/opts.h"
#include "qimg/value.h"

#define MAX_TEXT 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct qimg_driver *const *drv;
	struct qimg_objects *objs;
	struct qimg_opts o = { 0 };
	struct qimg_value *v;
	char msg[256], *s;
	size_t i, n;

	s = fuzz_text(data, size, MAX_TEXT);
	if (!s)
		return 0;

	objs = qimg_objects_new();
	if (objs) {
		struct qimg_error err = { 0 };

		(void)qimg_objects_add(objs, s, &err);
		qimg_objects_free(objs);
	}
	/* after a 32-byte master key: an encrypted secret's path (keyid=mk
	 * with the input's data, iv and format) */
	objs = qimg_objects_new();
	if (objs) {
		struct qimg_error err = { 0 };

		if (qimg_objects_add(
			    objs,
			    "secret,id=mk,format=base64,data=AAECAwQFBgcI"
			    "CQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
			    &err) == 0)
			(void)qimg_objects_add(objs, s, &err);
		qimg_objects_free(objs);
	}
	{
		struct qimg_error err = { 0 };

		(void)qimg_opts_parse(&o, s, &err);
		qimg_opts_free(&o);
	}
	/* --image-opts and json:{...} into options trees (a key both a
	 * value and a dict keeps both) */
	{
		struct qimg_error err = { 0 };

		if (qimg_options_parse(s, &v, &err) == 0)
			qimg_value_free(v);
		err = (struct qimg_error){ 0 };
		if (qimg_options_from_json(s, &v, &err) == 0)
			qimg_value_free(v);
	}
	v = qimg_json_parse(s, msg, sizeof(msg));
	drv = qimg_driver_list(&n);
	/* a JSON object as any typed driver's options (rbd's record) */
	for (i = 0; v && qimg_value_type(v) == QIMG_VALUE_DICT && i < n; i++) {
		struct qimg_error err = { 0 };

		if (drv[i]->visit_opts)
			(void)drv[i]->visit_opts(v, &err);
	}
	qimg_value_free(v);

	for (i = 0; i < n; i++) {
		struct qimg_error err = { 0 };
		struct qimg_value *d;

		if (!drv[i]->parse_filename)
			continue;
		d = qimg_value_dict();
		if (!d)
			break;
		/* the options a name gives, checked as an open checks them */
		if (drv[i]->parse_filename(s, d, &err) == 0 &&
		    drv[i]->visit_opts)
			(void)drv[i]->visit_opts(d, &err);
		qimg_value_free(d);
	}
	free(s);
	return 0;
}
