/* SPDX-License-Identifier: MIT */
/* The x509 credentials' sanity check (x509-check.h). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/gnutls-dl.h"
#include "util/x509-check.h"

#define MAX_CAS 1024
#define MAX_PEM (16u << 20)

#define OID_TLS_SERVER "1.3.6.1.5.5.7.3.1"
#define OID_TLS_CLIENT "1.3.6.1.5.5.7.3.2"
#define OID_ANY "2.5.29.37.0"

/* The whole of a PEM file in *out (malloc'd): 0 or -errno. */
static int read_pem(const char *path, gnutls_datum_t *out)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	size_t n;

	out->data = NULL;
	out->size = 0;
	if (!f)
		return -errno;
	if (fstat(fileno(f), &st) < 0 || st.st_size < 0 ||
	    (unsigned long long)st.st_size > MAX_PEM) {
		fclose(f);
		return -EFBIG;
	}
	out->data = malloc((size_t)st.st_size + 1);
	if (!out->data) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(out->data, 1, (size_t)st.st_size, f);
	fclose(f);
	out->data[n] = 0;
	out->size = (unsigned int)n;
	return 0;
}

const char *qimg_x509_status_reason(unsigned int status)
{
	const char *why = "The certificate is not trusted";

	if (status & GNUTLS_CERT_SIGNER_NOT_FOUND)
		why = "The certificate hasn't got a known issuer";
	if (status & GNUTLS_CERT_REVOKED)
		why = "The certificate has been revoked";
	if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
		why = "The certificate uses an insecure algorithm";
	return why;
}

/* A CA certificate must be one and may sign certificates. */
static int check_ca_role(gnutls_x509_crt_t crt, const char *path,
			 struct qimg_error *err)
{
	unsigned int usage = 0, critical = 0;
	int g = gnutls_x509_crt_get_basic_constraints(crt, NULL, NULL, NULL);

