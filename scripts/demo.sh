#!/bin/bash
# SPDX-License-Identifier: MIT
# `make demo`: build a small disk with real content (an ext2 file system
# made by mke2fs -d from generated files, or a partition table plus text
# when mke2fs is missing), convert it raw -> qcow2 (plain and compressed) ->
# raw with build/qimg, and show info, check, map and compare, with
# qemu-img's verdicts beside qimg's.  Exit status 0 only if every step
# worked and the round trip gave back the very same bytes.
#
# Needs: build/qimg (or QIMG=...), qemu-utils; e2fsprogs for the ext2 disk.

set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
QIMG=${QIMG:-$ROOT/build/qimg}
case $QIMG in
/*) ;;
*) QIMG=$ROOT/$QIMG ;;
esac
QEMU_IMG=${QEMU_IMG:-qemu-img}

if [ ! -x "$QIMG" ]; then
	echo "demo: $QIMG not found; run 'make' first" >&2
	exit 1
fi
have_qemu=0
command -v "$QEMU_IMG" >/dev/null && have_qemu=1

W=$(mktemp -d "${TMPDIR:-/tmp}/qimg-demo.XXXXXX") || exit 1
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1

failures=0
step()
{
	if [ -t 1 ]; then
		printf '\n\033[1m== %s\033[0m\n' "$*"
	else
		printf '\n== %s\n' "$*"
	fi
}

# show CMD...: print the command line, run it, note a failure
show()
{
	echo "\$ $*"
	"$@"
	local rc=$?
	if [ "$rc" != 0 ]; then
		echo "(exit $rc)"
		return "$rc"
	fi
}

must()
{
	if ! show "$@"; then
		failures=$((failures + 1))
		echo "demo: FAILED: $*"
	fi
}

# qimg is invoked through a link named qimg in the scratch dir's PATH so the
# printed commands read naturally.
mkdir bin
ln -s "$QIMG" bin/qimg
PATH=$W/bin:$PATH

step "1. Make a 64 MiB disk with real content"
mkdir content content/docs content/data
for i in $(seq 1 40); do
	printf 'Log line %d: converted cluster %d of image %s\n' \
		"$i" $((i * 7)) "disk-$((i % 3)).qcow2"
done >content/docs/build.log
seq 1 20000 | sed 's/^/record /' >content/data/records.txt
head -c 3M /dev/urandom >content/data/random.bin
cat >content/README <<'EOF'
This file system was made by scripts/demo.sh.
It went raw -> qcow2 -> raw through qimg and must come back unchanged.
EOF
if command -v mke2fs >/dev/null 2>&1; then
	must mke2fs -q -t ext2 -L qimg-demo -d content disk.raw 64M
	kind=ext2
else
	echo "(mke2fs not found: writing a partition table and text instead)"
	truncate -s 64M disk.raw
	# one Linux partition from sector 2048 to the end, boot signature
	printf '\000\040\041\000\203\376\377\377\000\010\000\000\000\370\001\000' |
		dd of=disk.raw bs=1 seek=446 conv=notrunc status=none
	printf '\125\252' | dd of=disk.raw bs=1 seek=510 conv=notrunc status=none
	dd if=content/README of=disk.raw bs=512 seek=2048 conv=notrunc status=none
	dd if=content/data/records.txt of=disk.raw bs=1M seek=8 \
		conv=notrunc status=none
	dd if=content/data/random.bin of=disk.raw bs=1M seek=32 \
		conv=notrunc status=none
	kind=partition
fi
must ls -ls disk.raw

step "2. qimg info on the raw disk"
must qimg info disk.raw

step "3. Convert raw -> qcow2 (and a compressed copy)"
must qimg convert -p -O qcow2 disk.raw disk.qcow2
must qimg convert -c -O qcow2 disk.raw disk-z.qcow2
must qimg convert -c -O qcow2 -o compression_type=zstd disk.raw disk-zstd.qcow2
must ls -ls disk.raw disk.qcow2 disk-z.qcow2 disk-zstd.qcow2

step "4. info, check and map of the qcow2 image"
must qimg info disk.qcow2
must qimg check disk.qcow2
must qimg check disk-z.qcow2
must qimg map disk.qcow2
if [ "$have_qemu" = 1 ]; then
	echo "-- qemu-img's opinion of qimg's images:"
	must "$QEMU_IMG" check disk.qcow2
	must "$QEMU_IMG" check disk-z.qcow2
	must "$QEMU_IMG" check disk-zstd.qcow2
	echo "-- the same map from qemu-img:"
	"$QEMU_IMG" map --output=json disk.qcow2 >map-qemu.json
	qimg map --output=json disk.qcow2 >map-qimg.json
	if cmp -s map-qemu.json map-qimg.json; then
		echo "qimg map --output=json and qemu-img map --output=json agree" \
			"($(wc -l <map-qimg.json) extents)"
	else
		echo "maps differ:"
		diff map-qemu.json map-qimg.json | head -10
		failures=$((failures + 1))
	fi
fi

step "5. Compare the images (qimg and qemu-img verdicts)"
for img in disk.qcow2 disk-z.qcow2 disk-zstd.qcow2; do
	must qimg compare disk.raw "$img"
	if [ "$have_qemu" = 1 ]; then
		must "$QEMU_IMG" compare disk.raw "$img"
	fi
done
echo "-- a changed copy must be told apart:"
cp disk.raw changed.raw
printf 'X' | dd of=changed.raw bs=1 seek=$((40 * 1048576 + 12345)) \
	conv=notrunc status=none
show qimg compare changed.raw disk.qcow2
[ $? = 1 ] || { failures=$((failures + 1)); echo "demo: FAILED: difference not found"; }

step "6. Convert back qcow2 -> raw and check the bytes"
must qimg convert -O raw disk.qcow2 back.raw
must qimg convert -O raw disk-zstd.qcow2 back-zstd.raw
must cmp disk.raw back.raw
must cmp disk.raw back-zstd.raw
if [ "$have_qemu" = 1 ]; then
	must "$QEMU_IMG" convert -O raw disk-z.qcow2 back-by-qemu.raw
	must cmp disk.raw back-by-qemu.raw
fi
if [ "$kind" = ext2 ] && command -v e2fsck >/dev/null 2>&1; then
	must e2fsck -fn back.raw
	if command -v debugfs >/dev/null 2>&1; then
		echo "\$ debugfs -R 'cat /README' back.raw"
		debugfs -R 'cat /README' back.raw 2>/dev/null
	fi
fi

step "Summary"
if [ "$kind" = ext2 ]; then
	what="an ext2 file system (mke2fs -d)"
	fsck=", and e2fsck found the file system clean"
else
	what="a partition table"
	fsck=
fi
if [ "$have_qemu" = 1 ]; then
	judges="qimg and qemu-img"
else
	judges="qimg (qemu-img absent)"
fi
cat <<EOF
Made a 64 MiB raw disk holding $what with generated text, records and
3 MiB of random data.  Converted it with qimg to qcow2 (plain, zlib and zstd
compressed), checked and compared the images with $judges,
showed the cluster map, and converted them back to raw: the round trip
gave back the identical bytes$fsck.
EOF
if [ "$failures" = 0 ]; then
	echo "demo: all steps succeeded"
	exit 0
fi
echo "demo: $failures step(s) failed"
exit 1
