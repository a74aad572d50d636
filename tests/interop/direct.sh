#!/bin/bash
# SPDX-License-Identifier: MIT
# O_DIRECT (-t none / -T none) and the file protocol's aio= option against
# qemu-img: convert raw<->qcow2 with every aio mode gives qemu-img's bytes
# (odd sizes, unaligned tails, 512-byte clusters, 1-bit refcounts, backing
# chains), io_uring is used when asked and when O_DIRECT, the blocking
# fallback (QIMG_NO_IO_URING, as when the kernel refuses io_uring) gives
# the same bytes, and aio's errors are qemu-img's.
. "$(dirname "$0")/lib.sh"
have_qimg || skip_all "no qimg binary at $QIMG"

# O_DIRECT needs a file system that has it (not every tmpfs).
if ! spawn dd if=/dev/zero of=probe bs=4096 count=1 oflag=direct 2>/dev/null; then
	skip_all "no O_DIRECT on $T"
fi
spawn rm -f probe

# Inputs: a mix of data, zeros and holes whose size is not a multiple of
# the 4 KiB alignment; a qcow2 of it; a chain (base <- top).
mkpattern mix.raw 5120
head -c 1234567 /dev/urandom >>mix.raw
spawn truncate -s +300000 mix.raw
spawn "$QEMU_IMG" convert -f raw -O qcow2 mix.raw mix.qcow2
spawn "$QEMU_IMG" convert -f raw -O qcow2 -o cluster_size=512,refcount_bits=1 \
	mix.raw small.qcow2
spawn "$QEMU_IMG" create -q -f qcow2 base.qcow2 9M
spawn "$QEMU_IO" -c "write -P 0x11 0 3M" -c "write -P 0x22 5M 1M" base.qcow2 \
	>/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2
spawn "$QEMU_IO" -c "write -P 0x33 1M 3M" -c "write -z 6M 512k" \
	-c "write -P 0x44 8M 1000k" top.qcow2 >/dev/null
ok "inputs made" test -s mix.qcow2 -a -s small.qcow2 -a -s top.qcow2

# cvx DESC OUT ARGS...: convert with both tools; same exit, messages,
# content, and for qcow2 the same bytes and a clean check.
cvx()
{
	local d=$1 out=$2
	shift 2
	spawn rm -f "$E/$out" "$G/$out"
	same "$d" convert "$@"
	if ! spawn "$QEMU_IMG" compare -q "$E/$out" "$G/$out" 2>/dev/null; then
		fail "$d: same content"
		return
	fi
	pass "$d: same content"
	case $out in
	*.qcow2)
		ok "$d: qemu-img's bytes" cmp -s "$E/$out" "$G/$out"
		ok "$d: check clean" check_clean "$G/$out"
		;;
	*)
		ok "$d: same size" test "$(stat -c %s "$E/$out")" = \
			"$(stat -c %s "$G/$out")"
		;;
	esac
}

src_opts()
{
	echo "driver=$1,file.driver=file,file.filename=$2,file.aio=$3"
}

for mode in "" threads io_uring native; do
	tag=${mode:-default}
	if [ -z "$mode" ]; then
		cvx "raw->qcow2 -t none -T none" o.qcow2 -t none -T none \
			-f raw -O qcow2 ../mix.raw o.qcow2
		cvx "qcow2->raw -t none -T none" o.raw -t none -T none \
			-f qcow2 -O raw ../mix.qcow2 o.raw
		continue
	fi
	cvx "raw->qcow2 aio=$tag -T none" o.qcow2 -t none -T none \
		--image-opts "$(src_opts raw ../mix.raw "$mode")" -O qcow2 o.qcow2
	cvx "qcow2->raw aio=$tag -T none" o.raw -t none -T none \
		--image-opts "$(src_opts qcow2 ../mix.qcow2 "$mode")" -O raw o.raw
done
# aio=io_uring through the page cache as well.
cvx "qcow2->raw aio=io_uring, cached" o.raw \
	--image-opts "$(src_opts qcow2 ../mix.qcow2 io_uring)" -O raw o.raw
cvx "512-byte clusters, 1-bit refcounts -> qcow2 -t none" o.qcow2 \
	-t none -T none -f qcow2 -O qcow2 \
	-o cluster_size=512,refcount_bits=1 ../small.qcow2 o.qcow2
cvx "qcow2 -> qcow2 with 2M clusters -t none" o.qcow2 -t none -T none \
	-f qcow2 -O qcow2 -o cluster_size=2M ../mix.qcow2 o.qcow2
cvx "chain flattened -t none -T none" o.qcow2 -t none -T none \
	-O qcow2 ../top.qcow2 o.qcow2
cvx "chain kept (-B) -t none -T none" o.qcow2 -t none -T none \
	-O qcow2 -B ../base.qcow2 -F qcow2 ../top.qcow2 o.qcow2
cvx "chain -> raw -t directsync" o.raw -t directsync -T none \
	-O raw ../top.qcow2 o.raw

# Into an existing target (-n) opened with aio options of its own
# (qemu-img's own aio=io_uring target can hang here: its run is the
# reference for every mode).
for w in e g; do
	spawn truncate -s "$(stat -c %s mix.raw)" "$T/$w/n.raw"
done
spawn -C "$E" "$QEMU_IMG" convert -n -t none -T none -f qcow2 ../mix.qcow2 \
	--target-image-opts "driver=raw,file.driver=file,file.filename=n.raw"
