#!/bin/bash
# SPDX-License-Identifier: MIT
# Regenerate the fuzz seed corpus (tests/fuzz/corpus/) with qemu-img and
# qemu-io: tiny qcow2 images (512-byte or 1 KiB clusters so each stays far
# below 64 KiB) covering v2, v3, compression (zlib, zstd), extended L2,
# a backing file reference, refcount widths, lazy refcounts left dirty,
# snapshots, bitmaps, zero clusters; plus two non-qcow2 seeds for probing.
set -eu
cd "$(dirname "$0")"
out=corpus
mkdir -p "$out"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

mk()
{
	local name=$1 size=$2 opts=$3
	shift 3
	qemu-img create -q -f qcow2 -o "$opts" "$t/$name" "$size"
	if [ $# -gt 0 ]; then
		local c=() a
		for a in "$@"; do
			c+=(-c "$a")
		done
		qemu-io -f qcow2 "${c[@]}" "$t/$name" >/dev/null
	fi
	cp "$t/$name" "$out/$name"
}

mk v3.qcow2 1M cluster_size=512 'write -P 1 0 4k' 'write -z 8k 2k' \
	'write -P 2 100k 1000'
mk v2.qcow2 1M cluster_size=512,compat=0.10 'write -P 3 1k 3k' \
	'write -z 64k 512'
mk compressed-zlib.qcow2 64k cluster_size=1k 'write -c -P 4 0 1k' \
	'write -c -P 5 4k 1k' 'write -P 6 8k 1k'
mk compressed-zstd.qcow2 64k cluster_size=1k,compression_type=zstd \
	'write -c -P 7 0 1k' 'write -c -P 8 2k 1k'
mk compressed-v2.qcow2 64k cluster_size=1k,compat=0.10 'write -c -P 9 0 1k'
mk extended-l2.qcow2 64k cluster_size=16k,extended_l2=on
qemu-img create -q -f qcow2 -o cluster_size=512 "$t/base.qcow2" 1M
mk backing-ref.qcow2 1M cluster_size=512,backing_file=base.qcow2,backing_fmt=qcow2 \
	'write -P 10 512 512'
mk refcount-1.qcow2 256k cluster_size=512,refcount_bits=1 'write -P 11 0 2k'
mk refcount-64.qcow2 256k cluster_size=512,refcount_bits=64 'write -P 12 0 2k'
mk refcount-8.qcow2 256k cluster_size=512,refcount_bits=8 'write -P 12 1k 1k' \
	'discard 1k 512'
qemu-img create -q -f qcow2 -o cluster_size=512,lazy_refcounts=on \
	"$t/dirty.qcow2" 256k
# qemu-io's abort leaves the dirty bit set; bash -c keeps the shell's
# "Aborted" notice quiet
bash -c "qemu-io -c 'write -P 13 0 4k' -c abort '$t/dirty.qcow2'; true" \
	>/dev/null 2>&1
cp "$t/dirty.qcow2" "$out/dirty.qcow2"
mk snapshot.qcow2 64k cluster_size=512 'write -P 14 0 1k'
qemu-img snapshot -c s1 "$out/snapshot.qcow2"
qemu-io -c 'write -P 15 0 512' "$out/snapshot.qcow2" >/dev/null
mk bitmap.qcow2 64k cluster_size=512 'write -P 16 0 1k'
qemu-img bitmap --add "$out/bitmap.qcow2" b0
# bitmaps with bits set (one disabled, granularities below and above the
# cluster size), then two left in use by a killed writer and one added
# after it: a directory of consistent and inconsistent entries
mk bitmaps.qcow2 64k cluster_size=512 'write -P 18 0 1k'
qemu-img bitmap --add -g 512 "$out/bitmaps.qcow2" b0
qemu-img bitmap --add --disable -g 2k "$out/bitmaps.qcow2" b1
qemu-img bitmap --add -g 16k "$out/bitmaps.qcow2" b2
qemu-io -c 'write -P 19 4k 2k' -c 'write -z 20k 1k' -c 'discard 40k 4k' \
	"$out/bitmaps.qcow2" >/dev/null
qemu-img bitmap --enable "$out/bitmaps.qcow2" b1
cp "$out/bitmaps.qcow2" "$t/bitmaps-in-use.qcow2"
bash -c "qemu-io -c 'write -P 20 8k 512' -c abort '$t/bitmaps-in-use.qcow2'; true" \
	>/dev/null 2>&1
qemu-img bitmap --remove "$t/bitmaps-in-use.qcow2" b2
qemu-img bitmap --add -g 1k "$t/bitmaps-in-use.qcow2" b3
cp "$t/bitmaps-in-use.qcow2" "$out/bitmaps-in-use.qcow2"
mk prealloc.qcow2 16k cluster_size=512,preallocation=metadata
mk data-file.qcow2 64k cluster_size=512,data_file=$t/data-file.raw \
	'write -P 17 0 1k'
# non-qcow2 seeds for the probing harness
head -c 1024 /dev/zero | tr '\0' 'x' >"$out/text.raw"
{ head -c 510 /dev/zero; printf '\125\252'; } >"$out/mbr.raw"
# bochs seeds (mkbochs.pl): header v2 and v1, partial bitmaps, extents
# out of order, a bitmap size of 0, a file cut inside a slot
mkb=../interop/mkbochs.pl
perl $mkb "$out/v2.bochs" disk=16384 extent=1024 map=0:1,3:0,15:2 \
	bits=1:01,2:02
perl $mkb "$out/v1.bochs" version=1 disk=8192 extent=512 map=1:0,7:1
perl $mkb "$out/bitmap0.bochs" disk=4096 extent=2048 bitmap=0 map=1:0
perl $mkb "$out/cut.bochs" disk=8192 extent=4096 map=0:0,1:1 length=3000
# qed seeds (4 KiB clusters, two-cluster tables): data, a zero cluster,
# a raw backing reference, NEED_CHECK left set, two L2 tables
mkq()
{
	local name=$1 size=$2 opts=$3
	shift 3
	qemu-img create -q -f qed -o "cluster_size=4k,table_size=2$opts" \
		"$t/$name" "$size"
	if [ $# -gt 0 ]; then
		local c=() a
		for a in "$@"; do
			c+=(-c "$a")
		done
		qemu-io -f qed "${c[@]}" "$t/$name" >/dev/null
	fi
	cp "$t/$name" "$out/$name"
}
mkq data.qed 64k '' 'write -P 1 0 5k' 'write -z 16k 4k' 'write -P 2 40k 1k'
mkq two-l2.qed 4M '' 'write -P 3 0 4k' 'write -P 4 3M 4k'
qemu-img create -q -f raw "$t/base.raw" 64k
mkq backing.qed 64k ',backing_file=base.raw,backing_fmt=raw' 'write -P 5 1k 1k'
mkq dirty.qed 64k '' 'write -P 6 0 4k'
printf '\002' | dd of="$out/dirty.qed" bs=1 seek=16 conv=notrunc 2>/dev/null
# qcow (v1) seeds: plain and compressed clusters, a backing reference
# (512-byte clusters), AES marked (opens for info only)
qemu-img create -q -f qcow "$t/plain.qcow" 64k
qemu-io -f qcow -c 'write -P 1 0 5k' -c 'write -c -P 2 16k 4k' \
	-c 'write -c -P 3 24k 4k' "$t/plain.qcow" >/dev/null
cp "$t/plain.qcow" "$out/plain.qcow"
qemu-img create -q -f qcow -b base.raw -F raw "$t/backing.qcow" 64k
qemu-io -f qcow -c 'write -P 4 1k 1k' "$t/backing.qcow" >/dev/null
cp "$t/backing.qcow" "$out/backing.qcow"
cp "$out/plain.qcow" "$out/aes.qcow"
printf '\001' | dd of="$out/aes.qcow" bs=1 seek=39 conv=notrunc 2>/dev/null
# vpc seeds: qemu-img's dynamic layout with 4 KiB blocks (so that blocks
# written by qemu-io stay small), a fixed image, a Hyper-V creator with an
# exact size, and a differencing type
vpcsmall()
{
	local name=$1
	shift
	qemu-img create -q -f vpc "$t/$name" 200k
	perl -e 'open(my $f, "+<:raw", $ARGV[0]) or die;
		seek($f, 512 + 28, 0); print $f pack("NN", 64, 4096);
		seek($f, 512, 0); my $h; read($f, $h, 1024);
		substr($h, 36, 4) = "\0" x 4; my $s = 0;
		$s += $_ for unpack("C*", $h);
		seek($f, 512 + 36, 0); print $f pack("N", ~$s & 0xffffffff);
		close($f) or die' "$t/$name"
	local c=() a
	for a in "$@"; do
		c+=(-c "$a")
	done
	[ $# -eq 0 ] || qemu-io -f vpc "${c[@]}" "$t/$name" >/dev/null
	cp "$t/$name" "$out/$name"
}
vpcsmall dynamic.vhd 'write -P 21 0 4k' 'write -P 22 9k 3k' \
	'write -P 23 150k 1k'
vpcsmall empty.vhd
qemu-img create -q -f vpc -o subformat=fixed "$t/fixed.vhd" 16k
qemu-io -f vpc -c 'write -P 24 1k 2k' "$t/fixed.vhd" >/dev/null
cp "$t/fixed.vhd" "$out/fixed.vhd"
cp "$out/dynamic.vhd" "$t/hyperv.vhd"
perl -e 'open(my $f, "+<:raw", $ARGV[0]) or die; my $h; read($f, $h, 512);
	substr($h, 28, 4) = "win "; substr($h, 60, 4) = pack("N", 4);
	substr($h, 64, 4) = "\0" x 4; my $s = 0; $s += $_ for unpack("C*", $h);
	substr($h, 64, 4) = pack("N", ~$s & 0xffffffff);
	seek($f, 0, 0); print $f $h; close($f) or die' "$t/hyperv.vhd"
cp "$t/hyperv.vhd" "$out/hyperv.vhd"
# cloop seeds (mkcloop.pl): 512-byte blocks of each kind, a stream with
# junk after its end
mkc=../interop/mkcloop.pl
perl $mkc "$out/mixed.cloop" block=512 blocks=6 data=p,z,r
perl $mkc "$out/trail.cloop" block=1024 blocks=2 bad=1:trail
ls -l "$out"
# vdi seeds: dynamic (blocks out of order, a discarded block) and static,
# cut short after a few KiB of data (the rest of a block reads as zeros).
vdi()
{
	local name=$1 size=$2 opts=$3 keep=$4
	shift 4
	qemu-img create -q -f vdi -o "$opts" "$t/$name" "$size"
	local c=() a
	for a in "$@"; do
		c+=(-c "$a")
	done
	[ ${#c[@]} -gt 0 ] && qemu-io -f vdi "${c[@]}" "$t/$name" >/dev/null
	head -c "$keep" "$t/$name" >"$out/$name"
}
vdi dynamic.vdi 5M static=off 6144 'write -P 1 3M 1k' 'write -P 2 0 512' \
	'write -P 3 4M 2k'
vdi static.vdi 3M static=on 4096 'write -P 4 512 1k'
vdi empty.vdi 0 static=off 4096
cp "$out/dynamic.vdi" "$t/discarded.vdi"
printf '\376\377\377\377' | dd of="$t/discarded.vdi" bs=1 seek=516 \
	conv=notrunc 2>/dev/null
cp "$t/discarded.vdi" "$out/discarded.vdi"

# vhdx seeds, in the compact form fuzz-vhdx.h expands: a flags byte (7:
# the harness fixes every checksum), then 4 KiB pieces of a qemu-img image
# (identifier, headers, region tables, 8 KiB of log, BAT, metadata table
# and items) and the start of the payload at 8 MiB.
vhdx_seed()
{
	local img=$1 out=$2 payload=$3 o
	{
		printf '\007'
		for o in 0 64 128 192 256; do
			dd if="$img" bs=1k skip="$o" count=4 2>/dev/null
		done
		dd if="$img" bs=1k skip=1024 count=8 2>/dev/null
		for o in 2048 3072 3136; do
			dd if="$img" bs=1k skip="$o" count=4 2>/dev/null
		done
		[ "$payload" -gt 0 ] &&
			dd if="$img" bs=1k skip=8192 count="$payload" 2>/dev/null
	} >"$out"
}
qemu-img create -q -f vhdx -o block_size=1M "$t/a.vhdx" 64k
qemu-io -c 'write -P 0x61 0 4k' -c 'write -P 0x62 60k 4k' "$t/a.vhdx" \
	>/dev/null
vhdx_seed "$t/a.vhdx" "$out/data.vhdx-seed" 64
qemu-img create -q -f vhdx -o block_size=1M,block_state_zero=off "$t/b.vhdx" \
	3M
vhdx_seed "$t/b.vhdx" "$out/empty.vhdx-seed" 0
qemu-img create -q -f vhdx -o subformat=fixed,block_state_zero=off,block_size=1M \
	"$t/c.vhdx" 8k
vhdx_seed "$t/c.vhdx" "$out/fixed.vhdx-seed" 8
# A log entry to replay (header LogGuid set, one data descriptor putting
# a FULLY_PRESENT entry in the BAT's first sector).
python3 - "$out/empty.vhdx-seed" "$out/log.vhdx-seed" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], 'rb').read())
guid = bytes(range(1, 17))
for h in (1 + 4096, 1 + 8192):
    d[h + 48:h + 64] = guid
    d[h + 8] += 2
log = 1 + 5 * 4096
e = bytearray(8192)
e[0:4] = b'loge'
struct.pack_into('<IIQII', e, 8, 8192, 0, 1, 1, 0)
e[32:48] = guid
struct.pack_into('<QQ', e, 48, 8 << 20, 9 << 20)
sector = bytearray(4096)
struct.pack_into('<Q', sector, 0, (8 << 20) | 6)
e[64:68] = b'desc'
struct.pack_into('<IQQQ', e, 68, 0, struct.unpack('<Q', sector[0:8])[0],
                 2 << 20, 1)
e[4096:4100] = b'data'
struct.pack_into('<I', e, 4100, 0)
e[4104:4096 + 4092] = sector[8:4092]
struct.pack_into('<I', e, 4096 + 4092, 1)
d[log:log + 8192] = e
d += bytes(4096)
open(sys.argv[2], 'wb').write(d)
PY

# dmg seeds (tests/interop/mkdmg.py): an XML property list with raw, zlib,
# zero and ignore chunks, a binary resource fork, bzip2 chunks.
mkdmg=../interop/mkdmg.py
python3 "$mkdmg" "$out/mixed.dmg" raw:4 zlib:3 zero:2 ignore:1
python3 "$mkdmg" "$out/rsrc.dmg" rsrc raw:2 zlib:2
python3 "$mkdmg" "$out/bz.dmg" raw:1 bzip2:2
# parallels seeds: qemu-img's (64 KiB and 4 KiB clusters, written), a
# cut-short copy, one left in use, the old signature.
par()
{
	local name=$1 size=$2 opts=$3 keep=$4
	shift 4
	qemu-img create -q -f parallels -o "$opts" "$t/$name" "$size"
	local c=() a
	for a in "$@"; do
		c+=(-c "$a")
	done
	[ ${#c[@]} -gt 0 ] && qemu-io -f parallels "${c[@]}" "$t/$name" >/dev/null
	head -c "$keep" "$t/$name" >"$out/$name"
}
par p64k.hds 1M cluster_size=64k 8192 'write -P 1 100k 10k' 'write -P 2 0 512'
par p4k.hds 64k cluster_size=4k 16384 'write -P 3 4k 6k' 'write -P 4 40k 1k'
par pcut.hds 1M cluster_size=64k 3000 'write -P 5 0 1k'
cp "$out/p4k.hds" "$t/inuse.hds"
printf 'Ynot' | dd of="$t/inuse.hds" bs=1 seek=44 conv=notrunc 2>/dev/null
cp "$t/inuse.hds" "$out/pinuse.hds"
cp "$out/p4k.hds" "$t/v1.hds"
printf 'WithoutFreeSpace' | dd of="$t/v1.hds" bs=1 conv=notrunc 2>/dev/null
cp "$t/v1.hds" "$out/pv1.hds"
# vmdk seeds (monolithic kinds, 1 KiB grains), written from the layouts
python3 mkvmdk-seeds.py "$out"
