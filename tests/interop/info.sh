#!/bin/bash
# SPDX-License-Identifier: MIT
# `info` (human, JSON, --backing-chain) byte for byte against qemu-img, with
# only "disk size"/"actual-size" normalised: raw, qcow2 v2/v3 with each
# create option, chains, dirty/corrupt/bitmap/snapshot images, samples.
. "$(dirname "$0")/lib.sh"

# inf DESC IMAGE [ARGS...]: human, JSON and backing-chain output.  Quick:
# one of the four for each image, in turn (inf_n counts the calls), and all
# four for the images with a backing file (inf_chain=1).
inf_n=0
inf_chain=0
inf()
{
	local d=$1 img=$2 m=$((inf_n % 4))
	shift 2
	inf_n=$((inf_n + 1))
	if whole || [ "$inf_chain" = 1 ]; then
		m=all
	fi
	if [ "$m" = all ] || [ "$m" = 0 ]; then
		same "$d: human" info "$@" "$img"
	fi
	if [ "$m" = all ] || [ "$m" = 1 ]; then
		same "$d: json" info --output=json "$@" "$img"
	fi
	if [ "$m" = all ] || [ "$m" = 2 ]; then
		same "$d: backing chain" info --backing-chain "$@" "$img"
	fi
	if [ "$m" = all ] || [ "$m" = 3 ]; then
		same "$d: backing chain json" info --backing-chain \
			--output=json "$@" "$img"
	fi
}

# same_raw A B: two raw files of the same size and contents
same_raw()
{
	[ "$(stat -c %s "$1")" = "$(stat -c %s "$2")" ] &&
		spawn "$QEMU_IMG" compare -q -f raw -F raw "$1" "$2"
}

mkq()
{
	local name=$1 size=$2
	shift 2
	spawn "$QEMU_IMG" create -q -f qcow2 "$@" "$name" "$size" >/dev/null
}

# raw
: >empty.raw
inf "empty file" ../empty.raw
head -c 1000 /dev/urandom >odd.raw
inf "1000-byte raw" ../odd.raw
inf "1000-byte file, -f file (whole sectors)" ../odd.raw -f file
spawn truncate -s 64M sparse.raw
inf "sparse raw" ../sparse.raw
inf "sparse raw -f raw" ../sparse.raw -f raw
spawn "$QEMU_IMG" create -q -f raw -o preallocation=full full.raw 3M
inf "preallocated raw" ../full.raw

# qcow2 variants
mkq v3.qcow2 64M
inf "qcow2 v3 fresh" ../v3.qcow2
mkq v2.qcow2 64M -o compat=0.10
inf "qcow2 v2 fresh" ../v2.qcow2
mkq data.qcow2 64M
spawn "$QEMU_IO" -c 'write -P 0x55 0 1M' -c 'write -P 0x66 10M 64k' \
	-c 'write -z 20M 1M' data.qcow2 >/dev/null
inf "qcow2 with data" ../data.qcow2
n=0
for o in cluster_size=512 cluster_size=4k cluster_size=2M refcount_bits=1 \
	refcount_bits=8 refcount_bits=64 lazy_refcounts=on \
	extended_l2=on compression_type=zstd preallocation=metadata \
	preallocation=falloc 'compat=0.10,cluster_size=4k' \
	'extended_l2=on,cluster_size=16k,compression_type=zstd'; do
	n=$((n + 1))
	mkq "o$n.qcow2" 16M -o "$o"
	inf "qcow2 -o $o" "../o$n.qcow2"
done
mkq big.qcow2 4T
inf "qcow2 4 TiB" ../big.qcow2
mkq odd.qcow2 1000
inf "qcow2 1000 bytes" ../odd.qcow2
mkq zero.qcow2 0
inf "qcow2 0 bytes" ../zero.qcow2

# a chain of three in a subdirectory, relative names
inf_chain=1
spawn mkdir sub
mkq sub/base.qcow2 64M
spawn "$QEMU_IO" -c 'write -P 1 0 2M' sub/base.qcow2 >/dev/null
mkq sub/mid.qcow2 64M -b base.qcow2 -F qcow2
spawn "$QEMU_IO" -c 'write -P 2 1M 64k' sub/mid.qcow2 >/dev/null
mkq sub/top.qcow2 128M -b mid.qcow2 -F qcow2
inf "chain top" ../sub/top.qcow2
inf "chain mid" ../sub/mid.qcow2
same "chain -U" info -U --backing-chain ../sub/top.qcow2
mkq rawback.qcow2 16M -b sparse.raw -F raw
inf "raw backing file" ../rawback.qcow2
mkq v2back.qcow2 16M -o compat=0.10 -b v3.qcow2 -F qcow2
inf "v2 with backing" ../v2back.qcow2
mkq nofmt.qcow2 16M -u -b v3.qcow2 -F qcow2
inf "backing given with -u" ../nofmt.qcow2
mkq missing.qcow2 16M -u -b nosuch.qcow2 -F qcow2
same "missing backing: info works" info ../missing.qcow2
same "missing backing: chain fails" info --backing-chain ../missing.qcow2
mkq loop1.qcow2 1M -u -b loop2.qcow2 -F qcow2
mkq loop2.qcow2 1M -u -b loop1.qcow2 -F qcow2
same "backing loop" info --backing-chain ../loop1.qcow2
same "backing loop json" info --backing-chain --output=json ../loop1.qcow2
mkq abs.qcow2 16M -b "$T/v3.qcow2" -F qcow2
inf "absolute backing name" ../abs.qcow2
inf_chain=0

