#!/bin/bash
# SPDX-License-Identifier: MIT
# The dmg format (read-only) against qemu-img 7.2: the hdiutil sample and
# images made by mkdmg.py (raw, zero-fill, ignore and zlib chunks, several
# mish blocks, a binary resource fork, trailers with bytes after them,
# chunks of kinds qemu-img cannot read) read as qemu-img reads them (info,
# map, check, measure, compare, convert to raw and qcow2); damaged
# trailers refused with qemu-img's messages; writes refused.  qemu-img's
# "module not found" lines (Debian's build without the bzip2 and lzfse
# modules) are dropped before comparing; bzip2 chunks, which that
# qemu-img cannot read, are compared with the data mkdmg.py put in.
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"
command -v "$PY" >/dev/null || skip_all "python3 not found"
MK=$ROOT/tests/interop/mkdmg.py

# norm_size, and the lines qemu-img prints when its dmg module is missing
# a decompressor deleted (by bash itself: lib.sh's NORM_THEN)
NORM=norm_dmg
NORM_THEN[norm_dmg]=dmg_masked
dmg_masked()
{
	lines_edit "$1" dmg_masked_lines -e '/^qemu: module block-block-dmg-/d'
}
dmg_masked_lines()
{
	lines_drop "qemu: module block-block-dmg-"
}

# reads IMG [N]: what a read-only user sees of IMG, against qemu-img.
# Quick mode runs info and the raw copy for every image, map for every
# image but trail and short-count (all data: their point is the trailer),
# and info json, check and compare for the N-th when quick_pick N (N 0 if
# not given); the copy is skipped for big-zero and big-zlib (180 and 64 MiB,
# seconds per tool: their chunk kinds are read in the other images, their
# sizes and maps are compared).
reads()
{
	local img=$1 d=${1%.dmg} n=${2:-0} sum
	sum=$(cksum <"$img")
	same "$d: info" info "../$img"
	quick_pick "$n" && same "$d: info json" info --output=json "../$img"
	if quick_pick "$n" || { [ "$d" != trail ] && [ "$d" != short-count ]; }; then
		same "$d: map json" map --output=json "../$img"
	fi
	quick_pick "$n" && same "$d: check" check "../$img"
	spawn rm -f "$E"/o.* "$G"/o.*
	if whole || { [ "$d" != big-zlib ] && [ "$d" != big-zero ]; }; then
		same "$d: convert to raw" convert -O raw "../$img" o.raw
		if spawn cmp -s "$E/o.raw" "$G/o.raw"; then
			pass "$d: raw copy is qemu-img's byte for byte"
		else
			fail "$d: raw copy is qemu-img's byte for byte"
		fi
		quick_pick "$n" &&
			same "$d: compare with the raw copy" compare "../$img" o.raw
	fi
	if [ "$(cksum <"$img")" = "$sum" ]; then
		pass "$d: image unchanged"
	else
		fail "$d: image unchanged"
	fi
}

"$PY" "$MK" mixed.dmg raw:4 zero:3 zlib:10 ignore:2 zlib:1 / raw:2 zlib:300
"$PY" "$MK" rsrc.dmg rsrc raw:4 zlib:4 / zero:8 raw:3
"$PY" "$MK" trail.dmg raw:2 zlib:7 trail=100
"$PY" "$MK" padded.dmg pad=4096 raw:3 zlib:5
"$PY" "$MK" big-zero.dmg raw:1 zero:300000 ignore:70000 raw:1
"$PY" "$MK" big-zlib.dmg zlib:131072 raw:1
"$PY" "$MK" comment.dmg raw:2 comment:0 zlib:2
"$PY" "$MK" odd-count.dmg raw:1 sector=12345 zlib:3
"$PY" "$MK" short-count.dmg raw:4 sector=3 zlib:3
n=0
for img in mixed rsrc trail padded big-zero big-zlib comment short-count; do
	reads "$img.dmg" $n
	n=$((n + 1))
