#!/bin/bash
# SPDX-License-Identifier: MIT
# The vhdx format against qemu-img 7.2: create with every option (the
# Formatting line, and the file byte for byte but for the GUIDs, the random
# sequence number and the checksums over them), images qemu-io wrote read
# exactly, images qimg wrote (convert, every subformat) checked and
# compared by qemu-img, the Hyper-V sample read as qemu-img reads it, the
# dirty-log sample refused read-only and replayed by check -r all to
# qemu-img's content, damaged metadata refused with qemu-img's messages,
# read-only commands leave the image alone.
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"
command -v perl >/dev/null || skip_all "perl not found"

# masked_cmp A B: equal files but for the header fields a create fills
# at random (checksum, sequence number, FileWriteGuid, DataWriteGuid) and
# the page 83 GUID.
masked_cmp()
{
	spawn perl -e '
		my @d;
		for my $p (@ARGV) {
			open(my $f, "<:raw", $p) or die;
			local $/; my $b = <$f>; close($f);
			for my $h (0x10000, 0x20000) {
				substr($b, $h + 4, 44) = "\0" x 44;
			}
			my $m = unpack("Q<", substr($b, 0x30040, 8));
			substr($b, $m + 0x10010, 16) = "\0" x 16
				if $m + 0x10020 <= length($b);
			push @d, $b;
		}
		exit($d[0] eq $d[1] ? 0 : 1);' "$@"
}

# same_create DESC ARGS...: `create -f vhdx ARGS` by both tools: the same
# output and status, and the same image but for its random fields.
same_create()
{
	local d=$1
	shift
	spawn rm -f "$E"/c.vhdx "$G"/c.vhdx
	same "$d" create -f vhdx "$@"
	if [ ! -e "$E/c.vhdx" ] && [ ! -e "$G/c.vhdx" ]; then
		return
	fi
	if [ -e "$E/c.vhdx" ] && [ -e "$G/c.vhdx" ] &&
		[ "$(stat -c %s "$E/c.vhdx")" = "$(stat -c %s "$G/c.vhdx")" ] &&
		masked_cmp "$E/c.vhdx" "$G/c.vhdx"; then
		pass "$d: qemu-img's image"
	else
		fail "$d: qemu-img's image"
		diag "$(ls -l "$E/c.vhdx" "$G/c.vhdx" 2>&1)"
	fi
}

# reads IMG [MIB]: what a read-only user sees of IMG, against qemu-img, and
# the image unchanged.  With MIB, a quick run copies only the first MIB MiB
# (dd) instead of the whole disk (a 1 GiB raw copy, its cmp and compare
# take seconds).
reads()
{
	local img=$1 d=${1%.vhdx} sum
	sum=$(cksum <"$img")
	same "$d: info" info "../$img"
	same "$d: info json" info --output=json "../$img"
	same "$d: map json" map --output=json "../$img"
	same "$d: check" check "../$img"
	same "$d: check json" check --output=json "../$img"
	spawn rm -f "$E"/o.* "$G"/o.*
	if [ -n "${2:-}" ] && ! whole; then
		same "$d: dd of the first $2 MiB" dd -O raw bs=1M count="$2" \
			"if=../$img" of=o.raw
		ok "$d: dd bytes are qemu-img's" cmp "$E/o.raw" "$G/o.raw"
	else
		same "$d: convert to raw" convert -O raw "../$img" o.raw
		ok "$d: raw copy is qemu-img's byte for byte" cmp -s "$E/o.raw" "$G/o.raw"
		same "$d: compare with the raw copy" compare "../$img" o.raw
	fi
	if [ "$(cksum <"$img")" = "$sum" ]; then
		pass "$d: image unchanged"
	else
		fail "$d: image unchanged"
	fi
}

# --- create ---------------------------------------------------------------
# A quick run samples the sizes (0 is created again below) and the options,
# keeping the largest size.
i=0
for s in 0 512 1000 1M 17000000 1G 1073741825 100G 107374182401 5T 64T; do
	i=$((i + 1))
	quick_pick $i || [ "$s" = 64T ] || continue
	same_create "create $s" c.vhdx "$s"
