#!/bin/bash
# SPDX-License-Identifier: MIT
# Read/write interoperability: images written by qemu-io (patterns, zero
# writes, compressed clusters, discards, backing chains, every cluster size,
# extended L2, zstd, v2) read by qimg exactly as qemu-img reads them, and
# qcow2 images written by qimg accepted by qemu-img check and compare.
. "$(dirname "$0")/lib.sh"

# rt DESC IMAGE: qimg reads IMAGE like qemu-img; qimg's qcow2 copy of it is
# clean and identical in content.
rt()
{
	local d=$1 img=$2 rc
	spawn rm -f ref.raw out.raw out.qcow2
	spawn "$QEMU_IMG" convert -O raw "$img" ref.raw
	qimg convert -O raw "$img" out.raw >"$R/g.err" 2>&1
	rc=$?
	if [ "$rc" = 0 ] && spawn cmp -s ref.raw out.raw; then
		pass "$d: qimg reads it as qemu-img does"
	else
		fail "$d: qimg reads it as qemu-img does"
		diag "qimg convert exit $rc"
		diag_file "$R/g.err"
		[ -f out.raw ] && cmp ref.raw out.raw 2>&1 | sed 's/^/# /'
	fi
	qimg convert -O qcow2 "$img" out.qcow2 >"$R/g.err" 2>&1
	rc=$?
	if [ "$rc" = 0 ] && check_clean out.qcow2 &&
		spawn "$QEMU_IMG" compare -q "$img" out.qcow2 2>/dev/null; then
		pass "$d: qimg's qcow2 copy is clean and identical"
	else
		fail "$d: qimg's qcow2 copy is clean and identical"
		diag "qimg convert exit $rc"
		diag_file "$R/g.err"
		[ -f out.qcow2 ] && "$QEMU_IMG" check out.qcow2 2>&1 |
			sed -n '1,8p' | sed 's/^/# /'
	fi
}

# scribble IMAGE SIZE_BYTES CLUSTER: a fixed mix of unaligned pattern writes,
# zero writes (with and without unmap), discards and compressed clusters.
scribble()
{
	local img=$1 size=$2 cs=$3 i off len cmds=()
	RANDOM=$((size / 4096 + cs))
	for i in $(seq 1 24); do
		off=$(( (RANDOM * 32768 + RANDOM) % (size - 300000) ))
		len=$(( RANDOM % 200000 + 1 ))
		case $((i % 6)) in
		0 | 1 | 2) cmds+=(-c "write -P $((i * 7 % 255 + 1)) $off $len") ;;
		3) cmds+=(-c "write -z $((off / 512 * 512)) $(((len + 511) / 512 * 512))") ;;
		4) cmds+=(-c "write -z -u $((off / cs * cs)) $((cs * 2))") ;;
		5) cmds+=(-c "discard $((off / cs * cs)) $((cs * 3))") ;;
		esac
	done
	spawn "$QEMU_IO" -f qcow2 "${cmds[@]}" "$img" >/dev/null
}

# pattern FILE KIB: mkpattern's file; quick mode doubles one 256 KiB
# pattern up to KIB instead (the same kinds of data, without a few processes
# per 64 KiB: mkpattern of 32 MiB alone is seconds of processor time).
pattern()
{
	if whole; then
		mkpattern "$@"
		return
	fi
	mkpattern "$1" 256
	while [ "$(stat -c %s "$1")" -lt $(($2 * 1024)) ]; do
		cat "$1" "$1" >"$1.2" && spawn mv "$1.2" "$1"
	done
	spawn truncate -s "$2K" "$1"
}

compress_some()
{
	local img=$1 cs=$2 n=$3 i
	for i in $(seq 0 "$((n - 1))"); do
		spawn "$QEMU_IO" -f qcow2 -c "write -c -P $((i + 9)) $((i * 3 * cs)) $cs" \
			"$img" >/dev/null
	done
}

# every cluster size, v3 and v2 (quick mode: each cluster size once, v3
# for two sizes in three and v2 for the third)
i=-1
for cs in 512 1k 4k 16k 64k 256k 2M; do
	i=$((i + 1))
	size=$((8 * 1024 * 1024))
	[ "$cs" = 2M ] && size=$((32 * 1024 * 1024))
	csb=$("$QEMU_IMG" create -f qcow2 -o cluster_size=$cs x 1 |
		sed 's/.*cluster_size=\([0-9]*\).*/\1/')
	spawn rm -f x
	if quick_pick "$i" || quick_pick $((i + 1)); then
		spawn "$QEMU_IMG" create -q -f qcow2 -o cluster_size=$cs "c$cs.qcow2" $size
		scribble "c$cs.qcow2" $size "$csb"
		rt "v3 cluster_size=$cs" "c$cs.qcow2"
	fi
	if quick_pick $((i + 2)); then
		spawn "$QEMU_IMG" create -q -f qcow2 -o cluster_size=$cs,compat=0.10 \
			"v2c$cs.qcow2" $size
		scribble "v2c$cs.qcow2" $size "$csb"
		rt "v2 cluster_size=$cs" "v2c$cs.qcow2"
	fi
