#!/bin/bash
# SPDX-License-Identifier: MIT
# host_device and host_cdrom: refused on regular files with qemu-img's
# text; on a loop device (when this machine lets us attach one): info,
# map, convert into the device and back, against qemu-img.
. "$(dirname "$0")/lib.sh"
have_qimg || skip_all "no qimg binary at $QIMG"

spawn truncate -s 16M reg.raw
for c in "info host_device:$T/reg.raw" "info host_cdrom:$T/reg.raw" \
	"info --image-opts driver=host_device,filename=$T/reg.raw" \
	"info --image-opts driver=host_device,filename=/dev/null"; do
	# shellcheck disable=SC2086
	same "$c" $c
done
spawn "$QEMU_IMG" create -q -f qcow2 top.qcow2 1M
same "rebase -u with a protocol as backing format" rebase -u -b /x/y -F host_device ../top.qcow2

L=$(losetup -f --show reg.raw 2>/dev/null)
if [ -n "$L" ] && [ -b "$L" ]; then
	detach() { losetup -d "$L"; }
	at_exit detach
	for c in "info $L" "info --output=json $L" "map --output=json $L" \
		"info host_device:$L" "info -f raw $L"; do
		# shellcheck disable=SC2086
		same "$c" $c
	done
	spawn "$QEMU_IMG" create -q -f qcow2 src.qcow2 16M
	spawn "$QEMU_IO" -c 'write -P 7 1M 2M' src.qcow2 >/dev/null
	run_tool g convert -n -O raw ../src.qcow2 "host_device:$L"
	ok "convert -n into the device" test "$(cat "$R/g.rc")" = 0
	ok "the device holds the image" "$QEMU_IMG" compare -q -f raw "$L" src.qcow2
	same "compare the device with the image" compare -f raw "$L" ../src.qcow2
else
	skip "no loop device here (losetup failed)"
fi

done_testing
