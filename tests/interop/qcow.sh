#!/bin/bash
# SPDX-License-Identifier: MIT
# The qcow (version 1) format against qemu-img 7.2: create (images byte
# for byte qemu-img's, with and without a backing file, encryption refused
# with qemu-img's words), info/map/convert of images qemu-io wrote (plain
# and compressed clusters, backing files, over 4 GiB), convert into qcow
# byte for byte, `convert -c -O qcow` (qemu-img 7.2 fails; qimg writes
# compressed clusters qemu-img and qemu-io read back), writes through qimg
# (bench, commit) as qemu-img writes them, damaged headers refused with
# qemu-img's messages, and the commands qemu-img refuses for qcow.
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"

# reads IMG [backed]: what a read-only user sees, against qemu-img; IMG
# unchanged.  For a backed IMG a quick run leaves out the copies to qcow2
# and qcow and the compare (qemu-img's reads through the backing file take
# a second or more each; the raw copy reads through it, and the other
# images' copies and compares cover those commands).
reads()
{
	local img=$1 d=${1%.qcow} sum
	sum=$(cksum <"$img")
	same "$d: info" info "../$img"
	same "$d: info json" info --output=json "../$img"
	same "$d: map" map "../$img"
	same "$d: map json" map --output=json "../$img"
	same "$d: check" check "../$img"
	spawn rm -f "$E"/o.* "$G"/o.*
	same "$d: convert to raw" convert -O raw "../$img" o.raw
	same_file "$d: convert to raw" o.raw
	if [ -z "${2:-}" ] || whole; then
		same "$d: convert to qcow2" convert -O qcow2 "../$img" o.qcow2
		same_file "$d: convert to qcow2" o.qcow2
		same "$d: convert to qcow" convert -O qcow "../$img" o.qcow
		same_file "$d: convert to qcow" o.qcow
		same "$d: compare with the raw copy" compare "../$img" o.raw
	fi
	if [ "$(cksum <"$img")" = "$sum" ]; then
		pass "$d: image unchanged"
	else
		fail "$d: image unchanged"
	fi
}

# --- create -------------------------------------------------------------
n=0
for args in "1G" "3000000" "5G" "1" "0" "16T" "-o encryption=off 1M" \
	"-o encryption=on 1M" "-o encrypt.format=luks 1M" \
	"-o encrypt.format=aes 1M"; do
	n=$((n + 1))
	# (qemu-img writes 16T's 64 MiB L1 table 512 bytes at a time, seconds
	# of processor time: whole runs only; 5G has an L1 table too)
	[ "$args" = 16T ] && ! whole && continue
	# shellcheck disable=SC2086
	same "create $args" create -f qcow c$n.qcow $args
	[ -s "$E/c$n.qcow" ] && same_file "create $args" c$n.qcow
done
same "create -o help" create -f qcow -o help
same "amend refused" amend -f qcow -o size=2M c1.qcow
same "resize refused" resize c1.qcow 2G
same "check refused" check c1.qcow
same "measure refused" measure -O qcow --size 1G
spawn "$QEMU_IMG" create -q -f raw base.raw 10M
spawn "$QEMU_IO" -f raw -c 'write -P 0x11 0 10M' base.raw >/dev/null
spawn "$QEMU_IMG" create -q -f qcow base.qcow 12M
spawn "$QEMU_IO" -f qcow -c 'write -P 0x22 0 12M' base.qcow >/dev/null
same "create backing raw" create -f qcow -b ../base.raw -F raw b1.qcow
same_file "create backing raw" b1.qcow
same "create backing qcow" create -f qcow -b ../base.qcow -F qcow b2.qcow 20M
same_file "create backing qcow" b2.qcow
same "create backing without format" create -f qcow -b ../base.qcow b3.qcow
same "create -u backing" create -f qcow -u -b nowhere.raw -F raw b4.qcow 1M
same_file "create -u backing" b4.qcow
same "rebase -u refused" rebase -u -b ../base.raw -F raw b1.qcow
same_file "rebase -u refused" b1.qcow

