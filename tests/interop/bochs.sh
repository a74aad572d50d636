#!/bin/bash
# SPDX-License-Identifier: MIT
# The bochs format (read-only) against qemu-img 7.2.  Images made by
# mkbochs.pl (header v2 and v1, extents mapped out of order, partial
# bitmaps, bitmaps of 0 and of more than one sector, a file cut short, an
# 8 TiB image) and ../shared's empty.bochs: info (human, JSON), map, check,
# measure, compare, dd and convert to raw and qcow2 (qemu-img's files byte
# for byte), as a backing file.  Damaged headers (each of qemu-img's
# checks, and what it still takes) with qemu-img's messages, or probed raw
# as qemu-img probes them.  Every write, resize, snapshot, amend and create
# refused with qemu-img's text, and no command changes the image.
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"

MK=$ROOT/tests/interop/mkbochs.pl
command -v perl >/dev/null || skip_all "perl not found"

# reads IMG: everything a read-only user of IMG sees, against qemu-img
# (quick: info as JSON and the data through convert; map and check as JSON
# for every third image, reads_n counting the calls).
reads_n=0
reads()
{
	local img=$1 d=${1%.bochs} sum
	sum=$(cksum <"$img")
	same "$d: info json" info --output=json "../$img"
	if quick_pick $reads_n; then
		same "$d: map json" map --output=json "../$img"
		same "$d: check json" check --output=json "../$img"
	fi
	reads_n=$((reads_n + 1))
	spawn rm -f "$E"/o.* "$G"/o.*
	same "$d: convert to raw" convert -O raw "../$img" o.raw
	same_file "$d: convert to raw" o.raw
	unchanged "$d" "$img" "$sum"
	whole || return 0
	same "$d: info" info "../$img"
	same "$d: info -f bochs" info -f bochs "../$img"
	same "$d: map" map "../$img"
	same "$d: check" check "../$img"
	same "$d: measure" measure -O qcow2 "../$img"
	same "$d: convert to qcow2" convert -O qcow2 "../$img" o.qcow2
	same_file "$d: convert to qcow2" o.qcow2
	same "$d: compare with its raw copy" compare "../$img" o.raw
	same "$d: compare -s with the raw copy" compare -s -f bochs -F raw \
		"../$img" o.raw
	same "$d: dd" dd -O raw bs=4k "if=../$img" of=o.dd
	same_file "$d: dd" o.dd
	unchanged "$d" "$img" "$sum"
}

# --- images with data ---------------------------------------------------
spawn perl "$MK" v2.bochs map=0:1,3:0,200:2 bits=1:0f,2:a5
spawn perl "$MK" v1.bochs version=1 disk=3000000 extent=65536 map=0:0,45:1 \
	bits=1:00ff00ff
spawn perl "$MK" big-bitmap.bochs disk=8388608 extent=8388608 bitmap=2048 \
	map=0:0 bits=0:ffff00ff7f
spawn perl "$MK" bitmap0.bochs disk=65536 bitmap=0 map=2:0
spawn perl "$MK" cut.bochs map=0:0,1:1,2:2 length=11000
spawn perl "$MK" hdr600.bochs header=600 map=0:0,5:1
spawn perl "$MK" odd.bochs disk=1000001 extent=512 bitmap=1 map=1953:0,0:1
spawn perl "$MK" zero.bochs disk=0 catalog=0
spawn perl "$MK" all.bochs disk=65536 extent=16384 \
	map=0:3,1:2,2:1,3:0
for img in v2 v1 big-bitmap bitmap0 cut hdr600 odd zero all; do
	reads "$img.bochs"
done

# An 8 TiB image: metadata only (its copy would be 8 TiB of zeros).
spawn perl "$MK" huge.bochs disk=8796093022208 extent=8388608 catalog=1048576 \
	map=1048575:0
same "huge: info" info ../huge.bochs
same "huge: map json" map --output=json ../huge.bochs
same "huge: measure" measure -O qcow2 ../huge.bochs
same "huge: dd of the last extent" dd -O raw bs=1M count=8 \
	skip=8388600 if=../huge.bochs of=o.huge
same_file "huge: dd of the last extent" o.huge