done

# compressed clusters, zlib and zstd, mixed with normal writes (quick
# mode: zlib at 4k and zstd at 2M)
ti=-1
for ct in zlib zstd; do
	ti=$((ti + 1))
	ci=-1
	for cs in 4k 64k 2M; do
		ci=$((ci + 1))
		quick_pick $((ti + ci)) || continue
		csb=$("$QEMU_IMG" create -f qcow2 -o cluster_size=$cs x 1 |
			sed 's/.*cluster_size=\([0-9]*\).*/\1/')
		spawn rm -f x
		img=z-$ct-$cs.qcow2
		spawn "$QEMU_IMG" create -q -f qcow2 \
			-o cluster_size=$cs,compression_type=$ct "$img" 32M
		compress_some "$img" "$csb" 5
		spawn "$QEMU_IO" -f qcow2 -c "write -P 0x77 $((csb + 100)) 3000" \
			"$img" >/dev/null
		rt "compressed $ct cluster_size=$cs" "$img"
	done
done
spawn "$QEMU_IMG" create -q -f qcow2 -o compat=0.10 zv2.qcow2 4M
compress_some zv2.qcow2 65536 4
rt "compressed v2" zv2.qcow2
# text compresses well: a convert -c of text by qemu-img
yes 'some text that compresses well' | head -c 3M >text.raw
spawn "$QEMU_IMG" convert -c -O qcow2 text.raw ctext.qcow2
rt "qemu-img convert -c text" ctext.qcow2
spawn "$QEMU_IMG" convert -c -O qcow2 -o compression_type=zstd text.raw \
	ctextz.qcow2
rt "qemu-img convert -c zstd text" ctextz.qcow2

# extended L2 (subcluster allocation); quick mode: 16k and 2M
for cs in 16k 64k 2M; do
	[ "$cs" = 64k ] && ! whole && continue
	csb=$("$QEMU_IMG" create -f qcow2 -o cluster_size=$cs x 1 |
		sed 's/.*cluster_size=\([0-9]*\).*/\1/')
	spawn rm -f x
	img=el2-$cs.qcow2
	spawn "$QEMU_IMG" create -q -f qcow2 -o extended_l2=on,cluster_size=$cs \
		"$img" 32M
	scribble "$img" $((32 * 1024 * 1024)) "$csb"
	spawn "$QEMU_IO" -f qcow2 -c "write -P 5 $((csb / 32 * 3)) $((csb / 32))" \
		-c "write -z $((csb * 40 + csb / 32 * 5)) $((csb / 32 * 2))" \
		"$img" >/dev/null
	rt "extended_l2 cluster_size=$cs" "$img"
done
spawn "$QEMU_IMG" create -q -f qcow2 base-el2.qcow2 4M
spawn "$QEMU_IO" -c 'write -P 0xa1 0 4M' base-el2.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -o extended_l2=on -b base-el2.qcow2 \
	-F qcow2 top-el2.qcow2
spawn "$QEMU_IO" -c 'write -P 0xb2 4096 2048' -c 'write -z 70000 4096' \
	-c 'discard 131072 65536' top-el2.qcow2 >/dev/null
rt "extended_l2 over a backing file" top-el2.qcow2

# refcount widths (quick mode: 1 and 64), lazy refcounts, preallocation
for rb in 1 8 64; do
	[ "$rb" = 8 ] && ! whole && continue
	spawn "$QEMU_IMG" create -q -f qcow2 -o refcount_bits=$rb,cluster_size=4k \
		rb$rb.qcow2 8M
	scribble rb$rb.qcow2 $((8 * 1024 * 1024)) 4096
	rt "refcount_bits=$rb" rb$rb.qcow2
done
spawn "$QEMU_IMG" create -q -f qcow2 -o lazy_refcounts=on lazy.qcow2 8M
scribble lazy.qcow2 $((8 * 1024 * 1024)) 65536
rt "lazy refcounts" lazy.qcow2
for p in metadata falloc full; do
	spawn "$QEMU_IMG" create -q -f qcow2 -o preallocation=$p pre-$p.qcow2 4M
	spawn "$QEMU_IO" -c 'write -P 3 100000 100000' pre-$p.qcow2 >/dev/null
	rt "preallocation=$p" pre-$p.qcow2
done

# backing chains: three levels, shorter backing, raw backing, zeros over data
spawn "$QEMU_IMG" create -q -f qcow2 base.qcow2 8M
spawn "$QEMU_IO" -c 'write -P 1 0 8M' base.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2 8M
spawn "$QEMU_IO" -c 'write -P 2 1M 100k' -c 'write -z 2M 1M' -c 'discard 4M 64k' \
	-c 'write -z -u 5M 128k' mid.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 12M
spawn "$QEMU_IO" -c 'write -P 3 1100k 10k' -c 'write -z 0 4k' \
	-c 'write -P 4 9M 64k' top.qcow2 >/dev/null
rt "backing chain of three" top.qcow2
rt "backing chain middle" mid.qcow2
spawn "$QEMU_IMG" create -q -f qcow2 -o compat=0.10 -b base.qcow2 -F qcow2 \
	v2top.qcow2 8M
