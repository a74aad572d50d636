#!/bin/bash
# SPDX-License-Identifier: MIT
# The iscsi protocol against qemu-img's, with LUNs served by a tgtd (the
# Linux SCSI target framework's user-space daemon) started here on its own
# port and control socket: a 512-byte-block LUN of images written by
# qemu-img and by qimg, a write-protected LUN, a 4096-byte-block LUN and
# a target behind CHAP.  info, map, check, compare through both tools,
# outputs compared; images qimg writes onto a LUN (raw and qcow2, convert
# and create) checked by qemu-img; the name forms and every option check
# and error; a LUN's fixed size (create, resize).
. "$(dirname "$0")/lib.sh"

TGTD=${TGTD:-/usr/sbin/tgtd}
if [ ! -x "$TGTD" ] || ! command -v tgtadm >/dev/null 2>&1; then
	[ "${CI:-}" = true ] && { echo "not ok 1 - tgtd and tgtadm are needed (CI=true)"; echo "1..1"; exit 1; }
	skip_all "tgtd or tgtadm not found (Debian's tgt)"
fi
[ "$(id -u)" = 0 ] || skip_all "tgtd needs root"
# Debian's qemu-img has the iscsi driver as a module (qemu-block-extra).
if "$QEMU_IMG" info 'json:{"driver":"iscsi"}' 2>&1 | grep -q "Unknown driver"; then
	[ "${CI:-}" = true ] && { echo "not ok 1 - qemu-img without the iscsi driver (CI=true)"; echo "1..1"; exit 1; }
	skip_all "qemu-img has no iscsi driver (qemu-block-extra)"
fi
NORM=norm_remote

# --- the target -----------------------------------------------------------------
PORT=$(free_port)
CTL=$((1000 + $$ % 30000))
tgtd_pid=
stop_tgtd()
{
	local i
	[ -n "$tgtd_pid" ] || return 0
	kill "$tgtd_pid" 2>/dev/null
	for i in $(seq 40); do
		kill -0 "$tgtd_pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -9 "$tgtd_pid" 2>/dev/null
	wait "$tgtd_pid" 2>/dev/null
}
at_exit stop_tgtd
"$TGTD" -f -C "$CTL" --iscsi "portal=127.0.0.1:$PORT" >"$T/tgtd.log" 2>&1 &
tgtd_pid=$!
adm()
{
	tgtadm -C "$CTL" --lld iscsi "$@"
}
for i in $(seq 100); do
	adm --op show --mode target >/dev/null 2>&1 && break
	sleep 0.05
done
IQN=iqn.2026-12.org.qimg
spawn "$QEMU_IMG" create -q -f raw "$T/lun1.raw" 64M
spawn "$QEMU_IMG" create -q -f raw "$T/ro.raw" 16M
spawn "$QEMU_IMG" create -q -f raw "$T/lun4k.raw" 32M
spawn "$QEMU_IMG" create -q -f raw "$T/chap.raw" 16M
spawn "$QEMU_IO" -f raw -c 'write -P 0x61 1M 1M' -c 'write -P 0x62 3M 64k' "$T/lun1.raw" >/dev/null
spawn "$QEMU_IO" -f raw -c 'write -P 0x71 0 1M' "$T/ro.raw" >/dev/null
spawn cp "$T/lun1.raw" "$T/lun1.orig"
set_up()
{
	adm --op new --mode target --tid 1 -T "$IQN:disk" &&
		adm --op new --mode logicalunit --tid 1 --lun 1 -b "$T/lun1.raw" &&
		adm --op new --mode logicalunit --tid 1 --lun 2 -b "$T/ro.raw" &&
		adm --op update --mode logicalunit --tid 1 --lun 2 --params readonly=1 &&
		adm --op bind --mode target --tid 1 -I ALL &&
		adm --op new --mode target --tid 2 -T "$IQN:4k" &&
		adm --op new --mode logicalunit --tid 2 --lun 1 -b "$T/lun4k.raw" --blocksize 4096 &&
		adm --op bind --mode target --tid 2 -I ALL &&
		adm --op new --mode target --tid 3 -T "$IQN:chap" &&
		adm --op new --mode logicalunit --tid 3 --lun 1 -b "$T/chap.raw" &&
		adm --op new --mode account --user qimguser --password qimgsecret12 &&
		adm --op bind --mode account --tid 3 --user qimguser &&
		adm --op bind --mode target --tid 3 -I ALL
}
set_up >"$T/adm.log" 2>&1 || {
	diag_file "$T/adm.log"
	diag_file "$T/tgtd.log"
	[ "${CI:-}" = true ] && { echo "not ok 1 - tgtd did not start (CI=true)"; echo "1..1"; exit 1; }
	skip_all "tgtd did not start"
}