# A slot offset past what QEMU's block layer reads: EIO.
spawn perl "$MK" eio.bochs disk=8192 catalog=2 bitmap=2147483647 \
	map=0:4294967294,1:0 length=8192
same "slot past 2^63: convert fails" convert -O raw ../eio.bochs o.eio
same "slot past 2^63: dd fails" dd -O raw if=../eio.bochs of=o.eio2
# Just below: the bitmap is past the end of the file, so zeros.
spawn perl "$MK" far.bochs disk=8192 catalog=2 bitmap=2147483647 \
	map=0:4293918720,1:0 length=8192
reads far.bochs

# --- names and options --------------------------------------------------
same "json: filename" info \
	'json:{"driver":"bochs","file":{"driver":"file","filename":"../v2.bochs"}}'
same "--image-opts" info --image-opts driver=bochs,file.filename=../v2.bochs
same "--image-opts map" map --output=json --image-opts \
	driver=bochs,file.filename=../v2.bochs
same "unknown option" info --image-opts \
	driver=bochs,file.filename=../v2.bochs,foo=1
same "-U" info -U ../v2.bochs
same "two images" info ../v2.bochs ../v1.bochs
same "missing file" info -f bochs ../nonexistent.bochs
spawn rm -f "$E"/o.* "$G"/o.*
same "convert -m 8 -W" convert -m 8 -W -O raw ../all.bochs o.raw
same_file "convert -m 8 -W" o.raw
# qemu-img's deflate for its exact bytes (QIMG_COMPRESS, DIFFERENCES.md)
QIMG_COMPRESS=qemu same "convert -c to qcow2" convert -c -O qcow2 ../v2.bochs o.qcow2
same_file "convert -c to qcow2" o.qcow2
same "convert -S 0" convert -S 0 -O raw ../v2.bochs o.s0
same_file "convert -S 0" o.s0

# A bochs image as a backing file.
# (One file for both tools: a copy could have other holes.)
spawn "$QEMU_IMG" create -q -f qcow2 -b v2.bochs -F bochs top.qcow2
spawn "$QEMU_IO" -c 'write -P 0x66 4k 8k' top.qcow2 >/dev/null
sum=$(cksum <top.qcow2)
same "backing: info --backing-chain" info --backing-chain ../top.qcow2
same "backing: map" map ../top.qcow2
same "backing: map json" map --output=json ../top.qcow2
same "backing: convert" convert -O raw ../top.qcow2 o.top
same_file "backing: convert" o.top
same "backing: compare" compare ../top.qcow2 ../v2.bochs
# qemu-img: "Block format 'bochs' used by node '#block3NN' does not support
# reopening files" (NN random); qimg: "Image is read-only" (DIFFERENCES.md).
refused_clearly "backing: commit into bochs refused" "Image is read-only" \
	commit top.qcow2
unchanged "backing: commit" top.qcow2 "$sum"

# --- damaged headers ----------------------------------------------------
# NAME OFFSET HEX: a copy of v2.bochs with HEX at OFFSET.  (Quick: info
# -f bochs, the open with every check, for each; the probe, map and
# convert for every third.)
n=0
while read -r name off hex; do
	[ -n "$name" ] || continue
	spawn cp v2.bochs "$name.bochs"
	poke "$name.bochs" "$off" "$hex"
	sum=$(cksum <"$name.bochs")
	n=$((n + 1))
	if ! quick_pick $n; then
		same "$name: info -f bochs" info -f bochs "../$name.bochs"
		unchanged "$name" "$name.bochs" "$sum"
		continue
	fi
	same "$name: info" info "../$name.bochs"
	same "$name: info -f bochs" info -f bochs "../$name.bochs"
	same "$name: map -f bochs" map --output=json -f bochs "../$name.bochs"
	spawn rm -f "$E"/o.* "$G"/o.*
	same "$name: convert -f bochs" convert -f bochs -O raw \
		"../$name.bochs" o.raw
	same_file "$name: convert -f bochs" o.raw
	unchanged "$name" "$name.bochs" "$sum"