spawn "$QEMU_IO" -c 'write -z 0 1M' -c 'write -P 7 3M 4k' v2top.qcow2 >/dev/null
rt "v2 over backing (zero writes allocate)" v2top.qcow2
head -c 3M /dev/urandom >rbase.raw
spawn "$QEMU_IMG" create -q -f qcow2 -b rbase.raw -F raw rtop.qcow2 4M
spawn "$QEMU_IO" -c 'write -P 8 1M 1M' rtop.qcow2 >/dev/null
rt "raw backing file, shorter" rtop.qcow2
spawn "$QEMU_IMG" create -q -f qcow2 -o compression_type=zstd -b base.qcow2 \
	-F qcow2 ztop.qcow2 8M
compress_some ztop.qcow2 65536 3
rt "compressed over backing" ztop.qcow2

# raw images written by qemu-io
spawn "$QEMU_IMG" create -q -f raw plain.raw 8M
spawn "$QEMU_IO" -f raw -c 'write -P 9 1000 300000' -c 'write -z 4M 1M' \
	plain.raw >/dev/null
rt "raw" plain.raw
spawn cp odd.raw odd.raw 2>/dev/null
head -c 1000 /dev/urandom >odd.raw
rt "raw of 1000 bytes" odd.raw

# external data file (tests/interop/data-file.sh has the rest)
spawn "$QEMU_IMG" create -q -f qcow2 -o data_file=ext.data ext.qcow2 4M
spawn "$QEMU_IO" -c 'write -P 6 64k 200k' ext.qcow2 >/dev/null
rt "external data file" ext.qcow2

# Writing over clusters an internal snapshot shares (refcount 2, no COPIED
# flag): qimg must copy, never write in place; the snapshot keeps its data.
spawn "$QEMU_IMG" create -q -f qcow2 ss.qcow2 8M
spawn "$QEMU_IO" -c 'write -P 1 0 8M' -c 'write -c -P 5 1M 64k' ss.qcow2 >/dev/null
spawn "$QEMU_IMG" snapshot -c one ss.qcow2
spawn "$QEMU_IMG" convert -O raw ss.qcow2 ss-one.raw
pattern ss-new.raw 5120
spawn truncate -s 8M ss-new.raw
ok "shared clusters: qimg overwrites the image" \
	qimg convert -n -f raw -O qcow2 ss-new.raw ss.qcow2
ok "shared clusters: qemu-img check clean" check_clean ss.qcow2
ok "shared clusters: new content" "$QEMU_IMG" compare -q -f raw ss-new.raw ss.qcow2
spawn rm -f ss-chk.raw
spawn "$QEMU_IMG" convert -l one -O raw ss.qcow2 ss-chk.raw
ok "shared clusters: the snapshot still reads as before" cmp -s ss-one.raw ss-chk.raw

# An unknown header extension survives qimg's header updates: lazy
# refcounts (dirty bit set and cleared) and a refcount table that has to
# move and grow (512-byte clusters, 32 MiB of data).
spawn "$QEMU_IMG" create -q -f qcow2 -o cluster_size=512,lazy_refcounts=on ux.qcow2 32M
printf 'JKLM\000\000\000\010QIMGTEST' |
	spawn dd of=ux.qcow2 bs=1 seek=112 conv=notrunc 2>/dev/null
pattern ux.raw 32768
rt0=$(od -A n -t x1 -j 48 -N 12 ux.qcow2)
if qimg convert -n -f raw -O qcow2 ux.raw ux.qcow2 2>&1; then
	pass "unknown extension: qimg writes the image"
else
	fail "unknown extension: qimg writes the image"
fi
ok "unknown extension: refcount table moved" \
	test "$rt0" != "$(od -A n -t x1 -j 48 -N 12 ux.qcow2)"
ok "unknown extension: still in the header" \
	test "$(dd if=ux.qcow2 bs=1 skip=112 count=16 2>/dev/null | od -A n -c | tr -d ' ')" = \
	'JKLM\0\0\0\bQIMGTEST'
ok "unknown extension: qemu-img check clean" check_clean ux.qcow2
ok "unknown extension: content" "$QEMU_IMG" compare -q ux.raw ux.qcow2

# qimg-written qcow2 read back by qemu-io
if have_qimg; then
	pattern pat.raw 2048
	spawn rm -f w.qcow2
	if qimg convert -O qcow2 -o cluster_size=4k,extended_l2=off pat.raw \
		w.qcow2 >/dev/null 2>&1 &&
		spawn "$QEMU_IO" -c 'read -P 0x41 0 64k' -c 'read -P 0 128k 64k' \
			w.qcow2 >/dev/null 2>&1; then
		pass "qemu-io reads qimg's qcow2"
	else
		fail "qemu-io reads qimg's qcow2"
	fi
else
	fail "qemu-io reads qimg's qcow2 (no qimg binary)"
fi

[ -n "${KEEP:-}" ] && spawn cp -r "$T" "$KEEP"
done_testing
