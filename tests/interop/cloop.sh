#!/bin/bash
# SPDX-License-Identifier: MIT
# The cloop format (read-only) against qemu-img 7.2.  Images made by
# mkcloop.pl (block sizes from 512 B to 1 MiB, zero, patterned and
# incompressible blocks, no blocks, a stream with junk after its end) and
# ../shared's simple-pattern.cloop: info (human, JSON), map, check,
# compare, dd and convert to raw and qcow2.  Damaged images: each of
# qemu-img's checks at open with its message, and blocks that do not
# inflate to one block refused with its read error.  Writes, resize,
# create and the rest refused with qemu-img's text; no command changes
# the image.
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"
command -v perl >/dev/null || skip_all "perl not found"
spawn perl -MCompress::Zlib -e 1 2>/dev/null || skip_all "perl Compress::Zlib"

MK=$ROOT/tests/interop/mkcloop.pl

# reads IMG: everything a reader of IMG sees, against qemu-img.
reads()
{
	local img=$1 d=$1 sum
	sum=$(cksum <"$img")
	same "$d: info" info "../$img"
	same "$d: info json" info --output=json "../$img"
	same "$d: map" map "../$img"
	same "$d: map json" map --output=json "../$img"
	same "$d: check" check "../$img"
	spawn rm -f "$E"/o.* "$G"/o.*
	same "$d: convert to raw" convert -O raw "../$img" o.raw
	same_file "$d: convert to raw" o.raw
	same "$d: convert to qcow2" convert -O qcow2 "../$img" o.qcow2
	same_file "$d: convert to qcow2" o.qcow2
	same "$d: compare with the raw copy" compare -F raw "../$img" o.raw
	same "$d: dd" dd -O raw bs=4k "if=../$img" of=o.dd
	same_file "$d: dd" o.dd
	unchanged "$d" "$img" "$sum"
}

# --- images with data ---------------------------------------------------
spawn perl "$MK" p.cloop
spawn perl "$MK" mixed.cloop blocks=7 data=p,z,r,r,z
spawn perl "$MK" b512.cloop block=512 blocks=33 data=p,z,r
spawn perl "$MK" b1m.cloop block=1048576 blocks=2 data=r,z
spawn perl "$MK" b4k.cloop block=4096 blocks=300 data=z,z,p,r
spawn perl "$MK" none.cloop blocks=0
spawn perl "$MK" trail.cloop bad=1:trail
for img in p mixed b512 b1m b4k none trail; do
	reads "$img.cloop"
done
spawn perl "$MK" p3.cloop magic=v3
same "probe: a V3.0 preamble is raw" info ../p3.cloop
same "-f cloop on a V3.0 preamble" info -f cloop ../p3.cloop

# --- names and options --------------------------------------------------
same "json: filename" info \
	'json:{"driver":"cloop","file":{"driver":"file","filename":"../p.cloop"}}'
same "--image-opts" info --image-opts driver=cloop,file.filename=../p.cloop
same "unknown option" info --image-opts \
	driver=cloop,file.filename=../p.cloop,foo=1
same "two images" info ../p.cloop ../mixed.cloop
spawn rm -f "$E"/o.* "$G"/o.*
# qemu-img's deflate for its exact bytes (QIMG_COMPRESS, DIFFERENCES.md)
QIMG_COMPRESS=qemu same "convert -c to qcow2" convert -c -O qcow2 ../mixed.cloop o.qcow2
same_file "convert -c to qcow2" o.qcow2
same "a cloop backing file" create -f qcow2 -b ../mixed.cloop -F cloop \
	top.qcow2
same "backing: map" map --output=json top.qcow2
same "backing: compare" compare top.qcow2 ../mixed.cloop

# --- damaged images -------------------------------------------------------
# NAME ARGS...: an image from mkcloop.pl with ARGS.
while read -r name args; do
	[ -n "$name" ] || continue
	# shellcheck disable=SC2086
	spawn perl "$MK" "$name.cloop" $args
	sum=$(cksum <"$name.cloop")
	same "$name: info" info "../$name.cloop"
	same "$name: info -f cloop" info -f cloop "../$name.cloop"
	spawn rm -f "$E"/o.* "$G"/o.*
	same "$name: convert" convert -f cloop -O raw "../$name.cloop" o.raw
	# A failed convert: qemu-img leaves its partial target, qimg none
	# (the message and status are what count).
	[ "$(cat "$R/e.rc")" != 0 ] || same_file "$name: convert" o.raw
	unchanged "$name" "$name.cloop" "$sum"
