#!/bin/bash
# SPDX-License-Identifier: MIT
# `check` on damaged qcow2 images against qemu-img (reference §2.3): leaks,
# refcounts too low/high, broken L1/L2/refcount-table entries, OFLAG_COPIED,
# compressed clusters, every refcount width, snapshots, dirty/corrupt bits.
# For each image, `check`, `check --output=json`, `check -r leaks` and
# `check -r all` must print the same stdout/stderr and exit with the same
# status as qemu-img on a copy; after a repair that qemu-img calls clean,
# our repaired copy must be clean too and hold the same guest data.
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "qimg binary not found ($QIMG)"

# poke FILE OFFSET HEX: overwrite bytes at OFFSET with HEX ("00ff10...").
poke()
{
	local esc
	esc=$(printf '%s' "$3" | sed 's/\(..\)/\\x\1/g')
	printf "$esc" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# Layout of a fresh 64 KiB-cluster image after the writes in mkbase:
# reftable 0x10000, refblock 0x20000 (cluster k's 16-bit count at
# 0x20000 + 2k), L1 0x30000, L2 0x40000, data from 0x50000 (clusters
# 5..21).
RT=$((0x10000))
RB=$((0x20000))
L1=$((0x30000))
L2=$((0x40000))

spawn mkdir pristine
# mkbase NAME [create options...]: 64M image with 1M + 64k of data.
mkbase()
{
	local n=$1
	shift
	spawn "$QEMU_IMG" create -q -f qcow2 "$@" "pristine/$n" 64M
	qio -c 'write -P 0x11 0 1M' -c 'write -P 0x22 2M 64k' "pristine/$n"
}

# mk NAME BASE: damaged copy NAME of pristine image BASE (then poke it).
mk()
{
	spawn cp "pristine/$2" "$1"
	BASE_OF[$1]=$2
}
declare -A BASE_OF=()

mkbase t.qcow2
mkbase v2.qcow2 -o compat=0.10
for b in 1 2 4 8 32 64; do
	mkbase rb$b.qcow2 -o refcount_bits=$b
done
spawn "$QEMU_IMG" create -q -f qcow2 pristine/raw.qcow2 1M
qio -c 'write -P 0x33 0 1M' pristine/raw.qcow2
spawn "$QEMU_IMG" convert -c -O qcow2 pristine/raw.qcow2 pristine/c.qcow2
spawn "$QEMU_IMG" create -q -f qcow2 pristine/za.qcow2 64M
qio -c 'write -P 1 0 128k' -c 'write -z 0 64k' pristine/za.qcow2
mkbase snap.qcow2
spawn "$QEMU_IMG" snapshot -c s1 pristine/snap.qcow2
qio -c 'write -P 0x44 0 64k' pristine/snap.qcow2
spawn "$QEMU_IMG" create -q -f qcow2 -o extended_l2=on pristine/ext.qcow2 64M
qio -c 'write -P 1 0 1M' -c 'write -P 2 4k 4k' -c 'write -z 64k 8k' \
	pristine/ext.qcow2
mkbase bm.qcow2
spawn "$QEMU_IMG" bitmap --add pristine/bm.qcow2 b0

IMAGES=
add()
{
	IMAGES="$IMAGES $1"
}

# clean images
for b in t v2 rb1 rb64 c za snap ext bm; do
	mk clean-$b.qcow2 $b.qcow2
	add clean-$b.qcow2
done
spawn "$QEMU_IMG" create -q -f qcow2 pristine/fresh.qcow2 64M
mk fresh.qcow2 fresh.qcow2
add fresh.qcow2

# refcount damage
mk leak.qcow2 t.qcow2
poke leak.qcow2 $((RB + 50)) 00010001
spawn truncate -s $((27 * 65536)) leak.qcow2
add leak.qcow2
mk cor0.qcow2 t.qcow2;    poke cor0.qcow2 $((RB + 10)) 0000;   add cor0.qcow2
mk cor2.qcow2 t.qcow2;    poke cor2.qcow2 $((RB + 10)) 0002;   add cor2.qcow2
mk many.qcow2 t.qcow2
poke many.qcow2 $((RB + 10)) 000000000000
poke many.qcow2 $((RB + 30)) 0003
add many.qcow2
mk hdr0.qcow2 t.qcow2;    poke hdr0.qcow2 $RB 0000;            add hdr0.qcow2
mk rt0.qcow2 t.qcow2;     poke rt0.qcow2 $((RB + 2)) 0000;     add rt0.qcow2
mk rb2.qcow2 t.qcow2;     poke rb2.qcow2 $((RB + 4)) 0002;     add rb2.qcow2
mk l1rc0.qcow2 t.qcow2;   poke l1rc0.qcow2 $((RB + 6)) 0000;   add l1rc0.qcow2
mk l2rc0.qcow2 t.qcow2;   poke l2rc0.qcow2 $((RB + 8)) 0000;   add l2rc0.qcow2
mk l2rc2.qcow2 t.qcow2;   poke l2rc2.qcow2 $((RB + 8)) 0002;   add l2rc2.qcow2
# table entry damage
mk l1mis.qcow2 t.qcow2;   poke l1mis.qcow2 $((L1 + 6)) 0200;   add l1mis.qcow2
mk l1res.qcow2 t.qcow2;   poke l1res.qcow2 $((L1 + 1)) 01;     add l1res.qcow2
mk l1eof.qcow2 t.qcow2;   poke l1eof.qcow2 $((L1 + 4)) ff000000; add l1eof.qcow2
mk l1cop.qcow2 t.qcow2;   poke l1cop.qcow2 $L1 00;             add l1cop.qcow2
mk l2res.qcow2 t.qcow2;   poke l2res.qcow2 $((L2 + 7)) 02;     add l2res.qcow2
mk l2mis.qcow2 t.qcow2;   poke l2mis.qcow2 $((L2 + 6)) 0200;   add l2mis.qcow2
mk l2eof.qcow2 t.qcow2;   poke l2eof.qcow2 $((L2 + 4)) ff000000; add l2eof.qcow2
mk l2cop.qcow2 t.qcow2;   poke l2cop.qcow2 $((L2 + 8)) 00;     add l2cop.qcow2
mk dup.qcow2 t.qcow2
poke dup.qcow2 $((L2 + 8)) 8000000000050000
add dup.qcow2
mk zamis.qcow2 za.qcow2;  poke zamis.qcow2 $((L2 + 6)) 0201;   add zamis.qcow2
# refcount table damage
mk rtmis.qcow2 t.qcow2;   poke rtmis.qcow2 $((RT + 6)) 0200;   add rtmis.qcow2
mk rtres.qcow2 t.qcow2;   poke rtres.qcow2 $((RT + 7)) 01;     add rtres.qcow2
mk rtout.qcow2 t.qcow2
poke rtout.qcow2 $((RT + 8)) 0000000000f00000
add rtout.qcow2
# header bits
mk dirty.qcow2 t.qcow2;   poke dirty.qcow2 79 01;              add dirty.qcow2
mk corrupt.qcow2 t.qcow2; poke corrupt.qcow2 79 02;            add corrupt.qcow2
# other refcount widths (refblock entries of 1..64 bits)
mk w1.qcow2 rb1.qcow2;    poke w1.qcow2 $RB df;                add w1.qcow2
mk w2.qcow2 rb2.qcow2;    poke w2.qcow2 $((RB + 1)) 75;        add w2.qcow2
mk w4.qcow2 rb4.qcow2;    poke w4.qcow2 $((RB + 2)) 32;        add w4.qcow2
mk w8.qcow2 rb8.qcow2;    poke w8.qcow2 $((RB + 5)) 00;        add w8.qcow2
mk w32.qcow2 rb32.qcow2;  poke w32.qcow2 $((RB + 20)) 00000000; add w32.qcow2
mk w64.qcow2 rb64.qcow2
poke w64.qcow2 $((RB + 40)) 0000000000000002
add w64.qcow2
mk v2leak.qcow2 v2.qcow2; poke v2leak.qcow2 $((RB + 10)) 0002; add v2leak.qcow2
# compressed clusters
mk ccop.qcow2 c.qcow2;    poke ccop.qcow2 $L2 c0;              add ccop.qcow2
mk crc0.qcow2 c.qcow2;    poke crc0.qcow2 $((RB + 10)) 0000;   add crc0.qcow2
# snapshots: shared clusters have refcount 2
mk snrc.qcow2 snap.qcow2; poke snrc.qcow2 $((RB + 12)) 0001;   add snrc.qcow2
# snapshot table damage that -r all repairs by rewriting the table: too
# little or too much extra data, more entries than allowed
mkbase snap3.qcow2
for s in s1 s2 s3; do
	spawn "$QEMU_IMG" snapshot -c $s pristine/snap3.qcow2
done
qio -c 'write -P 0x45 64k 64k' pristine/snap3.qcow2
SNT=$ROOT/tests/interop/sntable.pl
for d in "incomplete 0" "noextra 2" "bigextra 1" "overhang 3"; do
	n=sn-${d% *}.qcow2
	mk "$n" snap3.qcow2
	spawn perl "$SNT" "$n" $d
	add "$n"
done
# extended L2: entry 0's allocation bitmap with a zero bit overlapping
mk extbm.qcow2 ext.qcow2; poke extbm.qcow2 $((L2 + 8)) 00000001; add extbm.qcow2

# A dirty image left by lazy refcounts (qemu-io aborts without closing).
spawn "$QEMU_IMG" create -q -f qcow2 -o lazy_refcounts=on pristine/lazy.qcow2 64M
spawn cp pristine/lazy.qcow2 lazy.qcow2
BASE_OF[lazy.qcow2]=lazy.qcow2
qio -c 'write -P 0x55 0 256k' -c abort lazy.qcow2 2>/dev/null
qio -c 'write -P 0x55 0 256k' pristine/lazy.qcow2
add lazy.qcow2

# Copies of image $1 for both tools, under the same name.
place()
{
	spawn cp "$1" "$E/$1"
	spawn cp "$1" "$G/$1"
}

# make check (QIMG_QUICK=1) repairs a sample: every damaged image with
# -r all, every third one also with -r leaks and -r all --output=json, and
# the clean ones only when picked.
i=0
for img in $IMAGES; do
	i=$((i + 1))
	place "$img"
	same "$img: check" check "$img"
	same "$img: check --output=json" check --output=json "$img"
	if [ "$img" = clean-bm.qcow2 ]; then
		# qemu rewrites bitmaps on close after -r: files differ
		continue
	fi
	# qemu-img takes 16 processor-s to repair sn-overhang's 65539
	# snapshots: make check-full compares that repair, make check its
	# check only
	if ! whole && [ "$img" = sn-overhang.qcow2 ]; then
		continue
	fi
	modes="leaks all"
	if ! quick_pick $i; then
		case $img in
		clean-* | fresh.qcow2) continue ;;
		esac
		modes=all
	fi
	for mode in $modes; do
		place "$img"
		same "$img: check -r $mode" check -r "$mode" "$img"
		# a rewritten snapshot table lands where qemu-img puts it
		identical=
		case $img:$mode in
		sn-*:all)
			if spawn cmp -s "$E/$img" "$G/$img"; then
				pass "$img: -r all writes the file qemu-img writes"
				identical=1
			else
				fail "$img: -r all writes the file qemu-img writes"
			fi
			;;
		esac
		base=pristine/${BASE_OF[$img]}
		# After a repair qemu-img calls successful, ours must leave
		# a clean image with the guest data qemu-img's repair kept.
		# A file byte for byte qemu-img's needs no more proof (and
		# with 65539 snapshots qemu-img takes half a minute to open
		# it).
		if [ "$(cat "$R/e.rc")" = 0 ] && [ -z "$identical" ]; then
			if check_clean "$G/$img"; then
				pass "$img: -r $mode leaves a clean image"
			else
				fail "$img: -r $mode leaves a clean image"
				"$QEMU_IMG" check "$G/$img" 2>&1 | diag_file /dev/stdin
			fi
			if contents_equal "$E/$img" "$base"; then
				ok "$img: -r $mode keeps guest data" \
					contents_equal "$G/$img" "$base"
			fi
		fi
	done
	if quick_pick $i; then
		place "$img"
		same "$img: check -r all --output=json" check -r all \
			--output=json "$img"
	fi
done

# The largest L1 qemu-img allows (32 MiB: 8 TiB with 4 KiB clusters): check
# reads it once, beside nothing else of its size.
spawn "$QEMU_IMG" create -q -f qcow2 -o cluster_size=4k "$T/l1max.qcow2" 8T
spawn "$QEMU_IO" -c 'write -P 3 7T 64k' "$T/l1max.qcow2" >/dev/null
bounded "a 32 MiB L1: check" check "$T/l1max.qcow2"
bounded "a 32 MiB L1: info" info "$T/l1max.qcow2"
same "a 32 MiB L1: check output" check ../l1max.qcow2
spawn rm -f "$T/l1max.qcow2"

done_testing
