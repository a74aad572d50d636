#!/bin/bash
# SPDX-License-Identifier: MIT
# `resize` against qemu-img (reference §2.11).  Arguments: the same stdout,
# stderr and exit status for sizes absolute and relative, bad sizes,
# shrinking without --shrink, preallocation modes, raw and qcow2.  Data:
# qcow2 images of several kinds (v2/v3, small clusters with 1-bit
# refcounts, extended L2, a backing file longer or shorter than the image,
# an internal snapshot, compressed clusters, lazy refcounts) grown (inside
# the L1 table and past it, with each preallocation mode) and shrunk
# (inside an L2 table and at its edge) by both tools: qimg's result must
# pass qemu-img check, read the same as qemu-img's, have the same size and
# the same allocation map.
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"

# place NAME...: copies of pristine/NAME for both tools
place()
{
	local f here=()
	for f in "$@"; do
		here+=("pristine/$f")
	done
	spawn cp "${here[@]}" "$E/"
	spawn cp "${here[@]}" "$G/"
}

spawn mkdir pristine
spawn "$QEMU_IMG" create -q -f qcow2 pristine/a.qcow2 64M
spawn "$QEMU_IMG" create -q -f raw pristine/a.raw 64M

# --- arguments ---------------------------------------------------------
while IFS= read -r args; do
	# (quick runs skip a few refused with the same words as a neighbour:
	# no arguments, -16E, +8E, 1000000001, --shrink -65M, full
	# preallocation with --shrink)
	case "=$args=" in
	"==" | *" -16E=" | *" +8E=" | *" 1000000001=" | *" -65M=" | \
		"=--preallocation=full --shrink "*) whole || continue ;;
	esac
	place a.qcow2 a.raw
	# shellcheck disable=SC2086
	same "resize $args" resize $args
done <<'EOF'
a.qcow2

a.qcow2 +1G extra
a.qcow2 +1M
a.qcow2 -1M
--shrink a.qcow2 -1M
a.qcow2 0
a.qcow2 -- -1M
a.qcow2 1.5
a.qcow2 16E
a.qcow2 +16E
a.qcow2 -16E
a.qcow2 8E
a.qcow2 +8E
a.qcow2 1000000001
--shrink a.qcow2 1000
a.qcow2 +1k
a.qcow2 abc
a.qcow2 +abc
a.qcow2 +
a.qcow2 -64M
--shrink a.qcow2 -64M
--shrink a.qcow2 -65M
--preallocation=bogus a.qcow2 +1M
--preallocation=full a.qcow2 -1M
--preallocation=full --shrink a.qcow2 -1M
--preallocation=full a.qcow2 64M
--preallocation=metadata a.qcow2 +1M
-f raw a.qcow2 +1M
-q a.raw +1M
a.raw +1M
-f raw a.raw +1
-f raw --shrink a.raw 1000
-f raw --shrink a.raw 0
-f raw --preallocation=metadata a.raw +1M
-f raw --preallocation=falloc a.raw +1M
-f raw --preallocation=full a.raw +1M
-f raw --preallocation=full a.raw 10
-f qcow2 a.raw 1G
missing.qcow2 1G
missing.qcow2 abc
-U a.qcow2 1G
--image-opts driver=qcow2,file.filename=a.qcow2 +1M
a.qcow2 0x10M
a.qcow2 +0x1k
-h
a.qcow2 1G -h
-f a.qcow2 1G
--shrink -q a.qcow2 -1M
--object secret,id=x,data=y a.qcow2 +1M
EOF

# --- data ----------------------------------------------------------------
# kinds of images, each with data near the places resizes cut
qio_w()
{
	spawn "$QEMU_IO" "$@" >/dev/null
}
mk()
{
	local n=$1 size=$2
	shift 2
	spawn "$QEMU_IMG" create -q -f qcow2 "$@" "pristine/$n" "$size"
}
mk v3.qcow2 64M
qio_w -c 'write -P 1 0 1M' -c 'write -P 2 40M 3M' -c 'write -P 3 63M 1M' \
	pristine/v3.qcow2
mk v2.qcow2 64M -o compat=0.10
qio_w -c 'write -P 1 0 1M' -c 'write -P 2 40M 3M' -c 'write -P 3 63M 1M' \
	pristine/v2.qcow2
mk small.qcow2 8M -o cluster_size=4096,refcount_bits=1
qio_w -c 'write -P 1 0 1M' -c 'write -P 2 3M 2M' -c 'write -z 6M 1M' \
	pristine/small.qcow2
mk ext.qcow2 64M -o extended_l2=on
qio_w -c 'write -P 1 0 100k' -c 'write -P 2 40M 3M' -c 'write -P 3 63M 4k' \
	pristine/ext.qcow2
mk comp.qcow2 64M
qio_w -c 'write -c -P 1 0 64k' -c 'write -c -P 2 40M 64k' \
	-c 'write -P 3 63M 1M' pristine/comp.qcow2
