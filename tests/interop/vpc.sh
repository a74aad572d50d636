#!/bin/bash
# SPDX-License-Identifier: MIT
# The vpc (VHD) format against qemu-img 7.2 and qemu-io.  create: the
# Formatting line and the image bytes (timestamp, UUID and checksum set
# apart) for sizes across every CHS branch, 0, odd sizes, > 127 GiB and
# the 2040 GiB limit, with subformat and force_size.  Reads: images that
# qemu-io wrote, info (text, JSON), map, convert, compare, dd; the size
# rules at open (creator applications, the largest geometry,
# force_size_calc); damaged images refused with qemu-img's messages (each
# of its checks in turn).  Writes: images qimg writes (convert, convert -n
# over data, dd) read back by qemu-img and qemu-io exactly.  Samples from
# Virtual PC and QEMU, and the fuzzed afl5.img.
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"
command -v perl >/dev/null || skip_all "perl not found"

# reseal FILE: recompute the checksum of the footer at 0 and copy it to
# the end (dynamic images), so that a poked field is what is tested.
reseal()
{
	spawn perl -e 'open(my $f, "+<:raw", $ARGV[0]) or die; my $h;
		read($f, $h, 512) == 512 or die;
		substr($h, 64, 4) = "\0\0\0\0";
		my $s = 0; $s += $_ for unpack("C*", $h);
		substr($h, 64, 4) = pack("N", ~$s & 0xffffffff);
		seek($f, 0, 0); print $f $h;
		seek($f, -512, 2); print $f $h; close($f) or die' "$1"
}

# stable FILE: the bytes of FILE without its footers' timestamp, checksum
# and UUID (random in every new image), as a checksum.
stable()
{
	spawn perl -e 'local $/; open(my $f, "<:raw", $ARGV[0]) or die; my $d = <$f>;
		my $n = length($d);
		for my $o (0, $n - 512) {
			next if $o < 0 || substr($d, $o, 8) ne "conectix";
			substr($d, $o + 24, 4) = "\0" x 4;
			substr($d, $o + 64, 20) = "\0" x 20;
		}
		print $d' "$1" | cksum
}

# same_image DESC NAME: E/NAME and G/NAME equal but for the random parts.
same_image()
{
	local d=$1 f=$2
	if [ ! -e "$E/$f" ] && [ ! -e "$G/$f" ]; then
		pass "$d: no $f, as qemu-img"
	elif [ -e "$E/$f" ] && [ -e "$G/$f" ] &&
		[ "$(stat -c %s "$E/$f")" = "$(stat -c %s "$G/$f")" ] &&
		{ [ "$(stat -c %s "$E/$f")" -gt 67108864 ] ||
			[ "$(stable "$E/$f")" = "$(stable "$G/$f")" ]; }; then
		pass "$d: $f is qemu-img's but for time, UUID and checksum"
	else
		fail "$d: $f is qemu-img's but for time, UUID and checksum"
		diag "$(ls -l "$E/$f" "$G/$f" 2>&1)"
	fi
}

# reads IMG [FMTOPT]: what a reader of IMG sees, against qemu-img.
reads()
{
	local img=$1 d=$1 sum
	shift
	sum=$(cksum <"$img")
	same "$d: info" info "$@" "../$img"
	same "$d: info json" info --output=json "$@" "../$img"
	same "$d: map" map "$@" "../$img"
	same "$d: map json" map --output=json "$@" "../$img"
	same "$d: check" check "$@" "../$img"
	spawn rm -f "$E"/o.* "$G"/o.*
	same "$d: convert to raw" convert "$@" -O raw "../$img" o.raw
	same_file "$d: convert to raw" o.raw
	same "$d: compare with the raw copy" compare "$@" -F raw "../$img" \
		o.raw
	same "$d: dd" dd "$@" -O raw bs=64k "if=../$img" of=o.dd
	same_file "$d: dd" o.dd
	unchanged "$d" "$img" "$sum"
}

