#!/bin/bash
# SPDX-License-Identifier: MIT
# The parallels format against qemu-img 7.2 and qemu-io.  create with
# every option and several sizes (qemu-img's files byte for byte); images
# qemu-io wrote read exactly (info, map, check, convert, compare); images
# qimg wrote (convert, dd, convert -n into an existing image) pass qemu-img
# check and compare and put their clusters where qemu-img does; the
# samples parallels-v1 and parallels-v2 (both signatures); damaged headers
# with qemu-img's messages; the checker and its repairs (the in-use mark,
# clusters outside the file, space leaked at the end).
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"
command -v perl >/dev/null || skip_all "perl not found"

same_bytes()
{
	if [ -f "$2" ] && [ -f "$3" ] && spawn cmp -s "$2" "$3"; then
		pass "$1: qemu-img's bytes"
	else
		fail "$1: qemu-img's bytes"
		diag "$(ls -l "$2" "$3" 2>&1)"
	fi
}

good()
{
	if spawn "$QEMU_IMG" check -q "$2" >/dev/null 2>&1; then
		pass "$1: qemu-img check clean"
	else
		fail "$1: qemu-img check clean"
		diag "$("$QEMU_IMG" check "$2" 2>&1 | head -5)"
	fi
	if spawn "$QEMU_IMG" compare -q -f parallels -F raw "$2" "$3" >/dev/null 2>&1; then
		pass "$1: qemu-img compare with the data"
	else
		fail "$1: qemu-img compare with the data"
	fi
}

# reads IMG: what a reader of IMG sees, against qemu-img.  Quick: info and
# map as JSON, check and the data through convert for every image, the rest
# for every third (reads_n counts the calls).
reads_n=0
reads()
{
	local img=$1 d=$1 sum all=
	sum=$(cksum <"$img")
	quick_pick $reads_n && all=1
	reads_n=$((reads_n + 1))
	[ -z "$all" ] || same "$d: info" info "../$img"
	same "$d: info json" info --output=json "../$img"
	[ -z "$all" ] || same "$d: map" map "../$img"
	same "$d: map json" map --output=json "../$img"
	same "$d: check" check "../$img"
	[ -z "$all" ] || same "$d: check json" check --output=json "../$img"
	spawn rm -f "$E"/o.* "$G"/o.*
	same "$d: convert to raw" convert -O raw "../$img" o.raw
	if spawn cmp -s "$E/o.raw" "$G/o.raw"; then
		pass "$d: raw copy equal"
	else
		fail "$d: raw copy equal"
	fi
	[ -z "$all" ] ||
		same "$d: compare with its raw copy" compare "../$img" o.raw
	unchanged "$d" "$img" "$sum"
}

# --- create -------------------------------------------------------------
same "create -o help" create -f parallels -o help
# same_alloc A B: A and B allocate the same KiB, within 16 KiB and 1 %
same_alloc()
{
	local a b d
	a=$(du -k "$1" | cut -f1)
	b=$(du -k "$2" | cut -f1)
	d=$((a > b ? a - b : b - a))
	[ "$d" -le 16 ] && [ $((d * 100)) -le "$a" ] && return 0
	diag "allocated: $1 $a KiB, $2 $b KiB"
	return 1
}

