#!/bin/bash
# SPDX-License-Identifier: MIT
# Damaged qcow2 images: truncated or garbage headers, absurd sizes, bad
# table offsets, corrupt flag, unknown features, bad L1/L2/refcount entries.
# For each image and command: qimg must not crash or hang (exit >= 124 is a
# failure), must fail exactly when qemu-img fails, must then print one line
# naming the file, and read-only commands must leave the file unchanged.
. "$(dirname "$0")/lib.sh"
# each qimg run on a damaged image bounded to 60 s (a hang is a failure)
limit_qimg 60

# poke FILE OFFSET HEX: overwrite bytes at OFFSET with HEX ("00ff10...").
# (The escapes made by bash itself: a hundred images are made this way.)
poke()
{
	local esc='' k
	for ((k = 0; k < ${#3}; k += 2)); do
		esc+="\\x${3:k:2}"
	done
	printf "$esc" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# poke64 FILE OFFSET VALUE / poke32: big-endian integers
poke64()
{
	local h
	printf -v h '%016x' "$3"
	poke "$1" "$2" "$h"
}

poke32()
{
	local h
	printf -v h '%08x' "$3"
	poke "$1" "$2" "$h"
}

spawn mkdir dmg
# good.qcow2: 64M, 64k clusters; L1 at 0x30000, L2 at 0x40000, data at
# 0x50000, a compressed cluster at guest 1M (L2 index 16).
spawn "$QEMU_IMG" create -q -f qcow2 good.qcow2 64M
spawn "$QEMU_IO" -c 'write -P 1 0 128k' -c 'write -c -P 2 1M 64k' \
	good.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -o compat=0.10 goodv2.qcow2 16M
spawn "$QEMU_IO" -c 'write -P 1 0 64k' goodv2.qcow2 >/dev/null
l1=$((0x30000))
l2=$((0x40000))

# mk NAME [SOURCE]: a copy of good.qcow2 to damage
mk()
{
	spawn cp "${2:-good.qcow2}" "dmg/$1"
	echo "dmg/$1"
}

f=$(mk trunc-50.qcow2); spawn truncate -s 50 "$f"
f=$(mk trunc-4.qcow2); spawn truncate -s 4 "$f"
f=$(mk trunc-100.qcow2); spawn truncate -s 100 "$f"
f=$(mk trunc-l1.qcow2); spawn truncate -s $((l1 + 4)) "$f"
f=$(mk trunc-l2.qcow2); spawn truncate -s $((l2 + 100)) "$f"
f=$(mk trunc-data.qcow2); spawn truncate -s $((0x58000)) "$f"
f=$(mk garbage.qcow2)
{ printf 'QFI\373'; head -c 65532 /dev/urandom; } >"$f"
f=$(mk garbage-v3.qcow2)
{ printf 'QFI\373\0\0\0\3'; head -c 200000 /dev/urandom; } >"$f"
f=$(mk version1.qcow2); poke32 "$f" 4 1
f=$(mk version4.qcow2); poke32 "$f" 4 4
f=$(mk version0.qcow2); poke32 "$f" 4 0
f=$(mk cluster-bits-8.qcow2); poke32 "$f" 20 8
f=$(mk cluster-bits-22.qcow2); poke32 "$f" 20 22
f=$(mk cluster-bits-63.qcow2); poke32 "$f" 20 63
f=$(mk size-huge.qcow2); poke64 "$f" 24 0x7fffffffffffffff
f=$(mk size-top-bit.qcow2); poke64 "$f" 24 0x8000000000000000
f=$(mk size-odd.qcow2); poke64 "$f" 24 1000
f=$(mk crypt-3.qcow2); poke32 "$f" 32 3
f=$(mk crypt-aes.qcow2); poke32 "$f" 32 1
f=$(mk l1-size-huge.qcow2); poke32 "$f" 36 0x7fffffff
f=$(mk l1-size-max.qcow2); poke32 "$f" 36 0xffffffff
f=$(mk l1-size-0.qcow2); poke32 "$f" 36 0
f=$(mk l1-beyond-eof.qcow2); poke64 "$f" 40 0x100000000
f=$(mk l1-unaligned.qcow2); poke64 "$f" 40 $((l1 + 8))
f=$(mk l1-at-0.qcow2); poke64 "$f" 40 0
f=$(mk l1-offset-huge.qcow2); poke64 "$f" 40 0xfffffffffffe0000
f=$(mk rt-unaligned.qcow2); poke64 "$f" 48 $((0x10008))
f=$(mk rt-beyond-eof.qcow2); poke64 "$f" 48 0x7000000000
f=$(mk rt-clusters-huge.qcow2); poke32 "$f" 56 0x7fffffff
f=$(mk rt-clusters-0.qcow2); poke32 "$f" 56 0
f=$(mk snapshots-huge.qcow2); poke32 "$f" 60 0x7fffffff
f=$(mk snapshots-bad-offset.qcow2); poke32 "$f" 60 3
poke64 "$f" 64 0x123
f=$(mk snapshots-beyond.qcow2); poke32 "$f" 60 1
poke64 "$f" 64 0x7000000000
# snapshot tables qemu-img reads at open (and check -r all repairs)
spawn "$QEMU_IMG" create -q -f qcow2 goodsn.qcow2 16M
spawn "$QEMU_IO" -c 'write -P 1 0 64k' goodsn.qcow2 >/dev/null
for s in a b; do spawn "$QEMU_IMG" snapshot -c $s goodsn.qcow2; done
for d in "bigextra 1" "incomplete 0" "noextra 1" "overhang 2"; do
	f=$(mk "snapshot-${d% *}.qcow2" goodsn.qcow2)
	spawn perl "$ROOT/tests/interop/sntable.pl" "$f" $d
done
f=$(mk incompat-unknown.qcow2); poke64 "$f" 72 0x20
f=$(mk incompat-high.qcow2); poke64 "$f" 72 0x8000000000000000
f=$(mk incompat-compression.qcow2); poke64 "$f" 72 0x8
f=$(mk corrupt-flag.qcow2); poke64 "$f" 72 0x2
f=$(mk dirty-flag.qcow2); poke64 "$f" 72 0x1
f=$(mk extl2-flag.qcow2); poke64 "$f" 72 0x10
f=$(mk datafile-flag.qcow2); poke64 "$f" 72 0x4
f=$(mk compat-unknown.qcow2); poke64 "$f" 80 0xfffffffffffffffe
f=$(mk autoclear-unknown.qcow2); poke64 "$f" 88 0xff00
f=$(mk refcount-order-7.qcow2); poke32 "$f" 96 7
f=$(mk refcount-order-0.qcow2); poke32 "$f" 96 0
f=$(mk header-length-50.qcow2); poke32 "$f" 100 50
f=$(mk header-length-huge.qcow2); poke32 "$f" 100 0x7fffffff
f=$(mk header-length-odd.qcow2); poke32 "$f" 100 105
f=$(mk compression-type-9.qcow2); poke32 "$f" 100 112
poke "$f" 104 09
poke64 "$f" 72 0x8
f=$(mk backing-beyond.qcow2); poke64 "$f" 8 0x7000000000
poke32 "$f" 16 10
f=$(mk backing-size-huge.qcow2); poke64 "$f" 8 200
poke32 "$f" 16 0xffffffff
f=$(mk backing-size-1024.qcow2); poke64 "$f" 8 200
poke32 "$f" 16 1024
f=$(mk ext-huge.qcow2); poke "$f" 112 "e2792aca7fffffff"
f=$(mk ext-unknown.qcow2); poke "$f" 112 "1234567800000010"
f=$(mk ext-overlong.qcow2); poke "$f" 112 "6803f85700010000"
f=$(mk l1-entry-unaligned.qcow2); poke64 "$f" $l1 0x8000000000040200
f=$(mk l1-entry-beyond.qcow2); poke64 "$f" $l1 0x8000007000000000
f=$(mk l1-entry-header.qcow2); poke64 "$f" $l1 0x8000000000000000
f=$(mk l1-entry-reserved.qcow2); poke64 "$f" $l1 0x80ff000000040000
f=$(mk l2-entry-unaligned.qcow2); poke64 "$f" $l2 0x8000000000050200
f=$(mk l2-entry-beyond.qcow2); poke64 "$f" $l2 0x8000007000000000
f=$(mk l2-entry-header.qcow2); poke64 "$f" $l2 0x8000000000000000
f=$(mk l2-entry-l1.qcow2); poke64 "$f" $l2 0x8000000000030000
f=$(mk l2-entry-reserved.qcow2); poke64 "$f" $l2 0x80ff000000050000
f=$(mk compressed-beyond.qcow2); poke64 "$f" $((l2 + 128)) 0x4000007000000000
f=$(mk compressed-garbage.qcow2); poke64 "$f" $((l2 + 128)) 0x7ffe000000050000
f=$(mk compressed-copied.qcow2); poke64 "$f" $((l2 + 128)) 0xc000000000070000
f=$(mk refblock-zeroed.qcow2); poke64 "$f" $((0x10000)) 0
f=$(mk refblock-beyond.qcow2); poke64 "$f" $((0x10000)) 0x7000000000
f=$(mk refblock-unaligned.qcow2); poke64 "$f" $((0x10000)) 0x20100
f=$(mk refcount-zero.qcow2); poke "$f" $((0x20000 + 10)) 0000
f=$(mk refcount-two.qcow2); poke "$f" $((0x20000 + 10)) 0002
f=$(mk v2-l1-huge.qcow2 goodv2.qcow2); poke32 "$f" 36 0x7fffffff
f=$(mk v2-incompat.qcow2 goodv2.qcow2); poke64 "$f" 72 0x2
f=$(mk v2-zero-flag.qcow2 goodv2.qcow2)
poke64 "$f" $l2 0x8000000000050001
for i in 1 2 3 4 5 6; do
	f=$(mk flip$i.qcow2)
	RANDOM=$i
	for _ in 1 2 3 4 5 6 7 8; do
		poke "$f" $((RANDOM % 120)) "$(printf '%02x' $((RANDOM % 256)))"
	done
done

# Images whose tables point outside the file or carry reserved bits:
# qemu-img reads what lies there as zeros; qimg refuses with STRICT_MSG.
STRICT=" l1-at-0.qcow2 l1-entry-beyond.qcow2 l1-entry-reserved.qcow2
trunc-l2.qcow2 refblock-beyond.qcow2 refblock-unaligned.qcow2 "
STRICT_MSG='beyond the end of the image file|reserved bits set|unaligned|below zero|Preventing invalid'
is_strict()
{
	case $STRICT in
	*" $1 "* | *"
$1 "* | *" $1
"*) return 0 ;;
	esac
	return 1
}

# cmd_on NAME ARGS...: one command on a copy of a damaged image; in ARGS,
# @ stands for the image, @RW for the image opened for writing.
cmd_on()
{
	local name=$1 img=../dmg/$1.work erc grc rw=0 one=1
	shift
	local args=() a
	for a in "$@"; do
		case $a in
		@) args+=("$img") ;;
		@RW) args+=("$img"); rw=1 ;;
		*) args+=("$a") ;;
		esac
	done
	case $1 in
	info) ;;
	check | compare) one=2 ;;
	*) one=0 ;;
	esac
	spawn rm -f "$E/out" "$G/out"
	local work=$T/dmg/$name.work
	# (the copy keeps the damaged image's old time, so a copy that
	# qemu-img did not write to is not made again)
	spawn cp --preserve=timestamps "$T/dmg/$name" "$work"
	(cd "$E" && timeout 60 "$QEMU_IMG" "${args[@]}") >/dev/null \
		2>"$R/e.err"
	erc=$?
	if [ "$rw" = 1 ] || [ "$work" -nt "$T/dmg/$name" ]; then
		spawn cp --preserve=timestamps "$T/dmg/$name" "$work"
	fi
	(cd "$G" && exec "${QIMG_LIMIT[@]}" "$QIMG" "${args[@]}") \
		>"$R/g.out" 2>"$R/g.err" </dev/null
	grc=$?
	last_erc=$erc
	local d="$name: $*"
	if [ "$grc" -ge 124 ]; then
		fail "$d: no crash"
		diag "qimg exit $grc"
		diag_file "$R/g.err"
		return
	fi
	if [ "$erc" -ge 124 ]; then
		# qemu-img itself crashed (it asserts on some damaged images
		# opened read-write): no reference, not crashing is enough.
		pass "$d: no crash (qemu-img crashed with exit $erc)"
	elif { [ "$erc" = 0 ] && [ "$grc" = 0 ]; } ||
	   { [ "$erc" != 0 ] && [ "$grc" != 0 ]; }; then
		pass "$d: fails iff qemu-img fails"
	elif [ "$erc" = 0 ] && is_strict "$name" &&
		grep -Eq "$STRICT_MSG" "$R/g.err"; then
		# Deliberate: qemu-img reads the damaged tables as zeros (or
		# writes a new L2 table hundreds of GB past the end); qimg
		# stops and says what is wrong.
		pass "$d: refused on purpose where qemu-img reads through"
	else
		fail "$d: fails iff qemu-img fails"
		diag "qemu-img exit $erc, qimg exit $grc"
		diag_file "$R/g.err"
	fi
	# An open failure (info) is one line naming the file; later failures
	# (qemu-img's "error while reading at byte N") may not name it but
	# must still be short.
	# (A hint line qemu-img prints under its error, such as "You can
	# force-remove ... with qemu-img check -r all", may follow when
	# qemu-img's error has the same one.)
	if [ "$grc" != 0 ] && [ "$one" = 1 ]; then
		if head -n 1 "$R/g.err" | grep -q "$name" &&
			{ [ "$(wc -l <"$R/g.err")" = 1 ] ||
				spawn cmp -s <(tail -n +2 "$R/g.err") \
					<(tail -n +2 "$R/e.err"); }; then
			pass "$d: one-line error naming the file"
		else
			fail "$d: one-line error naming the file"
			diag_file "$R/g.err"
		fi
	elif [ "$grc" != 0 ] && [ "$one" = 0 ]; then
		local nl
		nl=$(wc -l <"$R/g.err")
		if [ "$nl" -ge 1 ] && [ "$nl" -le 2 ]; then
			pass "$d: short error message"
		else
			fail "$d: short error message"
			diag_file "$R/g.err"
		fi
	fi
	if [ "$rw" = 0 ]; then
		if spawn cmp -s "$T/dmg/$name" "$work"; then
			pass "$d: file unchanged"
		else
			fail "$d: file unchanged"
		fi
	fi
}

