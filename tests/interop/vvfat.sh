#!/bin/bash
# SPDX-License-Identifier: MIT
# vvfat ("fat:[floppy:][12:|16:]DIR"): a host directory as a read-only FAT
# disk, against qemu-img 7.2.  A tree with every kind of name (8.3 names,
# long ones, lossy ones and their ~N collisions, leading dots, non-ASCII,
# a 4-byte UTF-8 character, a name that is not UTF-8), nested directories,
# a file of several clusters, empty files, a fifo, symbolic links (one
# dangling) and old and far-future times, in every disk shape (hard disk
# FAT16 and FAT12, floppy 2.88 MB FAT12 and FAT16, 1.44 MB FAT12), named by
# filename, json:{...} (with a label), --image-opts and -f vvfat: info,
# map, and the disk's bytes (convert to raw, qemu-img's copy with the slack
# after each file's end zeroed: QEMU shows stale buffer bytes there, qimg
# zeros), convert to qcow2 checked and compared by qemu-img; then every
# refusal in qemu-img's words (no directory, 513 root entries, more data
# than the disk holds, bad options, 'rw', a writable open) and the one
# difference on purpose (FAT32, which QEMU makes invalid).
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"
SLACK=$ROOT/tests/interop/fat-slack.py

# --- the tree ------------------------------------------------------------
mk()
{
	local f
	for f in "$@"; do
		spawn mkdir -p "$(dirname "$f")"
		printf '%s\n' "$f" >"$f"
	done
}
spawn mkdir -p tree && (
	cd tree || exit 1
	spawn mkdir -p dirA/deep/deeper emptydir "Space Dir"
	mk README "long file name number one.txt" "long file name number two.txt" \
		.hidden "ÄÖü.txt" dirA/x.y.z dirA/deep/deeper/f "Space Dir/UPPER.TXT" \
		lower.TXT MiXed.Txt "a+b=c;d.txt" verylongext.abcdef x.txt X.TXT \
		x.c abcdefgh.txt ABCDEFGH.txt "abc." "a..b" ".a.b" "..c" "x.t+t" \
		"e.TXTX" abcdefghi abcdefghij "ab~1" "f.abc.def" "ab cd.t x" "...." \
		"a.b.c.d.e" "1.2" "ab~1.c" "ç" "  lead" "trail " "+.b" "é.txt" \
		"$(printf 'x\xf0\x9f\x98\x80y')" "$(printf 'bad\xffname')" \
		abcdefghijklm abcdefghijklmnopqrstuvwxyz \
		"$(printf 'y%.0s' $(seq 1 200))"
	for i in $(seq 1 12); do mk "dirA/longname_number_$i.dat"; done
	head -c 100000 /dev/urandom >big.bin
	: >empty.txt
	mkfifo fifo
	spawn ln -s README link
	spawn ln -s nowhere dangling
	spawn ln -s dirA/deep dirlink
	spawn touch -m -d "2001-02-03 04:05:06" README
	spawn touch -m -d "1975-01-01 00:00:00" x.c
	spawn touch -m -d "2110-01-01 12:00:00" 1.2
	spawn touch -m -d "1999-12-31 23:59:59" dirA
) || skip_all "could not make the tree"

# fat_bytes DESC SPEC...: convert to raw with both; qemu-img's copy with
# its slack zeroed must be qimg's byte for byte.
fat_bytes()
{
	local d=$1
	shift
	spawn rm -f "$E/o.raw" "$G/o.raw"
	same "$d: convert to raw" convert -O raw "$@" o.raw
	if [ -f "$E/o.raw" ] && [ -f "$G/o.raw" ] &&
		"$PY" "$SLACK" "$E/o.raw" >/dev/null && spawn cmp -s "$E/o.raw" "$G/o.raw"; then
		pass "$d: the disk is qemu-img's byte for byte (file slack aside)"
	else
		fail "$d: the disk is qemu-img's byte for byte (file slack aside)"
		diag "$(cmp "$E/o.raw" "$G/o.raw" 2>&1 | head -3)"
	fi
}

for spec in fat: fat:12: fat:16: fat:floppy: fat:floppy:16: fat:floppy:12:; do
	case $spec in
	fat:floppy:*) src=small ;;
	*) src=tree ;;
	esac
	if [ $src = small ] && [ ! -d small ]; then
		spawn mkdir small && spawn cp -a tree/dirA tree/README tree/big.bin tree/.hidden \
			tree/"ÄÖü.txt" tree/x.txt tree/X.TXT small/ && touch -m -d "1999-12-31 23:59:59" small/dirA
	fi
	same "$spec: info" info "$spec../$src"
	same "$spec: info json" info --output=json "$spec../$src"
	same "$spec: map json" map --output=json "$spec../$src"
	# fat: is fat:16:'s disk (16 is the hard disk's default type), and
	# FAT12's tables are copied with the floppies: of these hard disks
	# quick mode copies only fat:16: (500 MB disks are the slow part)
	if whole || { [ "$spec" != fat: ] && [ "$spec" != fat:12: ]; }; then
		fat_bytes "$spec" "$spec../$src"
	fi
