#!/bin/bash
# SPDX-License-Identifier: MIT
# The vdi format against qemu-img 7.2 and qemu-io.  create with every
# option and several sizes (qemu-img's files byte for byte, the random
# UUIDs aside); images qemu-io wrote read exactly (info, map, check,
# convert, compare); images qimg wrote (convert, dd, convert -n into an
# existing image, static and dynamic) pass qemu-img check and compare and
# allocate their blocks where qemu-img does; a VirtualBox-style layout
# (header 0x190, map and data 1 MiB aligned, blocks out of order, a
# discarded block, a size that is no sector multiple); every header check
# with qemu-img's message; the checker's findings on damaged maps; and
# resize, which qemu-img refuses and qimg does (DIFFERENCES.md).
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"
command -v perl >/dev/null || skip_all "perl not found"

# noid FILE: the file with its two UUIDs (0x188..0x1a7) blanked, as hex.
noid()
{
	spawn perl -e 'local $/; open(my $f, "<:raw", $ARGV[0]) or die; my $d = <$f>;
		substr($d, 0x188, 32) = "\0" x 32 if length($d) >= 0x1a8;
		print unpack("H*", $d)' "$1" | cksum
}

# same_ids A B: A and B equal but for the UUIDs.  A quick run has cmp list
# the bytes that differ (all of them in 0x188..0x1a7) instead of hex
# dumping both files (a third of a second for a 16 MiB one).
same_ids()
{
	if whole; then
		[ "$(noid "$1")" = "$(noid "$2")" ]
		return
	fi
	cmp -l "$1" "$2" 2>/dev/null |
		awk '$1 < 393 || $1 > 424 { bad = 1 } END { exit bad }'
}

# same_image DESC E_FILE G_FILE: equal bytes but for the UUIDs.
same_image()
{
	if [ -f "$2" ] && [ -f "$3" ] && same_ids "$2" "$3" &&
		[ "$(stat -c %s "$2")" = "$(stat -c %s "$3")" ]; then
		pass "$1: qemu-img's bytes (UUIDs aside)"
	else
		fail "$1: qemu-img's bytes (UUIDs aside)"
		diag "$(ls -l "$2" "$3" 2>&1)"
	fi
}

# good DESC IMG RAW: qemu-img check is clean and the contents are RAW's.
good()
{
	if spawn "$QEMU_IMG" check -q "$2" >/dev/null 2>&1; then
		pass "$1: qemu-img check clean"
	else
		fail "$1: qemu-img check clean"
		diag "$("$QEMU_IMG" check "$2" 2>&1 | head -5)"
	fi
	if spawn "$QEMU_IMG" compare -q -f vdi -F raw "$2" "$3" >/dev/null 2>&1; then
		pass "$1: qemu-img compare with the data"
	else
		fail "$1: qemu-img compare with the data"
	fi
}

# reads IMG: what a read-only user sees, against qemu-img.
reads()
{
	local img=$1 d=${1%.vdi} sum
	sum=$(cksum <"$img")
	same "$d: info" info "../$img"
	same "$d: info json" info --output=json "../$img"
	same "$d: map" map "../$img"
	same "$d: map json" map --output=json "../$img"
	same "$d: check" check "../$img"
	same "$d: check json" check --output=json "../$img"
	spawn rm -f "$E"/o.* "$G"/o.*
	same "$d: convert to raw" convert -O raw "../$img" o.raw
	ok "$d: raw copy equal" cmp -s "$E/o.raw" "$G/o.raw"
	same "$d: convert to qcow2" convert -O qcow2 "../$img" o.qcow2
	ok "$d: qcow2 copy byte for byte" cmp -s "$E/o.qcow2" "$G/o.qcow2"
	same "$d: compare with its raw copy" compare "../$img" o.raw
	unchanged "$d" "$img" "$sum"
}

