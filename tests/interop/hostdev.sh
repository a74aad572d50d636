#!/bin/bash
# SPDX-License-Identifier: MIT
# host_device and host_cdrom: refused on regular files with qemu-img's
# text; a device named plainly is a host_device's (named file:, the file's
# create fails on it as QEMU's, as on a directory); on a loop device (when
# this machine lets us attach one): info, map, convert into the device and
# back, images made and resized on it, against qemu-img.
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
# a character device named plainly is a host_device's (/dev/null: 0 bytes,
# nothing to sync), not a file's
for c in "info /dev/null" "info --output=json /dev/null" "map /dev/null" \
	"create -f raw /dev/null 0" "create -f raw /dev/null 1M" \
	"info --output=json --image-opts driver=raw,file.filename=/dev/null" \
	"info file:/dev/null" "create -f host_device -o help" \
	"create -f host_cdrom -o help" "create -f raw file:/dev/null 1M" \
	"create -f qcow2 file:/dev/null 1M" "create -f raw file:$T 1M" \
	"create -f qcow2 $T 1M"; do
	# shellcheck disable=SC2086
	same "$c" $c
done

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
	# dev_same DESC ARGS...: same, the device filled with one pattern
	# before each tool's run and its bytes after it compared too
	spawn "$QEMU_IMG" create -q -f raw pat.raw 16M
	fill() { dd if=pat.raw of="$L" bs=1M conv=notrunc status=none; }
	dev_same()
	{
		local d=$1
		shift
		fill
		run_tool e "$@"
		md5sum <"$L" >>"$R/e.out.n"
		fill
		run_tool g "$@"
		md5sum <"$L" >>"$R/g.out.n"
		judge "$d" "$@"
	}
	spawn "$QEMU_IO" -f raw -c 'write -P 0x5a 0 16M' pat.raw >/dev/null
	ok "the pattern is written" "$QEMU_IO" -f raw -c 'read -P 0x5a 0 16M' pat.raw
	for c in "info --output=json --image-opts driver=raw,file.filename=$L" \
		"info --image-opts driver=raw,file.driver=file,file.filename=$L" \
		"info file:$L" "info -f host_cdrom $L" \
		"info --output=json json:{\"driver\":\"raw\",\"file\":{\"driver\":\"host_cdrom\",\"filename\":\"$L\"}}"; do
		# shellcheck disable=SC2086
		same "$c" $c
	done
	# a host_cdrom whose drive has no disc (a loop device answers no CD
	# status): info shows it, the commands that ask its size fail as
	# qemu-img's, measure (no size asked) works
	for c in "map -f host_cdrom $L" "map --output=json host_cdrom:$L" \
		"compare -f host_cdrom -F raw $L ../reg.raw" \
		"compare -F host_cdrom -f raw ../reg.raw $L" \
		"convert -f host_cdrom -O raw $L o.raw" \
		"dd -f host_cdrom -O raw if=$L of=o.raw" \
		"resize -f host_cdrom $L 16M" "measure -f host_cdrom -O qcow2 $L" \
		"info --output=json host_cdrom:$L"; do
		# shellcheck disable=SC2086
		same "$c" $c
	done
	# (qemu-img's bench exits 1 there without a word: qimg says why)
	run_tool g bench -f host_cdrom -c 1 "$L"
	ok "bench of a drive without its disc: one line, exit 1" \
		[ "$(cat "$R/g.rc")" = 1 -a -n "$(grep -F "No medium found" "$R/g.err")" ]
	# made on the device as QEMU makes an image on a protocol that cannot
	# create: no preallocation, no growth, the first sector zeroed
	for c in "create -f host_device $L 1M" "create -f host_device $L 32M" \
		"create -f host_device -o preallocation=x $L 1M" \
		"create -f host_device -o preallocation=metadata $L 1M" \
		"create -f host_device -o preallocation=falloc $L 1M" \
		"create -f raw $L 4M" "create -f raw -o preallocation=x $L 1M" \
		"create -f raw file:$L 4M" "create -f qcow2 file:$L 4M" \
		"create -f raw -o preallocation=full $L 1M" \
		"create -f raw -o extent_size_hint=5G $L 1M" \
		"create -f vpc -o preallocation=metadata $L 1M" \
		"create -f qcow2 $L 1M" "convert -O raw ../src.qcow2 $L" \
		"convert -O qcow2 ../src.qcow2 $L" "dd -O raw if=../src.qcow2 of=$L bs=1M count=4" \
		"resize -f raw $L 16M" "resize -f raw --shrink $L 8M" \
		"resize -f raw --preallocation=full $L 32M"; do
		# shellcheck disable=SC2086
		dev_same "$c" $c
	done
	# preallocation a device cannot give: qemu-img finds out after it
	# wrote the header, qimg before, leaving the device as it was but its
	# first sector (zeroed first, as QEMU's making on a device does)
	for c in "create -f qcow2 -o preallocation=falloc $L 1M" \
		"create -f qcow2 -o preallocation=full $L 32M"; do
		fill
		# shellcheck disable=SC2086
		run_tool e $c
		fill
		# shellcheck disable=SC2086
		run_tool g $c
		ok "$c: the device left as it was" cmp -s -i 512 pat.raw "$L"
		# shellcheck disable=SC2086
		judge "$c" $c
	done
	# a loop device as a CD-ROM drive holds no disc: nothing made, copied
	# or resized
	for c in "convert -f host_cdrom $L o.raw" "resize -f host_cdrom $L 16M" \
		"create -f host_cdrom $L 1M"; do
		# shellcheck disable=SC2086
		run_tool g $c
		ok "$c fails: no medium" grep -q "No medium" "$R/g.err"
	done
else
	skip "no loop device here (losetup failed)"
fi

done_testing