done
i=0
for o in block_size=1M block_size=512K block_size=1.5M block_size=512M \
	block_size=256M log_size=4M log_size=1.5M log_size=512K \
	subformat=dynamic subformat=fixed \
	subformat=fixed,block_state_zero=off block_state_zero=off \
	block_state_zero=on,block_size=2M,log_size=2M; do
	quick_pick $((i++)) || continue
	same_create "create 20M -o $o" -o "$o" c.vhdx 20M
done
same_create "create 40M fixed, 1M blocks, zero state off" \
	-o subformat=fixed,block_state_zero=off,block_size=1M c.vhdx 40M
same_create "create 2T, 1M blocks" -o block_size=1M c.vhdx 2T
same_create "create 8T, 4M blocks, 3M log" -o block_size=4M,log_size=3M \
	c.vhdx 8T
same "create: size too large" create -f vhdx c.vhdx 65T
# an empty disk: QEMU sizes its BAT region for 2^32 / chunk ratio entries
same_create "create 0" c.vhdx 0
ok "create 0: the BAT region is left sparse (under 1 MiB written)" \
	test "$(du -k "$G/c.vhdx" | cut -f1)" -lt 1024
spawn rm -f "$E"/c.vhdx "$G"/c.vhdx
same "create 0, 256M blocks: a BAT qemu-img cannot write" create -f vhdx \
	-o block_size=256M c.vhdx 0
ok "create 0, 256M blocks: no file left behind" test ! -e "$G/c.vhdx"
spawn rm -f "$E"/c.vhdx
same "create: -o help" create -f vhdx -o help
same "create: bad block_state_zero" create -f vhdx \
	-o block_state_zero=maybe c.vhdx 1M
same_rc "create: block size not a power of two" create -f vhdx \
	-o block_size=3M c.vhdx 1M
same_rc "create: log size 0" create -f vhdx -o log_size=0 c.vhdx 1M
same_rc "create: unknown subformat" create -f vhdx -o subformat=foo \
	c.vhdx 1M
spawn rm -f "$E"/c.vhdx "$G"/c.vhdx

# --- images qemu-io wrote, read by qimg --------------------------------------
spawn "$QEMU_IMG" create -q -f vhdx w1.vhdx 100M
spawn "$QEMU_IO" -c 'write -P 0xaa 1M 4k' -c 'write -P 0xbb 50M 64k' \
	-c 'write -P 0xcc 99M 1M' w1.vhdx >/dev/null
# (a quick run reads w2 and w3: a dynamic and a fixed image; w1 is used
# below either way)
whole && reads w1.vhdx
spawn "$QEMU_IMG" create -q -f vhdx -o block_size=1M,block_state_zero=off \
	w2.vhdx 10000000
spawn "$QEMU_IO" -c 'write -P 0x11 0 3M' -c 'write -P 0x22 9999872 128' \
	-c 'write -P 0x33 5000000 1000' w2.vhdx >/dev/null
reads w2.vhdx
spawn "$QEMU_IMG" create -q -f vhdx -o subformat=fixed,block_state_zero=off \
	w3.vhdx 17000000
spawn "$QEMU_IO" -c 'write -P 0x44 8M 1M' w3.vhdx >/dev/null
reads w3.vhdx
spawn "$QEMU_IMG" create -q -f vhdx -o subformat=fixed w4.vhdx 20M
spawn "$QEMU_IO" -c 'write -P 0x55 0 512' w4.vhdx >/dev/null
whole && reads w4.vhdx
spawn "$QEMU_IMG" create -q -f vhdx w5.vhdx 6T
spawn "$QEMU_IO" -c 'write -P 0x66 5T 64k' w5.vhdx >/dev/null
same "6T: info" info ../w5.vhdx
same "6T: map json" map --output=json ../w5.vhdx
same "6T: dd of the written block" dd -O raw bs=1M count=1 skip=5242880 \
	if=../w5.vhdx of=o.dd
ok "6T: dd bytes are qemu-img's" cmp "$E/o.dd" "$G/o.dd"

# --- images qimg wrote, checked by qemu-img -----------------------------
head -c 3M /dev/urandom >pat.raw
spawn truncate -s 40M pat.raw
spawn dd if=/dev/urandom of=pat.raw bs=64k seek=300 count=5 conv=notrunc \
	2>/dev/null