mk lazy.qcow2 64M -o lazy_refcounts=on
qio_w -c 'write -P 1 0 1M' -c 'write -P 2 40M 3M' pristine/lazy.qcow2
mk snap.qcow2 64M
qio_w -c 'write -P 1 0 1M' -c 'write -P 2 40M 3M' pristine/snap.qcow2
spawn "$QEMU_IMG" snapshot -c s1 pristine/snap.qcow2
qio_w -c 'write -P 4 40M 1M' -c 'write -P 5 60M 1M' pristine/snap.qcow2
spawn "$QEMU_IMG" create -q -f raw pristine/base.raw 96M
qio_w -f raw -c 'write -P 9 0 96M' pristine/base.raw
mk long.qcow2 64M -b base.raw -F raw
qio_w -c 'write -P 1 0 1M' -c 'write -P 2 40M 3M' pristine/long.qcow2
mk longv2.qcow2 64M -o compat=0.10 -b base.raw -F raw
mk short.qcow2 128M -b base.raw -F raw
qio_w -c 'write -P 1 100M 1M' pristine/short.qcow2

spawn cp pristine/base.raw "$E/"
spawn cp pristine/base.raw "$G/"
# (quick runs take every third pair of image and resize, the picks
# shifting by one from image to image: each image meets a third of the
# resizes, each resize three or four of the images)
i=0
for img in v3 v2 small ext comp lazy snap long longv2 short; do
	i=$((i + 1))
	j=0
	for op in "+1M" "+10G" "--preallocation=metadata +3M" \
		"--preallocation=falloc +3M" "--preallocation=full +3M" \
		"--preallocation=metadata +1G" "--shrink 41M" "--shrink 40M" \
		"--shrink 32M" "--shrink 1M" "--shrink 100k" "--shrink 512"; do
		j=$((j + 1))
		quick_pick $((i + j)) || continue
		place "$img.qcow2"
		d="$img: resize $op"
		# shellcheck disable=SC2086
		same "$d" resize $img.qcow2 $op || continue
		[ "$(cat "$R/e.rc")" = 0 ] || continue
		ok "$d: qemu-img check clean" check_clean "$G/$img.qcow2"
		ok "$d: reads as qemu-img's result" \
			"$QEMU_IMG" compare -q "$E/$img.qcow2" "$G/$img.qcow2"
		if [ "$(info_json "$E/$img.qcow2" | grep virtual-size)" = \
			"$(info_json "$G/$img.qcow2" | grep virtual-size)" ]; then
			pass "$d: same virtual size"
		else
			fail "$d: same virtual size"
		fi
		(cd "$E" && map_shape "$img.qcow2") >"$R/e.map"
		(cd "$G" && map_shape "$img.qcow2") >"$R/g.map"
		if spawn cmp -s "$R/e.map" "$R/g.map"; then
			pass "$d: same allocation map"
		else
			fail "$d: same allocation map"
			diff "$R/e.map" "$R/g.map" | head -10 | diag_file /dev/stdin
		fi
	done
done

# shrink, then grow back: nothing of the old data shows through
place v3.qcow2
(cd "$G" && spawn "$QIMG" resize -q --shrink v3.qcow2 20M &&
	spawn "$QIMG" resize -q v3.qcow2 64M)
reads_zero()
{
	spawn "$QEMU_IO" -c 'read -P 0 20M 44M' "$1" >"$R/io" 2>&1 &&
		grep -q '^read ' "$R/io" &&
		! grep -q 'Pattern verification failed' "$R/io"
}
ok "shrink then grow: the dropped area reads as zeros" \
	reads_zero "$G/v3.qcow2"
ok "shrink then grow: qemu-img check clean" check_clean "$G/v3.qcow2"

# subclusters over a longer backing file, an unaligned old end: whatever
# the preallocation, the new area reads as zeros and the old one as the
# backing file (falloc'd and full clusters must be allocated in their
# bitmaps, or the backing file shows through)
for p in off metadata falloc full; do
	spawn "$QEMU_IMG" create -q -f qcow2 -o extended_l2=on -b base.raw -F raw \
		"$G/extlong.qcow2" 503k
	spawn -C "$G" "$QIMG" resize -q --preallocation=$p extlong.qcow2 1013k
	spawn "$QEMU_IO" -c 'read -P 9 0 503k' -c 'read -P 0 503k 510k' \
		"$G/extlong.qcow2" >"$R/io" 2>&1
	ok "extended L2 over a longer backing file, $p: reads as qemu-img's" \
		eval "[ \$(grep -c '^read ' '$R/io') = 2 ] &&
		! grep -q 'Pattern verification failed' '$R/io'"
	ok "extended L2 over a longer backing file, $p: qemu-img check clean" \
		check_clean "$G/extlong.qcow2"
done

done_testing