P=127.0.0.1:$PORT
L1=iscsi://$P/$IQN:disk/1
RO=iscsi://$P/$IQN:disk/2
K4=iscsi://$P/$IQN:4k/1
CH=iscsi://$P/$IQN:chap/1
B='"driver":"iscsi","portal":"'$P'","target":"'$IQN':disk","transport":"tcp","lun":1'

# --- reading --------------------------------------------------------------------
for n in L1 RO K4; do
	u=${!n}
	same "info $n" info "$u"
	same "info --output=json $n" info --output=json "$u"
	same "map $n" map "$u"
	same "map --output=json $n" map --output=json "$u"
	same "check $n" check "$u"
done
same "compare a LUN with its file" compare -f raw -F raw "$L1" ../lun1.orig
same "compare two LUNs" compare -f raw -F raw "$L1" "$RO"
same "measure a LUN" measure -O qcow2 "$L1"
g_ok_rc() { run_tool g "$@"; [ "$(cat "$R/g.rc")" = 0 ]; }
ok "convert a LUN to a file" g_ok_rc convert -f raw -O raw "$L1" lun1.copy
ok "convert: the LUN's bytes" cmp "$G/lun1.copy" "$T/lun1.orig"

# --- names and options ------------------------------------------------------------
for c in \
	"info json:{$B}" \
	"info -f raw json:{$B}" \
	"info --image-opts driver=iscsi,portal=$P,target=$IQN:disk,transport=tcp,lun=1" \
	"info json:{$B,\"timeout\":5}" \
	"info json:{$B,\"header-digest\":\"crc32c\"}" \
	"info json:{$B,\"header-digest\":\"none\"}" \
	"info json:{$B,\"header-digest\":\"crc32c-none\"}" \
	"info json:{$B,\"header-digest\":\"none-crc32c\"}" \
	"info json:{$B,\"initiator-name\":\"iqn.2026-12.org.qimg:init\"}" \
	"info json:{$B,\"password\":\"p\"}" \
	"info json:{$B,\"header-digest\":\"CRC32C\"}" \
	"info json:{$B,\"header-digest\":\"bad\"}" \
	"info json:{$B,\"user\":\"u\",\"header-digest\":\"bad\"}" \
	"info json:{$B,\"user\":\"u\",\"password\":\"p\",\"password-secret\":\"s\"}" \
	"info json:{$B,\"user\":\"u\",\"password-secret\":\"nope\"}" \
	"info json:{$B,\"transport\":\"udp\"}" \
	"info json:{$B,\"timeout\":\"x\"}" \
	"info json:{$B,\"bogus\":1}" \
	'info json:{"driver":"iscsi"}' \
	"info json:{\"driver\":\"iscsi\",\"portal\":\"$P\",\"target\":\"$IQN:disk\",\"lun\":1}" \
	"info json:{\"driver\":\"iscsi\",\"portal\":\"$P\",\"target\":\"$IQN:disk\",\"lun\":\"x\",\"transport\":\"tcp\"}" \
	"info iscsi://$P/$IQN:disk/3" \
	"info iscsi://$P/$IQN:nope/1" \
	"info iscsi://$P/$IQN:disk" \
	"info iscsi://$P/$IQN:disk/x" \
	"info iscsi://$P" \
	"info iscsi:foo" \
	"info iscsi://u%p@$P/$IQN:disk/1" \
	"info iscsi://127.0.0.1:$(free_port)/$IQN:disk/1"; do
	# shellcheck disable=SC2086
	same "$c" $c
done

# --- CHAP -------------------------------------------------------------------------
CB='"driver":"raw","file":{"driver":"iscsi","portal":"'$P'","target":"'$IQN':chap","transport":"tcp","lun":1,"user":"qimguser"'
same "CHAP: no login" info "$CH"
same "CHAP: password-secret" info --object secret,id=s,data=qimgsecret12 "json:{$CB,\"password-secret\":\"s\"}}"
same "CHAP: password" info "json:{$CB,\"password\":\"qimgsecret12\"}}"
same "CHAP: wrong password" info "json:{$CB,\"password\":\"wrongsecret12\"}}"
same "CHAP: user and password in the URL" info "iscsi://qimguser%qimgsecret12@$P/$IQN:chap/1"

