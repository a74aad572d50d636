#!/bin/bash
# SPDX-License-Identifier: MIT
# The vmdk format against qemu-img 7.2.  Reading: ../shared's samples
# (VMware streamOptimized, QEMU monolithicSparse, a fuzzed file refused),
# every subformat qemu-img writes (with data written by qemu-io, zeroed
# grains, a backing file), descriptors naming several extents of several
# kinds, relative extent paths, damaged sparse headers and descriptor
# lines: info (human, JSON), map (human, JSON) and convert to raw, byte
# for byte.  Creating: every subformat and create option, sizes that are
# not a multiple of the grain, > 4 GiB, split images: the files are
# qemu-img's byte for byte (the random CID aside), the Formatting line and
# refusals are qemu-img's, and qemu-img reads and checks what qimg made.
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"
command -v python3 >/dev/null || skip_all "python3 not found"

# same_raw A B: two raw copies hold the same bytes.  A quick run has
# qemu-img compare, which skips holes, judge a copy over 64 MiB of equal
# size (cmp reads every zero of blank.vmdk's 512 MiB: seconds).
same_raw()
{
	if whole || [ "$(stat -c %s "$1")" -le 67108864 ]; then
		spawn cmp -s "$1" "$2"
		return
	fi
	[ "$(stat -c %s "$1")" = "$(stat -c %s "$2")" ] &&
		spawn "$QEMU_IMG" compare -q -f raw -F raw "$1" "$2" >/dev/null 2>&1
}

# reads IMG: what a reader of IMG (a path under $T) sees, against qemu-img.
reads()
{
	local img=$1 sum rc
	sum=$(cksum <"$img")
	if [ -n "${2:-}" ]; then
		same "$img: info" info "../$img"
		same "$img: map" map "../$img"
	fi
	same "$img: info json" info --output=json "../$img"
	# A refused image: the other commands refuse it the same way.  (A
	# quick run takes qemu-img's status from the info just made.)
	if whole; then
		spawn "$QEMU_IMG" info "$img" >/dev/null 2>&1
		rc=$?
	else
		read -r rc <"$R/e.rc"
	fi
	if [ "$rc" != 0 ]; then
		unchanged "$img" "$img" "$sum"
		return
	fi
	same "$img: map json" map --output=json "../$img"
	spawn rm -f "$E/o.raw" "$G/o.raw"
	same "$img: convert to raw" convert -O raw "../$img" o.raw
	if [ -e "$E/o.raw" ]; then
		ok "$img: raw copy is qemu-img's" same_raw "$E/o.raw" "$G/o.raw"
	fi
	spawn rm -f "$E/o.raw" "$G/o.raw"
	if [ "$(cksum <"$img")" = "$sum" ]; then
		pass "$img: unchanged"
	else
		fail "$img: unchanged"
	fi
}

# same_files DESC: every file of $E/c and $G/c equal, the CID line of
# each masked.
same_files()
{
	local d=$1
	if python3 - "$E/c" "$G/c" <<'EOF'; then
import os, re, sys
a, b = sys.argv[1], sys.argv[2]
fa, fb = sorted(os.listdir(a)), sorted(os.listdir(b))
if fa != fb:
    print("# files differ:", fa, fb); sys.exit(1)
def mask(d):
    return re.sub(rb"\nCID=[0-9a-f]+\n", b"\nCID=X\n", d, count=1)
def desc(t):
    return mask(t).rstrip(b"\0\n") + b"\n"
def load(p):
    with open(p, "rb") as f:
        d = f.read(1 << 20)
        rest = f.read()
    # A CID one digit shorter moves the zero padding.  qemu-img also
    # rewrites its descriptor with a new CID in place after a convert: a
    # shorter CID leaves its string's NUL and the old text's last byte (a
    # newline) behind.
    if d[:4] == b"KDMV":
        d = d[:512] + desc(d[512:10752]) + d[10752:]
    elif d.startswith(b"# Disk DescriptorFile"):
        d = desc(d)
    return mask(d), rest
def eos(d, other):
    # qimg ends an empty stream with an end-of-stream marker (a zero
    # sector) where qemu-img 7.2 leaves none (DIFFERENCES.md).
    h, rest = d
    if (h[:4] == b"KDMV" and h[10] & 2 and
            not rest and len(h) == len(other[0]) + 512 and
            h[-512:] == bytes(512)):
        return h[:-512], rest
    return d
for n in fa:
    le, lg = load(os.path.join(a, n)), load(os.path.join(b, n))
    if le != eos(lg, le):
        print("# differs:", n); sys.exit(1)
EOF
		pass "$d: files are qemu-img's (CID aside)"
	else
		fail "$d: files are qemu-img's (CID aside)"
	fi
}

