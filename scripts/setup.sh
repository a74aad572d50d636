#!/bin/sh
# SPDX-License-Identifier: MIT
# Install (from Debian packages only) whatever qimg needs to build, test and
# benchmark that is not installed yet.  Fast when everything is present.
set -e

PKGS="gcc make meson ninja-build pkg-config zlib1g-dev libzstd-dev libbz2-dev
liburing-dev libisal-dev libcmocka-dev qemu-utils clang libclang-rt-14-dev
mold e2fsprogs bzip2 xxd time libnbd-bin libnbd-dev nbdkit libssh-dev
libgcrypt20-dev nettle-dev cryptsetup-bin
openssh-server openssh-client qemu-block-extra qemu-system-x86 python3
libgnutls28-dev gnutls-bin python3-libnbd strace libcurl4-gnutls-dev
libcurl3-gnutls python3-pyftpdlib python3-openssl libiscsi-dev libiscsi7 tgt
libnfs-dev libnfs13 nfs-ganesha nfs-ganesha-vfs rpcbind keyutils openssl
ceph-mon ceph-osd ceph-common librbd-dev librados-dev librbd1
glusterfs-server libglusterfs-dev"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "setup: installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "setup: need root (or sudo) to install:$missing" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