# --- images qemu-io wrote -----------------------------------------------
spawn "$QEMU_IMG" create -q -f qcow w.qcow 80M
spawn "$QEMU_IO" -f qcow -c 'write -P 0xaa 1k 2k' -c 'write -P 0xbb 40M 8k' \
	-c 'write -z 1M 64k' -c 'write -P 0xcc 79M 1M' w.qcow >/dev/null
spawn "$QEMU_IMG" create -q -f qcow comp.qcow 3000000
spawn "$QEMU_IO" -f qcow -c 'write -c -P 1 0 4k' -c 'write -c -P 2 8k 4k' \
	-c 'write -c -P 3 4k 4k' -c 'write -P 4 1k 1k' \
	-c 'write -c -z 64k 64k' -c 'write -c -P 5 2998272 1536' \
	comp.qcow >/dev/null
spawn "$QEMU_IMG" create -q -f qcow big.qcow 6G
spawn "$QEMU_IO" -f qcow -c 'write -P 3 4095M 2M' -c 'write -P 4 6143M 1M' \
	big.qcow >/dev/null
spawn "$QEMU_IMG" create -q -f qcow -b base.raw -F raw top.qcow
spawn "$QEMU_IO" -f qcow -c 'write -P 0x33 100k 8k' -c 'write -P 0x34 1000 1000' \
	top.qcow >/dev/null
spawn "$QEMU_IMG" create -q -f qcow -b base.qcow -F qcow top2.qcow 20M
spawn "$QEMU_IO" -f qcow -c 'write -P 0x44 11M 2M' top2.qcow >/dev/null
# (a quick run leaves out top: top2 reads through a backing file too, a
# qcow one shorter than the image, and qemu-img's reads of either take
# seconds)
for img in w comp top top2; do
	[ $img = top ] && ! whole && continue
	case $img in
	top*) reads $img.qcow backed ;;
	*) reads $img.qcow ;;
	esac
done
same "big: info" info ../big.qcow
same "big: map json" map --output=json ../big.qcow
same "big: dd of the data" dd -O raw bs=1M skip=4094 count=4 \
	if=../big.qcow of=o.big
same_file "big: dd of the data" o.big
same "top: info --backing-chain" info --backing-chain ../top2.qcow
same "json: filename" info \
	'json:{"driver":"qcow","file":{"driver":"file","filename":"../w.qcow"}}'

# --- convert into qcow ----------------------------------------------------
spawn "$QEMU_IMG" create -q -f raw r.raw 9M
spawn "$QEMU_IO" -f raw -c 'write -P 5 0 5M' -c 'write -P 6 8000k 12k' \
	-c 'write -P 7 9212k 4k' r.raw >/dev/null
head -c 300000 /dev/urandom | dd of=r.raw bs=1k seek=6000 conv=notrunc \
	2>/dev/null
spawn rm -f "$E"/o.* "$G"/o.*
same "convert raw to qcow" convert -O qcow ../r.raw o.qcow
same_file "convert raw to qcow" o.qcow
same "convert -S 0" convert -S 0 -O qcow ../r.raw o3.qcow
same_file "convert -S 0" o3.qcow
same "convert -B" convert -O qcow -B ../base.raw -F raw ../r.raw o4.qcow
same_file "convert -B" o4.qcow
same "convert -m 8 -W" convert -m 8 -W -O qcow ../r.raw o6.qcow
ok "convert -m 8 -W: qemu-img compare" contents_equal r.raw "$G/o6.qcow"
# -c: qemu-img 7.2 fails; qimg writes compressed clusters qemu reads
qimg convert -c -O qcow r.raw cz.qcow
ok "convert -c: exit 0" test $? = 0
ok "convert -c: smaller than the plain copy" \
	test "$(stat -c %s cz.qcow)" -lt "$(stat -c %s "$G/o.qcow")"
