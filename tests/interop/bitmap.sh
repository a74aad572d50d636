#!/bin/bash
# SPDX-License-Identifier: MIT
# `bitmap` and persistent dirty bitmaps against qemu-img (reference §2.14).
# Arguments and every error: the same stdout, stderr and exit status (the
# generated "#blockNNN" node names normalised).  Actions alone and
# combined, granularities, merges within an image and from another one
# (-b/-F), qemu-img and qimg taking turns on one image: after each step
# the image is byte for byte the one qemu-img leaves (QEMU's allocation
# order), `qemu-img check` is clean and the bitmaps' bits, read through
# qemu-nbd's dirty-bitmap export, are qemu-img's.  Dirty tracking: writes
# through qimg (bench -w, convert -n, commit, rebase), resize and snapshot
# keep the bitmaps as qemu-img does.  Bitmaps left in use by a killed
# writer, `convert --bitmaps [--skip-broken-bitmaps]`, info, measure and
# check of images with bitmaps.
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"
QEMU_NBD=${QEMU_NBD:-qemu-nbd}
need_oracle "$QEMU_NBD"

# bench's run time and qemu-img's automatic node names masked
NORM=norm_bench

# place NAME...: fresh copies of pristine/NAME for both tools (one cp
# per tool)
place()
{
	local -a src=("${@/#/pristine/}")
	spawn cp "${src[@]}" "$E/" && spawn cp "${src[@]}" "$G/"
}

# identical DESC NAME...: qemu-img's and qimg's copies are equal bytes
identical()
{
	local d=$1 f
	shift
	for f; do
		if ! spawn cmp -s "$E/$f" "$G/$f"; then
			fail "$d"
			diag "$f: $(cmp "$E/$f" "$G/$f" 2>&1)"
			return 1
		fi
	done
	pass "$d"
}