done <<'EOF'
magic 0 58
magic-end 22 58
magic-tail 31 58
type 32 556e646f61626c6500
type-tail 47 58
subtype 48 566f6c6174696c6500
version3 64 00000300
version0 64 00000000
version1 64 00000100
catalog-large 72 01001000
catalog-max 72 00001000
catalog-neg 72 ffffffff
catalog-overflow 72 00000040
catalog-small 72 10000000
catalog-zero 72 00000000
extent-zero 80 00000000
extent-256 80 00010000
extent-3000 80 b80b0000
extent-8M 80 00008000
extent-16M 80 00000001
extent-neg 80 00000080
disk-odd 88 01000800
disk-small 88 00020000
disk-huge 88 00c00f000000007f
disk-zero 88 0000000000000000
header-zero 68 00000000
header-huge 68 00000010
header-max 68 ffffffff
bitmap-huge 76 ffffffff
catalog-slot-far 512 fffffffe
catalog-slot-huge 516 00000080
EOF

# Files shorter than a header.
head -c 100 v2.bochs >short.bochs
reads short.bochs
head -c 60 v2.bochs >shorter.bochs
same "60 bytes: info" info ../shorter.bochs
same "60 bytes: info -f bochs" info -f bochs ../shorter.bochs
: >empty-file.bochs
same "empty file: info -f bochs" info -f bochs ../empty-file.bochs

# --- refusals -----------------------------------------------------------
# (a line starting "~ " is a refusal that cloop.sh checks too: quick leaves
# it out)
spawn cp v2.bochs "$E/w.bochs"
spawn cp v2.bochs "$G/w.bochs"
sum=$(cksum <v2.bochs)
while IFS= read -r args; do
	[ -n "$args" ] || continue
	case $args in
	"~ "*)
		whole || continue
		args=${args#"~ "}
		;;
	esac
	# shellcheck disable=SC2086
	same "refused: $args" $args
done <<'EOF'
~ resize w.bochs 2M
resize -f bochs w.bochs +1M
~ snapshot -c s w.bochs
snapshot -d s w.bochs
snapshot -a s w.bochs
~ snapshot -l w.bochs
~ amend -o size=2M w.bochs
amend -f bochs -o size=2M w.bochs
amend -f bochs -o help
~ commit w.bochs
rebase -u -b ../v1.bochs -F bochs w.bochs
rebase -b ../v1.bochs -F bochs w.bochs
bitmap --add w.bochs b
~ check -r all w.bochs
check -r leaks w.bochs
~ bench -w -c 10 w.bochs
convert -n -O bochs ../v1.bochs w.bochs
dd -O bochs if=../v1.bochs of=w.bochs
~ create -f bochs x.bochs 1M
~ create -f bochs -o help
create -f bochs nbd://example.com 64M
convert -O bochs -o help
convert -f bochs -O bochs ../v2.bochs nbd://example.com
convert -O bochs ../v2.bochs new.bochs
measure -O bochs ../v2.bochs
~ measure -O bochs --size 1M
EOF
for who in E G; do
	d=$E
	[ "$who" = G ] && d=$G
	unchanged "refusals ($who)" "$d/w.bochs" "$sum"
done

# --- the sample ---------------------------------------------------------
if [ -f "$SAMPLES/empty.bochs.bz2" ] && command -v bunzip2 >/dev/null; then
	bunzip2 -c "$SAMPLES/empty.bochs.bz2" >empty.bochs
	reads empty.bochs
	# iotest 078's damage to the sample, through qemu-img.
	n=0
	while read -r name off hex; do
		[ -n "$name" ] || continue
		spawn cp empty.bochs "s-$name.bochs"
		poke "s-$name.bochs" "$off" "$hex"
		same "sample, $name: info" info "../s-$name.bochs"
		# (quick: the convert for every third)
		n=$((n + 1))
		quick_pick $n || continue
		same "sample, $name: convert" convert -O raw \
			"../s-$name.bochs" o.raw
	done <<-'EOF'
		negative-catalog 72 ffffffff
		catalog-overflow 72 00000040
		disk-too-big 88 00c00f000000007f
		catalog-16 72 10000000
		negative-extent 80 00000080
		zero-extent 80 00000000
	EOF
else
	skip "sample empty.bochs (../shared/samples absent)"
fi

done_testing