# creates DESC SIZE [OPTS]: create c/t.vmdk with both tools and compare.
creates()
{
	local d=$1 size=$2 opts=${3:-}
	spawn rm -rf "$E/c" "$G/c"
	spawn mkdir "$E/c" "$G/c"
	if [ -n "$opts" ]; then
		same "create $d" create -f vmdk -o "$opts" c/t.vmdk "$size"
	else
		same "create $d" create -f vmdk c/t.vmdk "$size"
	fi
	same_files "create $d"
	# flat extents: sparse files with their first 4 KiB allocated
	case $opts in
	*Flat*) same "create $d: map" map --output=json c/t.vmdk ;;
	esac
	if [ -e "$G/c/t.vmdk" ] && [ -z "${4:-}" ]; then
		ok "create $d: qemu-img check passes" \
			"$QEMU_IMG" check -q "$G/c/t.vmdk"
	fi
}

cd "$T" || exit 1

# --- samples ---
if [ -d "$SAMPLES" ] && command -v bunzip2 >/dev/null; then
	for s in ext2.vmdk blank.vmdk afl9.vmdk; do
		bunzip2 -c "$SAMPLES/$s.bz2" >"$s"
		reads "$s" full
	done
	same "afl9.vmdk: check" check ../afl9.vmdk
else
	skip "samples (../shared/samples absent)"
fi

# --- images made from VMware's layouts (the fuzz seeds) ---
# 1 KiB grains: hosted sparse, zeroed grains, a stream with its tables at
# the front, a stream in VMware's layout (GT/GD markers, footer, EOS), and
# a bare ESX COWD file (refused: no descriptor).
spawn mkdir s
python3 "$ROOT/tests/fuzz/mkvmdk-seeds.py" s
for f in sparse zeroed stream footer cowd; do
	reads "s/$f.vmdk"
done

# --- images qemu-img writes ---
spawn mkdir q
for sf in monolithicSparse monolithicFlat twoGbMaxExtentSparse \
	twoGbMaxExtentFlat streamOptimized; do
	spawn "$QEMU_IMG" create -q -f vmdk -o subformat=$sf "q/$sf.vmdk" 5M
	spawn "$QEMU_IO" -c 'write -P 7 100k 300k' -c 'write -P 9 4M 64k' \
		"q/$sf.vmdk" >/dev/null
	case $sf in
	monolithicSparse | streamOptimized) reads "q/$sf.vmdk" full ;;
	*) reads "q/$sf.vmdk" ;;
	esac
done
spawn "$QEMU_IMG" create -q -f vmdk -o subformat=twoGbMaxExtentSparse q/big.vmdk 5G
spawn "$QEMU_IO" -c 'write -P 3 2047M 2M' -c 'write -P 4 4100M 64k' \
	q/big.vmdk >/dev/null
same "big split: info" info ../q/big.vmdk
same "big split: map json" map --output=json ../q/big.vmdk
spawn "$QEMU_IMG" create -q -f vmdk -o zeroed_grain=on q/zg.vmdk 1M
spawn "$QEMU_IO" -c 'write -P 1 0 128k' -c 'write -z 0 64k' -c 'write -z 192k 64k' \
	q/zg.vmdk >/dev/null
reads q/zg.vmdk
spawn "$QEMU_IMG" create -q -f vmdk q/base.vmdk 2M
spawn "$QEMU_IO" -c 'write -P 5 0 2M' q/base.vmdk >/dev/null
spawn "$QEMU_IMG" create -q -f vmdk -b base.vmdk -F vmdk q/top.vmdk
spawn "$QEMU_IO" -c 'write -P 6 64k 64k' q/top.vmdk >/dev/null
reads q/top.vmdk
same "backing chain info" info --backing-chain ../q/top.vmdk