done

J='json:{"driver":"vvfat","dir":"../tree","label":"Hello World"}'
same "json: a label" info "$J"
# quick mode: the label's bytes are copied with --image-opts below
whole && fat_bytes "json: a label" "$J"
J2='json:{"driver":"raw","file":{"driver":"vvfat","dir":"../small","floppy":true,"fat-type":12}}'
same "json: raw over a 1.44 MB floppy" info --output=json "$J2"
fat_bytes "json: a floppy" "$J2"
same "--image-opts" info --image-opts driver=vvfat,dir=../tree,label=lbl
fat_bytes "--image-opts" --image-opts driver=vvfat,dir=../tree,label=lbl
same "-f vvfat" info -f vvfat fat:../tree
same "-f raw" info -f raw fat:floppy:../small
same "map" map fat:../tree
same "check" check fat:../tree
same "measure" measure -O qcow2 fat:../tree
same "compare with qemu-img's raw copy" compare fat:floppy:12:../small "$E/o.raw"

# convert to qcow2: a clean image holding the disk (quick mode: of the
# 2.88 MB floppy, not of the 500 MB hard disk; the same path, cheaper).
QD=fat:../tree QR=fat:tree
whole || { QD=fat:floppy:../small QR=fat:floppy:small; }
spawn rm -f "$G/o.qcow2"
same "convert to qcow2" convert -O qcow2 "$QD" o.qcow2
if [ -f "$G/o.qcow2" ] && spawn "$QEMU_IMG" check -q "$G/o.qcow2" >/dev/null 2>&1; then
	pass "qcow2 copy: qemu-img check is clean"
else
	fail "qcow2 copy: qemu-img check is clean"
fi
spawn "$QEMU_IMG" convert -O raw "$QR" "$T/ref.raw" 2>/dev/null
"$PY" "$SLACK" "$T/ref.raw" >/dev/null
ok "qcow2 copy: qemu-img compare with qemu-img's own copy" \
	"$QEMU_IMG" compare -q "$G/o.qcow2" "$T/ref.raw"

# --- refusals --------------------------------------------------------------
spawn mkdir -p many && for i in $(seq 1 256); do : >many/f$i; done
spawn mkdir -p ok512 && for i in $(seq 1 254); do : >ok512/f$i; done && : >ok512/abcdefghijklmnop
spawn mkdir -p huge && spawn truncate -s 600M huge/f
spawn mkdir -p fit && spawn truncate -s $((177 * 8192)) fit/f
spawn mkdir -p nofit && spawn truncate -s $((177 * 8192 + 1)) nofit/f
same "no such directory" info fat:../nosuch
same "no directory named" info fat:
same "a file, not a directory" info fat:../tree/README
same "513 root entries" info fat:../many
same "512 root entries" info fat:../ok512
same "more than FAT16 holds" info fat:../huge
same "more than FAT12 holds" info fat:12:../huge
same "more than a 2.88 MB floppy holds" info fat:floppy:../huge
same "a 1.44 MB floppy full to the last cluster" info fat:floppy:12:../fit
same "one byte more" info fat:floppy:12:../nofit
same "a label of 12 bytes" info 'json:{"driver":"vvfat","dir":"../tree","label":"123456789012"}'
same "fat-type 7" info 'json:{"driver":"vvfat","dir":"../tree","fat-type":7}'
same "fat-type abc" info 'json:{"driver":"vvfat","dir":"../tree","fat-type":"abc"}'
same "floppy x" info 'json:{"driver":"vvfat","dir":"../tree","floppy":"x"}'
same "no dir option" info 'json:{"driver":"vvfat"}'
same "an unknown option" info 'json:{"driver":"vvfat","dir":"../tree","foo":1}'
same "-f vvfat without fat:" info -f vvfat ../tree
same "rw on a read-only open" info fat:rw:../tree
same "a writable open" resize fat:../tree 1G
same "write into it" convert -n -O raw ../tree/README fat:../tree
same "an unknown protocol fatx:" info fatx:../tree
# convert asks the target's protocol for its creation options first.
for o in fat:../tree null-co:// blkdebug::o.raw 'json:{"driver":"throttle"}'; do
	same "convert onto $o" convert -O raw ../tree/README "$o"
done
spawn rm -f "$G/o.raw"
run_tool g info fat:32:../tree
if [ "$(cat "$R/g.rc")" = 1 ] && grep -q "FAT32 is not supported" "$R/g.err"; then
	pass "FAT32 refused clearly (qemu-img makes an invalid one)"
else
	fail "FAT32 refused clearly (qemu-img makes an invalid one)"
	diag_file "$R/g.err"
fi
done_testing
