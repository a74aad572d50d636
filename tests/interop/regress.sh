#!/bin/bash
# SPDX-License-Identifier: MIT
# Regression tests for differences QEMU's own iotests found (issue 5),
# each compared with qemu-img: the too-large hint (054), reserved bitmap
# flags (242), the feature name table and unknown autoclear bits (036),
# convert -n onto a v2 image (122), concatenation with a backing file
# (122), resize over a longer backing file from an unaligned size
# (125, 292), backing names that are json:{...} (backing-file-invalidation).
. "$(dirname "$0")/lib.sh"
have_qimg || skip_all "no qimg binary at $QIMG"

# 054: the hint comes with the format's default cluster size too
same "too large for qcow2: hint" create -f qcow2 big.qcow2 100000T
same "too large with cluster_size: hint" create -f qcow2 -o cluster_size=512 big.qcow2 100T

# poke FILE OFFSET BYTES...: write bytes (octal escapes) at OFFSET
poke()
{
	local f=$1 off=$2
	shift 2
	printf "$@" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}

# 036: unknown incompatible bit 63, with and without a name in the table
spawn "$QEMU_IMG" create -q -f qcow2 feat.qcow2 1M
poke feat.qcow2 72 '\200'
same "unknown incompatible feature, named by the image's table" info feat.qcow2
# A table with one short entry naming bit 63 "Test feature" (replaces the
# standard table: extension at 0x68 in a fresh image... written by hand)
spawn "$QEMU_IMG" create -q -f qcow2 feat2.qcow2 1M
poke feat2.qcow2 72 '\200'
same "unknown incompatible feature, default table" info feat2.qcow2
# unknown autoclear bit: cleared by a read-write open (check -r all)
spawn "$QEMU_IMG" create -q -f qcow2 ac.qcow2 1M
spawn cp ac.qcow2 "$E/ac.qcow2"
spawn cp ac.qcow2 "$G/ac.qcow2"
poke "$E/ac.qcow2" 88 '\200'
poke "$G/ac.qcow2" 88 '\200'
same "check -r all with an unknown autoclear bit" check -r all ac.qcow2
ok "unknown autoclear bit cleared as qemu-img clears it" \
	cmp -s "$E/ac.qcow2" "$G/ac.qcow2"

# 242: a bitmap with a reserved flag refuses the open
spawn "$QEMU_IMG" create -q -f qcow2 bm.qcow2 1M
spawn "$QEMU_IMG" bitmap --add bm.qcow2 b0
# be32/be64 FILE OFFSET: a big-endian number read from the file
be()
{
	od -A n -t u1 -v -j "$2" -N "$3" "$1" |
		awk '{for (i = 1; i <= NF; i++) v = v * 256 + $i} END {print v}'
}
# The bitmap directory's offset from the bitmaps extension (0x23852875).
ext=
p=$(be bm.qcow2 100 4)
while [ "$p" -lt 65536 ]; do
	m=$(be bm.qcow2 "$p" 4)
	l=$(be bm.qcow2 $((p + 4)) 4)
	[ "$m" = 0 ] && break
	if [ "$m" = $((0x23852875)) ]; then
		ext=$(be bm.qcow2 $((p + 8 + 16)) 8)
		break
	fi
	p=$((p + 8 + (l + 7) / 8 * 8))
done
if [ -n "$ext" ]; then
	poke bm.qcow2 $((ext + 15)) '\004'
	same "bitmap with a reserved flag: info" info bm.qcow2
	same "bitmap with a reserved flag: map" map bm.qcow2
else
	fail "bitmap directory not found in bm.qcow2"
fi

# 122: -n onto empty v2 and v3 images without a backing file stays sparse
spawn "$QEMU_IMG" create -q -f qcow2 empty.qcow2 64M
for compat in 1.1 0.10; do
	for d in "$E" "$G"; do
		spawn "$QEMU_IMG" create -q -f qcow2 -o compat=$compat "$d/n$compat.qcow2" 64M
	done
	same "convert -n onto compat=$compat" convert -n -O qcow2 ../empty.qcow2 "n$compat.qcow2"
	same "map after convert -n onto compat=$compat" map --output=json "n$compat.qcow2"
done
spawn "$QEMU_IMG" create -q -f qcow2 c1.qcow2 1M
same "concatenation with -B" convert -O qcow2 -B ../base.qcow2 ../c1.qcow2 ../c1.qcow2 out.qcow2
same "concatenation with -o backing_file" convert -O qcow2 -o backing_file=../c1.qcow2 ../c1.qcow2 ../c1.qcow2 out.qcow2

