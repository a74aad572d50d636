/* SPDX-License-Identifier: MIT */
/* libnbd, loaded when the nbd protocol is first used rather than when qimg
 * starts: linking it pulls in gnutls, libxml2 and ICU, which cost every
 * qimg invocation ~40 ms of start-up whether it touches NBD or not.
 * nbd.c includes this after <libnbd.h> and calls libnbd as usual: each
 * function it uses is redirected to the loaded table.  qimg_libssh_load
 * must have succeeded before any of them is called. */
#ifndef QIMG_PROTOCOLS_LIBSSH_DL_H
#define QIMG_PROTOCOLS_LIBSSH_DL_H

#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include "qimg/error.h"

#define QIMG_LIBSSH_FUNCS(X)                                                   \
	X(sftp_attributes_free)                                                \
	X(sftp_close)                                                          \
	X(sftp_extension_supported)                                            \
	X(sftp_free)                                                           \
	X(sftp_fstat)                                                          \
	X(sftp_fsync)                                                          \
	X(sftp_get_error)                                                      \
	X(sftp_init)                                                           \
	X(sftp_new)                                                            \
	X(sftp_open)                                                           \
	X(sftp_read)                                                           \
	X(sftp_seek64)                                                         \
	X(sftp_setstat)                                                        \
	X(sftp_write)                                                          \
	X(ssh_clean_pubkey_hash)                                               \
	X(ssh_connect)                                                         \
	X(ssh_disconnect)                                                      \
	X(ssh_free)                                                            \
	X(ssh_get_error)                                                       \
	X(ssh_get_error_code)                                                  \
	X(ssh_get_fingerprint_hash)                                            \
	X(ssh_get_publickey_hash)                                              \
	X(ssh_get_server_publickey)                                            \
	X(ssh_key_free)                                                        \
	X(ssh_key_type)                                                        \
	X(ssh_key_type_to_char)                                                \
	X(ssh_new)                                                             \
	X(ssh_options_get)                                                     \
	X(ssh_options_set)                                                     \
	X(ssh_session_is_known_server)                                         \
	X(ssh_string_free_char)                                                \
	X(ssh_userauth_list)                                                   \
	X(ssh_userauth_none)                                                   \
	X(ssh_userauth_publickey_auto)

struct qimg_libssh {
#define QIMG_LIBSSH_SLOT(f) __typeof__(f) *f;
	QIMG_LIBSSH_FUNCS(QIMG_LIBSSH_SLOT)
#undef QIMG_LIBSSH_SLOT
};

/* Load libssh once per process: 0, or ENOTSUP with dlopen's reason. */
int qimg_libssh_load(struct qimg_error *err);
/* The table (filled once qimg_libssh_load succeeded). */
const struct qimg_libssh *qimg_libssh(void);

#ifndef QIMG_LIBSSH_DL_IMPL
#define sftp_attributes_free (qimg_libssh()->sftp_attributes_free)
#define sftp_close (qimg_libssh()->sftp_close)
#define sftp_extension_supported (qimg_libssh()->sftp_extension_supported)
#define sftp_free (qimg_libssh()->sftp_free)
#define sftp_fstat (qimg_libssh()->sftp_fstat)
#define sftp_fsync (qimg_libssh()->sftp_fsync)
#define sftp_get_error (qimg_libssh()->sftp_get_error)
#define sftp_init (qimg_libssh()->sftp_init)
#define sftp_new (qimg_libssh()->sftp_new)
#define sftp_open (qimg_libssh()->sftp_open)
#define sftp_read (qimg_libssh()->sftp_read)
#define sftp_seek64 (qimg_libssh()->sftp_seek64)
#define sftp_setstat (qimg_libssh()->sftp_setstat)
#define sftp_write (qimg_libssh()->sftp_write)
#define ssh_clean_pubkey_hash (qimg_libssh()->ssh_clean_pubkey_hash)
#define ssh_connect (qimg_libssh()->ssh_connect)
#define ssh_disconnect (qimg_libssh()->ssh_disconnect)
#define ssh_free (qimg_libssh()->ssh_free)
#define ssh_get_error (qimg_libssh()->ssh_get_error)
#define ssh_get_error_code (qimg_libssh()->ssh_get_error_code)
#define ssh_get_fingerprint_hash (qimg_libssh()->ssh_get_fingerprint_hash)
#define ssh_get_publickey_hash (qimg_libssh()->ssh_get_publickey_hash)
#define ssh_get_server_publickey (qimg_libssh()->ssh_get_server_publickey)
#define ssh_key_free (qimg_libssh()->ssh_key_free)
#define ssh_key_type (qimg_libssh()->ssh_key_type)
#define ssh_key_type_to_char (qimg_libssh()->ssh_key_type_to_char)
#define ssh_new (qimg_libssh()->ssh_new)
#define ssh_options_get (qimg_libssh()->ssh_options_get)
#define ssh_options_set (qimg_libssh()->ssh_options_set)
#define ssh_session_is_known_server (qimg_libssh()->ssh_session_is_known_server)
#define ssh_string_free_char (qimg_libssh()->ssh_string_free_char)
#define ssh_userauth_list (qimg_libssh()->ssh_userauth_list)
#define ssh_userauth_none (qimg_libssh()->ssh_userauth_none)
#define ssh_userauth_publickey_auto (qimg_libssh()->ssh_userauth_publickey_auto)
#endif

#endif