# external data file
mkq df.qcow2 16M -o data_file=df.raw
inf "external data file" ../df.qcow2
mkq dfr.qcow2 16M -o data_file=dfr.raw,data_file_raw=on
inf "external data file raw" ../dfr.qcow2

# dirty (lazy refcounts, not closed) and corrupt-flagged images
mkq dirty.qcow2 16M -o lazy_refcounts=on
QEMU_IO=$QEMU_IO bash -c '"$QEMU_IO" -c "write 0 64k" -c abort dirty.qcow2; true' >/dev/null 2>&1
inf "dirty image" ../dirty.qcow2
mkq corrupt.qcow2 16M
printf '\002' | dd of=corrupt.qcow2 bs=1 seek=79 conv=notrunc 2>/dev/null
inf "corrupt-flagged image" ../corrupt.qcow2

# bitmaps and snapshots
mkq bm.qcow2 16M
spawn "$QEMU_IMG" bitmap --add bm.qcow2 b0
spawn "$QEMU_IMG" bitmap --add -g 128k --disable bm.qcow2 b1 2>/dev/null ||
	spawn "$QEMU_IMG" bitmap --add -g 128k bm.qcow2 b1
inf "bitmaps" ../bm.qcow2
mkq snap.qcow2 16M
spawn "$QEMU_IO" -c 'write -P 3 0 128k' snap.qcow2 >/dev/null
spawn "$QEMU_IMG" snapshot -c first snap.qcow2
spawn "$QEMU_IMG" snapshot -c second snap.qcow2
inf "snapshots" ../snap.qcow2

# options and errors
same "--out=json abbreviation" info --out=json ../v3.qcow2
same "--output json (separate arg)" info --output json ../v3.qcow2
same "option after file name" info ../v3.qcow2 --output=json
same "-f qcow2 on qcow2" info -f qcow2 ../v3.qcow2
same "-f raw on qcow2" info -f raw ../v3.qcow2
same "--format=qcow2" info --format=qcow2 ../v3.qcow2
same "-f qcow2 on raw" info -f qcow2 ../sparse.raw
same "-f qcow2 on empty file" info -f qcow2 ../empty.raw
same "unknown driver" info -f bogus ../v3.qcow2
same "--output=xml" info --output=xml ../v3.qcow2
same "missing file" info ../nosuch.qcow2
same "directory" info ..
same "no file name" info
same "two file names" info ../v3.qcow2 ../v2.qcow2

# real-world samples
if [ -d "$SAMPLES" ] && command -v bunzip2 >/dev/null; then
	for s in ext2.qcow2 grub_mbr.raw iotest-dynamic-1G.vhdx parallels-v1 \
		parallels-v2 ext2.vhd; do
		if [ -f "$SAMPLES/$s.bz2" ]; then
			bunzip2 -c "$SAMPLES/$s.bz2" >"$s"
			inf "sample $s" "../$s"
			same "sample $s: map" map --output=json "../$s"
			same "sample $s: check" check "../$s"
			spawn rm -f "$E/$s.out" "$G/$s.out"
			same "sample $s: convert to raw" convert -O raw "../$s" \
				"$s.out"
			# (quick: the 1 GiB copy of the vhdx sample is
			# compared by its size and qemu-img compare, which
			# skips its holes; cmp reads 2 GiB of zeros)
			if whole || [ "$s" != iotest-dynamic-1G.vhdx ]; then
				ok "sample $s: same bytes as qemu-img's copy" \
					cmp "$E/$s.out" "$G/$s.out"
			else
				ok "sample $s: same bytes as qemu-img's copy" \
					same_raw "$E/$s.out" "$G/$s.out"
			fi
			spawn rm -f "$E/$s.out" "$G/$s.out"
		else
			skip "sample $s (absent)"
		fi
	done
	# dmg: read as qemu-img reads it (less Debian qemu-img's lines about
	# its missing bzip2 and lzfse modules)
	if [ -f "$SAMPLES/simple-dmg.dmg.bz2" ]; then
		bunzip2 -c "$SAMPLES/simple-dmg.dmg.bz2" >simple-dmg.dmg
		norm_nomodule()
		{
			grep -v '^qemu: module block-block-dmg-' | norm_size
		}
		NORM=norm_nomodule
		inf "sample simple-dmg.dmg" "../simple-dmg.dmg"
		NORM=norm_size
		spawn rm -f simple-dmg.dmg
	else
		skip "sample simple-dmg.dmg (absent)"
	fi
else
	skip "samples (../shared/samples absent)"
fi

done_testing