# --- descriptors ---
spawn mkdir d
ndesc=0 nopt=0
spawn "$QEMU_IMG" create -q -f vmdk -o subformat=monolithicFlat d/fl.vmdk 1M
spawn "$QEMU_IO" -c 'write -P 8 0 64k' d/fl.vmdk >/dev/null
spawn cp q/monolithicSparse.vmdk d/sp.vmdk
H='# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n'
desc()
{
	quick_pick $((ndesc++)) || return 0
	printf "$2" >"d/$1.vmdk"
	reads "d/$1.vmdk"
}
desc two "${H}createType=\"twoGbMaxExtentSparse\"\nRW 2048 FLAT \"fl-flat.vmdk\" 0\nRW 8192 SPARSE \"sp.vmdk\"\n"
desc offset "${H}createType=\"monolithicFlat\"\nRW 64 FLAT \"fl-flat.vmdk\" 100\n"
desc vmfs "${H}createType=\"vmfs\"\nRW 2048 VMFS \"fl-flat.vmdk\"\n"
desc rdonly "${H}createType=\"monolithicFlat\"\nRDONLY 2048 FLAT \"fl-flat.vmdk\" 0\nRW 1024 FLAT \"fl-flat.vmdk\" 0\n"
desc zero "${H}createType=\"monolithicFlat\"\nRW 2048 ZERO \"x\"\nRW 1024 FLAT \"fl-flat.vmdk\" 0\n"
desc noct "${H}\nRW 2048 FLAT \"fl-flat.vmdk\" 0\n"
desc badct "${H}createType=\"foo\"\nRW 2048 FLAT \"fl-flat.vmdk\" 0\n"
desc missing "${H}createType=\"monolithicFlat\"\nRW 2048 FLAT \"nothere.vmdk\" 0\n"
desc nooff "${H}createType=\"monolithicFlat\"\nRW 2048 FLAT \"fl-flat.vmdk\"\n"
desc badtype "${H}createType=\"monolithicFlat\"\nRW 2048 FOO \"fl-flat.vmdk\" 0\n"
desc sparseoff "${H}createType=\"twoGbMaxExtentSparse\"\nRW 2048 SPARSE \"sp.vmdk\" 0\n"
desc notsparse "${H}createType=\"twoGbMaxExtentSparse\"\nRW 2048 SPARSE \"fl-flat.vmdk\"\n"
desc sesparse "${H}createType=\"seSparse\"\nRW 2048 SESPARSE \"fl-flat.vmdk\"\n"
desc negoff "${H}createType=\"monolithicFlat\"\nRW 8 FLAT \"fl-flat.vmdk\" -3\n"
desc mono "${H}createType=\"monolithicSparse\"\nRW 2048 SPARSE \"sp.vmdk\"\n"
desc crlf "${H}createType=\"monolithicFlat\"\r\nRW 2048 FLAT \"fl-flat.vmdk\" 0\r\n"

# --- damaged sparse headers ---
spawn mkdir m
hdr()
{
	local v=$(($4)) h
	case $3 in
	I) h=$(le32 $v) ;;
	Q) h=$(le64 $v) ;;
	F) h=ffffffffffffffff ;;
	H) h=$(perl -e 'print unpack("H*", pack("v", $ARGV[0]))' $v) ;;
	esac
	spawn cp q/monolithicSparse.vmdk "m/$1.vmdk"
	poke "m/$1.vmdk" "$2" "$h"
	same "header $1: info" info "../m/$1.vmdk"
}
hdr v4 4 I 4
hdr v3 4 I 3
hdr grain0 20 Q 0
hdr grain3 20 Q 3
hdr grainbig 20 Q 0x400000
hdr gtes0 44 I 0
hdr gtes513 44 I 513
hdr cap0 12 Q 0
hdr l1big 12 Q 0x20000010000
hdr gdend 56 F 0
hdr gdfar 56 Q 0x10000000000
hdr desc0 28 Q 0
hdr algo1 77 H 1