ok "convert -c: qemu-img compare" contents_equal r.raw cz.qcow
spawn "$QEMU_IMG" convert -O raw cz.qcow cz.raw
ok "convert -c: qemu-img reads it back" cmp r.raw cz.raw
ok "convert -c: qemu-io reads a compressed cluster" \
	"$QEMU_IO" -f qcow -c 'read -P 5 4M 64k' cz.qcow
same "convert -c: map json" map --output=json ../cz.qcow
same "convert -c: info" info ../cz.qcow
# a write into a compressed cluster: qemu-io and qimg agree
spawn cp cz.qcow cze.qcow
spawn cp cz.qcow czg.qcow
spawn "$QEMU_IO" -f qcow -c 'write -P 9 4100k 1k' cze.qcow >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -b czg.qcow -F qcow czt.qcow2
spawn "$QEMU_IO" -f qcow2 -c 'write -P 9 4100k 1k' czt.qcow2 >/dev/null
qimg commit -q czt.qcow2
ok "write into a compressed cluster: content" contents_equal cze.qcow czg.qcow
qimg convert -c -O qcow -o backing_file=base.raw,backing_fmt=raw r.raw czb.qcow
ok "convert -c with a backing file (512-byte clusters)" \
	contents_equal r.raw czb.qcow

# --- writes through qimg: bench, commit ---------------------------------
# A quick run makes three of the six: every pattern once, over both
# backing formats; and where qimg's file is qemu-img's byte for byte (the
# next test), that is its content too, with no qemu-img compare (seconds
# through 512-byte backing reads).
fi=0
for fmt in raw qcow; do
	wi=0
	for w in "-s 4096 -S 70000 -o 1024 -c 16" "-s 512 -S 65536 -o 65024 -c 8" \
		"-s 200000 -S 300000 -o 512 -c 30"; do
		wi=$((wi + 1))
		whole || [ $(((fi + wi) % 2)) = 1 ] || continue
		# (10 of the 30 large writes in a quick run: qemu-img's qcow
		# driver takes seconds of processor time over the 30)
		whole || w=${w/-c 30/-c 10}
		spawn "$QEMU_IMG" create -q -f qcow -b base.$fmt -F $fmt e.qcow 10M
		spawn cp e.qcow g.qcow
		# shellcheck disable=SC2086
		spawn "$QEMU_IMG" bench -w -f qcow -d 1 $w e.qcow >/dev/null
		# shellcheck disable=SC2086
		qimg bench -w -f qcow -d 1 $w g.qcow >/dev/null
		if ! whole && spawn cmp -s e.qcow g.qcow; then
			pass "bench -w $w over $fmt: same content as qemu-img's"
		else
			ok "bench -w $w over $fmt: same content as qemu-img's" \
				contents_equal e.qcow g.qcow
		fi
		ok "bench -w $w over $fmt: qimg's file is qemu's" cmp e.qcow g.qcow
	done
	fi=$((fi + 1))
done
spawn "$QEMU_IMG" create -q -f qcow -b base.raw -F raw nb.qcow
spawn "$QEMU_IMG" rebase -q -u -b '' -f qcow2 nb.qcow 2>/dev/null
for who in e g; do
	spawn "$QEMU_IMG" create -q -f raw cb-$who.raw 10M
	spawn "$QEMU_IO" -f raw -c 'write -P 0x71 0 10M' cb-$who.raw >/dev/null
	spawn "$QEMU_IMG" create -q -f qcow -b cb-$who.raw -F raw ct-$who.qcow
	spawn "$QEMU_IO" -f qcow -c 'write -P 0x72 100k 300k' ct-$who.qcow >/dev/null
done
spawn "$QEMU_IMG" commit -q ct-e.qcow
qimg commit -q ct-g.qcow
ok "commit of a qcow top: the base is qemu-img's" cmp cb-e.raw cb-g.raw
ok "commit of a qcow top: emptied as qemu-img empties it" \
	cmp <(tail -c +60 ct-e.qcow) <(tail -c +60 ct-g.qcow)
