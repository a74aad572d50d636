#!/bin/bash
# SPDX-License-Identifier: MIT
# Randomised interop: qcow2 images with random create options (version,
# cluster size, refcount width, extended L2, lazy refcounts, compression
# type, a backing file) and a random history of qemu-io requests (writes,
# zero writes, discards, compressed writes, internal snapshots).  For each:
# qimg's info, map and check must print what qemu-img prints, its raw copy
# must hold the same bytes, and qcow2 copies qimg writes (plain and
# compressed, random target options) must pass qemu-img check and compare
# equal.  Seeded: RANDOM_SEED (default 20261201, so `make check` is the
# same every time) picks the images, RANDOM_ITER sets how many; exploring
# is RANDOM_SEED=$RANDOM RANDOM_ITER=200.
. "$(dirname "$0")/lib.sh"

ITER=${RANDOM_ITER:-24}
RANDOM=${RANDOM_SEED:-20261201}
diag "RANDOM_SEED=$RANDOM"

# No command substitution below: a subshell would not advance $RANDOM in
# this shell, and the run would stop being reproducible from its seed.

# pick WORD...: one of the words, in $P
pick()
{
	local a=("$@")
	P=${a[RANDOM % ${#a[@]}]}
}

# random_opts: -o string for a qcow2 of random shape, in $O (and its
# cluster size in $cs)
random_opts()
{
	local compat
	pick 0.10 1.1 1.1 1.1
	compat=$P
	pick 512 4096 16384 65536 65536 65536 2097152
	cs=$P
	O="compat=$compat,cluster_size=$cs"
	if [ "$compat" = 1.1 ]; then
		pick 1 2 4 8 16 16 16 32 64
		O="$O,refcount_bits=$P"
		pick on off off
		O="$O,lazy_refcounts=$P"
		pick zlib zstd
		O="$O,compression_type=$P"
		if [ "$cs" -ge 16384 ] && [ $((RANDOM % 3)) = 0 ]; then
			O="$O,extended_l2=on"
		fi
	fi
}

# random_io IMG SIZE COUNT: qemu-io requests on IMG (with DRY=1 only the
# random numbers are drawn, nothing runs)
DRY=0
random_io()
{
	local img=$1 size=$2 n=$3 args=() k off len kind
	for ((k = 0; k < n; k++)); do
		off=$(((RANDOM * 32768 + RANDOM) % (size / 512) * 512))
		len=$(((RANDOM % 256 + 1) * 512))
		[ $((off + len)) -gt "$size" ] && len=$((size - off))
		[ "$len" -le 0 ] && continue
		pick w w w w z d c
		kind=$P
		case $kind in
		w) args+=(-c "write -P $((RANDOM % 255 + 1)) $off $len") ;;
		z) args+=(-c "write -z $off $len") ;;
		d) args+=(-c "discard $off $len") ;;
		c)
			off=$((off / cs * cs))
			[ $((off + cs)) -le "$size" ] &&
				args+=(-c "write -c -P $((RANDOM % 255 + 1)) $off $cs")
			;;
		esac
	done
	[ "$DRY" = 1 ] && return 0
	[ ${#args[@]} -gt 0 ] && spawn "$QEMU_IO" "${args[@]}" "$img" >/dev/null
}

# same_settled DESC ARGS...: like `same`, for answers that depend on the
# host file's holes: if qimg's output differs from qemu-img's, qemu-img is
# asked again, and qimg passes only when qemu-img's second answer changed
# and now equals qimg's (the file system changed its mind in between).
same_settled()
{
	local d=$1
	shift
	run_tool e "$@"
	run_tool g "$@"
	if spawn cmp -s "$R/e.out.n" "$R/g.out.n" && spawn cmp -s "$R/e.err.n" "$R/g.err.n" &&
		[ "$(cat "$R/e.rc")" = "$(cat "$R/g.rc")" ]; then
		pass "$d"
		return
	fi
	spawn cp "$R/e.out.n" "$R/e1.out.n"
	sleep 1
	run_tool e "$@"
	if ! spawn cmp -s "$R/e1.out.n" "$R/e.out.n" &&
		spawn cmp -s "$R/e.out.n" "$R/g.out.n"; then
		pass "$d (qemu-img changed its answer once; qimg matches its second)"
		return
	fi
	same "$d" "$@"
}

# Quick mode runs every third image: the others only draw their random
# numbers (DRY=1), so image #N is the same image in both modes.
for ((it = 0; it < ITER; it++)); do
	spawn rm -f base.qcow2 img.qcow2 ref.raw
	DRY=0
	quick_pick "$it" || DRY=1
	random_opts
	opts=$O
	size=$(((RANDOM % 64 + 1) * 1048576 + (RANDOM % 3) * 4096))
	d="#$it $opts size=$size"
	backing=()
	if [ $((RANDOM % 3)) = 0 ]; then
		random_opts
		[ "$DRY" = 1 ] || spawn "$QEMU_IMG" create -q -f qcow2 -o "$O" base.qcow2 \
			$((size / 2))
		random_io base.qcow2 $((size / 2)) 8
		cs=${opts#*cluster_size=}
		cs=${cs%%,*}
		backing=(-b base.qcow2 -F qcow2)
		d="$d backing"
	fi
	if [ "$DRY" = 1 ]; then
		random_io img.qcow2 "$size" $((RANDOM % 24 + 4))
		if [ $((RANDOM % 4)) = 0 ]; then
			random_io img.qcow2 "$size" 6
		fi
		random_opts
		random_opts
		continue
	fi
	if ! spawn "$QEMU_IMG" create -q -f qcow2 -o "$opts" "${backing[@]}" \
		img.qcow2 "$size"; then
		fail "$d: qemu-img create"
		continue
	fi
	random_io img.qcow2 "$size" $((RANDOM % 24 + 4))
	if [ $((RANDOM % 4)) = 0 ]; then
		spawn "$QEMU_IMG" snapshot -c snap img.qcow2
		random_io img.qcow2 "$size" 6
		d="$d snapshot"
	fi

	# The host file's holes feed map (metadata-preallocated images):
	# settle them first.  Until written back, ext4 may answer SEEK_DATA
	# differently from one moment to the next for freshly zero-allocated
	# ranges, so qemu-img and qimg would see different files.
	sync img.qcow2 ${backing[0]:+base.qcow2}

	same "$d: info" info --output=json ../img.qcow2
	same_settled "$d: map" map --output=json ../img.qcow2
	same "$d: check" check --output=json ../img.qcow2
	spawn "$QEMU_IMG" convert -O raw img.qcow2 ref.raw
	spawn rm -f "$G/copy.raw"
	ok "$d: raw copy" qimg convert -O raw img.qcow2 "$G/copy.raw"
	ok "$d: raw copy bytes" cmp -s ref.raw "$G/copy.raw"
	spawn rm -f "$G/copy.raw"

	# qimg writes qcow2 copies; qemu-img judges them
	for c in "" "-c"; do
		random_opts
		topts=$O
		spawn rm -f "$G/copy.qcow2"
		if qimg convert -O qcow2 $c -o "$topts" img.qcow2 \
			"$G/copy.qcow2"; then
			pass "$d: qimg convert $c -o $topts"
		else
			fail "$d: qimg convert $c -o $topts"
			continue
		fi
		ok "$d: copy $c $topts passes qemu-img check" \
			check_clean "$G/copy.qcow2"
		ok "$d: copy $c $topts compares equal" \
			"$QEMU_IMG" compare -q ref.raw "$G/copy.qcow2"
	done
	spawn rm -f "$G/copy.qcow2"
done

done_testing