# --- images qimg writes ---
# (c/t.vmdk in $E and $G compared with same_files; good IMG RAW: qemu-img
# checks IMG and finds RAW's data in it.)
good()
{
	ok "$1: qemu-img check passes" "$QEMU_IMG" check -q "$2"
	ok "$1: qemu-img compare with the data" \
		"$QEMU_IMG" compare -q -F raw "$2" "$3"
}
fresh()
{
	spawn rm -rf "$E/c" "$G/c"
	spawn mkdir "$E/c" "$G/c"
}
# reads_pair DESC: qimg reads c/t.vmdk as qemu-img does (map, raw copy).
reads_pair()
{
	same "$1: map json" map --output=json c/t.vmdk
	same "$1: convert to raw" convert -O raw c/t.vmdk c/o.raw
	ok "$1: raw copy is qemu-img's" cmp -s "$E/c/o.raw" "$G/c/o.raw"
}
mkpattern w.raw 1024
spawn truncate -s 1099776 w.raw
for sf in monolithicSparse monolithicFlat twoGbMaxExtentSparse \
	twoGbMaxExtentFlat streamOptimized; do
	fresh
	# qemu-img's deflate level, for its exact bytes (QIMG_COMPRESS)
	QIMG_COMPRESS=qemu same "convert to $sf" convert -O vmdk \
		-o subformat=$sf ../w.raw c/t.vmdk
	same_files "convert to $sf"
	good "convert to $sf" "$G/c/t.vmdk" w.raw
done
# qimg's own deflate (ISA-L when built with it): other bytes, the same
# data, a size within 5 % of qemu-img's
yes 'grains of text that compress, and a number' | head -c 3M >txt.raw
head -c 1M /dev/urandom >>txt.raw
fresh
same "convert to streamOptimized, qimg's codec" convert -O vmdk \
	-o subformat=streamOptimized ../txt.raw c/t.vmdk
good "convert to streamOptimized, qimg's codec" "$G/c/t.vmdk" txt.raw
ok "convert to streamOptimized, qimg's codec: size within 5 %" \
	size_within "$E/c/t.vmdk" "$G/c/t.vmdk" 5
fresh
same "convert -c to monolithicSparse" convert -c -O vmdk ../w.raw c/t.vmdk
same_files "convert -c to monolithicSparse"
fresh
same "convert -c to monolithicFlat" convert -c -O vmdk \
	-o subformat=monolithicFlat ../w.raw c/t.vmdk
fresh
same "dd to vmdk" dd -O vmdk bs=64k if=../w.raw of=c/t.vmdk
same_files "dd to vmdk"

# convert -n over images qemu-io wrote: grains partly written (filled
# from zeros or the backing file), rewritten in place, zeroed grains.
mkpattern p.raw 512
spawn dd if=/dev/zero of=p.raw bs=4096 seek=3 count=5 conv=notrunc 2>/dev/null
spawn truncate -s 1099776 p.raw
spawn "$QEMU_IMG" create -q -f vmdk b.vmdk 1099776
spawn "$QEMU_IO" -c 'write -P 0x21 0 1M' b.vmdk >/dev/null
# (a quick run: a sparse and a flat image, and the backing file)
i=0
for o in subformat=monolithicSparse zeroed_grain=on \
	subformat=twoGbMaxExtentSparse subformat=monolithicFlat \
	subformat=twoGbMaxExtentFlat backing; do
	quick_pick $((i++)) || [ $o = backing ] || continue
	fresh
	if [ $o = backing ]; then
		spawn cp b.vmdk "$E/c/b.vmdk"
		spawn cp b.vmdk "$G/c/b.vmdk"
		spawn "$QEMU_IMG" create -q -f vmdk -b b.vmdk -F vmdk "$E/c/t.vmdk"
	else
		spawn "$QEMU_IMG" create -q -f vmdk -o $o "$E/c/t.vmdk" 1099776
	fi
	spawn "$QEMU_IO" -c 'write -P 0x31 60k 8k' -c 'write -P 0x32 700k 100k' \
		"$E/c/t.vmdk" >/dev/null
	spawn cp "$E/c/"* "$G/c/"
	same "convert -n ($o)" convert -n -O vmdk ../p.raw c/t.vmdk
	same_files "convert -n ($o)"
	good "convert -n ($o)" "$G/c/t.vmdk" p.raw
done