	if (g == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
		return qimg_error_set(err, EINVAL,
				      "The certificate %s is missing basic "
				      "constraints for a CA",
				      path);
	if (g < 0)
		return qimg_error_set(err, EINVAL,
				      "Unable to query certificate %s basic "
				      "constraints: %s",
				      path, gnutls_strerror(g));
	if (g == 0)
		return qimg_error_set(err, EINVAL,
				      "The certificate %s basic constraints "
				      "do not show a CA",
				      path);
	g = gnutls_x509_crt_get_key_usage(crt, &usage, &critical);
	if (g == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
		return 0;
	if (g < 0)
		return qimg_error_set(err, EINVAL,
				      "Unable to query certificate %s key "
				      "usage: %s",
				      path, gnutls_strerror(g));
	if (!(usage & GNUTLS_KEY_KEY_CERT_SIGN) && critical)
		return qimg_error_set(err, EINVAL,
				      "Certificate %s usage does not permit "
				      "certificate signing",
				      path);
	return 0;
}

/* An endpoint's own certificate: no CA, may sign, for TLS on its side
 * (a purpose list that leaves the side out is refused when it is
 * critical). */
static int check_own_role(gnutls_x509_crt_t crt, const char *path, bool server,
			  struct qimg_error *err)
{
	const char *side = server ? "server" : "client";
	unsigned int usage = 0, critical = 0, i;
	bool listed = false, allowed = false;
	int g = gnutls_x509_crt_get_basic_constraints(crt, NULL, NULL, NULL);

	if (g < 0 && g != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
		return qimg_error_set(err, EINVAL,
				      "Unable to query certificate %s basic "
				      "constraints: %s",
				      path, gnutls_strerror(g));
	if (g > 0)
		return qimg_error_set(err, EINVAL,
				      "The certificate %s basic constraints "
				      "show a CA, but we need one for a %s",
				      path, side);
	g = gnutls_x509_crt_get_key_usage(crt, &usage, &critical);
	if (g < 0 && g != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
		return qimg_error_set(err, EINVAL,
				      "Unable to query certificate %s key "
				      "usage: %s",
				      path, gnutls_strerror(g));
	if (g >= 0 && !(usage & GNUTLS_KEY_DIGITAL_SIGNATURE) && critical)
		return qimg_error_set(err, EINVAL,
				      "Certificate %s usage does not permit "
				      "digital signature",
				      path);
	critical = 0;
	for (i = 0;; i++) {
		char oid[256];
		size_t len = sizeof(oid);
		unsigned int crit = 0;

		g = gnutls_x509_crt_get_key_purpose_oid(crt, i, oid, &len,
							&crit);
		if (g == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (g < 0)
			return qimg_error_set(err, EINVAL,
					      "Unable to query certificate %s "
					      "key purpose: %s",
					      path, gnutls_strerror(g));
		listed = true;
		critical |= crit;
		if (!strcmp(oid, OID_ANY) ||
		    !strcmp(oid, server ? OID_TLS_SERVER : OID_TLS_CLIENT))
			allowed = true;
	}
	if (listed && !allowed && critical)
		return qimg_error_set(err, EINVAL,
				      "Certificate %s purpose does not allow "
				      "use with a TLS %s",
				      path, side);
	return 0;
}

/* In its time: `what` is "CA", "server" or "client". */
static int check_time(gnutls_x509_crt_t crt, const char *path, const char *what,
		      struct qimg_error *err)
{
	time_t now = time(NULL);

	if (gnutls_x509_crt_get_expiration_time(crt) < now)
		return qimg_error_set(err, EINVAL,
				      "The %s certificate %s has expired", what,
				      path);
	if (gnutls_x509_crt_get_activation_time(crt) > now)
		return qimg_error_set(err, EINVAL,
				      "The %s certificate %s is not yet "
				      "active",
				      what, path);
	return 0;
}

/* The own certificate, when there is one: *crt, checked but for its
 * signer. */
static int load_own(const char *path, bool server, gnutls_x509_crt_t *crt,
		    struct qimg_error *err)
{
	const char *side = server ? "server" : "client";
	gnutls_datum_t pem;
	int g, r;

	r = read_pem(path, &pem);
	if (r < 0)
		return qimg_error_set(err, -r,
				      "Unable to import %s "
				      "certificate %s: %s",
				      side, path, strerror(-r));
	g = gnutls_x509_crt_init(crt);
	if (g == 0)
		g = gnutls_x509_crt_import(*crt, &pem, GNUTLS_X509_FMT_PEM);
	free(pem.data);
	if (g < 0)
		return qimg_error_set(err, EINVAL,
				      "Unable to import %s certificate %s: %s",
				      side, path, gnutls_strerror(g));
	r = check_time(*crt, path, side, err);
	return r < 0 ? r : check_own_role(*crt, path, server, err);
}

int qimg_x509_sanity_check(const char *dir, bool server, struct qimg_error *err)
{
	char ca_path[4096], own_path[4096];
	gnutls_x509_crt_t cas[MAX_CAS], own = NULL;
	unsigned int ncas = MAX_CAS, status = 0, i;
	gnutls_datum_t pem;
	int g, r;

	r = qimg_gnutls_load(err);
	if (r < 0)
		return r;
	snprintf(ca_path, sizeof(ca_path), "%s/ca-cert.pem", dir);
	snprintf(own_path, sizeof(own_path), "%s/%s-cert.pem", dir,
		 server ? "server" : "client");
	r = read_pem(ca_path, &pem);
	g = r < 0 ? -1
		  : gnutls_x509_crt_list_import(
			    cas, &ncas, &pem, GNUTLS_X509_FMT_PEM,
			    GNUTLS_X509_CRT_LIST_IMPORT_FAIL_IF_EXCEED);
	free(pem.data);
	if (g <= 0)
		return qimg_error_set(err, EINVAL,
				      "Unable to import CA certificate list %s",
				      ca_path);
	ncas = (unsigned int)g;
	/* a client's own certificate is optional */
	r = 0;
	if (server || access(own_path, F_OK) == 0)
		r = load_own(own_path, server, &own, err);
	for (i = 0; r == 0 && i < ncas; i++) {
		r = check_time(cas[i], ca_path, "CA", err);
		if (r == 0)
			r = check_ca_role(cas[i], ca_path, err);
	}
	if (r == 0 && own) {
		g = gnutls_x509_crt_list_verify(&own, 1, cas, ncas, NULL, 0, 0,
						&status);
		if (g < 0)
			r = qimg_error_set(err, EINVAL,
					   "Unable to verify %s certificate %s "
					   "against CA certificate %s",
					   server ? "server" : "client",
					   own_path, ca_path);
		else if (status)
			r = qimg_error_set(err, EINVAL,
					   "Our own certificate %s failed "
					   "validation against %s: %s",
					   own_path, ca_path,
					   qimg_x509_status_reason(status));
	}
	if (own)
		gnutls_x509_crt_deinit(own);
	for (i = 0; i < ncas; i++)
		gnutls_x509_crt_deinit(cas[i]);
	return r;
}
