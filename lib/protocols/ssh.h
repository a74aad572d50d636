/* SPDX-License-Identifier: MIT */
/* The ssh protocol driver: a remote file over SFTP (libssh). */
#ifndef QIMG_PROTOCOLS_SSH_H
#define QIMG_PROTOCOLS_SSH_H

#include "core/driver.h"

/* Names: ssh://[USER@]HOST[:PORT]/PATH[?host_key_check=no|yes|TYPE:HASH];
 * options server.host, server.port, path, user, host-key-check.mode
 * (none, known_hosts, hash) with .type (md5, sha1, sha256) and .hash, and
 * the legacy host, port and host_key_check.  Authentication is by public
 * key: the ssh-agent's identities, then the default keys in ~/.ssh.  I/O is
 * serial (one SFTP channel per node). */
extern const struct qimg_driver qimg_driver_ssh;

#endif