# 125/292: resize over a longer backing file from an unaligned size
spawn "$QEMU_IMG" create -q -f raw rb.raw 128k
spawn "$QEMU_IO" -f raw -c 'write -P 1 0 128k' rb.raw >/dev/null
for osz in 31k 33k; do
	for prealloc in off metadata falloc full; do
		for d in "$E" "$G"; do
			spawn "$QEMU_IMG" create -q -f qcow2 -F raw -b ../rb.raw -o cluster_size=64k "$d/r.qcow2" $osz
		done
		same "resize $osz -> 96k prealloc=$prealloc over a backing file" \
			resize -f qcow2 --preallocation=$prealloc r.qcow2 96k
		ok "resize $osz prealloc=$prealloc: backing data below the old end" \
			sh -c "'$QEMU_IO' -c 'read -P 1 0 $osz' '$G/r.qcow2' | grep -q '^read'"
		ok "resize $osz prealloc=$prealloc: zeros above it" \
			sh -c "'$QEMU_IO' -c 'read -P 0 $osz 63k' '$G/r.qcow2' | grep -q '^read'"
		ok "resize $osz prealloc=$prealloc: check clean" check_clean "$G/r.qcow2"
	done
done

# backing-file-invalidation: a json:{...} backing name is used as it is
spawn "$QEMU_IMG" create -q -f qcow2 jb.qcow2 1M
same "create with a json:{...} backing file" create -f qcow2 -F qcow2 \
	-b "json:{\"driver\": \"qcow2\", \"file\": {\"driver\": \"file\", \"filename\": \"$T/jb.qcow2\"}}" jt.qcow2 1M
same "info of it" info jt.qcow2

# 108: an image whose refcount table is gone: check reports, -r all rebuilds
spawn "$QEMU_IMG" create -q -f qcow2 nort.qcow2 64M
spawn "$QEMU_IO" -c 'write -P 5 0 64k' nort.qcow2 >/dev/null
poke nort.qcow2 48 '\0\0\0\0\0\0\0\0\0\0\0\0'
spawn cp nort.qcow2 "$E/nort.qcow2"
spawn cp nort.qcow2 "$G/nort.qcow2"
same "check without a refcount table" check nort.qcow2
same "check -r all without a refcount table" check -r all nort.qcow2
ok "rebuilt image: same bytes as qemu-img's" cmp -s "$E/nort.qcow2" "$G/nort.qcow2"
ok "rebuilt image: data intact" \
	sh -c "'$QEMU_IO' -c 'read -P 5 0 64k' '$G/nort.qcow2' | grep -q '^read'"

# 153: create refuses an image another process holds for writing
if command -v qemu-nbd >/dev/null 2>&1; then
	spawn "$QEMU_IMG" create -q -f qcow2 held.qcow2 1M
	spawn "$QEMU_IO" -c 'write -P 9 0 64k' held.qcow2 >/dev/null
	qemu-nbd -t -k "$T/held.sock" -f qcow2 held.qcow2 &
	nbd_pid=$!
	for i in $(seq 50); do [ -S "$T/held.sock" ] && break; sleep 0.1; done
	same "create over an image held read-write" create -f qcow2 ../held.qcow2 2M
	same "convert onto an image held read-write" convert -O qcow2 ../jb.qcow2 ../held.qcow2
	kill "$nbd_pid"
	wait "$nbd_pid" 2>/dev/null
	ok "the held image is untouched" \
		sh -c "'$QEMU_IO' -c 'read -P 9 0 64k' held.qcow2 | grep -q '^read'"
else
	fail "qemu-nbd not found (needed to hold an image)"
fi

# twin NAME: copy $T/NAME into both result dirs (qemu-img works in $E,
# qimg in $G)
twin()
{
	spawn cp "$1" "$E/$1"
	spawn cp "$1" "$G/$1"
}

# 163: shrinking frees the refcount blocks left counting nothing; the
# result is qemu-img's byte for byte
spawn "$QEMU_IMG" create -q -f qcow2 -o cluster_size=512,refcount_bits=64 shr.qcow2 3M
for o in 0 262144 524288 786432 1048576 1310720 1572864 1835008 2097152 2359296 2621440 2883584; do
	spawn "$QEMU_IO" -c "write -q -P 0xff $o 256K" shr.qcow2 >/dev/null
done
twin shr.qcow2
same "resize --shrink, 512-byte clusters" resize --shrink shr.qcow2 1M
ok "shrunk image: same bytes as qemu-img's (refblocks freed)" \
	cmp -s "$E/shr.qcow2" "$G/shr.qcow2"
ok "shrunk image passes qemu-img check" check_clean "$G/shr.qcow2"