# A stream in VMware's layout (footer, directory at the end) is not
# written: qemu-io would put a grain past the footer and lose the image.
if [ -e blank.vmdk ]; then
	spawn cp blank.vmdk ge.vmdk
	poke ge.vmdk 56 ffffffffffffffff
	sum=$(cksum <ge.vmdk)
	ok "a footer stream is refused for writing" \
		sh -c "! \"$QIMG\" convert -n -O vmdk w.raw ge.vmdk 2>/dev/null"
	unchanged "a footer stream refused for writing" ge.vmdk "$sum"
fi

# qemu-io writes into images qimg created; qimg reads them.
for sf in monolithicSparse twoGbMaxExtentFlat streamOptimized; do
	fresh
	# made in both directories, not copied: cp leaves out the first
	# block a flat extent has allocated
	for d in "$E" "$G"; do
		qimg create -q -f vmdk -o subformat=$sf "$d/c/t.vmdk" 3M
		spawn "$QEMU_IO" -c 'write -P 0x41 64k 128k' \
			-c 'write -P 0x42 2M 64k' "$d/c/t.vmdk" >/dev/null
	done
	reads_pair "qemu-io into qimg's $sf"
done

# --- check ---
# qemu-img checks that every allocated grain starts inside its file and
# stops at the first that does not; it repairs nothing.
for f in q/monolithicSparse.vmdk q/streamOptimized.vmdk \
	q/twoGbMaxExtentFlat.vmdk q/top.vmdk; do
	same "$f: check" check "../$f"
done
same "check --output=json" check --output=json ../q/twoGbMaxExtentSparse.vmdk
spawn cp q/monolithicSparse.vmdk m/gte.vmdk
poke m/gte.vmdk $((0x3600 + 4 * 33)) "$(le32 0x10000)"
poke m/gte.vmdk $((0x3600 + 4 * 40)) "$(le32 0x20000)"
same "check: a grain past the end" check ../m/gte.vmdk
same "check -q: a grain past the end" check -q ../m/gte.vmdk
same "check --output=json: a grain past the end" check --output=json \
	../m/gte.vmdk
same "check -r all: no repair" check -r all ../m/gte.vmdk
spawn cp q/monolithicSparse.vmdk m/gd.vmdk
poke m/gd.vmdk $((0x3400)) "$(le32 0x10000)"
same "check: a grain table past the end" check ../m/gd.vmdk

# --- backing files: commit, rebase, amend, the parent's CID ---
spawn rm -rf "$E/c" "$G/c"
spawn mkdir "$E/c" "$G/c"
spawn cp q/base.vmdk q/top.vmdk "$E/c/"
spawn cp q/base.vmdk q/top.vmdk "$G/c/"
same "commit into a vmdk base" commit c/top.vmdk
same_file "commit leaves the overlay" c/top.vmdk
ok "commit: the base holds qemu-img's data" \
	"$QEMU_IMG" compare -q "$G/c/base.vmdk" "$E/c/base.vmdk"
ok "commit: the base passes qemu-img check" \
	"$QEMU_IMG" check -q "$G/c/base.vmdk"
# The base's CID changed: qemu-img reads nothing through it any more.
same "read through a parent whose CID changed" convert -O raw c/top.vmdk \
	c/o.raw
same "rebase -u" rebase -u -b base.vmdk -F vmdk c/top.vmdk
same "rebase" rebase -b base.vmdk -F vmdk c/top.vmdk
same "amend" amend -o hwversion=6 c/top.vmdk
same "resize" resize c/base.vmdk 4M

# --- create ---
# (a quick run makes 1000 bytes of two subformats: the convert above wrote
# every one)
i=0
for sf in monolithicSparse monolithicFlat twoGbMaxExtentSparse \
	twoGbMaxExtentFlat streamOptimized; do
	quick_pick $((i++)) || continue
	creates "$sf 1000 B" 1000 subformat=$sf