# --- create -------------------------------------------------------------
# Sizes in each branch of the geometry rules, and 0, 1, the largest CHS
# product and around it, the 2040 GiB limit and past it.  A quick run
# makes every third of the size x option pairs: every size with one or two
# of the options, every option with several sizes.
i=0
for size in 0 1000 8M 5G 33554433 7777777 69256348160 136899993088 \
	136899993601 2040G 2041G; do
	for o in "" subformat=fixed force_size=on subformat=fixed,force_size=on; do
		quick_pick $((i++)) || continue
		spawn rm -f "$E/c.vhd" "$G/c.vhd"
		same "create $size ${o:-default}" create -f vpc ${o:+-o "$o"} \
			c.vhd "$size"
		# qemu-img leaves an empty file when the size is refused,
		# qimg none (create.c); the message is what counts.
		[ -s "$E/c.vhd" ] || continue
		same_image "create $size ${o:-default}" c.vhd
		same "create $size ${o:-default}: info" info -f vpc c.vhd
	done
done
# Every size qemu-img rounds differently from its neighbours, sampled (a
# third of them in a quick run).
i=0
for size in 1 511 512 1M 100M 1G 4100M 127G 136899993600 2190433320961 \
	$((65535 * 16 * 63 * 512 - 512)) $((65535 * 16 * 63 * 512)) \
	$((1024 * 16 * 17 * 512)) $((1024 * 16 * 31 * 512 + 1)); do
	quick_pick $((i++)) || continue
	spawn rm -f "$E/c.vhd" "$G/c.vhd"
	same "create $size" create -f vpc c.vhd "$size"
	[ -s "$E/c.vhd" ] || continue
	same_image "create $size" c.vhd
done
spawn rm -f "$E/c.vhd" "$G/c.vhd"
same "create: bad subformat" create -f vpc -o subformat=bogus c.vhd 1M
same "create: force_size=x" create -f vpc -o force_size=x c.vhd 1M
same "create: no size" create -f vpc c.vhd
same "create -o help" create -f vpc -o help
same "create: unknown option" create -f vpc -o cluster_size=4k c.vhd 1M
same "create -q" create -q -f vpc c.vhd 3M
same_image "create -q" c.vhd

# --- images qemu writes, read by qimg -----------------------------------
qemu_img create -q -f vpc dyn.vhd 9M
qio -c 'write -P 0x11 0 4k' -c 'write -P 0x22 2M 70k' \
	-c 'write -P 0x33 8M 1000k' -c 'write -z 5M 64k' dyn.vhd
qemu_img create -q -f vpc -o subformat=fixed fix.vhd 5M
qio -f vpc -c 'write -P 0x44 512 3k' -c 'write -P 0x55 4M 8k' fix.vhd
qemu_img create -q -f vpc -o force_size=on qem2.vhd 3000000
qio -c 'write -P 0x66 2999808 512' qem2.vhd
qemu_img create -q -f vpc big.vhd 300G
qio -c 'write -P 0x77 299G 64k' -c 'write -P 0x78 4G 4k' big.vhd
# (64 MiB in a quick run: reads copies and compares the whole disk, and a
# 1 GiB one takes seconds; no block is allocated either way)
if whole; then
	qemu_img create -q -f vpc empty.vhd 1G
else
	qemu_img create -q -f vpc empty.vhd 64M
fi
reads dyn.vhd
reads fix.vhd -f vpc
reads qem2.vhd
reads empty.vhd
same "fixed, probed: info" info ../fix.vhd
same "fixed, probed: map" map --output=json ../fix.vhd
same "big: info" info ../big.vhd
same "big: map json" map --output=json ../big.vhd
same "big: dd of the last data" dd -O raw bs=64k count=2 \
	skip=$((299 * 16384)) if=../big.vhd of=o.big
same_file "big: dd of the last data" o.big
same "json: filename" info \
	'json:{"driver":"vpc","file":{"driver":"file","filename":"../dyn.vhd"}}'
same "--image-opts" info --image-opts driver=vpc,file.filename=../dyn.vhd
for calc in chs current_size none bogus; do
	same "force_size_calc=$calc" info --image-opts \
		driver=vpc,file.filename=../qem2.vhd,force_size_calc=$calc
done
same "unknown option" info --image-opts \
	driver=vpc,file.filename=../dyn.vhd,foo=1
same "as a backing file" create -f qcow2 -b ../dyn.vhd -F vpc top.qcow2
same "backing: map" map --output=json top.qcow2
same "backing: compare" compare top.qcow2 ../dyn.vhd

# --- images qimg writes, read by qemu ------------------------------------
spawn perl -e 'binmode STDOUT; srand(7);
	for my $i (0 .. 9 * 256 + 3) {
		print $i % 5 == 2 ? "\0" x 4096
			: pack("C", $i & 255) x 4000 . pack("N", $i) x 24;
	}' >src.raw