printf 'tail' | dd of=pat.raw bs=1 seek=$((40 * 1048576 - 4)) \
	conv=notrunc 2>/dev/null
# (a quick run: fixed with zero state off, and 32M blocks with a 2M log)
i=0
for o in "" subformat=fixed subformat=fixed,block_state_zero=off \
	block_state_zero=off block_size=1M block_size=32M,log_size=2M; do
	quick_pick $((++i)) || continue
	spawn rm -f "$G"/o.vhdx "$E"/o.vhdx
	same "convert raw -> vhdx ${o:-defaults}" convert -O vhdx \
		${o:+-o "$o"} ../pat.raw o.vhdx
	ok "convert ${o:-defaults}: qemu-img check" \
		"$QEMU_IMG" check -q "$G/o.vhdx"
	ok "convert ${o:-defaults}: qemu-img compare" \
		contents_equal pat.raw "$G/o.vhdx"
	ok "convert ${o:-defaults}: qemu-io reads the last sector" \
		qio -r -c "read -P 0 $((40 * 1048576 - 512)) 508" \
		"$G/o.vhdx"
	same "convert ${o:-defaults}: info" info ../g/o.vhdx
done
# qimg writing into an image qemu-img made and qemu-io wrote.
spawn cp w1.vhdx "$G"/rw.vhdx
spawn "$QEMU_IMG" convert -O raw w1.vhdx rw.raw
spawn dd if=/dev/urandom of=rw.raw bs=4k seek=200 count=300 conv=notrunc \
	2>/dev/null
ok "convert -n over qemu's image" qimg convert -n -O vhdx rw.raw \
	"$G"/rw.vhdx
ok "convert -n: qemu-img check" "$QEMU_IMG" check -q "$G/rw.vhdx"
ok "convert -n: qemu-img compare" contents_equal rw.raw "$G/rw.vhdx"
same "vhdx -> qcow2 -> compare" convert -O qcow2 ../w1.vhdx o.qcow2
ok "vhdx -> qcow2: same content" contents_equal w1.vhdx "$G/o.qcow2"
# compare skips the blocks that read as zeros, where qemu-img reads them;
# the answers (and the offset of the first difference) are the same
spawn "$QEMU_IMG" create -q -f vhdx -o block_size=1M cz.vhdx 64M
spawn "$QEMU_IO" -c 'write -P 3 5M 1M' cz.vhdx >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 cz.qcow2 64M
spawn "$QEMU_IO" -c 'write -P 3 5M 1M' -c 'write -P 4 40M 4k' \
	-c 'write -z 50M 1M' cz.qcow2 >/dev/null
same "compare: data where the vhdx has an empty block" compare \
	../cz.vhdx ../cz.qcow2
same "compare: the other way round" compare ../cz.qcow2 ../cz.vhdx
same "compare -s: status as qemu-img sees it" compare -s ../cz.vhdx \
	../cz.qcow2
spawn "$QEMU_IO" -c 'write -z 40M 4k' cz.qcow2 >/dev/null
same "compare: equal once that is gone" compare ../cz.vhdx ../cz.qcow2

# --- unsupported operations --------------------------------------------
same "measure refused" measure -O vhdx --size 1G
same "measure of an image refused" measure -O vhdx ../w1.vhdx
spawn cp w1.vhdx "$E"/am.vhdx
spawn cp w1.vhdx "$G"/am.vhdx
same "amend refused" amend -o block_size=1M am.vhdx
same "snapshot -l refused" snapshot -l am.vhdx
same "commit without a backing file" commit am.vhdx

# --- resize (qemu-img refuses it; qimg grows and shrinks) -----------------
spawn "$QEMU_IMG" create -q -f vhdx rs.vhdx 100M
spawn "$QEMU_IO" -c 'write -P 0x11 0 3M' -c 'write -P 0x12 20M 1M' rs.vhdx >/dev/null
ok "resize: grow to 1G" qimg resize -q rs.vhdx 1G
ok "resize: grown image passes qemu-img check" "$QEMU_IMG" check -q rs.vhdx
ok "resize: qemu-img sees 1 GiB" test "$("$QEMU_IMG" info --output=json \
	rs.vhdx | grep -c '"virtual-size": 1073741824')" = 1