# --- writing --------------------------------------------------------------------
# qemu-img check of a qcow2 on a LUN: clean (exit 0)
lun_clean()
{
	spawn "$QEMU_IMG" check -q -f qcow2 "$1" >/dev/null 2>&1
}
spawn "$QEMU_IMG" create -q -f qcow2 "$T/src.qcow2" 64M
spawn "$QEMU_IO" -c 'write -P 0x11 0 1M' -c 'write -P 0x12 5M 512k' -c 'write -z 9M 1M' \
	"$T/src.qcow2" >/dev/null
spawn "$QEMU_IMG" convert -O raw "$T/src.qcow2" "$T/src.raw"
ok "convert -n raw onto the LUN" g_ok_rc convert -n -f qcow2 -O raw ../src.qcow2 "$L1"
ok "the LUN's file holds the bytes" cmp "$T/lun1.raw" "$T/src.raw"
ok "qemu-img reads them over iscsi" contents_equal "$L1" "$T/src.raw"
same "create a qcow2 on the LUN" create -f qcow2 "$L1" 32M
ok "qemu-img checks qimg's qcow2 on the LUN" lun_clean "$L1"
ok "convert a qcow2 onto the LUN (create path)" g_ok_rc convert -O qcow2 ../src.qcow2 "$L1"
ok "qemu-img checks it" lun_clean "$L1"
ok "qemu-img reads it as the source" contents_equal "$L1" "$T/src.qcow2"
same "info of qimg's qcow2 on the LUN" info "$L1"
same "check of qimg's qcow2 on the LUN" check "$L1"
same "create -f raw larger than the LUN" create -f raw "$L1" 1G
same "create -f raw, preallocation=full" create -f raw -o preallocation=full "$L1" 1M
same "create -f raw -o help on a LUN" create -f raw -o help "$L1"
same "resize: grow" resize -f raw "$L1" 128M
same "resize --shrink" resize --shrink -f raw "$L1" 32M
same "resize to its size" resize -f raw "$L1" 64M
spawn cp "$T/src.raw" "$T/lun1.raw"
same "create -f raw on the LUN" create -f raw "$L1" 4M
# qemu-img zeroes the first sector of a device it "creates" a raw image
# on (so that no old format is probed there), and nothing else.
lun_first_sector()
{
	spawn cmp -s <(head -c 512 /dev/zero) <(head -c 512 "$T/lun1.raw") &&
		spawn cmp -s <(tail -c +513 "$T/lun1.raw") <(tail -c +513 "$T/src.raw")
}
spawn cp "$T/src.raw" "$T/lun1.raw"
spawn "$QIMG" create -q -f raw "$L1" 4M
ok "qimg's create -f raw zeroes the LUN's first sector only" lun_first_sector

# The write-protected LUN.
spawn cp "$T/ro.raw" "$T/ro.before"
same "write-protected: convert -n onto it" convert -n -f raw -O raw ../src.raw "$RO"
same "write-protected: check -r all" check -r all -f raw "$RO"
ok "write-protected: its file unchanged" cmp "$T/ro.raw" "$T/ro.before"

# The 4096-byte-block LUN: qimg writes whole blocks (read-modify-write
# for the rest).
spawn "$QEMU_IMG" create -q -f raw "$T/small.raw" 32M
spawn "$QEMU_IO" -f raw -c 'write -P 0x21 512 1536' -c 'write -P 0x22 8191k 1k' "$T/small.raw" >/dev/null
ok "4k LUN: convert -n" g_ok_rc convert -n -f raw -O raw ../small.raw "$K4"
ok "4k LUN: the bytes" cmp "$T/lun4k.raw" "$T/small.raw"
same "4k LUN: compare" compare -f raw -F raw "$K4" ../small.raw
same "4k LUN: a qcow2 with 512-byte clusters" create -f qcow2 -o cluster_size=512 "$K4" 32M
ok "4k LUN: qimg writes into the qcow2" g_ok_rc convert -n -f raw -O qcow2 ../small.raw \
	"json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"iscsi\",\"portal\":\"$P\",\"target\":\"$IQN:4k\",\"transport\":\"tcp\",\"lun\":1}}"
ok "4k LUN: qemu-img checks it" lun_clean "$K4"

done_testing