spawn truncate -s $((9 * 1048576 + 12345)) src.raw
for o in "" subformat=fixed force_size=on subformat=fixed,force_size=on; do
	n=w-${o:-default}
	n=${n//[,=]/-}.vhd
	spawn rm -f "$E/$n" "$G/$n"
	same "convert to vpc ${o:-default}" convert -O vpc ${o:+-o "$o"} \
		../src.raw "$n"
	same_image "convert to vpc ${o:-default}" "$n"
	ok "convert to vpc ${o:-default}: qemu-img compare" \
		qemu_img compare -q -f raw -F vpc src.raw "$G/$n"
	same "convert to vpc ${o:-default}: map" map --output=json -f vpc "$n"
	same "convert to vpc ${o:-default}: back to raw" convert -f vpc \
		-O raw "$n" o.raw
	same_file "convert to vpc ${o:-default}: back to raw" o.raw
done
# Writes over data and into new blocks of an image qemu-io wrote.
spawn cp dyn.vhd "$G/over.vhd"
spawn cp dyn.vhd over-e.vhd
ok "convert -n over data" qimg convert -n -O vpc src.raw "$G/over.vhd"
ok "convert -n: qemu-img compare" qemu_img compare -q -F raw \
	"$G/over.vhd" src.raw
ok "qemu-img convert -n too" qemu_img convert -n -O vpc src.raw over-e.vhd
ok "convert -n: the same image as qemu-img's" \
	test "$(stable over-e.vhd)" = "$(stable "$G/over.vhd")"
qemu_img create -q -f vpc part.vhd 9M
qio -c 'write -P 0x5a 1M 64k' part.vhd
spawn perl -e 'print "\xa5" x 3000' >small.raw
spawn cp part.vhd part-e.vhd
ok "dd-like partial write (convert -n of a short raw)" \
	qimg convert -n --target-image-opts -f raw small.raw \
	"driver=raw,offset=2097152,size=3072,file.driver=vpc,file.file.filename=$T/part.vhd"
ok "partial write: qemu-io reads it" \
	qio -c 'read -P 0xa5 2M 3000' -c 'read -P 0 2100152 72' \
	-c 'read -P 0x5a 1M 64k' -c 'read -P 0 3M 1M' part.vhd
ok "partial write: qemu-io writes there too" qio -c 'write -P 0x3c 2M 512' \
	part.vhd
ok "partial write: both read" qio -c 'read -P 0x3c 2M 512' \
	-c 'read -P 0xa5 2097664 2488' part.vhd
same "partial write: map" map --output=json ../part.vhd
spawn rm -f "$E/o.dd" "$G/o.dd"
same "dd to vpc" dd -O vpc bs=1M count=3 if=../src.raw of=o.dd
ok "dd to vpc: qemu-io reads it" qio -c 'read -P 0 8192 4096' -c \
	"read -P 0x40 262144 4000" "$G/o.dd"

# --- size rules at open ---------------------------------------------------
# creator, current size, CHS: which size the image has.
while read -r name creator cur chs; do
	[ -n "$name" ] || continue
	spawn cp dyn.vhd "$name.vhd"
	poke "$name.vhd" 28 "$creator"
	poke "$name.vhd" 48 "$cur"
	poke "$name.vhd" 56 "$chs"
	reseal "$name.vhd"
	same "size rule $name: info" info "../$name.vhd"
	same "size rule $name: map" map --output=json "../$name.vhd"
done <<'EOF'
hyperv 77696e20 0000000000900000 01210411
disk2vhd 64327620 00000000008ffe00 01210411
disk2vhd-nul 64327600 00000000008ffe00 ffff10ff
citrix 43545853 00000000007ffe00 01210411
tap 74617000 00000000008fff00 01210411
qem2 71656d32 0000000000800000 01210411
vbox 76626f78 0000000000800000 01210411
vpc 76706320 0000000000900000 01210411
win-odd 77696e20 00000000008fffff 01210411
win-tiny 77696e20 00000000000003e8 01210411
chs-max 71656d75 00000000007fffff ffff10ff
chs-small 71656d75 0000000000800000 00100411
win-huge 77696e20 0004000000000000 01210411
win-2040G 77696e20 000001fe00000000 01210411
win-2040G+ 77696e20 000001fe00000200 01210411
EOF

# --- damaged images -------------------------------------------------------
# NAME OFFSET HEX [raw]: a copy of dyn.vhd with HEX at OFFSET, its footer
# resealed unless "raw".  A quick run leaves out entries-big and entries-2G
# (qemu-img reads a 400 MiB and a 2 GiB table for them, tens of seconds;
# block-2G and bat-far give the same refusal), and maps a third of the
# others and every raw or convert one (a refused image's map says what
# its info does).
i=0
while read -r name off hex how; do
	[ -n "$name" ] || continue
	case $name in entries-big | entries-2G) whole || continue ;; esac
	spawn cp dyn.vhd "$name.vhd"
	poke "$name.vhd" "$off" "$hex"
	[ "$how" = raw ] || reseal "$name.vhd"
	sum=$(cksum <"$name.vhd")
	same "$name: info" info "../$name.vhd"
	if quick_pick $((i++)) || [ -n "$how" ]; then
		same "$name: map -f vpc" map --output=json -f vpc \
			"../$name.vhd"
	fi
	if [ "$how" = convert ]; then
		spawn rm -f "$E"/o.* "$G"/o.*
		same "$name: convert -f vpc" convert -f vpc -O raw \
			"../$name.vhd" o.raw
		same_file "$name: convert -f vpc" o.raw
	fi
	unchanged "$name" "$name.vhd" "$sum"