done <<'EOF'
block-0 block=0 blocks=0 nblocks=4
block-513 block=513 blocks=2
block-64M block=67108864 blocks=0 nblocks=1
block-64M+ block=67109376 blocks=0 nblocks=1
nblocks-max nblocks=536870911 blocks=0
nblocks-over nblocks=536870912 blocks=0
nblocks-ones nblocks=4294967295 blocks=0
nblocks-512M nblocks=67108864 blocks=0
nblocks-more nblocks=8
nblocks-less nblocks=2
not-monotonic off=2:100
first-offset-0 off=0:0
far-offset off=4:1000000
past-end off=4:99999999
size-128M off=1:134218000,2:134218010,3:134218020,4:134218030
size-128M+ off=1:134218025,2:134218035,3:134218045,4:134218055
garbage bad=2:garbage
short bad=0:short
long bad=3:long
raw-deflate bad=1:raw
empty-block bad=0:empty
EOF
# Files cut short: in the header, in the table, in a block.
spawn perl "$MK" whole.cloop blocks=3 data=r
for n in 0 100 132 140 160 300; do
	head -c "$n" whole.cloop >"cut-$n.cloop"
	same "cut at $n: info -f cloop" info -f cloop "../cut-$n.cloop"
	spawn rm -f "$E"/o.* "$G"/o.*
	same "cut at $n: convert" convert -f cloop -O raw "../cut-$n.cloop" \
		o.raw
done

# --- refusals -----------------------------------------------------------
spawn cp p.cloop "$E/w.cloop"
spawn cp p.cloop "$G/w.cloop"
sum=$(cksum <p.cloop)
while IFS= read -r args; do
	[ -n "$args" ] || continue
	# shellcheck disable=SC2086
	same "refused: $args" $args
done <<'EOF'
resize w.cloop 2M
amend -o size=2M w.cloop
snapshot -l w.cloop
snapshot -c s w.cloop
commit w.cloop
check -r all w.cloop
bench -w -c 10 w.cloop
create -f cloop x.cloop 1M
create -f cloop -o help
measure -O cloop --size 1M
measure -O qcow2 ../p.cloop
convert -O cloop ../p.cloop new.cloop
dd -O cloop if=../p.cloop of=new.cloop
EOF
for who in E G; do
	d=$E
	[ "$who" = G ] && d=$G
	unchanged "refusals ($who)" "$d/w.cloop" "$sum"
done

# --- a 96 MiB offsets table ----------------------------------------------
# 12 Mi + 1 blocks of 64 KiB (768 GiB): blocks 0, 1, the middle one and the
# last hold data, every other block is empty (its two offsets are equal).
# qimg reads the table through a bounded cache; before, it held all of it.
python3 - big.cloop <<'PY'
import array, sys, zlib
bs, n = 65536, 12 * 1024 * 1024 + 1
pre = (b"#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t "
       b"iso9660 /dev/cloop $1\nexit $?\n").ljust(128, b"\0")
real = [0, 1, n // 2, n - 1]
streams = {k: zlib.compress(bytes((k * 7 + i) & 255 for i in range(256))
                            * (bs // 256)) for k in real}
cur = 128 + 8 + (n + 1) * 8
offs = array.array("Q")
prev = 0
for k in real:
    offs.extend(array.array("Q", [cur]) * (k - prev))
    offs.append(cur)
    cur += len(streams[k])
    prev = k + 1
offs.extend(array.array("Q", [cur]) * (n + 1 - len(offs)))
offs.byteswap()
with open(sys.argv[1], "wb") as f:
    f.write(pre + bs.to_bytes(4, "big") + n.to_bytes(4, "big"))
    offs.tofile(f)
    for k in real:
        f.write(streams[k])
PY
sum=$(cksum <big.cloop)
same "96 MiB table: info" info ../big.cloop
same "96 MiB table: map" map --output=json ../big.cloop
same "96 MiB table: check" check ../big.cloop
for b in 0 1 $((6 * 1024 * 1024)) $((12 * 1024 * 1024)); do
	spawn rm -f "$E"/o.* "$G"/o.*
	# qemu-img's dd copies blocks [skip, count)
	same "96 MiB table: dd of block $b" dd -O raw bs=64k skip=$b count=$((b + 1)) \
		if=../big.cloop of=o.dd
	same_file "96 MiB table: dd of block $b" o.dd
	ok "96 MiB table: block $b read whole" \
		[ "$(stat -c %s "$E/o.dd")" = 65536 ]
done
spawn rm -f "$E"/o.* "$G"/o.*
same "96 MiB table: an empty block does not read" dd -O raw bs=64k skip=2 \
	count=3 if=../big.cloop of=o.dd
bounded "96 MiB table: info" info big.cloop
bounded "96 MiB table: map" map --output=json big.cloop
spawn rm -f o.dd
bounded "96 MiB table: dd of the last block" dd -O raw bs=64k \
	skip=$((12 * 1024 * 1024)) count=$((12 * 1024 * 1024 + 1)) \
	if=big.cloop of=o.dd
ok "96 MiB table: the last block read whole" [ "$(stat -c %s o.dd)" = 65536 ]
unchanged "96 MiB table" big.cloop "$sum"
spawn rm -f big.cloop o.dd

# --- the sample ---------------------------------------------------------
if [ -f "$SAMPLES/simple-pattern.cloop.bz2" ] && command -v bunzip2 >/dev/null
then
	bunzip2 -c "$SAMPLES/simple-pattern.cloop.bz2" >simple-pattern.cloop
	reads simple-pattern.cloop
else
	skip "sample simple-pattern.cloop (../shared/samples absent)"
fi

done_testing
