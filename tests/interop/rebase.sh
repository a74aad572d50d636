#!/bin/bash
# SPDX-License-Identifier: MIT
# `rebase` against qemu-img (reference §2.10): the same output and exit
# status for its arguments and failures; for safe rebases of several chains
# (a new base with part of the old data, a shorter and a longer base, no
# base at all, a raw base, v2 and extended-L2 images) qimg's image must
# read exactly as before, pass qemu-img check, name the same backing file
# and format, and have the same allocation as qemu-img's rebased copy.
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"

spawn mkdir pristine
qio_w()
{
	spawn "$QEMU_IO" "$@" >/dev/null
}
spawn "$QEMU_IMG" create -q -f qcow2 pristine/base.qcow2 8M
qio_w -c 'write -P 1 0 8M' pristine/base.qcow2
spawn "$QEMU_IMG" create -q -f qcow2 pristine/base2.qcow2 8M
qio_w -c 'write -P 1 0 2M' -c 'write -P 5 6M 1M' pristine/base2.qcow2
spawn "$QEMU_IMG" create -q -f qcow2 pristine/short.qcow2 3M
qio_w -c 'write -P 1 0 3M' pristine/short.qcow2
spawn "$QEMU_IMG" create -q -f qcow2 pristine/long.qcow2 12M
qio_w -c 'write -P 7 0 12M' pristine/long.qcow2
spawn "$QEMU_IMG" create -q -f raw pristine/base.raw 8M
qio_w -f raw -c 'write -P 1 0 4M' pristine/base.raw

# mktop NAME BASE BASEFMT [create options]: a top image over BASE with a
# few writes of its own
mktop()
{
	local n=$1 b=$2 bf=$3
	shift 3
	spawn "$QEMU_IMG" create -q -f qcow2 -b "$b" -F "$bf" "$@" "pristine/$n" 8M
	(cd pristine && qio_w -c 'write -P 2 2M 1M' -c 'write -z 4M 64k' \
		-c 'write -P 3 7M 4k' "$n")
}
mktop top.qcow2 base.qcow2 qcow2
mktop topv2.qcow2 base.qcow2 qcow2 -o compat=0.10
mktop topext.qcow2 base.qcow2 qcow2 -o extended_l2=on
mktop topraw.qcow2 base.raw raw
mktop topshort.qcow2 short.qcow2 qcow2

place()
{
	local f
	for f in "$@"; do
		spawn cp "pristine/$f" "$E/$f"
		spawn cp "pristine/$f" "$G/$f"
	done
}
place base.qcow2 base2.qcow2 short.qcow2 long.qcow2 base.raw

# the backing name and format the image stores
link()
{
	info_json "$1" | grep -E '"backing-filename(-format)?"'
}

# --- arguments and failures ---------------------------------------------
while IFS= read -r args; do
	place top.qcow2
	# shellcheck disable=SC2086
	same "rebase $args" rebase $args
	ok "rebase $args: same backing link" \
		cmp -s <(link "$E/top.qcow2") <(link "$G/top.qcow2")
done <<'EOF'
top.qcow2
-u top.qcow2
-b base2.qcow2 top.qcow2
-b base2.qcow2 -F bogus top.qcow2
-b nosuch.qcow2 -F qcow2 top.qcow2
-u -b moved.qcow2 top.qcow2
-u -b moved.qcow2 -F qcow2 top.qcow2
-b base2.qcow2 -F qcow2 top.qcow2
-f raw -b x -F raw top.qcow2
-b base.qcow2 -F qcow2
-x top.qcow2
-q -p -b base2.qcow2 -F qcow2 top.qcow2
-t none -b base2.qcow2 -F qcow2 top.qcow2
-t bogus -b base2.qcow2 -F qcow2 top.qcow2
EOF

# --- safe rebases ----------------------------------------------------------
# where the data comes from, not where it lies in the file nor how sparse
# the host file is under a data cluster
shape()
{
	(cd "$(dirname "$1")" && map_shape "$(basename "$1")" fold)
}

while IFS=' ' read -r top nb nbf; do
	place "$top"
	spawn "$QEMU_IMG" convert -O raw "$E/$top" "$R/before.raw"
	d="rebase $top onto ${nb:-nothing}"
	args=(-b "$nb")
	[ -n "$nbf" ] && args+=(-F "$nbf")
	same "$d" rebase "${args[@]}" "$top" || continue
	spawn "$QEMU_IMG" convert -O raw "$G/$top" "$R/after.raw"
	ok "$d: reads as before" cmp -s "$R/before.raw" "$R/after.raw"
	ok "$d: qemu-img check clean" check_clean "$G/$top"
	ok "$d: same backing link" \
		cmp -s <(link "$E/$top") <(link "$G/$top")
	ok "$d: same allocation" cmp -s <(shape "$E/$top") <(shape "$G/$top")
done <<'EOF'
top.qcow2 base2.qcow2 qcow2
top.qcow2 short.qcow2 qcow2
top.qcow2 long.qcow2 qcow2
top.qcow2 base.raw raw
top.qcow2
topv2.qcow2 base2.qcow2 qcow2
topv2.qcow2
topext.qcow2 base2.qcow2 qcow2
topraw.qcow2 base.qcow2 qcow2
topraw.qcow2 long.qcow2 qcow2
topshort.qcow2 base.qcow2 qcow2
topshort.qcow2 long.qcow2 qcow2
EOF

# --- where a relative new backing file is looked for -----------------------
# in the directory of the image's file, whatever names the image (text,
# --image-opts, json:{...}, a filter above the file); an image no plain
# name describes (a quorum) takes none; a json:{...} new backing file is
# not a path
placesub()
{
	local d
	for d in "$E" "$G"; do
		spawn mkdir -p "$d/sub"
		spawn cp pristine/top.qcow2 pristine/base.qcow2 pristine/base2.qcow2 "$d/sub/"
	done
}
for img in 'sub/top.qcow2' \
	'--image-opts driver=qcow2,file.filename=sub/top.qcow2' \
	'json:{"driver":"qcow2","file":{"driver":"file","filename":"sub/top.qcow2"}}' \
	'json:{"driver":"qcow2","file":{"driver":"blkdebug","config":"/dev/null","image":{"driver":"file","filename":"sub/top.qcow2"}}}' \
	'json:{"driver":"qcow2","file":{"driver":"quorum","vote-threshold":1,"children":[{"driver":"file","filename":"sub/top.qcow2"}]}}'; do
	placesub
	# shellcheck disable=SC2086
	same "a relative new backing file of $img" rebase -b base2.qcow2 -F qcow2 $img
	ok "a relative new backing file of $img: same backing link" \
		cmp -s <(link "$E/sub/top.qcow2") <(link "$G/sub/top.qcow2")
done
for d in "$E" "$G"; do
	spawn "$QEMU_IMG" create -q -f qcow2 -b "$d/sub/base.qcow2" -F qcow2 \
		"$d/sub/abs.qcow2"
done
same "a relative new backing file of a quorum" rebase -b base2.qcow2 -F qcow2 \
	'json:{"driver":"qcow2","file":{"driver":"quorum","vote-threshold":1,"children":[{"driver":"file","filename":"sub/abs.qcow2"}]}}'
placesub
same "a json: new backing file is no path" rebase -F qcow2 \
	-b 'json:{"driver":"qcow2","file":{"driver":"file","filename":"sub/base2.qcow2"}}' \
	--image-opts driver=qcow2,file.filename=sub/top.qcow2
ok "a json: new backing file is no path: same backing link" \
	cmp -s <(link "$E/sub/top.qcow2") <(link "$G/sub/top.qcow2")

done_testing