# (a quick run reads the new area across the old end and its last MiB,
# not the whole 1003 MiB)
if whole; then
	ok "resize: data kept, new area zero" qio -r -c 'read -P 0x11 0 3M' \
		-c 'read -P 0x12 20M 1M' -c 'read -P 0 21M 1003M' rs.vhdx
else
	ok "resize: data kept, new area zero" qio -r -c 'read -P 0x11 0 3M' \
		-c 'read -P 0x12 20M 1M' -c 'read -P 0 21M 107M' \
		-c 'read -P 0 1023M 1M' rs.vhdx
fi
refused_clearly "resize: shrink over data refused" \
	"Cannot shrink the image: block 2 past the new end holds data" \
	resize --shrink rs.vhdx 10M
ok "resize: shrink to 20M (a block cut)" qimg resize -q --shrink rs.vhdx 20M
ok "resize: shrunk image passes qemu-img check" "$QEMU_IMG" check -q rs.vhdx
ok "resize: grow again" qimg resize -q rs.vhdx 100M
# An empty disk's BAT region is sized for the largest disk: 1 GiB with
# 128M blocks, which qemu-img takes seconds to write and seconds to check.
# Whole runs only: a quick run grows rs.vhdx within its BAT region above
# and bigb.vhdx's 128 MiB BAT in bounded memory below.
if whole; then
	spawn rm -f z.vhdx
	spawn "$QEMU_IMG" create -q -f vhdx -o block_size=128M z.vhdx 0
	ok "resize: an empty disk (a 1 GiB BAT region) grows in bounded memory" \
		/usr/bin/time -f %M -o z.rss "$QIMG" resize -q z.vhdx 300M
	ok "resize: ... under 64 MiB RSS ($(cat z.rss 2>/dev/null) KiB)" \
		test "$(cat z.rss 2>/dev/null || echo 999999)" -lt 65536
	ok "resize: the grown empty disk passes qemu-img check" \
		"$QEMU_IMG" check -q z.vhdx
	ok "resize: qemu-img sees 300 MiB" test "$("$QEMU_IMG" info \
		--output=json z.vhdx |
		sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p')" = 314572800
fi
# (a quick run reads the zeros after the data up to 32M, the cut block
# among them, not all 97 MiB)
zr="3M 97M"
whole || zr="3M 29M"
ok "resize: the cut part reads as zeros" qio -r -c 'read -P 0x11 0 3M' \
	-c "read -P 0 $zr" rs.vhdx
ok "resize: check after" "$QEMU_IMG" check -q rs.vhdx
ok "resize: grow past the BAT region (a new one at the end)" \
	qimg resize -q rs.vhdx 64T
ok "resize: moved BAT passes qemu-img check" "$QEMU_IMG" check -q rs.vhdx
ok "resize: qemu-img sees 64 TiB" test "$("$QEMU_IMG" info --output=json \
	rs.vhdx | grep -c '"virtual-size": 70368744177664')" = 1
ok "resize: moved BAT: data kept, new area zero" qio -r \
	-c 'read -P 0x11 0 3M' -c "read -P 0 $zr" -c 'read -P 0 60T 1M' \
	rs.vhdx
ok "resize: qemu-io writes far past the old end" \
	qio -c 'write -P 0x13 50T 3M' rs.vhdx
ok "resize: check after that write" "$QEMU_IMG" check -q rs.vhdx
ok "resize: both read back" qio -r -c 'read -P 0x13 50T 3M' \
	-c 'read -P 0x11 0 3M' rs.vhdx
refused_clearly "resize: past 64 TiB refused" \
	"Image size too large; max of 64TB" resize rs.vhdx 65T
spawn "$QEMU_IMG" create -q -f vhdx -o subformat=fixed,block_state_zero=off \
	rf.vhdx 17000000
spawn "$QEMU_IO" -c 'write -P 0x33 16M 200k' rf.vhdx >/dev/null
ok "resize: fixed image with a short last block grows" \
	qimg resize -q rf.vhdx 40M
ok "resize: fixed image passes qemu-img check" "$QEMU_IMG" check -q rf.vhdx
ok "resize: fixed image reads" qio -r -c 'read -P 0x33 16M 200k' \
	-c 'read -P 0 17000000 24943040' rf.vhdx