# --- create -------------------------------------------------------------
same "create -o help" create -f vdi -o help
for spec in "64M" "0" "1000" "3145729" "5G" "1T" \
	"static=on 16M" "static=on 5000000" "static=on 0" \
	"static=off 2M" "static=on,preallocation=off 3M"; do
	set -- $spec
	if [ $# = 2 ]; then
		opt="-o $1"
		size=$2
	else
		opt=
		size=$1
	fi
	spawn rm -f "$E/c.vdi" "$G/c.vdi"
	# shellcheck disable=SC2086
	same "create $spec" create -f vdi $opt c.vdi "$size"
	same_image "create $spec" "$E/c.vdi" "$G/c.vdi"
done
spawn rm -f "$E/c.vdi" "$G/c.vdi"
same "create: size over the limit" create -f vdi c.vdi 562949819203585
if [ ! -e "$G/c.vdi" ]; then
	pass "create over the limit leaves no file"
else
	fail "create over the limit leaves no file"
fi
same "create: preallocation=metadata refused" create -f vdi \
	-o preallocation=metadata c.vdi 1M
same "create: bogus preallocation" create -f vdi \
	-o preallocation=bogus c.vdi 1M
same "create: bogus option" create -f vdi -o cluster_size=64k c.vdi 1M
same "measure refused" measure -O vdi --size 1G

# --- images qemu-io wrote -------------------------------------------------
spawn "$QEMU_IMG" create -f vdi w.vdi 9M >/dev/null
qio -c 'write -P 0xaa 2M 64k' -c 'write -P 0xbb 0 512' \
	-c 'write -z 3M 1M' -c 'write -P 0x11 8388000 600' \
	-c 'write -P 0x22 5000001 3' w.vdi
reads w.vdi
spawn "$QEMU_IMG" create -f vdi -o static=on s.vdi 5000000 >/dev/null
qio -c 'write -P 0x33 1M 8k' -c 'write -P 0x44 4999000 1000' s.vdi
reads s.vdi
spawn "$QEMU_IMG" create -f vdi e.vdi 0 >/dev/null
# (an empty disk's reads are whole-only: create 0 above is qemu-img's)
whole && reads e.vdi
spawn "$QEMU_IMG" create -f vdi big.vdi 6G >/dev/null
qio -c 'write -P 0x55 5G 4k' -c 'write -P 0x66 100M 1M' big.vdi
same "big: info" info ../big.vdi
same "big: map json" map --output=json ../big.vdi
same "big: check" check ../big.vdi

# --- images qimg writes ---------------------------------------------------
mkpattern data.raw 4160
spawn truncate -s 9000000 data.raw
for o in "static=off" "static=on"; do
	spawn rm -f "$E/o.vdi" "$G/o.vdi"
	same "convert raw to vdi ($o)" convert -O vdi -o "$o" ../data.raw o.vdi
	same_image "convert raw to vdi ($o)" "$E/o.vdi" "$G/o.vdi"
	good "convert ($o)" "$G/o.vdi" data.raw
done
same "convert vdi back to raw" convert -O raw o.vdi back.raw
if spawn "$QEMU_IMG" compare -q -f raw -F raw "$G/back.raw" data.raw; then
	pass "vdi to raw round trip"
else
	fail "vdi to raw round trip"
fi
spawn rm -f "$E/o.vdi" "$G/o.vdi"
same "dd to vdi" dd -O vdi bs=64k if=../data.raw of=o.vdi
good "dd" "$G/o.vdi" data.raw

# convert -n into existing images: blocks allocated in guest order after
# those qemu-io allocated, partial blocks zero-filled.
for who in E G; do
	d=$E
	[ $who = G ] && d=$G
	spawn "$QEMU_IMG" create -f vdi "$d/n.vdi" 9000000 >/dev/null
	qio -c 'write -P 0x77 7M 4k' -c 'write -P 0x78 512 512' "$d/n.vdi"
done
# (a quick run takes data.raw's first 2 MiB, the same kind of pattern,
# rather than making one again 64 KiB at a time)
if whole; then
	mkpattern part.raw 2048
else
	head -c 2M data.raw >part.raw
fi
spawn truncate -s 9000000 part.raw
same "convert -n into a written image" convert -n -O vdi ../part.raw n.vdi
same_image "convert -n" "$E/n.vdi" "$G/n.vdi"
good "convert -n" "$G/n.vdi" part.raw

# qemu-io writes into qimg's image, qimg reads them.
qimg create -f vdi "$G/q.vdi" 4M >/dev/null
qio -c 'write -P 0x99 1M 1000' -c 'write -P 0x9a 3M 512' "$G/q.vdi"
spawn cp "$G/q.vdi" "$E/q.vdi"
same "qemu-io writes into qimg's image: map" map --output=json q.vdi
same "qemu-io writes into qimg's image: convert" convert -O raw q.vdi o.raw
ok "qemu-io writes into qimg's image: raw equal" cmp -s "$E/o.raw" "$G/o.raw"

# --- a VirtualBox-style layout -----------------------------------------------
# Header size 0x190, map at 1 MiB, data at 2 MiB, VirtualBox's text, a
# disk size of 5 MiB + 100 bytes, blocks stored out of order, block 2
# discarded, block 4 never written.
spawn perl -e '
	my $h = "<<< Oracle VM VirtualBox Disk Image >>>\n";
	$h .= "\0" x (64 - length $h);
	$h .= pack("VVVVV", 0xbeda107f, 0x00010001, 0x190, 1, 0);
	$h .= "\0" x 256;
	$h .= pack("VV", 0x100000, 0x200000);
	$h .= pack("VVVV", 0, 0, 0, 512) . pack("V", 0);
	$h .= pack("Q<", 5 * 1048576 + 100) . pack("VVVV", 1048576, 0, 6, 4);
	$h .= pack("H32", "0123456789abcdef0123456789abcdef") x 2;
	$h .= "\0" x 32 . pack("VVVV", 1023, 16, 63, 512);
	$h .= "\0" x (0x100000 - length $h);
	my $m = pack("V*", 3, 0, 0xfffffffe, 2, 0xffffffff, 1);
	$m .= "\0" x (0x100000 - length $m);
	print $h, $m;
	for my $i (0 .. 3) { print chr(0x41 + $i) x 1048576 }
' >vbox.vdi
reads vbox.vdi
for who in E G; do
	d=$E
	[ $who = G ] && d=$G
	cp vbox.vdi "$d/vw.vdi"
done
same "VirtualBox layout: convert -n" convert -n -O vdi ../part.raw vw.vdi
same_image "VirtualBox layout written" "$E/vw.vdi" "$G/vw.vdi"
if "$QEMU_IMG" check -q "$G/vw.vdi"; then
	pass "VirtualBox layout written: qemu-img check clean"
else
	fail "VirtualBox layout written: qemu-img check clean"
fi

# --- damaged headers ------------------------------------------------------------
"$QEMU_IMG" create -f vdi base.vdi 4M >/dev/null
while read -r name off hex; do
	[ -n "$name" ] || continue
	cp base.vdi "d-$name.vdi"
	for pair in $(echo "$off:$hex" | tr '+' ' '); do
		poke "d-$name.vdi" "$((${pair%%:*}))" "${pair#*:}"
	done
	same "damaged $name: info" info "../d-$name.vdi"
done <<-EOF
	version 0x44 $(le32 0x00010002)
	version0 0x44 00000000
	hdrsize 0x48 $(le32 0x190)
	type 0x4c $(le32 3)
	bmap 0x154 $(le32 0x201)
	data 0x158 $(le32 0x202)
	sector 0x168 $(le32 1024)
	toobig 0x170 $(le64 0x1fffff8000001)
	roomless 0x170 $(le64 0x400001)
	blocksize 0x178 $(le32 0x200000)
	extra 0x17c $(le32 512)
	blocks 0x180 $(le32 0x20000000)
	link 0x1a8 01
	parent 0x1b8 01
	signature 0x40 00000000
	two 0x44:00000000+0x154:$(le32 0x201)
	order 0x178:$(le32 1)+0x170:$(le64 0x1fffff8000001)
	order2 0x180:$(le32 0x20000000)+0x1a8:01
	order3 0x180:00000000+0x1a8:01
EOF
head -c 300 base.vdi >short.vdi
same "short file: info -f vdi" info -f vdi ../short.vdi
: >empty.file
same "empty file: info -f vdi" info -f vdi ../empty.file
# A map far larger than the file: entries past its end read as block 0.
# (1 TiB, a million entries; 64 GiB in a quick run: qemu-img's map of the
# larger one takes seconds, and either lies far past the file's end)
hm=40
whole || hm=36
cp base.vdi huge-map.vdi
poke huge-map.vdi $((0x170)) "$(le64 $((1 << hm)))"
poke huge-map.vdi $((0x180)) "$(le32 $((1 << (hm - 20))))"
same "map past the end of the file: info" info ../huge-map.vdi
same "map past the end of the file: map" map --output=json ../huge-map.vdi

# --- the checker ------------------------------------------------------------------
# (a quick run checks every damage, and a third of them in JSON and with
# -r all too)
"$QEMU_IMG" create -f vdi w0.vdi 4M >/dev/null
qio -c 'write -P 1 0 1k' -c 'write -P 2 1M 1k' w0.vdi
i=0
while read -r name pokes; do
	[ -n "$name" ] || continue
	cp w0.vdi "k-$name.vdi"
	for pair in $(echo "$pokes" | tr '+' ' '); do
		poke "k-$name.vdi" "$((${pair%%:*}))" "${pair#*:}"
	done
	sum=$(cksum <"k-$name.vdi")
	same "check $name" check "../k-$name.vdi"
	if quick_pick $((i++)); then
		same "check $name json" check --output=json "../k-$name.vdi"
		same "check -r all $name" check -r all "../k-$name.vdi"
	fi
	unchanged "check $name" "k-$name.vdi" "$sum"
done <<-EOF
	dup 0x200:$(le32 1)
	large 0x200:$(le32 5)
	count 0x184:$(le32 5)
	zero 0x208:$(le32 0xfffffffe)
	many 0x208:00000000+0x20c:00000000
	dup3 0x200:$(le32 1)+0x204:00000000+0x208:00000000+0x184:$(le32 3)
EOF

# --- resize (qemu-img refuses; qimg grows and shrinks free tails) ----------------
cp w.vdi "$E/r.vdi"
cp w.vdi "$G/r.vdi"
run_tool e resize r.vdi 20M
run_tool g resize r.vdi 20M
if [ "$(cat "$R/e.rc")" = 1 ] &&
	grep -q "does not support resize" "$R/e.err"; then
	pass "resize: qemu-img refuses"
else
	fail "resize: qemu-img refuses"
fi
if [ "$(cat "$R/g.rc")" = 0 ] &&
	"$QEMU_IMG" check -q "$G/r.vdi" &&
	[ "$("$QEMU_IMG" info --output=json "$G/r.vdi" |
		sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p')" = 20971520 ]; then
	pass "resize grow: 20 MiB, check clean"
else
	fail "resize grow: 20 MiB, check clean"
fi
"$QEMU_IMG" convert -O raw w.vdi w.raw
truncate -s 20M w.raw
good "resize grow" "$G/r.vdi" w.raw
# Past the map's sector: the first data blocks move to the end.
if qimg resize "$G/r.vdi" 1G >/dev/null && "$QEMU_IMG" check -q "$G/r.vdi"; then
	pass "resize grow past the map area"
else
	fail "resize grow past the map area"
fi
truncate -s 1G w.raw
good "resize grow past the map area" "$G/r.vdi" w.raw
qio -c 'write -P 0x5a 1000M 1M' "$G/r.vdi"
qio -c 'write -P 0x5a 1000M 1M' -f raw w.raw
good "resize, then qemu-io writes" "$G/r.vdi" w.raw
if qimg resize --shrink "$G/r.vdi" 12M >/dev/null 2>&1; then
	fail "shrink over an allocated block refused"
else
	pass "shrink over an allocated block refused"
fi
cp w.vdi "$G/r2.vdi"
if qimg resize --shrink "$G/r2.vdi" 8M >/dev/null 2>&1 &&
	"$QEMU_IMG" check -q "$G/r2.vdi"; then
	pass "shrink over free blocks"
else
	fail "shrink over free blocks"
fi
truncate -s 8M w.raw
good "shrink" "$G/r2.vdi" w.raw
"$QEMU_IMG" create -f vdi -o static=on "$G/rs.vdi" 3M >/dev/null
qio -c 'write -P 0x12 2M 1M' "$G/rs.vdi"
if qimg resize "$G/rs.vdi" 600M >/dev/null && "$QEMU_IMG" check -q "$G/rs.vdi"; then
	pass "static grow"
else
	fail "static grow"
fi
"$QEMU_IMG" create -f raw rs.raw 600M >/dev/null
qio -c 'write -P 0x12 2M 1M' -f raw rs.raw
good "static grow" "$G/rs.vdi" rs.raw

# Growth that moves the data area, with a map of more entries than one
# scan reads (20480), blocks everywhere
"$QEMU_IMG" create -q -f vdi "$G/mv.vdi" 20G
"$QEMU_IMG" create -q -f raw mv.raw 20G
for at in 0 5G 19G 20479M; do
	qio -c "write -P 0x2c $at 1M" "$G/mv.vdi"
	qio -f raw -c "write -P 0x2c $at 1M" mv.raw
done
ok "grow 20G -> 200G (data area moved)" qimg resize "$G/mv.vdi" 200G
truncate -s 200G mv.raw
good "grow 20G -> 200G" "$G/mv.vdi" mv.raw
# Growth back into the room a shrink left (a 1.6 MB map, in 1 MiB writes)
"$QEMU_IMG" create -q -f vdi "$G/ip.vdi" 400G
qio -c 'write -P 0x3d 100M 2M' "$G/ip.vdi"
ok "shrink 400G -> 1G" qimg resize --shrink "$G/ip.vdi" 1G
ok "grow 1G -> 400G in place" qimg resize "$G/ip.vdi" 400G
"$QEMU_IMG" create -q -f raw ip.raw 400G
qio -f raw -c 'write -P 0x3d 100M 2M' ip.raw
# (the next good, after one more write, covers this one in a quick run:
# each compare of the 400 GiB disks takes a second)
whole && good "grow 1G -> 400G in place" "$G/ip.vdi" ip.raw
qio -c 'write -P 0x3e 399G 1M' "$G/ip.vdi"
qio -f raw -c 'write -P 0x3e 399G 1M' ip.raw
good "a block past the old end after growth in place" "$G/ip.vdi" ip.raw
rm -f mv.raw ip.raw "$G/mv.vdi" "$G/ip.vdi"

# A 32 TiB image has a 128 MiB block map: read a page at a time, never
# whole (qemu-img holds it all).  qemu-img's map of it takes seconds, its
# check too: a quick run leaves out the convert and compare (map and check
# walk the same map a page at a time), the map and check compared with
# qemu-img's and its check after the bench (qemu-io reads the writes back).
rm -f big32.vdi
"$QEMU_IMG" create -q -f vdi big32.vdi 32T
qio -c 'write -P 7 20T 3M' big32.vdi
for args in "info big32.vdi" "check big32.vdi" \
	"convert -O qcow2 big32.vdi big-out.qcow2" \
	"compare big32.vdi big-out.qcow2" "map --output=json big32.vdi"; do
	case $args in convert* | compare*) whole || continue ;; esac
	# shellcheck disable=SC2086
	bounded "32 TiB: $args" $args
done
rm -f big-out.qcow2
if whole; then
	same "32 TiB: map" map --output=json ../big32.vdi
	same "32 TiB: check" check ../big32.vdi
fi
ok "32 TiB: bench -w writes 4 blocks at 21 TiB" \
	"$QIMG" bench -q -w -c 4 -s 1M --pattern=0x5c -o $((21 << 40)) \
	-f vdi big32.vdi
whole && ok "32 TiB: qemu-img check clean after it" \
	"$QEMU_IMG" check -q big32.vdi
ok "32 TiB: qemu-io reads both writes back" "$QEMU_IO" -f vdi -r \
	-c "read -P 0x5c $((21 << 40)) 4M" -c 'read -P 7 20T 3M' \
	-c "read -P 0 $(((21 << 40) + (4 << 20))) 1M" big32.vdi
rm -f big32.vdi

done_testing