for spec in "64M" "0" "1000000" "5G" "16T" "cluster_size=64k 1000000" \
	"cluster_size=4k 100M" "cluster_size=512 3M" "cluster_size=2M 9M"; do
	# (quick: not 16T, whose 64 MiB BAT both tools write and cmp reads;
	# 5G has a BAT of more than one cluster too)
	whole || [ "$spec" != 16T ] || continue
	set -- $spec
	if [ $# = 2 ]; then
		opt="-o $1"
		size=$2
	else
		opt=
		size=$1
	fi
	spawn rm -f "$E/c.hds" "$G/c.hds"
	# shellcheck disable=SC2086
	same "create $spec" create -f parallels $opt c.hds "$size"
	same_bytes "create $spec" "$E/c.hds" "$G/c.hds"
	# the header clusters are written, not holes, as qemu-img writes
	# them: the same blocks allocated (info's disk size), give or take
	# the file system's own extent blocks on a large file (ext4 took
	# 4 KiB more for one of two 64 MiB BATs in a CI run): at most 16 KiB
	# and 1 %
	ok "create $spec: disk size" same_alloc "$E/c.hds" "$G/c.hds"
done
same "create: too large for the cluster size" create -f parallels \
	-o cluster_size=512 c.hds 2T
same "measure refused" measure -O parallels --size 1G

# --- images qemu-io wrote -------------------------------------------------
spawn "$QEMU_IMG" create -f parallels -o cluster_size=64k w.hds 1M >/dev/null
qio -c 'write -P 0x11 100k 10k' -c 'write -P 0x22 0 512' \
	-c 'write -z 512k 64k' -c 'write -P 0x33 900k 1k' w.hds
reads w.hds
spawn "$QEMU_IMG" create -f parallels e.hds 0 >/dev/null
reads e.hds
spawn "$QEMU_IMG" create -f parallels big.hds 6G >/dev/null
qio -c 'write -P 0x55 5G 4k' -c 'write -P 0x66 100M 1M' big.hds
same "big: info" info ../big.hds
same "big: map json" map --output=json ../big.hds
same "big: check" check ../big.hds

# --- the samples ------------------------------------------------------------
for v in v1 v2; do
	if [ -f "$SAMPLES/parallels-$v.bz2" ] && command -v bunzip2 >/dev/null; then
		bunzip2 -c "$SAMPLES/parallels-$v.bz2" >"sample-$v.img"
		reads "sample-$v.img"
		for who in E G; do
			d=$E
			[ $who = G ] && d=$G
			spawn cp "sample-$v.img" "$d/sw-$v.img"
		done
		mkpattern p.raw 1024
		same "sample $v: convert -n into it" convert -n -O parallels \
			../p.raw "sw-$v.img"
		same_bytes "sample $v: written" "$E/sw-$v.img" "$G/sw-$v.img"
		same "sample $v: written: check" check "sw-$v.img"
	else
		skip "sample parallels-$v (../shared/samples absent)"
	fi
done

# --- images qimg writes ---------------------------------------------------
mkpattern data.raw 2048
spawn truncate -s 3000000 data.raw
for o in "cluster_size=1M" "cluster_size=64k" "cluster_size=4k"; do
	spawn rm -f "$E/o.hds" "$G/o.hds"
	same "convert raw to parallels ($o)" convert -O parallels -o "$o" \
		../data.raw o.hds
	same_bytes "convert ($o)" "$E/o.hds" "$G/o.hds"
	good "convert ($o)" "$G/o.hds" data.raw
done
same "convert back to raw" convert -O raw o.hds back.raw
if spawn "$QEMU_IMG" compare -q -f raw -F raw "$G/back.raw" data.raw; then
	pass "parallels to raw round trip"
else
	fail "parallels to raw round trip"
fi
for who in E G; do
	d=$E
	[ $who = G ] && d=$G
	spawn "$QEMU_IMG" create -f parallels -o cluster_size=64k "$d/n.hds" 3000000 \
		>/dev/null
	qio -c 'write -P 0x77 2M 4k' -c 'write -P 0x78 512 512' "$d/n.hds"
done
same "convert -n into a written image" convert -n -O parallels ../data.raw \
	n.hds
same_bytes "convert -n" "$E/n.hds" "$G/n.hds"
good "convert -n" "$G/n.hds" data.raw

# --- damaged headers ------------------------------------------------------------
while read -r name pokes; do
	[ -n "$name" ] || continue
	spawn cp w.hds "d-$name.hds"
	for pair in $(echo "$pokes" | tr '+' ' '); do
		poke "d-$name.hds" "$((${pair%%:*}))" "${pair#*:}"
	done
	same "damaged $name: info" info "../d-$name.hds"
	same "damaged $name: info -f parallels" info -f parallels "../d-$name.hds"
done <<-EOF
	version 16:$(le32 3)
	magic 0:00
	tracks0 28:$(le32 0)
	bigcluster 28:$(le32 0x10000000)
	catalog 32:$(le32 0x40000000)
	ext 56:$(le64 5)
	inuse-closed 44:$(le32 0x312E3276)
EOF

# --- the checker ------------------------------------------------------------------
# (quick: check as JSON for every third image)
n=0
while read -r name pokes; do
	[ -n "$name" ] || continue
	spawn cp w.hds "k-$name.hds"
	for pair in $(echo "$pokes" | tr '+' ' '); do
		poke "k-$name.hds" "$((${pair%%:*}))" "${pair#*:}"
	done
	sum=$(cksum <"k-$name.hds")
	same "check $name" check "../k-$name.hds"
	quick_pick $n &&
		same "check $name json" check --output=json "../k-$name.hds"
	n=$((n + 1))
	unchanged "check $name" "k-$name.hds" "$sum"
	for r in leaks all; do
		# (quick: -r leaks for every third image, -r all for each)
		[ $r = all ] || quick_pick $((n - 1)) || continue
		spawn cp "k-$name.hds" "$E/r.hds"
		spawn cp "k-$name.hds" "$G/r.hds"
		same "check -r $r $name" check -r $r r.hds
		if [ "$name.$r" = outside.all ]; then
			# qemu-img extends the file over the dropped cluster
			# (DIFFERENCES.md); qimg leaves a clean image.
			if spawn "$QEMU_IMG" check -q "$G/r.hds"; then
				pass "check -r all outside: qemu-img check clean"
			else
				fail "check -r all outside: qemu-img check clean"
			fi
			continue
		fi
		same_bytes "check -r $r $name" "$E/r.hds" "$G/r.hds"
	done
done <<-EOF
	inuse 44:$(le32 0x746F6E59)
	outside 64:$(le32 100)
	leak 32:$(le32 1)
	both 44:$(le32 0x746F6E59)+32:$(le32 1)
	zeroed 64:00000000+68:00000000
EOF
spawn cp w.hds "$G/inuse.hds"
poke "$G/inuse.hds" 44 "$(le32 0x746F6E59)"
spawn cp "$G/inuse.hds" "$E/inuse.hds"
same "in use: write refused" convert -n -O parallels ../data.raw inuse.hds

# A 64 TiB image has a 256 MiB BAT: read a page at a time, never whole.
# (quick: a 16 TiB one, data at 10 and 11 TiB, for a quarter of the time:
# its 64 MiB BAT is still more than the bounded runs' limit)
tb=64 at=40
whole || tb=16 at=10
spawn rm -f big.hds
spawn "$QEMU_IMG" create -q -f parallels big.hds ${tb}T
qio -f parallels -c "write -P 7 ${at}T 3M" big.hds >/dev/null
for args in "info big.hds" "check big.hds" \
	"convert -O qcow2 big.hds big-out.qcow2" "map --output=json big.hds"; do
	# shellcheck disable=SC2086
	bounded "$tb TiB: $args" $args
done
# (qemu-img 7.2's map of it fails an assertion in its block layer)
ok "$tb TiB: map shows the data at $at TiB" grep -q \
	"\"start\": $((at << 40)), \"length\": 3145728, .*\"data\": true" \
	"$T/bounded.out"
# (and its compare too: qemu-io reads the copy)
ok "$tb TiB: the qcow2 copy holds the data, and only it" "$QEMU_IO" -r \
	-f qcow2 -c "read -P 7 ${at}T 3M" -c "read -P 0 $(((at << 40) - 65536)) 64k" \
	-c "read -P 0 $(((at << 40) + (3 << 20))) 64k" big-out.qcow2
ok "$tb TiB: qemu-img check of the copy" "$QEMU_IMG" check -q big-out.qcow2
rm -f big-out.qcow2
same "$tb TiB: check" check ../big.hds
# qimg writes into it past the first BAT page (qemu-img's compare and map
# fail the same assertion on it: qemu-io reads it back)
ok "$tb TiB: bench -w writes 4 clusters at $((at + 1)) TiB" \
	"$QIMG" bench -q -w -c 4 -s 1M --pattern=0x5c -o $(((at + 1) << 40)) \
	-f parallels big.hds
ok "$tb TiB: qemu-img check clean after it" "$QEMU_IMG" check -q big.hds
ok "$tb TiB: qemu-io reads both writes back" qio -f parallels -r \
	-c "read -P 0x5c $(((at + 1) << 40)) 4M" -c "read -P 7 ${at}T 3M" \
	-c "read -P 0 $((((at + 1) << 40) + (4 << 20))) 1M" big.hds
rm -f big.hds

done_testing
