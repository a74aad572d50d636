#!/bin/bash
# SPDX-License-Identifier: MIT
# `measure` against qemu-img (reference §2.5): --size and image inputs, raw
# and qcow2 targets with their options, JSON, bitmaps, errors and quirks.
. "$(dirname "$0")/lib.sh"

ms()
{
	local d=$1
	shift
	same "$d" measure "$@"
	same "$d (json)" measure --output=json "$@"
}

for s in 0 1000 1M 1G 1T 1.5G 8E; do
	ms "--size $s" --size $s
	ms "-O qcow2 --size $s" -O qcow2 --size $s
done
for o in preallocation=metadata preallocation=full preallocation=falloc \
	extended_l2=on cluster_size=512 cluster_size=2M \
	'cluster_size=2M,refcount_bits=1' refcount_bits=64 compat=0.10 \
	'cluster_size=4k,extended_l2=off' 'extended_l2=on,cluster_size=16k'; do
	ms "-o $o --size 1G" -O qcow2 -o "$o" --size 1G
	ms "-o $o --size 1T" -O qcow2 -o "$o" --size 1T
done
ms "too large for 512-byte clusters" -O qcow2 -o cluster_size=512 --size 8E
# qcow2's option errors, in the order qemu-img judges them (measure knows
# the compatibility levels by number only)
for o in compat=0.9 compat=v2 compat=v3,refcount_bits=8 \
	compat=0.10,refcount_bits=64 compat=x,refcount_bits=3 \
	compat=x,preallocation=x compat=x,cluster_size=3 \
	cluster_size=4k,extended_l2=on,compat=x preallocation=x \
	preallocation=x,encrypt.format=x encrypt.format=x,refcount_bits=3; do
	same "-o $o" measure -O qcow2 -o "$o" --size 1G
done

spawn mkdir sub
spawn "$QEMU_IMG" create -q -f qcow2 sub/base.qcow2 64M
spawn "$QEMU_IO" -c 'write -P 1 0 1M' sub/base.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -b base.qcow2 -F qcow2 sub/mid.qcow2 64M
spawn "$QEMU_IO" -c 'write -P 2 1M 64k' -c 'write -z 2M 1M' sub/mid.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -b mid.qcow2 -F qcow2 sub/top.qcow2 128M
spawn "$QEMU_IO" -c 'write -P 3 3M 1000' sub/top.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f raw r.raw 8M
spawn "$QEMU_IO" -f raw -c 'write -P 1 100k 3M' r.raw >/dev/null
head -c 1000 /dev/urandom >odd.raw
spawn "$QEMU_IMG" create -q -f qcow2 bm.qcow2 64M
spawn "$QEMU_IO" -c 'write -P 1 0 1M' bm.qcow2 >/dev/null
spawn "$QEMU_IMG" bitmap --add bm.qcow2 b0
spawn "$QEMU_IMG" create -q -f qcow2 -o compat=0.10 v2.qcow2 16M
spawn "$QEMU_IO" -c 'write -P 1 0 1M' v2.qcow2 >/dev/null

for img in sub/top.qcow2 sub/base.qcow2 r.raw odd.raw bm.qcow2 v2.qcow2; do
	ms "$img -> qcow2" -O qcow2 ../$img
	ms "$img -> raw" -O raw ../$img
	ms "$img default target" ../$img
	ms "$img -> qcow2 v2" -O qcow2 -o compat=0.10 ../$img
	ms "$img -> qcow2 4k clusters" -O qcow2 -o cluster_size=4k ../$img
	ms "$img -> qcow2 preallocation=full" -O qcow2 \
		-o preallocation=full ../$img
done
ms "with backing_file option" -O qcow2 \
	-o backing_file=../sub/mid.qcow2,backing_fmt=qcow2 ../sub/top.qcow2
ms "-f raw" -f raw -O qcow2 ../r.raw
ms "-U" -U -O qcow2 ../sub/top.qcow2

same "no size, no file" measure
same "--size and a file" measure --size 1G ../r.raw
same "-f without a file" measure -f raw --size 1G
same "two files" measure ../r.raw ../r.raw
same "--output=xml" measure --output=xml --size 1G
same "bogus option" measure -O qcow2 -o bogus=1 --size 1G
# qemu-img 7.2 cannot measure for vmdk
same "vmdk target: no size measurement" measure -O vmdk --size 1G
same "bad size" measure --size 1x
same "size out of range" measure --size 16E
same "missing file" measure ../nosuch.qcow2
same "unknown target format" measure -O bogus --size 1G
same "-l missing snapshot" measure -l snapshot.id=9 ../bm.qcow2
# -l: the snapshot's allocation, not the active layer's
spawn "$QEMU_IMG" create -q -f qcow2 snap.qcow2 8M
spawn "$QEMU_IO" -c 'write -P 1 0 1M' snap.qcow2 >/dev/null
spawn "$QEMU_IMG" snapshot -c one snap.qcow2
spawn "$QEMU_IO" -c 'write -P 2 2M 3M' snap.qcow2 >/dev/null
for l in one snapshot.id=1 snapshot.name=nosuch; do
	same "-l $l" measure -O qcow2 -l "$l" ../snap.qcow2
	same "-l $l (json)" measure --output=json -O qcow2 -l "$l" ../snap.qcow2
done
same "unknown option prints help, exit 0" measure --bogus

done_testing
