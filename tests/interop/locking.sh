#!/bin/bash
# SPDX-License-Identifier: MIT
# Image locking interop: with qemu-io holding an image read-write, qimg's
# read-only commands fail with qemu-img's 'Failed to get shared "write"
# lock' message and work with -U; with qimg writing an image, qemu-img and
# qemu-io are refused.
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"
pids=
kill_helpers()
{
	local p
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
}
at_exit kill_helpers

# hold FORMAT FILE: qemu-io keeps FILE open read-write in the background;
# wait until its lock on byte 101 ("write" permission) shows in /proc/locks.
# (qemu-io on a raw image shares writes, so other readers still get in:
# the raw cases below check that qimg lets them in too.)
hold()
{
	local ino
	"$QEMU_IO" -f "$1" -c 'sleep 600000' "$2" >/dev/null 2>&1 &
	pids="$pids $!"
	ino=$(stat -c %i "$2")
	for _ in $(seq 1 100); do
		if grep -q ":$ino 100 101\$" /proc/locks 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

spawn "$QEMU_IMG" create -q -f qcow2 lk.qcow2 16M
spawn "$QEMU_IO" -c 'write -P 1 0 1M' lk.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f raw lk.raw 4M
spawn "$QEMU_IMG" create -q -f qcow2 other.qcow2 16M

if hold qcow2 lk.qcow2 && hold raw lk.raw; then
	pass "qemu-io holds the images"
else
	fail "qemu-io holds the images"
fi
for img in lk.qcow2 lk.raw; do
	same "$img held by qemu-io: info" info ../$img
	same "$img held by qemu-io: info --output=json" info --output=json ../$img
	same "$img held by qemu-io: info -U" info -U ../$img
	same "$img held by qemu-io: --force-share" info --force-share ../$img
	same "$img held by qemu-io: map" map ../$img
	same "$img held by qemu-io: map -U" map -U --output=json ../$img
	same "$img held by qemu-io: check" check ../$img
	same "$img held by qemu-io: compare" compare ../$img ../$img
	same "$img held by qemu-io: compare -U" compare -U ../$img ../$img
	spawn rm -f "$E/o.raw" "$G/o.raw"
	same "$img held by qemu-io: convert" convert -O raw ../$img o.raw
	spawn rm -f "$E/o.raw" "$G/o.raw"
	same "$img held by qemu-io: convert -U" convert -U -O raw ../$img o.raw
	same "$img held by qemu-io: measure" measure -O qcow2 ../$img
	same "$img held by qemu-io: measure -U" measure -U -O qcow2 ../$img
done
same "check -U works" check -U ../lk.qcow2
same "convert -n into a locked target refused" convert -n -O qcow2 \
	../other.qcow2 ../lk.qcow2
same "-U with read-write is refused" check -U -r all ../lk.qcow2
kill_helpers
pids=

# qimg writing: qemu-img and qemu-io must be refused
head -c 32M /dev/urandom >big.raw
spawn "$QEMU_IMG" create -q -f qcow2 target.qcow2 32M
"$QIMG" convert -n -r 2M -O qcow2 big.raw target.qcow2 >/dev/null \
	2>"$T/bg-convert.err" &
qpid=$!
pids="$pids $qpid"
held=0
# Probe only once qimg holds its locks (byte 201: others may not write),
# or a probing qemu-img could take its own lock first and make qimg's open
# fail: that race is the test's, not the tools'.
ino=$(stat -c %i target.qcow2)
for _ in $(seq 1 200); do
	grep -q "OFDLCK.*:$ino 201 " /proc/locks 2>/dev/null && break
	kill -0 "$qpid" 2>/dev/null || break
	sleep 0.05
done
for _ in $(seq 1 50); do
	if ! spawn "$QEMU_IMG" info target.qcow2 >/dev/null 2>&1; then
		held=1
		break
	fi
	kill -0 "$qpid" 2>/dev/null || break
	sleep 0.1
done
if [ "$held" = 1 ]; then
	pass "qemu-img info refused while qimg writes"
	spawn "$QEMU_IMG" info target.qcow2 >"$R/msg" 2>&1
	if grep -q 'Failed to get shared "write" lock' "$R/msg"; then
		pass "qemu-img names the shared write lock"
	else
		fail "qemu-img names the shared write lock"
		diag_file "$R/msg"
	fi
	if spawn "$QEMU_IO" -c 'write 0 512' target.qcow2 >"$R/msg" 2>&1 &&
		! grep -q 'lock' "$R/msg"; then
		fail "qemu-io write refused while qimg writes"
	else
		pass "qemu-io write refused while qimg writes"
	fi
	if spawn "$QEMU_IMG" info -U target.qcow2 >/dev/null 2>&1; then
		pass "qemu-img info -U works while qimg writes"
	else
		fail "qemu-img info -U works while qimg writes"
	fi
else
	fail "qemu-img info refused while qimg writes"
	diag "qimg convert -n -r 2M did not keep the target locked"
	diag_file "$T/bg-convert.err"
fi
# the source of a running convert may not be written by others
if kill -0 "$qpid" 2>/dev/null; then
	if spawn "$QEMU_IO" -f raw -c 'write 0 512' big.raw >"$R/msg" 2>&1 &&
		! grep -q 'lock' "$R/msg"; then
		fail "qemu-io write to qimg's source refused"
	else
		pass "qemu-io write to qimg's source refused"
	fi
else
	fail "qemu-io write to qimg's source refused (convert already ended)"
fi
kill_helpers
pids=
same "no lock left after qimg was killed" info ../target.qcow2

done_testing