spawn "$QEMU_IMG" create -q -f qcow bq.qcow 10M
spawn "$QEMU_IO" -f qcow -c 'write -P 0x55 0 3M' bq.qcow >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -b "$T/bq.qcow" -F qcow tq.qcow2
spawn "$QEMU_IO" -f qcow2 -c 'write -P 0x66 1000 5000' -c 'write -P 0x67 2M 2M' \
	tq.qcow2 >/dev/null
spawn "$QEMU_IMG" convert -O raw tq.qcow2 want.raw
qimg commit -q tq.qcow2
ok "commit into a qcow base: content" contents_equal want.raw bq.qcow

# --- damaged headers and encryption --------------------------------------
spawn "$QEMU_IMG" create -q -f qcow h.qcow 1M
n=0
for p in "32 08" "32 11" "32 10" "32 09" "33 05" "33 0e" "33 06" "39 02" \
	"24 0000000000000000" "24 0000000000000001" "24 0000000000000201" \
	"24 7fffffffffffffff" "24 0000000100000000" "40 0000000000100000" \
	"40 0000000000000031" "8 0000000000000030 16 00000400" \
	"8 0000000000000030 16 000003ff" "8 0000000000100000 16 00000005" \
	"7 03" "7 02" "7 00" "39 01"; do
	n=$((n + 1))
	spawn cp h.qcow dmg$n.qcow
	set -- $p
	while [ $# -ge 2 ]; do
		poke dmg$n.qcow "$1" "$2"
		shift 2
	done
	same "damaged header $p: info" info -f qcow ../dmg$n.qcow
	# (where qemu-img refuses the header, convert refuses it with the
	# same words: a quick run converts a third of those)
	read -r rc <"$R/e.rc"
	if [ "$rc" = 0 ] || quick_pick $n; then
		same "damaged header $p: convert" convert -f qcow -O raw \
			../dmg$n.qcow o.d
	fi
done
head -c 20 h.qcow >short.qcow
same "short file" info -f qcow ../short.qcow

# A 32 TiB image has a 128 MiB L1 table: read a page at a time, never
# whole (qemu-img holds it all).  qemu-img writes that table 512 bytes at
# a time (seconds of processor time): a quick run has qimg create the
# image, the same bytes (create 16T above, in a whole run, and the other
# sizes are qemu-img's byte for byte).  It also leaves out the convert
# and compare: map walks the same table a page at a time.
spawn rm -f big32.qcow
if whole; then
	spawn "$QEMU_IMG" create -q -f qcow big32.qcow 32T
else
	spawn "$QIMG" create -q -f qcow big32.qcow 32T
fi
spawn "$QEMU_IO" -f qcow -c 'write -P 7 20T 3M' big32.qcow >/dev/null
for args in "info big32.qcow" "convert -O qcow2 big32.qcow big-out.qcow2" \
	"compare big32.qcow big-out.qcow2" "map --output=json big32.qcow"; do
	case $args in convert* | compare*) whole || continue ;; esac
	# shellcheck disable=SC2086
	bounded "32 TiB: $args" $args
done
# (qemu-img's map of it takes over ten minutes: qemu-io reads it back)
ok "32 TiB: map shows the data at 20 TiB" grep -q \
	'"start": 21990232555520, "length": 2097152, .*"data": true' \
	"$T/bounded.out"
spawn rm -f big-out.qcow2
ok "32 TiB: bench -w writes 4 MiB at 21 TiB (new L2 tables)" \
	"$QIMG" bench -q -w -c 4 -s 1M --pattern=0x5c -o $((21 << 40)) \
	-f qcow big32.qcow
ok "32 TiB: qemu-io reads both writes back" "$QEMU_IO" -f qcow -r \
	-c "read -P 0x5c $((21 << 40)) 4M" -c 'read -P 7 20T 3M' \
	-c "read -P 0 $(((21 << 40) + (4 << 20))) 1M" big32.qcow
"$QIMG" map --output=json big32.qcow >big.out 2>&1
ok "32 TiB: map after the writes shows them" grep -q \
	'"start": 23089744183296, .*"data": true' big.out
rm -f big32.qcow big.out

done_testing