done
creates "monolithicSparse 10M" 10M
creates "monolithicSparse 5000M" 5000M
creates "twoGbMaxExtentSparse 5000M" 5000M subformat=twoGbMaxExtentSparse
creates "streamOptimized 5000M" 5000M subformat=streamOptimized
for o in adapter_type=lsilogic adapter_type=buslogic adapter_type=legacyESX \
	compat6=on hwversion=7 toolsversion=1234 zeroed_grain=on \
	subformat=streamOptimized,zeroed_grain=on \
	subformat=twoGbMaxExtentSparse,zeroed_grain=on \
	adapter_type=lsilogic,compat6=on,toolsversion=9,subformat=monolithicFlat \
	adapter_type=scsi subformat=bogus compat6=on,hwversion=4 \
	subformat=monolithicFlat,zeroed_grain=on backing_fmt=qcow2; do
	quick_pick $((nopt++)) || continue
	creates "$o" 10M "$o" nocheck
done
qimg create -q -f vmdk -o subformat=streamOptimized "$G/eos.vmdk" 1M
ok "an empty streamOptimized image ends with an end-of-stream marker" \
	test "$(stat -c %s "$G/eos.vmdk")" = 66048 -a \
	"$(tail -c 512 "$G/eos.vmdk" | tr -d '\0' | wc -c)" = 0
ok "an empty streamOptimized image passes qemu-img check" \
	"$QEMU_IMG" check -q "$G/eos.vmdk"
same "create -o help" create -f vmdk -o help
spawn rm -rf "$E/c" "$G/c"
spawn mkdir "$E/c" "$G/c"
spawn "$QEMU_IMG" create -q -f vmdk "$E/c/base.vmdk" 3M
spawn cp "$E/c/base.vmdk" "$G/c/base.vmdk"
spawn "$QEMU_IMG" create -q -f qcow2 "$E/c/q.qcow2" 3M
spawn cp "$E/c/q.qcow2" "$G/c/q.qcow2"
same "create with a backing file" create -f vmdk -b base.vmdk -F vmdk c/t.vmdk
same "create: backing file not vmdk" create -f vmdk -b q.qcow2 -F qcow2 c/u.vmdk
same "create: backing file missing" create -f vmdk -b no.vmdk -F vmdk c/v.vmdk 1M
same_files "create with a backing file"
ok "overlay made by qimg: qemu-img opens its chain" \
	sh -c "\"$QEMU_IMG\" info --backing-chain \"$G/c/t.vmdk\" >/dev/null"

# Many grain tables, scanned a table at a time: a 256 GiB image (8192
# tables) with data in runs that cross tables, zeroed grains and single
# grains; then a run of grains cut by the end of the file.  qemu-img's
# human map, copy and compare of it take seconds each: a quick run
# compares the JSON map and the check (every table walked) and leaves the
# data reads to the smaller images.
spawn "$QEMU_IMG" create -q -f vmdk -o zeroed_grain=on "$T/gt.vmdk" 256G
"$QEMU_IO" -c 'write -P 1 0 256k' -c 'write -P 2 31M 2M' -c 'write -z 40M 3M' \
	-c 'write -P 3 100G 64k' -c "write -P 4 $(((100 << 30) + (128 << 10))) 64k" \
	-c 'write -z 200G 64M' -c "write -P 5 $(((256 << 30) - (1 << 20))) 1M" \
	"$T/gt.vmdk" >"$T/gt.log"
ok "many grain tables: qemu-io wrote the runs" \
	test "$(grep -c '^wrote' "$T/gt.log")" = 7
whole && same "many grain tables: map" map ../gt.vmdk
same "many grain tables: map json" map --output=json ../gt.vmdk
same "many grain tables: check" check ../gt.vmdk
if whole; then
	rm -f "$E/gt.raw" "$G/gt.raw"
	same "many grain tables: convert to qcow2" convert -O qcow2 \
		../gt.vmdk gt.q
	ok "many grain tables: the copy holds what the image does" \
		"$QEMU_IMG" compare -q "$T/gt.vmdk" "$G/gt.q"
	rm -f "$E/gt.q" "$G/gt.q"
fi
bounded "many grain tables: map" map "$T/gt.vmdk"
"$QEMU_IMG" create -q -f vmdk "$T/cut.vmdk" 1M
qio -c 'write -P 6 0 256k' "$T/cut.vmdk" >/dev/null
truncate -s -128k "$T/cut.vmdk"
same "grains past the end of the file: check names the first" check ../cut.vmdk

done_testing
