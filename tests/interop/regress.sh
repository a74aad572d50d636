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
"$QEMU_IMG" create -q -f qcow2 feat.qcow2 1M
poke feat.qcow2 72 '\200'
same "unknown incompatible feature, named by the image's table" info feat.qcow2
# A table with one short entry naming bit 63 "Test feature" (replaces the
# standard table: extension at 0x68 in a fresh image... written by hand)
"$QEMU_IMG" create -q -f qcow2 feat2.qcow2 1M
poke feat2.qcow2 72 '\200'
same "unknown incompatible feature, default table" info feat2.qcow2
# unknown autoclear bit: cleared by a read-write open (check -r all)
"$QEMU_IMG" create -q -f qcow2 ac.qcow2 1M
cp ac.qcow2 "$E/ac.qcow2"
cp ac.qcow2 "$G/ac.qcow2"
poke "$E/ac.qcow2" 88 '\200'
poke "$G/ac.qcow2" 88 '\200'
same "check -r all with an unknown autoclear bit" check -r all ac.qcow2
ok "unknown autoclear bit cleared as qemu-img clears it" \
	cmp -s "$E/ac.qcow2" "$G/ac.qcow2"

# 242: a bitmap with a reserved flag refuses the open
"$QEMU_IMG" create -q -f qcow2 bm.qcow2 1M
"$QEMU_IMG" bitmap --add bm.qcow2 b0
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
"$QEMU_IMG" create -q -f qcow2 empty.qcow2 64M
for compat in 1.1 0.10; do
	for d in "$E" "$G"; do
		"$QEMU_IMG" create -q -f qcow2 -o compat=$compat "$d/n$compat.qcow2" 64M
	done
	same "convert -n onto compat=$compat" convert -n -O qcow2 ../empty.qcow2 "n$compat.qcow2"
	same "map after convert -n onto compat=$compat" map --output=json "n$compat.qcow2"
done
"$QEMU_IMG" create -q -f qcow2 c1.qcow2 1M
same "concatenation with -B" convert -O qcow2 -B ../base.qcow2 ../c1.qcow2 ../c1.qcow2 out.qcow2
same "concatenation with -o backing_file" convert -O qcow2 -o backing_file=../c1.qcow2 ../c1.qcow2 ../c1.qcow2 out.qcow2

# 125/292: resize over a longer backing file from an unaligned size
"$QEMU_IMG" create -q -f raw rb.raw 128k
"$QEMU_IO" -f raw -c 'write -P 1 0 128k' rb.raw >/dev/null
for osz in 31k 33k; do
	for prealloc in off metadata falloc full; do
		for d in "$E" "$G"; do
			"$QEMU_IMG" create -q -f qcow2 -F raw -b ../rb.raw -o cluster_size=64k "$d/r.qcow2" $osz
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
"$QEMU_IMG" create -q -f qcow2 jb.qcow2 1M
same "create with a json:{...} backing file" create -f qcow2 -F qcow2 \
	-b "json:{\"driver\": \"qcow2\", \"file\": {\"driver\": \"file\", \"filename\": \"$T/jb.qcow2\"}}" jt.qcow2 1M
same "info of it" info jt.qcow2

# 108: an image whose refcount table is gone: check reports, -r all rebuilds
"$QEMU_IMG" create -q -f qcow2 nort.qcow2 64M
"$QEMU_IO" -c 'write -P 5 0 64k' nort.qcow2 >/dev/null
poke nort.qcow2 48 '\0\0\0\0\0\0\0\0\0\0\0\0'
cp nort.qcow2 "$E/nort.qcow2"
cp nort.qcow2 "$G/nort.qcow2"
same "check without a refcount table" check nort.qcow2
same "check -r all without a refcount table" check -r all nort.qcow2
ok "rebuilt image: same bytes as qemu-img's" cmp -s "$E/nort.qcow2" "$G/nort.qcow2"
ok "rebuilt image: data intact" \
	sh -c "'$QEMU_IO' -c 'read -P 5 0 64k' '$G/nort.qcow2' | grep -q '^read'"

# 153: create refuses an image another process holds for writing
if command -v qemu-nbd >/dev/null 2>&1; then
	"$QEMU_IMG" create -q -f qcow2 held.qcow2 1M
	"$QEMU_IO" -c 'write -P 9 0 64k' held.qcow2 >/dev/null
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

done_testing
