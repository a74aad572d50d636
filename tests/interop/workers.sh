#!/bin/bash
# SPDX-License-Identifier: MIT
# convert's worker pool when workers fail to start (QIMG_TEST_FAIL_WORKER
# makes worker N fail): a pool that starts short still copies everything
# and says nothing; a pool that cannot start fails with one line and leaves
# no target behind.  Then every serial format as the source and the target
# of 8 workers (block status beside reads and writes; run-all.sh runs this
# suite under TSan too).
. "$(dirname "$0")/lib.sh"
have_qimg || skip_all "no qimg binary at $QIMG"

head -c 6M /dev/urandom >src.raw
spawn truncate -s 8M src.raw
for n in 1 2 3; do
	QIMG_TEST_FAIL_WORKER=$n qimg convert -m 4 -O qcow2 src.raw "w$n.qcow2" \
		>"$R/out" 2>"$R/err"
	rc=$?
	ok "worker $n of 4 fails to start: exit 0" test "$rc" = 0
	ok "worker $n of 4 fails to start: no message" test ! -s "$R/err"
	ok "worker $n of 4 fails to start: same data" \
		"$QEMU_IMG" compare -q src.raw "w$n.qcow2"
done
QIMG_TEST_FAIL_WORKER=0 qimg convert -m 4 -O qcow2 src.raw w0.qcow2 \
	>"$R/out" 2>"$R/err"
rc=$?
ok "no worker starts: exit 1" test "$rc" = 1
ok "no worker starts: one line naming the reason" \
	test "$(wc -l <"$R/err")" = 1 -a -n "$(grep 'Could not start worker threads' "$R/err")"
ok "no worker starts: no target left" test ! -e w0.qcow2

# Block status beside reads and writes: convert's workers ask a serial
# driver's tables (and its caches) for status while other workers read or
# write through them (under build-tsan a race fails the exit code).
qio=()
for i in $(seq 0 23); do
	qio+=(-c "write -P $((i + 1)) $((i * 11))M 1536k")
done
for f in qcow qed vmdk vpc vhdx vdi parallels; do
	qimg create -q -f $f "s.$f" 288M
	spawn "$QEMU_IO" -f $f "${qio[@]}" "s.$f" >/dev/null
	ok "$f: source of 8 workers" qimg convert -m 8 -f $f -O raw "s.$f" "s-$f.raw"
	ok "$f: source of 8 workers: same data" \
		"$QEMU_IMG" compare -q -f $f -F raw "s.$f" "s-$f.raw"
	ok "$f: target of 8 workers" qimg convert -m 8 -W -O $f "s-$f.raw" "t.$f"
	ok "$f: target of 8 workers: same data" \
		"$QEMU_IMG" compare -q -F raw "t.$f" "s-$f.raw"
done

done_testing