# A pause without a process: read times out on a FIFO nobody writes to.
mkfifo "$T/tick" && exec 9<>"$T/tick"
# bm_maps IMG NAME...: the dirty ranges of each bitmap NAME (start+length
# ..., a line each), as qemu-nbd exports them (one qemu-nbd for all)
bm_maps()
{
	local img=$1 sock=$T/bm.sock pid i b l out
	local -a opt=()
	shift
	for b; do
		opt+=(-B "$b")
	done
	spawn rm -f "$sock"
	"$QEMU_NBD" -t -r -f qcow2 "${opt[@]}" -k "$sock" "$img" >/dev/null 2>&1 &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		[ -S "$sock" ] && break
		read -r -t 0.05 -u 9
	done
	for b; do
		out=$("$QEMU_IMG" map --output=json --image-opts \
			"driver=nbd,server.type=unix,server.path=$sock,x-dirty-bitmap=qemu:dirty-bitmap:$b" 2>&1)
		while IFS= read -r l; do
			case $l in
			*'"data": false'*)
				if [[ $l =~ \"start\":\ ([0-9]*),\ \"length\":\ ([0-9]*) ]]; then
					l="${BASH_REMATCH[1]}+${BASH_REMATCH[2]}"
				fi
				printf '%s ' "$l"
				;;
			esac
		done <<<"$out"
		echo
	done
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# bits_same DESC NAME BITMAP...: each bitmap holds the same bits in both
# copies of NAME
bits_same()
{
	local d=$1 f=$2 i
	local -a e g
	shift 2
	mapfile -t e < <(bm_maps "$E/$f" "$@")
	mapfile -t g < <(bm_maps "$G/$f" "$@")
	for ((i = 1; i <= $#; i++)); do
		if [ "${e[i - 1]-}" != "${g[i - 1]-}" ]; then
			fail "$d"
			diag "bitmap ${!i}: qemu-img [${e[i - 1]-}] qimg [${g[i - 1]-}]"
			return 1
		fi
	done
	pass "$d"
}

# after DESC NAME: qimg's copy checks clean and equals qemu-img's
after()
{
	identical "$1: image as qemu-img's" "$2"
	ok "$1: check clean" check_clean "$G/$2"
}

# bm DESC NAME ARGS...: `bitmap ARGS` on both copies of NAME: same
# output, then the same image
bm()
{
	local d=$1 f=$2
	shift 2
	same "$d" bitmap "$@"
	after "$d" "$f"
}

spawn mkdir pristine
spawn "$QEMU_IMG" create -q -f qcow2 pristine/a.qcow2 64M
spawn "$QEMU_IMG" create -q -f qcow2 pristine/s.qcow2 64M
spawn "$QEMU_IMG" create -q -f qcow2 pristine/big.qcow2 128M
spawn "$QEMU_IMG" create -q -f qcow2 -o compat=0.10 pristine/v2.qcow2 64M
spawn "$QEMU_IMG" create -q -f raw pristine/r.raw 64M
spawn "$QEMU_IMG" create -q -f qcow2 pristine/t10.qcow2 10T
spawn "$QEMU_IMG" bitmap --add pristine/s.qcow2 sb
spawn "$QEMU_IO" -c 'write 1M 64k' -c 'write 5M 1M' pristine/s.qcow2 >/dev/null
spawn "$QEMU_IMG" bitmap --add pristine/big.qcow2 bb
spawn cp pristine/a.qcow2 pristine/b0.qcow2
spawn "$QEMU_IMG" bitmap --add pristine/b0.qcow2 b0
spawn "$QEMU_IO" -c 'write 0 64k' -c 'write 3M 2M' pristine/b0.qcow2 >/dev/null

# --- arguments and errors ----------------------------------------------
while IFS= read -r args; do
	place a.qcow2 b0.qcow2 s.qcow2 big.qcow2 v2.qcow2 r.raw t10.qcow2
	# shellcheck disable=SC2086
	same "bitmap $args" bitmap $args
done <<'EOF'

a.qcow2
a.qcow2 b0
--add a.qcow2
--add a.qcow2 b0 extra
--add -- a.qcow2 b0 extra
--add -g 1000 a.qcow2 b0
--add -g 256 a.qcow2 b0
--add -g 0 a.qcow2 b0
--add -g 4G a.qcow2 b0
--add -g abc a.qcow2 b0
--add -g -1 a.qcow2 b0
--add -g 1.5k a.qcow2 b0
--add -g 9223372036854775808 a.qcow2 b0
--add -g 0x1k a.qcow2 b0
-g 64k --remove b0.qcow2 b0
-F qcow2 --add a.qcow2 b0
-b s.qcow2 --add a.qcow2 b0
-b s.qcow2 -F qcow2 --clear b0.qcow2 b0
--remove a.qcow2 nosuch
--clear a.qcow2 nosuch
--enable a.qcow2 nosuch
--disable a.qcow2 nosuch
--merge x a.qcow2 nosuch
--merge nosuch b0.qcow2 b0
--merge sb -b s.qcow2 b0.qcow2 nosuch
--merge nosuch -b s.qcow2 b0.qcow2 b0
--merge sb -b s.qcow2 -F raw b0.qcow2 b0
--merge sb -b nosuch.qcow2 b0.qcow2 b0
--merge bb -b big.qcow2 b0.qcow2 b0
--merge b0 -b b0.qcow2 b0.qcow2 b0
--add b0.qcow2 b0
--add --add a.qcow2 b0
--remove --add a.qcow2 b0
--add v2.qcow2 b0
--add -f raw a.qcow2 b0
--add -f raw r.raw b0
--remove -f raw r.raw b0
--merge b0 -f raw r.raw b0
--add nosuch.qcow2 b0
--add -g 512 t10.qcow2 b0
--add --bogus a.qcow2 b0
-x a.qcow2 b0
-q --add a.qcow2 b0
-U --add a.qcow2 b0
--add -g
--add -b
--add -F
--merge
--image-opts --add a.qcow2 b0
-f qcow2 --image-opts --add driver=qcow2,file.filename=a.qcow2 b0
--object bogus --add a.qcow2 b0
-h
--help --add a.qcow2 b0
EOF
place a.qcow2
same "empty bitmap name" bitmap --add a.qcow2 ""
# (the texts naming a longer name pass qimg's 1024-byte message buffer)
long=$(printf 'n%.0s' $(seq 1023))
bm "name of 1023 characters" a.qcow2 --add a.qcow2 "$long"
same "name of 1023 characters: info" info a.qcow2

# --- actions, alone and combined ---------------------------------------
place a.qcow2
bm "--add" a.qcow2 --add a.qcow2 b0
bm "--add a second one, 512 bytes granularity" a.qcow2 --add -g 512 a.qcow2 b1
bm "--add --disable" a.qcow2 --add --disable a.qcow2 b2
bm "--add of an existing bitmap fails" a.qcow2 --add a.qcow2 b1
bm "--add --remove leaves nothing" a.qcow2 --add --remove a.qcow2 b3
bm "--disable --enable --disable" a.qcow2 --disable --enable --disable a.qcow2 b0
bm "--enable --clear" a.qcow2 --enable --clear a.qcow2 b0
bm "--merge within the image" a.qcow2 --merge b1 a.qcow2 b2
bm "--add --merge --disable" a.qcow2 --add -g 2M --merge b1 --disable a.qcow2 b4
bm "failing second action keeps the first" a.qcow2 --add -g 1M --add a.qcow2 b5
bm "--remove" a.qcow2 --remove a.qcow2 b1
bm "--remove the last ones" a.qcow2 --remove a.qcow2 b0
same "qemu-img info" info a.qcow2
for dir in "$E" "$G"; do
	(cd "$dir" && spawn "$QEMU_IMG" bitmap --remove a.qcow2 b2 &&
		spawn "$QEMU_IMG" bitmap --remove a.qcow2 b4) ||
		fail "setting up the last bitmap in $dir"
done
bm "--remove the very last one drops the extension" a.qcow2 \
	--remove a.qcow2 b5

# --- granularities and cluster sizes ------------------------------------
for cs in 512 4k 64k 2M; do
	spawn "$QEMU_IMG" create -q -f qcow2 -o cluster_size=$cs pristine/c$cs.qcow2 64M
	place c$cs.qcow2
	bm "cluster $cs: default granularity" c$cs.qcow2 --add c$cs.qcow2 d
	bm "cluster $cs: -g 2G" c$cs.qcow2 --add -g 2G c$cs.qcow2 g2
	bm "cluster $cs: -g 4G+512 (32 bits)" c$cs.qcow2 \
		--add -g 4294967808 c$cs.qcow2 g512
	same "cluster $cs: info" info c$cs.qcow2
done
place t10.qcow2
bm "10 TiB image, 4k granularity" t10.qcow2 --add -g 4k t10.qcow2 b

# --- merges from another image ------------------------------------------
place b0.qcow2 s.qcow2
bm "--merge -b" b0.qcow2 --merge sb -b s.qcow2 b0.qcow2 b0
bits_same "--merge -b: bits" b0.qcow2 b0
bm "--add --merge -b -F, other granularity" b0.qcow2 \
	--add -g 4k --merge sb -b s.qcow2 -F qcow2 b0.qcow2 m4k
bm "--add --merge -b, coarser granularity" b0.qcow2 \
	--add -g 1M --merge sb -b s.qcow2 b0.qcow2 m1m
bits_same "merged bits" b0.qcow2 b0 m4k m1m
identical "-b image untouched" s.qcow2
bm "--merge -b --merge local" b0.qcow2 \
	--add -g 512 --merge sb -b s.qcow2 --merge m1m b0.qcow2 m512
bits_same "merged bits, 512 granularity" b0.qcow2 m512

# --- qemu-img and qimg taking turns on one image ------------------------
# The same steps run twice: by qemu-img alone in E/, and alternately by
# qemu-img and qimg in G/ (writes by qemu-io in both).
turn=0
step()
{
	local what=$1
	shift
	turn=$((turn + 1))
	spawn -C "$E" "$QEMU_IMG" "$@" >/dev/null 2>&1
	if [ $((turn % 2)) = 0 ]; then
		spawn -C "$G" "$QEMU_IMG" "$@" >/dev/null 2>&1
	else
		spawn -C "$G" "$QIMG" "$@" >/dev/null 2>&1
	fi
	identical "turns $turn ($what): image as qemu-img's" t.qcow2
}
write_both()
{
	qio "$@" "$E/t.qcow2"
	qio "$@" "$G/t.qcow2"
}
spawn cp pristine/a.qcow2 pristine/t.qcow2
place t.qcow2
step "add b0" bitmap --add t.qcow2 b0
write_both -c 'write 0 1M'
step "add b1 512k" bitmap --add -g 512k t.qcow2 b1
step "add b2 disabled" bitmap --add --disable t.qcow2 b2
write_both -c 'write 3M 1M'
step "clear b0" bitmap --clear t.qcow2 b0
write_both -c 'write 1M 1M'
step "disable b1" bitmap --disable t.qcow2 b1
step "enable b2" bitmap --enable t.qcow2 b2
write_both -c 'write 2M 1M' -c 'write -z 40M 1M' -c 'discard 50M 2M'
step "merge b1 into b2" bitmap --merge b1 t.qcow2 b2
step "add b3 4k, merge b0" bitmap --add -g 4k --merge b0 t.qcow2 b3
step "remove b1" bitmap --remove t.qcow2 b1
write_both -c 'write 10M 64k'
step "resize" resize t.qcow2 128M
step "snapshot -l" snapshot -l t.qcow2
step "add b5" bitmap --add t.qcow2 b5
write_both -c 'write 100M 64k'
step "resize --shrink" resize --shrink t.qcow2 96M
ok "turns: check clean" check_clean "$G/t.qcow2"
same "turns: info" info t.qcow2
bits_same "turns: bits" t.qcow2 b0 b2 b3 b5

# --- dirty tracking: writes through qimg --------------------------------
spawn cp pristine/a.qcow2 pristine/w.qcow2
spawn "$QEMU_IMG" bitmap --add pristine/w.qcow2 b64k
spawn "$QEMU_IMG" bitmap --add -g 4k --disable pristine/w.qcow2 off
spawn "$QEMU_IMG" bitmap --add -g 512 pristine/w.qcow2 b512
spawn "$QEMU_IMG" bitmap --add -g 2M pristine/w.qcow2 b2m
place w.qcow2
same "bench -w through the image" bench -w -c 3 -d 1 -s 4k -S 1M -o 1536 w.qcow2
same "bench -w, larger requests" bench -w -c 2 -d 1 -s 100k -S 7M -o 20M \
	--pattern=0x55 w.qcow2
after "bench -w" w.qcow2
bits_same "bench -w: bits" w.qcow2 b64k off b512 b2m
same "bench -w --flush-interval" bench -w -c 4 -d 1 -s 64k -S 64k \
	-o 32M --flush-interval=2 w.qcow2
after "bench -w --flush-interval" w.qcow2
bits_same "bench -w --flush-interval: bits" w.qcow2 b64k b512 b2m

mkpattern pristine/src.raw 1024
spawn truncate -s 64M pristine/src.raw
place w.qcow2
same "convert -n into an image with bitmaps" convert -n -f raw -O qcow2 \
	../pristine/src.raw w.qcow2
ok "convert -n: check clean" check_clean "$G/w.qcow2"
same "convert -n: info" info w.qcow2
ok "convert -n: contents" contents_equal "$E/w.qcow2" "$G/w.qcow2"
bits_same "convert -n: bits" w.qcow2 b64k off b512 b2m

place w.qcow2
same "resize of an image with bitmaps" resize w.qcow2 +64M
after "resize" w.qcow2
same "resize: info" info w.qcow2
same "resize --shrink" resize --shrink w.qcow2 16M
after "resize --shrink" w.qcow2
same "snapshot -c" snapshot -c s1 w.qcow2
ok "snapshot -c: check clean" check_clean "$G/w.qcow2"
norm_bm_date()
{
	norm_bench | sed -e '/"date-n\?sec"/d' -e 's/ [0-9-]* [0-9:]* 00:00:00.000 / DATE /'
}
NORM=norm_bm_date
same "snapshot -c: info" info w.qcow2
NORM=norm_bench

# commit into a base with bitmaps; rebase writing into a top with them
spawn cp pristine/b0.qcow2 pristine/base.qcow2
spawn "$QEMU_IMG" create -q -f qcow2 -b base.qcow2 -F qcow2 pristine/top.qcow2
spawn "$QEMU_IMG" bitmap --add pristine/top.qcow2 tb
spawn "$QEMU_IO" -c 'write -P 7 2M 3M' -c 'write -z 8M 64k' pristine/top.qcow2 >/dev/null
place base.qcow2 top.qcow2
same "commit top into a base with bitmaps" commit top.qcow2
after "commit: base" base.qcow2
after "commit: top" top.qcow2
bits_same "commit: bits" base.qcow2 b0
bits_same "commit: top's bits" top.qcow2 tb
spawn cp pristine/a.qcow2 pristine/nb.qcow2
place base.qcow2 top.qcow2 nb.qcow2
same "rebase top onto another base" rebase -b nb.qcow2 -F qcow2 top.qcow2
after "rebase" top.qcow2
bits_same "rebase: bits" top.qcow2 tb

# --- bitmaps left in use -------------------------------------------------
spawn cp pristine/b0.qcow2 pristine/u.qcow2
spawn "$QEMU_IMG" bitmap --add -g 4k pristine/u.qcow2 b1
spawn "$QEMU_IO" -c 'write 0 64k' -c abort pristine/u.qcow2 >/dev/null 2>&1
spawn "$QEMU_IMG" bitmap --add pristine/u.qcow2 ok
while IFS= read -r args; do
	place u.qcow2
	# shellcheck disable=SC2086
	bm "in use: bitmap $args" u.qcow2 $args
done <<'EOF'
--clear u.qcow2 b0
--enable u.qcow2 b0
--disable u.qcow2 b1
--merge b1 u.qcow2 ok
--merge ok u.qcow2 b0
--add u.qcow2 b0
--remove u.qcow2 b0
--add u.qcow2 new
--disable u.qcow2 ok
EOF
place u.qcow2
same "in use: info" info u.qcow2
same "in use: resize refused" resize u.qcow2 +1M
same "in use: resize to the same size" resize u.qcow2 64M
same "in use: check" check u.qcow2
same "in use: measure" measure -O qcow2 u.qcow2
identical "in use: untouched by the refusals" u.qcow2

# --- convert --bitmaps ---------------------------------------------------
spawn cp pristine/b0.qcow2 pristine/cv.qcow2
spawn "$QEMU_IMG" bitmap --add -g 512k pristine/cv.qcow2 b1
spawn "$QEMU_IMG" bitmap --add --disable -g 4k pristine/cv.qcow2 b2
spawn "$QEMU_IO" -c 'write 8M 1M' pristine/cv.qcow2 >/dev/null
place cv.qcow2 u.qcow2 r.raw v2.qcow2 a.qcow2
same "convert --bitmaps" convert --bitmaps -O qcow2 cv.qcow2 o.qcow2
after "convert --bitmaps" o.qcow2
bits_same "convert --bitmaps: bits" o.qcow2 b0 b1 b2
same "convert --bitmaps to raw (target left behind)" convert --bitmaps \
	-O raw cv.qcow2 o.raw
ok "convert --bitmaps to raw: target left as qemu-img's" \
	test -e "$E/o.raw" -a -e "$G/o.raw"
same "convert --bitmaps to v2" convert --bitmaps -O qcow2 -o compat=0.10 \
	cv.qcow2 o2.qcow2
same "convert --bitmaps from raw" convert --bitmaps -O qcow2 r.raw o3.qcow2
same "convert --bitmaps from v2" convert --bitmaps -O qcow2 v2.qcow2 o4.qcow2
same "convert --bitmaps, two sources" convert --bitmaps -O qcow2 cv.qcow2 \
	a.qcow2 o5.qcow2
same "convert --bitmaps, inconsistent bitmaps" convert --bitmaps -O qcow2 \
	u.qcow2 o6.qcow2
same "convert --bitmaps --skip-broken-bitmaps" convert --bitmaps \
	--skip-broken-bitmaps -O qcow2 u.qcow2 o7.qcow2
after "convert --skip-broken-bitmaps" o7.qcow2
same "convert --skip-broken-bitmaps: info" info o7.qcow2
same "convert --bitmaps -n, a bitmap already there" convert --bitmaps -n \
	-O qcow2 cv.qcow2 o.qcow2
same "convert --bitmaps -n into a fresh image" convert --bitmaps -n \
	-O qcow2 cv.qcow2 a.qcow2
after "convert --bitmaps -n" a.qcow2
bits_same "convert --bitmaps -n: bits" a.qcow2 b0 b1 b2

# --- info, measure, check of images with bitmaps -------------------------
place cv.qcow2
same "info" info cv.qcow2
same "info --output=json" info --output=json cv.qcow2
same "measure" measure -O qcow2 cv.qcow2
same "measure --output=json" measure --output=json -O qcow2 cv.qcow2
same "measure -o cluster_size=4k" measure -O qcow2 -o cluster_size=4k cv.qcow2
same "check" check cv.qcow2
same "check --output=json" check --output=json cv.qcow2
same "check -r all" check -r all cv.qcow2
ok "check -r all: clean" check_clean "$G/cv.qcow2"
same "info after check -r" info cv.qcow2

# --- damaged bitmap metadata: every open refuses it with qemu-img's text -
# hexof FILE: the first cluster as one hex string
hexof()
{
	od -An -tx1 -v -N 65536 "$1" | tr -d ' \n'
}
# poke FILE OFFSET HEX: write bytes (hex digits) at OFFSET
poke()
{
	local x= i
	for ((i = 0; i < ${#3}; i += 2)); do
		x+="\\x${3:i:2}"
	done
	printf "$x" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
spawn cp pristine/b0.qcow2 pristine/dmg.qcow2
spawn "$QEMU_IMG" bitmap --add -g 4k pristine/dmg.qcow2 b1
h=$(hexof pristine/dmg.qcow2)
pre=${h%%2385287500000018*}
if [ "$pre" = "$h" ]; then
	fail "bitmaps extension not found"
else
	ext=$((${#pre} / 2 + 8))
	doff=$((0x${h:$(((ext + 16) * 2)):16}))
	dh=$(od -An -tx1 -v -j "$doff" -N 64 pristine/dmg.qcow2 | tr -d ' \n')
	toff=$((0x${dh:0:16}))
	while read -r what where hex; do
		spawn cp pristine/dmg.qcow2 pristine/d.qcow2
		case $where in
		ext*) off=$((ext + ${where#ext})) ;;
		dir*) off=$((doff + ${where#dir})) ;;
		tbl*) off=$((toff + ${where#tbl})) ;;
		esac
		poke pristine/d.qcow2 "$off" "$hex"
		place d.qcow2
		same "$what: info" info d.qcow2
		same "$what: check" check d.qcow2
		same "$what: bitmap" bitmap --add d.qcow2 x
		ok "$what: file as qemu-img leaves it" cmp -s "$E/d.qcow2" "$G/d.qcow2"
	done <<'EOF2'
reserved-field ext4 00000001
zero-bitmaps ext0 00000000
too-many-bitmaps ext0 00010000
more-in-header ext0 00000003
fewer-in-header ext0 00000001
misaligned-directory ext23 01
huge-directory ext8 0000000004000001
empty-directory ext8 0000000000000000
short-directory ext8 0000000000000008
long-directory ext8 0000000000000048
extra-data dir20 00000008
reserved-flag dir12 00000006
in-use-flag dir12 00000003
type-2 dir16 02
granularity-8 dir17 08
granularity-32 dir17 20
table-size-0 dir8 00000000
table-size-2 dir8 00000002
table-misaligned dir6 0200
table-at-0 dir0 0000000000000000
table-entry-reserved tbl7 02
table-entry-misaligned tbl6 0100
table-entry-all-ones-offset tbl7 01
name-past-end dir18 0040
EOF2
fi
# The same bad table entry under a bitmap in use is no error: its bits are
# not read.
spawn cp pristine/dmg.qcow2 pristine/d.qcow2
poke pristine/d.qcow2 $((doff + 12)) 00000003
poke pristine/d.qcow2 $((toff + 7)) 02
place d.qcow2
same "in use, bad table: info" info d.qcow2
same "in use, bad table: bitmap --remove" bitmap --remove d.qcow2 b0
identical "in use, bad table: removed as qemu-img removes it" d.qcow2
# Bitmaps without their autoclear bit (written by a program that did not
# keep them): a writer drops the extension and they are lost, leaking
# their clusters, as with qemu-img.
spawn cp pristine/dmg.qcow2 pristine/d.qcow2
poke pristine/d.qcow2 88 0000000000000000
place d.qcow2
in_e() { spawn -C "$E" "$QEMU_IMG" "$@" >/dev/null 2>&1; }
in_g() { spawn -C "$G" "$QIMG" "$@" >/dev/null 2>&1; }
in_e bitmap --add d.qcow2 new
in_g bitmap --add d.qcow2 new
identical "no autoclear bit: extension dropped, new bitmap stored" d.qcow2
same "no autoclear bit: check shows the leaks" check d.qcow2

done_testing