# some K: the K-th command after info runs on image number i.  Always when
# whole; quick runs take, of every other image qemu-img cannot open (each
# command stops at the same open), one of the four by turns, and of one it
# opens, every third pair of image and command.
some()
{
	whole && return 0
	if [ "$last_info_erc" != 0 ]; then
		[ $((i % 8)) = $(($1 * 2 - 1)) ]
	else
		quick_pick $((i + $1))
	fi
}

head -c 1M /dev/urandom >src.raw
i=0
for f in dmg/*.qcow2; do
	n=$(basename "$f")
	i=$((i + 1))
	cmd_on "$n" info --output=json @
	last_info_erc=$last_erc
	some 1 && cmd_on "$n" check @
	some 2 && cmd_on "$n" map --output=json @
	some 3 && cmd_on "$n" convert -O raw @ out
	some 4 && cmd_on "$n" convert -n -f raw -O qcow2 ../src.raw @RW
	whole || continue
	cmd_on "$n" info @
	cmd_on "$n" compare @ ../src.raw
done

# damaged samples from other tools: only "no crash, no change"
if [ -d "$SAMPLES" ] && command -v bunzip2 >/dev/null; then
	for s in afl5.img afl9.vmdk; do
		[ -f "$SAMPLES/$s.bz2" ] || continue
		bunzip2 -c "$SAMPLES/$s.bz2" >"dmg/$s"
		sum0=$(md5sum <"dmg/$s")
		qimg info "dmg/$s" >/dev/null 2>&1
		rc=$?
		if [ "$rc" -lt 124 ] && [ "$sum0" = "$(md5sum <"dmg/$s")" ]; then
			pass "sample $s: no crash, unchanged"
		else
			fail "sample $s: no crash, unchanged (exit $rc)"
		fi
	done
else
	skip "damaged samples (../shared/samples absent)"
fi

done_testing