done <<'EOF'
checksum 64 00000001 raw
reserved 200 07 raw
cookie 0 0000000000000000 raw
data-offset-far 16 1000000000000000
data-offset-0 16 0000000000000000
data-offset-ones 16 ffffffffffffffff
data-offset-2^63 16 8000000000000000
dyn-cookie 512 0000000000000000
block-0 544 00000000
block-3 544 00000003
block-odd 544 00100200
block-256 544 00000100
block-512 544 00000200
block-2G 544 80000000
entries-0 540 00000000
entries-1 540 00000001
entries-big 540 05f5e100
entries-max 540 1fffffff
entries-over 540 20000000
entries-ones 540 ffffffff
entries-2G 540 1fffff80
entries-2G+ 540 1fffff81
bat-far 528 4000000000000000
bat-ones 528 ffffffffffffffff
bat-0 528 0000000000000000
bat-odd 528 0000000000000601
entry-0 1536 00000000 convert
entry-far 1536 fffffff0
type-none 60 00000000
type-fixed 60 00000002 convert
type-diff 60 00000004 convert
type-5 60 00000005
EOF
# The block ends where the file does, and one sector further.
for e in 2ff7 2ff8; do
	spawn cp dyn.vhd "end-$e.vhd"
	poke "end-$e.vhd" 1536 "0000$e"
	same "block entry 0x$e: info" info "../end-$e.vhd"
done
# Files cut short.
for n in 0 1 512 600 2048 4196864 4197375; do
	head -c "$n" dyn.vhd >"cut-$n.vhd"
	same "cut at $n: info" info "../cut-$n.vhd"
	same "cut at $n: info -f vpc" info -f vpc "../cut-$n.vhd"
done
# A fixed image without its footer, or with another type at the end.
head -c $((5 * 1048576)) fix.vhd >nofoot.vhd
same "fixed without footer: info -f vpc" info -f vpc ../nofoot.vhd
spawn cp dyn.vhd headless.vhd
poke headless.vhd 0 0000000000000000
same "dynamic without its first footer" info -f vpc ../headless.vhd

# --- refusals and what qemu-img 7.2 does not do for vpc --------------------
spawn cp dyn.vhd "$E/r.vhd"
spawn cp dyn.vhd "$G/r.vhd"
sum=$(cksum <dyn.vhd)
while IFS= read -r args; do
	[ -n "$args" ] || continue
	# shellcheck disable=SC2086
	same "$args" $args
done <<'EOF'
check r.vhd
check -r all r.vhd
check --output=json r.vhd
measure -O vpc --size 1G
measure -O vpc ../dyn.vhd
snapshot -l r.vhd
snapshot -c s r.vhd
amend -o size=2M r.vhd
commit r.vhd
rebase -u -b ../fix.vhd r.vhd
EOF
for who in E G; do
	d=$E
	[ "$who" = G ] && d=$G
	unchanged "refusals ($who)" "$d/r.vhd" "$sum"
