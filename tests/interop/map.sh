#!/bin/bash
# SPDX-License-Identifier: MIT
# `map` (human and JSON, offsets and lengths) against qemu-img for the cases
# of reference §2.4: qcow2 data/zero/unallocated clusters, chains, raw holes,
# compressed clusters, preallocation, extended L2, external data files.
. "$(dirname "$0")/lib.sh"

mp()
{
	local d=$1
	shift
	same "$d: human" map "$@"
	same "$d: json" map --output=json "$@"
}

q()
{
	spawn "$QEMU_IMG" create -q -f qcow2 "$@"
}

q t.qcow2 64M
spawn "$QEMU_IO" -c 'write -P 0x55 0 1M' -c 'write -P 0x66 10M 64k' \
	-c 'write -z 20M 1M' t.qcow2 >/dev/null
mp "qcow2 data, zero, unallocated" ../t.qcow2
q fresh.qcow2 16M
mp "fresh qcow2" ../fresh.qcow2
q v2.qcow2 16M -o compat=0.10
spawn "$QEMU_IO" -c 'write -z 0 1M' -c 'write -P 1 2M 100k' v2.qcow2 >/dev/null
mp "qcow2 v2" ../v2.qcow2

spawn mkdir sub
q sub/base.qcow2 64M
spawn "$QEMU_IO" -c 'write -P 1 0 2M' sub/base.qcow2 >/dev/null
q sub/mid.qcow2 64M -b base.qcow2 -F qcow2
spawn "$QEMU_IO" -c 'write -P 2 1M 64k' -c 'write -z 1536k 64k' \
	sub/mid.qcow2 >/dev/null
q sub/top.qcow2 128M -b mid.qcow2 -F qcow2
spawn "$QEMU_IO" -c 'write -P 3 3M 64k' -c 'discard 0 64k' sub/top.qcow2 >/dev/null
mp "chain of three" ../sub/top.qcow2
mp "chain middle" ../sub/mid.qcow2
q nob.qcow2 1M -u -b nosuch.qcow2 -F qcow2
mp "missing backing file" ../nob.qcow2

q m.qcow2 4M
spawn "$QEMU_IO" -c 'write -P 1 0 100k' -c 'write -P 2 128k 64k' \
	-c 'write -P 3 1M 200k' m.qcow2 >/dev/null
for a in "--start-offset=100k --max-length=1M" "-s 1.5k" "-l 64k" \
	"--start-offset=5M" "--max-length=0" "-s 4M" "-s 1 -l 1" \
	"--start-offset 65536 --max-length 65536" "-s 3M -l 10M"; do
	# shellcheck disable=SC2086
	mp "m.qcow2 $a" $a ../m.qcow2
done

spawn truncate -s 8M sparse.raw
spawn "$QEMU_IO" -f raw -c 'write -P 1 1M 64k' -c 'write -P 2 3M 4k' \
	sparse.raw >/dev/null
mp "sparse raw" ../sparse.raw
mp "sparse raw -f raw" -f raw ../sparse.raw
head -c 1000 /dev/urandom >odd.raw
mp "1000-byte raw" ../odd.raw
mp "1000-byte file, -f file (whole sectors)" -f file ../odd.raw
: >empty.raw
mp "empty raw" ../empty.raw
q rawback.qcow2 16M -b sparse.raw -F raw
spawn "$QEMU_IO" -c 'write -P 9 0 64k' rawback.qcow2 >/dev/null
mp "qcow2 over raw, longer than backing" ../rawback.qcow2

q c.qcow2 1M
spawn "$QEMU_IO" -c 'write -c -P 1 0 64k' -c 'write -P 2 128k 64k' \
	c.qcow2 >/dev/null
mp "compressed cluster" ../c.qcow2
for p in metadata falloc full; do
	q p-$p.qcow2 4M -o preallocation=$p
	mp "preallocation=$p" ../p-$p.qcow2
done
q el2.qcow2 4M -o extended_l2=on
spawn "$QEMU_IO" -c 'write -P 1 4k 2k' -c 'write -z 70k 6k' \
	-c 'write -P 2 200k 100k' el2.qcow2 >/dev/null
mp "extended L2 subclusters" ../el2.qcow2
q cs512.qcow2 1M -o cluster_size=512
spawn "$QEMU_IO" -c 'write -P 1 1000 5000' cs512.qcow2 >/dev/null
mp "512-byte clusters" ../cs512.qcow2
q cs2m.qcow2 16M -o cluster_size=2M
spawn "$QEMU_IO" -c 'write -P 1 3M 5000' cs2m.qcow2 >/dev/null
mp "2 MiB clusters" ../cs2m.qcow2
q df.qcow2 4M -o data_file="$PWD/df.data"
spawn "$QEMU_IO" -c 'write -P 1 0 64k' -c 'write -P 1 128k 64k' \
	-c 'write -z 1M 64k' df.qcow2 >/dev/null
mp "external data file" ../df.qcow2
q dfr.qcow2 4M -o data_file="$PWD/dfr.data",data_file_raw=on
spawn "$QEMU_IO" -c 'write -P 1 64k 64k' -c 'discard 1M 64k' dfr.qcow2 >/dev/null
mp "external data file, raw" ../dfr.qcow2

same "--output=xml" map --output=xml ../t.qcow2
same "bad start offset" map -s 1x ../t.qcow2
same "bad max length" map -l -5 ../t.qcow2
same "missing file" map ../nosuch.qcow2
same "no file" map
same "-f qcow2 on raw" map -f qcow2 ../sparse.raw
same "-U" map -U ../t.qcow2

done_testing
