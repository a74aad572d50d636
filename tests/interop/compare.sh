#!/bin/bash
# SPDX-License-Identifier: MIT
# `compare` against qemu-img (reference §2.6): verdicts, the offset of the
# first mismatch, strict mode, size mismatches, exit codes 0/1/2, -q, -p.
. "$(dirname "$0")/lib.sh"

cmpb()
{
	local d=$1
	shift
	same "$d" compare "$@"
	same "$d (-s)" compare -s "$@"
}

spawn "$QEMU_IMG" create -q -f raw a.raw 4M
spawn "$QEMU_IO" -f raw -c 'write -P 1 0 1M' a.raw >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 b.qcow2 4M
spawn "$QEMU_IO" -c 'write -P 1 0 1M' b.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 empty.qcow2 4M
spawn truncate -s 4M empty.raw
spawn "$QEMU_IMG" create -q -f qcow2 c.qcow2 8M
spawn "$QEMU_IO" -c 'write -P 1 0 1M' c.qcow2 >/dev/null
spawn cp c.qcow2 c6.qcow2
spawn "$QEMU_IO" -c 'write -P 5 6M 4k' c6.qcow2 >/dev/null
spawn cp b.qcow2 b7.qcow2
spawn "$QEMU_IO" -c 'write -P 7 1000000 1' b7.qcow2 >/dev/null
spawn cp b.qcow2 bz.qcow2
spawn "$QEMU_IO" -c 'write -z 2M 64k' bz.qcow2 >/dev/null
spawn cp a.raw az.raw
spawn "$QEMU_IO" -f raw -c 'write -P 0 2M 64k' az.raw >/dev/null
spawn cp b.qcow2 bend.qcow2
spawn "$QEMU_IO" -c 'write -P 3 4193792 512' bend.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 base.qcow2 4M
spawn "$QEMU_IO" -c 'write -P 1 0 1M' base.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2
spawn "$QEMU_IMG" create -q -f qcow2 -b base.qcow2 -F qcow2 top2.qcow2
spawn "$QEMU_IO" -c 'write -P 9 3M 1' top2.qcow2 >/dev/null
spawn "$QEMU_IMG" convert -c -O qcow2 b.qcow2 bc.qcow2
head -c 1000 /dev/urandom >odd.raw
spawn cp odd.raw odd2.raw
printf x | dd of=odd2.raw bs=1 seek=999 conv=notrunc 2>/dev/null

cmpb "raw vs qcow2 same data" ../a.raw ../b.qcow2
cmpb "same image" ../b.qcow2 ../b.qcow2
cmpb "empty raw vs empty qcow2" ../empty.raw ../empty.qcow2
cmpb "byte differs at 1000000" ../a.raw ../b7.qcow2
cmpb "size mismatch, tail empty" ../a.raw ../c.qcow2
cmpb "size mismatch, data beyond end" ../c6.qcow2 ../a.raw
cmpb "size mismatch reversed" ../a.raw ../c6.qcow2
cmpb "zero cluster vs written zeros" ../bz.qcow2 ../az.raw
cmpb "written zeros vs data" ../a.raw ../bz.qcow2
cmpb "last sector differs" ../b.qcow2 ../bend.qcow2
cmpb "chain vs flat" ../top.qcow2 ../b.qcow2
cmpb "chains differ" ../top.qcow2 ../top2.qcow2
cmpb "compressed vs plain" ../bc.qcow2 ../a.raw
cmpb "odd sizes differ in the last byte" ../odd.raw ../odd2.raw
same "-q identical" compare -q ../a.raw ../b.qcow2
same "-q different" compare -q ../a.raw ../b7.qcow2
same "-p identical" compare -p ../a.raw ../b.qcow2
same "-p different" compare -p ../a.raw ../b7.qcow2
same "-f raw -F qcow2" compare -f raw -F qcow2 ../a.raw ../b.qcow2
same "-f qcow2 on raw" compare -f qcow2 ../a.raw ../b.qcow2
same "-F raw on qcow2" compare -F raw ../a.raw ../b.qcow2
same "missing file" compare ../a.raw ../nosuch
same "missing first file" compare ../nosuch ../a.raw
same "-T bogus" compare -T bogus ../a.raw ../b.qcow2
same "one file" compare ../a.raw
same "three files" compare ../a.raw ../a.raw ../a.raw
same "-U" compare -U ../a.raw ../b.qcow2
same "unknown option" compare --bogus ../a.raw ../b.qcow2

done_testing