done

# --- resize (qemu-img refuses it; qimg grows and shrinks) -----------------
# vsize FILE [FMT]: the virtual size qemu-img reads.
vsize()
{
	qemu_img info -f "${2:-vpc}" --output=json "$1" |
		sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p'
}
qemu_img create -q -f vpc rs.vhd 10M
qio -f vpc -c 'write -P 0x11 0 3M' -c 'write -P 0x22 8M 1M' rs.vhd
ok "resize: grow a dynamic image within its table" qimg resize -q rs.vhd 100M
ok "resize: CHS size, as create gives it" \
	test "$(vsize rs.vhd)" = 104865792
ok "resize: data kept, new area zero" qio -r -f vpc -c 'read -P 0x11 0 3M' \
	-c 'read -P 0x22 8M 1M' -c 'read -P 0 9M 90M' rs.vhd
ok "resize: grow past the table's sector (table moved)" \
	qimg resize -q rs.vhd 2G
ok "resize: qemu-img sees 2 GiB" test "$(vsize rs.vhd)" = 2147991552
ok "resize: moved table: data kept, new area zero" \
	qio -r -f vpc -c 'read -P 0x11 0 3M' -c 'read -P 0x22 8M 1M' \
	-c 'read -P 0 9M 91M' -c 'read -P 0 2040M 8M' rs.vhd
ok "resize: qemu-io writes past the old end" \
	qio -f vpc -c 'write -P 0x33 1500M 3M' rs.vhd
ok "resize: and reads it back with the rest" \
	qio -r -f vpc -c 'read -P 0x33 1500M 3M' -c 'read -P 0x11 0 3M' \
	-c 'read -P 0x22 8M 1M' rs.vhd
same "resize: map json as qemu-img's" map --output=json ../rs.vhd
same "resize: info as qemu-img's" info ../rs.vhd
sum=$(cksum <rs.vhd)
refused_clearly "resize: shrink over data refused" \
	"Cannot shrink the image: block 750 past the new end is allocated" \
	resize --shrink rs.vhd 20M
unchanged "resize: refused shrink" rs.vhd "$sum"
ok "resize: shrink to 1600M (blocks past it free)" \
	qimg resize -q --shrink rs.vhd 1600M
ok "resize: qemu-img sees the CHS size" test "$(vsize rs.vhd)" = 1677828096
qio -f vpc -c 'write -z 1500M 3M' rs.vhd
qemu_img create -q -f vpc rc.vhd 20M
qio -f vpc -c 'write -P 0x44 0 4M' rc.vhd
ok "resize: shrink cutting a block" qimg resize -q --shrink rc.vhd 3M
ok "resize: grow again" qimg resize -q rc.vhd 30M
ok "resize: the cut part reads as zeros" qio -r -f vpc \
	-c 'read -P 0x44 0 3168256' -c 'read -P 0 3168256 20M' rc.vhd
refused_clearly "resize: past 2040 GiB refused" \
	"too large for file format 'vpc'" resize rc.vhd 3T
qemu_img create -q -f vpc -o force_size=on rq.vhd 10M
ok "resize: force_size image keeps an exact size" \
	qimg resize -q rq.vhd 12345678
ok "resize: force_size: sector-rounded, no CHS" \
	test "$(vsize rq.vhd)" = 12345856
qemu_img create -q -f vpc -o subformat=fixed rf.vhd 10M
qio -f vpc -c 'write -P 0x55 0 3M' -c 'write -P 0x66 8M 1M' rf.vhd
ok "resize: grow a fixed image" qimg resize -q -f vpc rf.vhd 50M
ok "resize: fixed: CHS size" test "$(vsize rf.vhd)" = 52432896
ok "resize: fixed: file is data and footer" \
	test "$(stat -c %s rf.vhd)" = $((52432896 + 512))
ok "resize: fixed: data kept, old footer gone" qio -r -f vpc \
	-c 'read -P 0x55 0 3M' -c 'read -P 0x66 8M 1M' -c 'read -P 0 9M 40M' \
	rf.vhd
sum=$(cksum <rf.vhd)
refused_clearly "resize: fixed: shrink over data refused" \
	"Cannot shrink the image: offset 8388608 past the new end holds data" \
	resize -f vpc --shrink rf.vhd 5M