# --- a big BAT --------------------------------------------------------------
# 16 TiB of 1 MiB blocks: a 128 MiB BAT (qemu-img holds it whole; qimg
# reads it a page at a time).  Every qemu-img or qemu-io run on it loads
# that BAT (seconds): a quick run leaves out the compare, the check
# compared with qemu-img's (qimg's is bounded above), the qemu-img check
# after the growth and the shrink (the shrink of a block table is rs.vhdx's
# above).
spawn "$QEMU_IMG" create -q -f vhdx -o block_size=1M bigb.vhdx 16T
qio -c 'write -P 7 1T 3M' -c 'write -P 8 9T 1M' -c 'write -P 9 15T 2M' \
	bigb.vhdx
for args in "info bigb.vhdx" "check bigb.vhdx" \
	"convert -O qcow2 bigb.vhdx big-out.qcow2" \
	"compare bigb.vhdx big-out.qcow2" "map --output=json bigb.vhdx"; do
	case $args in compare*) whole || continue ;; esac
	# shellcheck disable=SC2086
	bounded "16 TiB, 128 MiB BAT: $args" $args
done
same "16 TiB, 128 MiB BAT: map" map --output=json ../bigb.vhdx
whole && same "16 TiB, 128 MiB BAT: check" check ../bigb.vhdx
if whole; then
	ok "16 TiB: the qcow2 copy holds the data and only it" \
		"$QEMU_IMG" compare -q -f qcow2 -F qcow2 big-out.qcow2 \
		"$("$QEMU_IMG" create -q -f qcow2 bigb-ref.qcow2 16T &&
			spawn "$QEMU_IO" -f qcow2 -c 'write -P 7 1T 3M' \
			-c 'write -P 8 9T 1M' -c 'write -P 9 15T 2M' \
			bigb-ref.qcow2 >/dev/null && echo bigb-ref.qcow2)"
fi
bounded "16 TiB: bench -w writes 3 MiB at 12 TiB (new blocks)" \
	bench -q -w -c 3 -s 1M --pattern=0x5c -o $((12 << 40)) -f vhdx \
	bigb.vhdx
ok "16 TiB: qemu-img check clean after it" "$QEMU_IMG" check -q bigb.vhdx
ok "16 TiB: qemu-io reads every write back" qio -r \
	-c 'read -P 0x5c 12T 3M' -c 'read -P 7 1T 3M' -c 'read -P 9 15T 2M' \
	-c "read -P 0 $(((12 << 40) + (3 << 20))) 1M" bigb.vhdx
bounded "16 TiB: resize to 32 TiB (the BAT moved, 128 MiB copied)" \
	resize -q bigb.vhdx 32T
whole && ok "16 TiB grown to 32: qemu-img check clean" \
	"$QEMU_IMG" check -q bigb.vhdx
ok "16 TiB grown to 32: data kept, new area zero" qio -r \
	-c 'read -P 0x5c 12T 3M' -c 'read -P 9 15T 2M' -c 'read -P 0 31T 1M' \
	bigb.vhdx
if whole; then
	bounded "32 TiB: shrink to 15 TiB + 4 MiB (blocks past it unmapped)" \
		resize -q --shrink bigb.vhdx $(((15 << 40) + (4 << 20)))
	ok "shrunk: qemu-img check clean" "$QEMU_IMG" check -q bigb.vhdx
	ok "shrunk: data below the end kept" qio -r -c 'read -P 9 15T 2M' \
		-c 'read -P 0x5c 12T 3M' \
		-c "read -P 0 $(((15 << 40) + (2 << 20))) 2M" bigb.vhdx
fi
rm -f bigb.vhdx big-out.qcow2 bigb-ref.qcow2

# --- damaged images ------------------------------------------------------
"$QEMU_IMG" create -q -f vhdx base.vhdx 100M
while read -r name off hex len; do
	[ -n "$name" ] || continue
	cp base.vhdx "d-$name.vhdx"
	poke "d-$name.vhdx" "$off" "$hex"
	[ -n "$len" ] && truncate -s "$len" "d-$name.vhdx"
	same "damaged $name: info" info "../d-$name.vhdx"
