/* SPDX-License-Identifier: MIT */
/* libiscsi, loaded when an iscsi node is first opened (or its name first
 * parsed) rather than when qimg starts.  iscsi.c includes this after
 * <iscsi/iscsi.h> and calls libiscsi as usual: each function it uses is
 * redirected to the loaded table.  qimg_libiscsi_load must have succeeded
 * before any of them is called. */
#ifndef QIMG_PROTOCOLS_LIBISCSI_DL_H
#define QIMG_PROTOCOLS_LIBISCSI_DL_H

#include <stdint.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "qimg/error.h"

#define QIMG_LIBISCSI_FUNCS(X)                                                 \
	X(iscsi_create_context)                                                \
	X(iscsi_destroy_context)                                               \
	X(iscsi_destroy_url)                                                   \
	X(iscsi_full_connect_sync)                                             \
	X(iscsi_get_error)                                                     \
	X(iscsi_get_fd)                                                        \
	X(iscsi_inquiry_sync)                                                  \
	X(iscsi_logout_sync)                                                   \
	X(iscsi_modesense6_sync)                                               \
	X(iscsi_parse_full_url)                                                \
	X(iscsi_read16_iov_sync)                                               \
	X(iscsi_read16_iov_task)                                               \
	X(iscsi_readcapacity16_sync)                                           \
	X(iscsi_service)                                                       \
	X(iscsi_set_header_digest)                                             \
	X(iscsi_set_initiator_username_pwd)                                    \
	X(iscsi_set_session_type)                                              \
	X(iscsi_set_targetname)                                                \
	X(iscsi_set_timeout)                                                   \
	X(iscsi_synchronizecache16_sync)                                       \
	X(iscsi_unmap_sync)                                                    \
	X(iscsi_which_events)                                                  \
	X(iscsi_write16_iov_sync)                                              \
	X(iscsi_write16_iov_task)                                              \
	X(scsi_datain_unmarshall)                                              \
	X(scsi_free_scsi_task)                                                 \
	X(scsi_sense_ascq_str)                                                 \
	X(scsi_sense_key_str)

struct qimg_libiscsi {
#define QIMG_LIBISCSI_SLOT(f) __typeof__(f) *f;
	QIMG_LIBISCSI_FUNCS(QIMG_LIBISCSI_SLOT)
#undef QIMG_LIBISCSI_SLOT
};

/* Load libiscsi once per process: 0, or ENOTSUP with dlopen's reason. */
int qimg_libiscsi_load(struct qimg_error *err);
/* The table (filled once qimg_libiscsi_load succeeded). */
const struct qimg_libiscsi *qimg_libiscsi(void);

#ifndef QIMG_LIBISCSI_DL_IMPL
#define iscsi_create_context (qimg_libiscsi()->iscsi_create_context)
#define iscsi_destroy_context (qimg_libiscsi()->iscsi_destroy_context)
#define iscsi_destroy_url (qimg_libiscsi()->iscsi_destroy_url)
#define iscsi_full_connect_sync (qimg_libiscsi()->iscsi_full_connect_sync)
#define iscsi_get_error (qimg_libiscsi()->iscsi_get_error)
#define iscsi_get_fd (qimg_libiscsi()->iscsi_get_fd)
#define iscsi_inquiry_sync (qimg_libiscsi()->iscsi_inquiry_sync)
#define iscsi_logout_sync (qimg_libiscsi()->iscsi_logout_sync)
#define iscsi_modesense6_sync (qimg_libiscsi()->iscsi_modesense6_sync)
#define iscsi_parse_full_url (qimg_libiscsi()->iscsi_parse_full_url)
#define iscsi_read16_iov_sync (qimg_libiscsi()->iscsi_read16_iov_sync)
#define iscsi_read16_iov_task (qimg_libiscsi()->iscsi_read16_iov_task)
#define iscsi_service (qimg_libiscsi()->iscsi_service)
#define iscsi_readcapacity16_sync (qimg_libiscsi()->iscsi_readcapacity16_sync)
#define iscsi_set_header_digest (qimg_libiscsi()->iscsi_set_header_digest)
#define iscsi_set_initiator_username_pwd                                       \
	(qimg_libiscsi()->iscsi_set_initiator_username_pwd)
#define iscsi_set_session_type (qimg_libiscsi()->iscsi_set_session_type)
#define iscsi_set_targetname (qimg_libiscsi()->iscsi_set_targetname)
#define iscsi_set_timeout (qimg_libiscsi()->iscsi_set_timeout)
#define iscsi_synchronizecache16_sync                                          \
	(qimg_libiscsi()->iscsi_synchronizecache16_sync)
#define iscsi_unmap_sync (qimg_libiscsi()->iscsi_unmap_sync)
#define iscsi_which_events (qimg_libiscsi()->iscsi_which_events)
#define iscsi_write16_iov_sync (qimg_libiscsi()->iscsi_write16_iov_sync)
#define iscsi_write16_iov_task (qimg_libiscsi()->iscsi_write16_iov_task)
#define scsi_datain_unmarshall (qimg_libiscsi()->scsi_datain_unmarshall)
#define scsi_free_scsi_task (qimg_libiscsi()->scsi_free_scsi_task)
#define scsi_sense_ascq_str (qimg_libiscsi()->scsi_sense_ascq_str)
#define scsi_sense_key_str (qimg_libiscsi()->scsi_sense_key_str)
#endif

#endif
