#!/bin/bash
# SPDX-License-Identifier: MIT
# I/O errors in the middle of commands, injected with blkdebug under the
# image: each command fails with exit status and first error line as
# qemu-img's, and the image it was changing stays free of corruption
# (leaks allowed) by qemu-img check.  Also blkdebug's names and limits.
. "$(dirname "$0")/lib.sh"
have_qimg || skip_all "no qimg binary at $QIMG"

mk()
{
	spawn "$QEMU_IMG" create -q -f qcow2 -o cluster_size=4k "$1" 8M
	spawn "$QEMU_IO" -c 'write -P 1 0 3M' -c 'write -P 2 5M 1M' "$1" >/dev/null
}

conf()
{
	# conf FILE EVENT [key=value...]
	local f=$1 ev=$2 kv
	shift 2
	{
		echo "[inject-error]"
		echo "event = \"$ev\""
		for kv in "$@"; do
			echo "${kv%%=*} = \"${kv#*=}\""
		done
	} >"$f"
}

# both IMG: a copy in E/ and G/ so that each tool damages its own
both()
{
	mk "$E/$1"
	spawn cp "$E/$1" "$G/$1"
}

# convert: a read fails in the middle (sector 4096 = 2 MiB)
mk src.qcow2
conf read.conf read_aio sector=4096 once=off
same "convert: read error in the middle" convert -O qcow2 \
	blkdebug:../read.conf:../src.qcow2 out.qcow2
ok "convert: no target left behind" test ! -e "$G/out.qcow2"
same "compare: read error" compare blkdebug:../read.conf:../src.qcow2 ../src.qcow2
same "convert --salvage: read error skipped" convert --salvage -O raw \
	blkdebug:../read.conf:../src.qcow2 salv.raw

# convert -n into an image whose writes fail after the first few
both dst.qcow2
conf write.conf write_aio sector=2048
# (qimg's message also names the target: docs/DIFFERENCES.md)
run_tool e convert -n -O qcow2 ../src.qcow2 blkdebug:../write.conf:dst.qcow2
run_tool g convert -n -O qcow2 ../src.qcow2 blkdebug:../write.conf:dst.qcow2
ok "convert -n: write error in the middle: same exit status" \
	test "$(cat "$R/e.rc")" = "$(cat "$R/g.rc")" -a "$(cat "$R/g.rc")" != 0
ok "convert -n: write error in the middle: one line naming the target" \
	grep -q "^qimg: error while writing at byte [0-9]* of 'blkdebug:../write.conf:dst.qcow2': Input/output error$" "$R/g.err"
ok "convert -n: target has no corruption" check_no_corruption "$G/dst.qcow2"

# snapshot create/delete with the cluster free failing (iotest 217's case)
both snap.qcow2
spawn "$QEMU_IMG" snapshot -c s1 "$E/snap.qcow2"
spawn "$QEMU_IMG" snapshot -c s1 "$G/snap.qcow2"
conf free.conf cluster_free
run_tool g snapshot -d s1 blkdebug:../free.conf:snap.qcow2
ok "snapshot -d: fails when freeing fails" test "$(cat "$R/g.rc")" != 0
ok "snapshot -d: one error line" test "$(wc -l <"$R/g.err")" -ge 1
ok "snapshot -d: image has no corruption" check_no_corruption "$G/snap.qcow2"
conf w2.conf write_aio once=off
run_tool g snapshot -c s2 blkdebug:../free.conf:snap.qcow2
ok "snapshot -c after the failed delete: image has no corruption" \
	check_no_corruption "$G/snap.qcow2"

# check -r all when the refcount writes fail
# (a dirty image with lazy refcounts: the repair rewrites refcounts)
spawn "$QEMU_IMG" create -q -f qcow2 -o lazy_refcounts=on "$G/leak.qcow2" 8M
("$QEMU_IO" -c 'write -P 3 0 64k' -c 'sigraise 9' "$G/leak.qcow2" \
	>/dev/null 2>&1) 2>/dev/null
conf none.conf none iotype=write once=off
run_tool g check -r all blkdebug:../none.conf:leak.qcow2
ok "check -r all: fails when every write fails" test "$(cat "$R/g.rc")" != 0
repairs_with_data()
{
	spawn "$QEMU_IMG" check -q -r all "$1" >/dev/null 2>&1 &&
		"$QEMU_IO" -c 'read -P 3 0 64k' "$1" 2>&1 | grep -q '^read 65536/'
}
ok "check -r all: qemu-img still repairs the image, data intact" \
	repairs_with_data "$G/leak.qcow2"

# names and limits
same "info blkdebug::IMAGE" info blkdebug::../src.qcow2
same "info blkdebug:CONFIG:IMAGE" info blkdebug:../read.conf:../src.qcow2
same "info json blkdebug with rules" info \
	'json:{"driver":"qcow2","file":{"driver":"blkdebug","image":{"driver":"file","filename":"../src.qcow2"},"set-state":[{"event":"read_aio","new_state":42}]}}'
same "map blkdebug over qcow2 with align" map --image-opts \
	driver=blkdebug,image.driver=qcow2,image.file.driver=file,image.file.filename=../src.qcow2,align=4k
same "bad event name" info 'json:{"driver":"blkdebug","image":{"driver":"file","filename":"../src.qcow2"},"inject-error":[{"event":"bogus"}]}'

done_testing