done <<-'EOF'
	identifier 0 00
	header1-sig 65536 00
	header2-crc 131076 00
	region-table 196608 00
	region-table-crc 196612 00
	metadata-sig 3145728 00
	block-size-0 3211264 00000000
	block-size-3M 3211264 00003000
	block-size-512M 3211264 00000020
	disk-size-0 3211272 0000000000000000
	disk-size-too-big 3211272 0000000000004001
	disk-size-1 3211272 0100000000000000
	logical-4k 3211296 00100000
	logical-1k 3211296 00040000
	physical-4k 3211300 00100000
	has-parent 3211268 02000000
	leave-allocated 3211268 01000000
	bat-at-0 2097152 06000000
	bat-past-end 2097152 06000000ffff0000
	bat-at-8M 2097152 06008000
	bat-at-8M-short 2097152 06008000 9M
	bat-at-8M-ok 2097152 06008000 16M
	bat-at-1M 2097152 0600100000000000 16M
	bat-at-16M-odd 2097152 0600000100000000 16777217
	bat-partial 2097152 0700800000000000 32M
	bat-state-4 2097152 0400800000000000 32M
	bat-state-5 2097152 0500800000000000 32M
	bat-zero-with-offset 2097152 0200800000000000 32M
	bat-unmapped 2097152 0300800000000000 32M
EOF
same "damaged identifier: -f vhdx" info -f vhdx ../d-identifier.vhdx
same "damaged bat-at-1M: convert" convert -O raw ../d-bat-at-1M.vhdx o.raw
same "damaged bat-partial: convert" convert -O raw ../d-bat-partial.vhdx o.raw
same "damaged bat-state-4: convert" convert -O raw ../d-bat-state-4.vhdx o.raw
same "damaged bat-state-5: convert" convert -O raw ../d-bat-state-5.vhdx o.raw
cp base.vhdx e-both.vhdx
poke e-both.vhdx 65540 00
poke e-both.vhdx 131076 00
same "damaged, both headers: info" info ../e-both.vhdx

# --- samples --------------------------------------------------------------
if [ -d "$SAMPLES" ] && command -v bunzip2 >/dev/null &&
	[ -f "$SAMPLES/iotest-dynamic-1G.vhdx.bz2" ]; then
	bunzip2 -c "$SAMPLES/iotest-dynamic-1G.vhdx.bz2" >hyperv.vhdx
	# its data lies in the first 66 MiB
	reads hyperv.vhdx 80
else
	skip "sample iotest-dynamic-1G.vhdx (absent)"
fi
if [ -d "$SAMPLES" ] && command -v bunzip2 >/dev/null &&
	[ -f "$SAMPLES/iotest-dirtylog-10G-4M.vhdx.bz2" ]; then
	bunzip2 -c "$SAMPLES/iotest-dirtylog-10G-4M.vhdx.bz2" >dirty.vhdx
	sum=$(cksum <dirty.vhdx)
	same "dirty log: info refused" info ../dirty.vhdx
	same "dirty log: check refused" check ../dirty.vhdx
	same "dirty log: convert refused" convert -O raw ../dirty.vhdx o.raw
	ok "dirty log: unchanged by read-only commands" \
		test "$(cksum <dirty.vhdx)" = "$sum"
	cp dirty.vhdx "$E"/dl.vhdx
	cp dirty.vhdx "$G"/dl.vhdx
	same "dirty log: check -r all replays" check -r all dl.vhdx
	same "dirty log: check after the replay" check dl.vhdx
	same "dirty log: info after the replay" info dl.vhdx
	# The replayed files are equal but for the headers' random fields,
	# so their content is qemu-img's (a 10 GiB raw copy would be slow).
	ok "dirty log: replayed file is qemu-img's but for the headers" \
		masked_cmp "$E"/dl.vhdx "$G"/dl.vhdx
	cp dirty.vhdx "$E"/dl3.vhdx
	cp dirty.vhdx "$G"/dl3.vhdx
	same "dirty log: check -r leaks replays" check -r leaks dl3.vhdx
else
	skip "sample iotest-dirtylog-10G-4M.vhdx (absent)"
fi

done_testing