unchanged "resize: fixed: refused shrink" rf.vhd "$sum"
ok "resize: fixed: shrink over zeros" qimg resize -q -f vpc --shrink rf.vhd 9M
ok "resize: fixed: shrunk" test "$(vsize rf.vhd)" = 9469952
ok "resize: fixed: data kept" qio -r -f vpc -c 'read -P 0x55 0 3M' \
	-c 'read -P 0x66 8M 1M' rf.vhd
ok "resize: fixed: sparse grow to 100G" qimg resize -q -f vpc rf.vhd 100G
ok "resize: fixed: read after" qio -r -f vpc -c 'read -P 0x66 8M 1M' \
	-c 'read -P 0 9M 64M' -c 'read -P 0 99G 1M' rf.vhd

# --- samples --------------------------------------------------------------
for s in virtualpc-dynamic.vhd ext2.vhd afl5.img; do
	if [ -f "$SAMPLES/$s.bz2" ] && command -v bunzip2 >/dev/null; then
		bunzip2 -c "$SAMPLES/$s.bz2" >"$s"
		if [ "$s" = virtualpc-dynamic.vhd ]; then
			# 127 GiB of zeros: metadata and the data blocks only.
			same "$s: info" info "../$s"
			same "$s: info json" info --output=json "../$s"
			same "$s: map json" map --output=json "../$s"
			same "$s: dd the first block" dd -O raw bs=1M count=2 \
				"if=../$s" of=o.vpc
			same_file "$s: dd the first block" o.vpc
		elif [ "$s" = afl5.img ]; then
			same "$s: info" info "../$s"
			refused_clearly "$s: one clear line" \
				"Max Table Entries too large" info "$s"
			same "$s: convert" convert -O raw "../$s" o.afl
		else
			reads "$s"
		fi
	else
		skip "sample $s (absent)"
	fi
done

# A block table bigger than the bound: 4 KiB blocks over 64 GiB (16M
# entries, a 64 MiB table), read a page at a time.
spawn "$QEMU_IMG" create -q -f vpc -o force_size=on "$T/bat.vpc" 64G
python3 - "$T/bat.vpc" <<'PY'
import struct, sys
f = open(sys.argv[1], 'r+b')
foot = f.read(512)
dh_off = struct.unpack('>Q', foot[16:24])[0]
f.seek(dh_off)
dh = bytearray(f.read(1024))
bat = struct.unpack('>Q', dh[16:24])[0]
n = struct.unpack('>Q', foot[48:56])[0] // 4096
dh[28:32] = struct.pack('>I', n)
dh[32:36] = struct.pack('>I', 4096)
dh[36:40] = bytes(4)
dh[36:40] = struct.pack('>I', ~sum(dh) & 0xffffffff)
f.seek(dh_off)
f.write(dh)
f.seek(bat)
for i in range(n * 4 >> 20):
    f.write(b'\xff' * (1 << 20))
f.seek((bat + n * 4 + 511) // 512 * 512)
f.write(foot)
f.truncate()
PY
bounded "64 MiB table: info" info "$T/bat.vpc"
bounded "64 MiB table: map" map "$T/bat.vpc"
same "64 MiB table: map json" map --output=json ../bat.vpc
bounded "64 MiB table: write at 5 GiB (a new block, its entry through the cache)" \
	bench -q -w -c 3 -s 4k -S 1M --pattern=7 -o $((5 << 30)) -f vpc "$T/bat.vpc"
ok "64 MiB table: qemu-io reads the writes back" qio -r \
	-c 'read -P 7 5G 4k' -c "read -P 7 $(((5 << 30) + (1 << 20))) 4k" \
	-c "read -P 0 $(((5 << 30) + 4096)) 4k" \
	"$T/bat.vpc"
same "64 MiB table: map json after the writes" map --output=json ../bat.vpc
bounded "64 MiB table: resize to 65 GiB (the table moved, copied a page at a time)" \
	resize -q "$T/bat.vpc" 65G
ok "64 MiB table grown: qemu-io reads the data and zeros past the old end" \
	qio -r -c 'read -P 7 5G 4k' -c "read -P 0 $(((64 << 30) + (512 << 10))) 4k" \
	"$T/bat.vpc"
same "64 MiB table grown: info" info ../bat.vpc
rm -f "$T/bat.vpc"

done_testing