done

# A sector count past the chunks: the size is the trailer's, reading
# past the chunks fails (qemu-img's convert goes on past a failed read
# and says so once per 2 MiB; qimg stops at the first).
same "odd-count: info" info ../odd-count.dmg
same "odd-count: map json" map --output=json ../odd-count.dmg
ok "odd-count: convert fails" test "$("$QIMG" convert -O raw \
	odd-count.dmg "$G"/oc.raw >/dev/null 2>&1; echo $?)" = 1

# Chunks qemu-img leaves out (ADC, LZFSE): reading them fails (qemu-img
# also warns at open; qimg does not).
"$PY" "$MK" adc.dmg raw:4 adc:2 raw:1
"$PY" "$MK" lzfse.dmg raw:4 lzfse:2 raw:1
for k in adc lzfse; do
	ok "$k: info" "$QIMG" info $k.dmg
	ok "$k: convert fails" test "$("$QIMG" convert -O raw $k.dmg \
		"$G"/$k.raw >/dev/null 2>&1; echo $?)" = 1
done

# bzip2 chunks: qimg reads them (Debian's qemu-img lacks the module).
"$PY" "$MK" bz.dmg raw:4 bzip2:40 zlib:3 bzip2:1
"$PY" "$MK" bz-ref.dmg raw:4 raw:40 raw:3 raw:1
ok "bzip2: convert" qimg convert -O raw bz.dmg "$G"/bz.raw
spawn "$QEMU_IMG" convert -O raw bz-ref.dmg bz-ref.raw 2>/dev/null
ok "bzip2: the data put in" cmp "$G"/bz.raw bz-ref.raw

# --- damaged trailers and tables -----------------------------------------
"$PY" "$MK" late.dmg raw:2 zlib:7 trail=490
same "trailer too far from the end" info ../late.dmg
head -c 20000 /dev/zero >zeros.dmg
same "no trailer" info ../zeros.dmg
head -c 300 /dev/zero >short.dmg
same "short file" info ../short.dmg
: >empty.dmg
same "empty file" info ../empty.dmg
"$PY" "$MK" huge-chunk.dmg raw:4 zero:140000 zlib:131073 raw:1
same "chunk over 64 MiB" info ../huge-chunk.dmg
spawn cp mixed.dmg nodmgname
same "no .dmg name: probed raw" info ../nodmgname
same "no .dmg name, -f dmg" info -f dmg ../nodmgname

# --- writes refused ------------------------------------------------------
spawn cp mixed.dmg "$E"/w.dmg
spawn cp mixed.dmg "$G"/w.dmg
sum=$(cksum <mixed.dmg)
same "resize refused" resize w.dmg 1M
same "snapshot refused" snapshot -c s w.dmg
same "amend refused" amend -o size=1M w.dmg
same "commit refused" commit w.dmg
same "create refused" create -f dmg c.dmg 1M
same "convert to dmg refused" convert -O dmg ../mixed.dmg c.dmg
ok "refusals leave the image alone" test "$(cksum <"$G"/w.dmg)" = "$sum"

# --- the sample ----------------------------------------------------------
if [ -f "$SAMPLES/simple-dmg.dmg.bz2" ] && command -v bunzip2 >/dev/null; then
	bunzip2 -c "$SAMPLES/simple-dmg.dmg.bz2" >simple.dmg
	reads simple.dmg
	same "sample: map" map ../simple.dmg
	same "sample: info -f dmg" info -f dmg ../simple.dmg
	same "sample: measure" measure -O qcow2 ../simple.dmg
	same "sample: convert to qcow2" convert -O qcow2 ../simple.dmg o.qcow2
	same "sample: dd" dd -O raw bs=4k if=../simple.dmg of=o.dd
else
	skip "sample simple-dmg.dmg (absent)"
fi

done_testing