for mode in threads io_uring native; do
	spawn rm -f "$G/n.raw"
	spawn truncate -s "$(stat -c %s mix.raw)" "$G/n.raw"
	(cd "$G" && qimg convert -n -t none -T none -f qcow2 ../mix.qcow2 \
		--target-image-opts \
		"driver=raw,file.driver=file,file.filename=n.raw,file.aio=$mode")
	ok "-n into --target-image-opts aio=$mode: exit 0" test $? = 0
	# (how far past the odd end each tool pads its last block differs)
	ok "-n aio=$mode: qemu-img's bytes" \
		cmp -s -n "$(stat -c %s mix.raw)" "$E/n.raw" "$G/n.raw"
done

# The blocking fallback, as when io_uring_setup fails: the same bytes.
for w in g; do
	spawn rm -f "$T/$w/f.qcow2" "$T/$w/f.raw"
done
(cd "$G" && QIMG_NO_IO_URING=1 "$QIMG" convert -t none -T none -O qcow2 \
	../mix.raw f.qcow2 && QIMG_NO_IO_URING=1 "$QIMG" convert -t none \
	-T none --image-opts "$(src_opts qcow2 ../mix.qcow2 io_uring)" \
	-O raw f.raw)
ok "fallback: convert exits 0" test $? = 0
spawn "$QEMU_IMG" convert -t none -T none -O qcow2 mix.raw "$E/f.qcow2"
ok "fallback: raw->qcow2 is qemu-img's bytes" cmp -s "$E/f.qcow2" "$G/f.qcow2"
ok "fallback: qcow2->raw same content" contents_equal mix.raw "$G/f.raw"

# Who submits: io_uring_enter with aio=io_uring and with O_DIRECT, none
# with aio=threads or the fallback (strace sees it; a kernel that refuses
# io_uring leaves only the fallback to check).
if command -v strace >/dev/null 2>&1; then
	uring_calls()
	{
		(cd "$G" && spawn rm -f s.raw && spawn truncate -s 7M s.raw &&
			strace -f -qq -e trace=io_uring_enter \
				-o ../.res/strace "$@" >/dev/null 2>&1)
		grep -c 'io_uring_enter(' "$R/strace"
	}
	n=$(uring_calls "$QIMG" convert -T none -t none --target-image-opts \
		-n -f qcow2 ../mix.qcow2 \
		"driver=raw,file.driver=file,file.filename=s.raw,file.aio=io_uring")
	if (cd "$G" && strace -f -qq -e trace=io_uring_setup -o ../.res/setup \
		env -u QIMG_NO_IO_URING "$QIMG" convert --image-opts \
		"$(src_opts raw ../mix.raw io_uring)" -O raw s.raw >/dev/null) &&
		grep -q 'io_uring_setup(.*= [0-9]' "$R/setup"; then
		ok "O_DIRECT target aio=io_uring: requests go through io_uring" \
			test "$n" -gt 0
		n=$(uring_calls "$QIMG" convert --image-opts \
			"$(src_opts raw ../mix.raw io_uring)" -O raw s.raw)
		ok "aio=io_uring cached: requests go through io_uring" \
			test "$n" -gt 0
	else
		skip "the kernel refuses io_uring here"
		skip "the kernel refuses io_uring here"
	fi
	n=$(uring_calls "$QIMG" convert -T none -t none --image-opts \
		"$(src_opts qcow2 ../mix.qcow2 threads)" -O raw s.raw)
	ok "O_DIRECT, aio=threads and default: no io_uring" test "$n" = 0
	n=$(uring_calls env QIMG_NO_IO_URING=1 "$QIMG" convert -T none \
		-t none -O raw ../mix.qcow2 s.raw)
	ok "QIMG_NO_IO_URING: no io_uring" test "$n" = 0
else
	skip "no strace"
	skip "no strace"
	skip "no strace"
	skip "no strace"
fi

# aio's values and errors, as qemu-img (a file of whole sectors: the
# file driver's size of an odd-sized file is another matter).
head -c 1M /dev/urandom >al.raw
same "info aio=threads" info --image-opts \
	"driver=file,filename=../al.raw,aio=threads"
same "info aio=io_uring" info --image-opts \
	"driver=file,filename=../al.raw,aio=io_uring"
same "info aio=native without cache.direct" info --image-opts \
	"driver=file,filename=../al.raw,aio=native"
same "info aio=native,cache.direct=on" info --image-opts \
	"driver=file,filename=../al.raw,aio=native,cache.direct=on"
same "info aio=bogus" info --image-opts \
	"driver=file,filename=../al.raw,aio=bogus"
same "info aio= (empty)" info --image-opts \
	"driver=file,filename=../al.raw,aio=,cache.direct=on"
same "convert source file.aio=bogus" convert --image-opts \
	"$(src_opts raw ../mix.raw bogus)" -O raw x.raw
same "convert -o aio=native (not a create option)" convert -O raw \
	-o aio=native ../mix.raw x.raw

# Other commands with O_DIRECT on both sides.
for w in e g; do
	spawn cp top.qcow2 "$T/$w/t.qcow2"
	spawn cp base.qcow2 "$T/$w/b.qcow2"
	spawn "$QEMU_IMG" rebase -q -u -b b.qcow2 -F qcow2 "$T/$w/t.qcow2"
done
same "commit -t none" commit -t none t.qcow2
ok "commit -t none: base has qemu-img's content" \
	contents_equal "$E/b.qcow2" "$G/b.qcow2"
ok "commit -t none: base check clean" check_clean "$G/b.qcow2"
for w in e g; do
	spawn cp top.qcow2 "$T/$w/t.qcow2"
	spawn "$QEMU_IMG" create -q -f qcow2 "$T/$w/nb.qcow2" 9M
done
same "rebase -t none -T none" rebase -t none -T none -b nb.qcow2 \
	-F qcow2 t.qcow2
ok "rebase -t none: top is qemu-img's" cmp -s "$E/t.qcow2" "$G/t.qcow2"

done_testing