# 250: clusters freed by a shrink leave the file even where it cannot be
# cut (data mapped at its end)
spawn "$QEMU_IMG" create -q -f qcow2 -o cluster_size=1M,preallocation=metadata pun.qcow2 300M
spawn "$QEMU_IO" -c 'discard 0 10M' -c 'discard 290M 10M' -c 'write 290M 10M' \
	-c 'write 0 10M' pun.qcow2 >/dev/null
twin pun.qcow2
same "resize --shrink of a preallocated image" resize --shrink pun.qcow2 5M
eu=$(du -k "$E/pun.qcow2" | cut -f1)
gu=$(du -k "$G/pun.qcow2" | cut -f1)
ok "shrink punches the freed clusters: $gu KiB used, qemu-img $eu KiB" \
	test "$gu" -le "$eu"
ok "preallocated shrunk image passes qemu-img check" check_clean "$G/pun.qcow2"

# 060: a refcount table entry past the end of the file stops the shrink
# with qemu-img's report, the size unchanged; a second try works
spawn "$QEMU_IMG" create -q -f qcow2 brt.qcow2 64M
rt=$(be brt.qcow2 48 8)
poke brt.qcow2 $((rt + 8)) '\0\377\377\377\0\0\0\0'
twin brt.qcow2
same "shrink with a refblock past the end of the file" resize --shrink brt.qcow2 32M
same "its size is unchanged" info brt.qcow2
# (qemu-img's shrink allocated an empty L2 table first: the end offsets
# differ, see DIFFERENCES.md)
same_rc "check -r all after it" check -r all brt.qcow2
same "shrink again" resize --shrink brt.qcow2 32M
ok "the repaired and shrunk image has qemu-img's contents" \
	contents_equal "$E/brt.qcow2" "$G/brt.qcow2"
ok "the repaired and shrunk image passes qemu-img check" check_clean "$G/brt.qcow2"

# 061: a v2 image with internal snapshots cannot be resized
spawn "$QEMU_IMG" create -q -f qcow2 -o compat=0.10 v2s.qcow2 64M
spawn "$QEMU_IMG" snapshot -c s1 v2s.qcow2
twin v2s.qcow2
same "grow a v2 image with snapshots" resize v2s.qcow2 128M
same "shrink a v2 image with snapshots" resize --shrink v2s.qcow2 32M
same "same size, v2 image with snapshots" resize v2s.qcow2 64M

# 217: an I/O error while a snapshot's clusters are freed
spawn "$QEMU_IMG" create -q -f qcow2 sde.qcow2 64M
spawn "$QEMU_IO" -c 'write 0 64k' sde.qcow2 >/dev/null
spawn "$QEMU_IMG" snapshot -c foo sde.qcow2
twin sde.qcow2
printf '[inject-error]\nevent = "cluster_free"\nerrno = "5"\n' >"$E/bd.conf"
spawn cp "$E/bd.conf" "$G/bd.conf"
same "snapshot -d with an error freeing clusters" snapshot -d foo blkdebug:bd.conf:sde.qcow2
same "it leaves leaks only" check sde.qcow2

# Snapshot deletion and revert punch the clusters they free, as qemu-img
# does; the images come out the same
for op in -d -a; do
	spawn "$QEMU_IMG" create -q -f qcow2 "sp$op.qcow2" 16M
	spawn "$QEMU_IO" -c 'write 0 4M' "sp$op.qcow2" >/dev/null
	spawn "$QEMU_IMG" snapshot -c s "sp$op.qcow2"
	spawn "$QEMU_IO" -c 'write 0 4M' -c 'write 8M 1M' "sp$op.qcow2" >/dev/null
	twin "sp$op.qcow2"
	same "snapshot $op" snapshot $op s "sp$op.qcow2"
	eu=$(du -k "$E/sp$op.qcow2" | cut -f1)
	gu=$(du -k "$G/sp$op.qcow2" | cut -f1)
	ok "snapshot $op punches the freed clusters: $gu KiB, qemu-img $eu KiB" \
		test "$gu" -le "$eu"
	ok "snapshot $op: the image is qemu-img's byte for byte" \
		cmp -s "$E/sp$op.qcow2" "$G/sp$op.qcow2"
	ok "snapshot $op: image passes qemu-img check" check_clean "$G/sp$op.qcow2"
done

# A corruption found while reading: qemu-img's report line, then the
# error, for a read-only open
spawn "$QEMU_IMG" create -q -f qcow2 cor.qcow2 1M
spawn "$QEMU_IO" -c 'write 0 64k' cor.qcow2 >/dev/null
l1=$(be cor.qcow2 40 8)
poke cor.qcow2 $((l1 + 6)) '\002'
twin cor.qcow2
same "convert of an image with an unaligned L2 offset" convert -O raw cor.qcow2 out.raw
same "map of it" map cor.qcow2

done_testing
